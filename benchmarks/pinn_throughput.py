"""PINN training throughput: sciml vs DeepXDE (PyTorch backend) on the same problems, side by side.

Three cases (`CASES`): Burgers (nu = 0.01/pi, hard initial/boundary constraint u = -sin(pi x) + t (1 - x^2) N) with
an MLP 4 x 64 tanh on 8192 fixed collocation points, the same with 6 x 128 on 32768 points, and 2D Helmholtz
(k = 1, a1 = 4, a2 = 1, u = (1 - x^2)(1 - y^2) N) with 4 x 64 on 8192 points. Both sides use the same network, points,
optimizer (Adam, lr 1e-3) and float32. sciml takes the residual's derivatives (value, first and second derivatives)
in one batched second-order forward pass through the network and the hard constraint (`sciml.pde._taylor`), value
and gradient accumulated over cache-sized blocks of points (`sciml.pde._blocked`), the points split over the CPU
devices (`sciml` starts XLA's CPU backend with one device per core): its default path, no option set. Also timed:
the same step on one device (XLA's threads over all cores; `fit(..., mesh=data_mesh(1))`), with and without blocks.
DeepXDE takes the derivatives by reverse-mode autograd. Timed in one process, interleaved (sciml, sciml on one
device, ..., DeepXDE, sciml, ...) after warm-up; the ratio to DeepXDE is taken round by round and its median
reported. sciml's compile time is reported separately, as is the achieved FLOP/s of its step (XLA's cost analysis)
against a large-matmul peak timed on the same machine in every round.

    python benchmarks/pinn_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from sciml.benchmarking import Benchmark, Side, available_cores, machine_info, xla_cpu_threads

os.environ.setdefault("DDE_BACKEND", "pytorch")

import equinox as eqx  # noqa: E402
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml.nn import MLP  # noqa: E402
from sciml.pde import FixedPoints, PointSets, Problem, interval, rectangle, time_space  # noqa: E402
from sciml.pinn import PINN, HardConstraint, PINNLoss  # noqa: E402
from sciml.train import data_mesh, fit  # noqa: E402

NU = 0.01 / np.pi
LR = 1e-3
HELMHOLTZ_K, HELMHOLTZ_A1, HELMHOLTZ_A2 = 1.0, 4.0, 1.0


@dataclasses.dataclass(frozen=True)
class Case:
    """One problem size: the PDE, the MLP's width and depth, the fixed collocation points, Adam steps per timing."""

    name: str
    pde: str
    width: int
    depth: int
    n_points: int
    steps: int

    def points(self) -> np.ndarray:
        """The collocation points, (n_points, 2) float32, ordered as sciml's domain names them."""
        domain = burgers_domain() if self.pde == "burgers" else rectangle((-1.0, -1.0), (1.0, 1.0))
        return np.asarray(domain.uniform(jax.random.key(42), self.n_points), dtype=np.float32)


CASES = {
    "burgers": Case("Burgers 1D+time, 4x64, 8192 points", "burgers", 64, 4, 8192, 30),
    "burgers-large": Case("Burgers 1D+time, 6x128, 32768 points", "burgers", 128, 6, 32768, 10),
    "helmholtz": Case("Helmholtz 2D, 4x64, 8192 points", "helmholtz", 64, 4, 8192, 30),
}


def burgers_domain():
    return time_space(0.0, 1.0, interval(-1.0, 1.0))


def helmholtz_exact(x, y, sin=jnp.sin):
    return sin(HELMHOLTZ_A1 * np.pi * y) * sin(HELMHOLTZ_A2 * np.pi * x)


HELMHOLTZ_SOURCE_FACTOR = HELMHOLTZ_K**2 - (HELMHOLTZ_A1 * np.pi) ** 2 - (HELMHOLTZ_A2 * np.pi) ** 2


def sciml_problem(case: Case, points: np.ndarray, block_points: int | None = None):
    """The PINN and its loss on fixed points: Burgers with a hard initial/boundary constraint, or Helmholtz with
    u = (1 - x^2)(1 - y^2) N; `block_points` as `Problem`'s (None: sciml's default)."""
    if case.pde == "burgers":
        domain = burgers_domain()
        transform = HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))

        def residual(u):
            return u.t + u.value * u.x - NU * u.xx
    else:
        domain = rectangle((-1.0, -1.0), (1.0, 1.0))
        transform = HardConstraint(lambda p: jnp.zeros(()), lambda p: (1 - p[0] ** 2) * (1 - p[1] ** 2))

        def residual(u):
            source = HELMHOLTZ_SOURCE_FACTOR * helmholtz_exact(u.point[0], u.point[1])
            return u.xx + u.yy + HELMHOLTZ_K**2 * u.value - source
    mlp = MLP(domain.ndim, "scalar", case.width, case.depth, key=jax.random.key(0))
    model = PINN(domain, mlp, transform=transform)
    problem = Problem(domain, residual, FixedPoints(jnp.asarray(points)), {}, block_points=block_points)
    return model, PINNLoss(problem)


class ScimlRunner:
    """Runs `steps` Adam steps per call through `sciml.train.fit`'s compiled chunk (the engine's hot loop);
    `block_points` as `Problem`'s (None: the default, 0: all points at once); `mesh` as `fit`'s (None: the default, the
    points split over the CPU devices; ``data_mesh(1)``: one device)."""

    def __init__(self, case: Case, points: np.ndarray, block_points: int | None = None, mesh=None):
        model, loss = sciml_problem(case, points, block_points)
        self.case, self.points, self.mesh = case, points, mesh
        self.loss, self.steps = loss, case.steps
        result = fit(model, loss, PointSets({"residual": loss.problem.interior}), optax.adam(LR), self.steps,
                     key=jax.random.key(0), chunk=self.steps, progress=False, mesh=mesh)
        self.compile_time_s = result.compile_time_s
        self.model = result.model

    def run(self) -> float:
        t0 = time.perf_counter()
        result = fit(self.model, self.loss, PointSets({"residual": self.loss.problem.interior}), optax.adam(LR),
                     self.steps, key=jax.random.key(0), chunk=self.steps, progress=False, mesh=self.mesh)
        jax.block_until_ready(eqx.filter(result.model, eqx.is_array))
        return self.steps / (time.perf_counter() - t0 - result.compile_time_s)

    def step_flops(self) -> float:
        """FLOPs of one training step from XLA's cost analysis of the value-and-grad + Adam update, taken on all
        points at once: the blocked step does the same arithmetic, but the analysis counts a loop's body once."""
        params, static = eqx.partition(self.model, eqx.is_inexact_array)
        optimizer = optax.adam(LR)
        loss = sciml_problem(self.case, self.points, block_points=0)[1]
        batch = {"residual": loss.problem.interior.points}

        def step(params, opt_state):
            (value, _), grads = jax.value_and_grad(
                lambda p: loss(eqx.combine(p, static), batch, jax.random.key(0)), has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

        compiled = jax.jit(step).lower(params, optimizer.init(params)).compile()
        analysis = compiled.cost_analysis()
        analysis = analysis[0] if isinstance(analysis, list) else analysis
        return float(analysis["flops"])


class DeepXDERunner:
    """The same problem in DeepXDE with the PyTorch backend, configured as its docs recommend."""

    def __init__(self, case: Case, points: np.ndarray):
        import deepxde as dde
        import torch

        torch.set_num_threads(available_cores())  # the cores XLA's CPU backend uses
        self.torch, self.steps = torch, case.steps
        if case.pde == "burgers":
            geometry = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))

            def pde(x, u):
                u_x = dde.grad.jacobian(u, x, i=0, j=0)
                u_t = dde.grad.jacobian(u, x, i=0, j=1)
                u_xx = dde.grad.hessian(u, x, i=0, j=0)
                return u_t + u * u_x - NU * u_xx

            def transform(x, y):
                return -torch.sin(np.pi * x[:, 0:1]) + x[:, 1:2] * (1 - x[:, 0:1] ** 2) * y

            anchors = points[:, [1, 0]]  # DeepXDE orders inputs (x, t)
            data = dde.data.TimePDE(geometry, pde, [], num_domain=0, num_boundary=0, num_initial=0, anchors=anchors)
        else:
            geometry = dde.geometry.Rectangle([-1, -1], [1, 1])

            def pde(x, u):
                u_xx = dde.grad.hessian(u, x, i=0, j=0)
                u_yy = dde.grad.hessian(u, x, i=1, j=1)
                source = HELMHOLTZ_SOURCE_FACTOR * helmholtz_exact(x[:, 0:1], x[:, 1:2], sin=torch.sin)
                return u_xx + u_yy + HELMHOLTZ_K**2 * u - source

            def transform(x, y):
                return (1 - x[:, 0:1] ** 2) * (1 - x[:, 1:2] ** 2) * y

            data = dde.data.PDE(geometry, pde, [], num_domain=0, num_boundary=0, anchors=points)
        net = dde.nn.FNN([2] + [case.width] * case.depth + [1], "tanh", "Glorot normal")
        net.apply_output_transform(transform)
        self.model = dde.Model(data, net)
        self.model.compile("adam", lr=LR)
        self.model.train(iterations=self.steps, display_every=10 * self.steps, verbose=0)

    def run(self) -> float:
        t0 = time.perf_counter()
        self.model.train(iterations=self.steps, display_every=10 * self.steps, verbose=0)
        return self.steps / (time.perf_counter() - t0)


class MatmulRate:
    """Measured float32 FLOP/s of an (m, k) x (k, n) matmul under XLA on this machine: the median of `repeats` timed
    products. 2048 x 2048 x 2048 is the achievable peak; a case's (points, width) x (width, width) is one hidden layer
    on all its points, the most its layers' products reach at that shape. Timed as sides of their own in every round,
    so that each round's fraction of peak divides by the peak of that moment (this shared host's speed drifts: two
    runs ten minutes apart measured 188 and 252 GFLOP/s once each)."""

    def __init__(self, m: int = 2048, k: int = 2048, n: int = 2048, repeats: int = 10):
        self.flops, self.repeats = 2 * m * k * n, repeats
        self.a = jax.random.normal(jax.random.key(0), (m, k))
        self.b = jax.random.normal(jax.random.key(1), (k, n))
        self.matmul = jax.jit(jnp.matmul)
        self.matmul(self.a, self.b).block_until_ready()

    def run(self) -> float:
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            self.matmul(self.a, self.b).block_until_ready()
            times.append(time.perf_counter() - t0)
        return self.flops / float(np.median(times))


def compare(case: Case, bench: Benchmark, repeats: int, peak: MatmulRate) -> dict:
    """Interleaved steps/s of the sides on one case (sciml's default, sciml on one device with and without blocks,
    DeepXDE) and the matmul peak, sciml's ratios to DeepXDE and fractions of the peak per round, and its FLOP rate."""
    points = case.points()
    one_device = data_mesh(1)
    sciml_runner = ScimlRunner(case, points)
    one_device_runner = ScimlRunner(case, points, mesh=one_device)
    unblocked_runner = ScimlRunner(case, points, block_points=0, mesh=one_device)
    deepxde_runner = DeepXDERunner(case, points)
    layer = MatmulRate(case.n_points, case.width, case.width)
    rates = bench.interleaved({"sciml": Side(lambda _: sciml_runner.run(), xla_cpu_threads()),
                               "sciml_one_device": Side(lambda _: one_device_runner.run(), xla_cpu_threads()),
                               "sciml_unblocked": Side(lambda _: unblocked_runner.run(), xla_cpu_threads()),
                               "deepxde": Side(lambda _: deepxde_runner.run(), deepxde_runner.torch.get_num_threads()),
                               "matmul_peak": Side(lambda _: peak.run(), xla_cpu_threads()),
                               "layer_matmul": Side(lambda _: layer.run(), xla_cpu_threads())},
                              repeats)
    sciml_rates, deepxde_rates = np.asarray(rates["sciml"]), np.asarray(rates["deepxde"])
    one_device_rates, peaks = np.asarray(rates["sciml_one_device"]), np.asarray(rates["matmul_peak"])
    ratios, one_device_ratios = sciml_rates / deepxde_rates, one_device_rates / deepxde_rates
    flops = sciml_runner.step_flops()
    fractions, one_device_fractions = flops * sciml_rates / peaks, flops * one_device_rates / peaks
    layer_fractions = np.asarray(rates["layer_matmul"]) / peaks
    return {"case": dataclasses.asdict(case), "cpu_devices": len(jax.devices()),
            "sciml_steps_per_s": sciml_rates.tolist(), "deepxde_steps_per_s": deepxde_rates.tolist(),
            "ratio_per_pair": ratios.tolist(), "median_ratio": float(np.median(ratios)),
            "fraction_of_peak_per_round": fractions.tolist(), "fraction_of_peak": float(np.median(fractions)),
            "sciml_one_device_steps_per_s": one_device_rates.tolist(),
            "one_device_median_ratio": float(np.median(one_device_ratios)),
            "one_device_fraction_of_peak": float(np.median(one_device_fractions)),
            "sciml_unblocked_steps_per_s": rates["sciml_unblocked"],
            "layer_matmul_flops_per_s": rates["layer_matmul"],
            "layer_fraction_of_peak": float(np.median(layer_fractions)),
            "matmul_peak_flops_per_s": peaks.tolist(), "sciml_compile_time_s": sciml_runner.compile_time_s,
            "step_flops": flops, "achieved_flops_per_s": flops * float(np.median(sciml_rates)),
            "torch": deepxde_runner.torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first case only, fewer steps and repeats (smoke)")
    args = parser.parse_args()
    cases = [dataclasses.replace(CASES["burgers"], steps=10)] if args.quick else list(CASES.values())
    repeats = 2 if args.quick else 9
    bench = Benchmark("pinn_throughput")
    peak = MatmulRate()
    runs = [compare(case, bench, repeats, peak) for case in cases]
    peaks = np.concatenate([run["matmul_peak_flops_per_s"] for run in runs])
    result = {"benchmark": "pinn_throughput", "optimizer": f"Adam lr={LR}", "dtype": "float32", "repeats": repeats,
              "machine": machine_info(), "matmul_peak_flops_per_s": float(np.median(peaks)), "cases": runs}
    devices = len(jax.devices())
    table = [
        f"| case | sciml steps/s (median) | DeepXDE 1.15 (PyTorch {runs[0]['torch']}) steps/s (median) | sciml / "
        "DeepXDE (median of rounds) | sciml % of matmul peak (median of rounds) | sciml on one device, steps/s | "
        "one device / DeepXDE | one device, all points at once, steps/s | sciml compile [s] | step GFLOP | one hidden "
        "layer's product on all points, % of matmul peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        table.append(
            f"| {run['case']['name']} | {np.median(run['sciml_steps_per_s']):.2f} | "
            f"{np.median(run['deepxde_steps_per_s']):.2f} | **{run['median_ratio']:.2f}x** | "
            f"**{100 * run['fraction_of_peak']:.1f}%** | {np.median(run['sciml_one_device_steps_per_s']):.2f} | "
            f"{run['one_device_median_ratio']:.2f}x | {np.median(run['sciml_unblocked_steps_per_s']):.2f} | "
            f"{run['sciml_compile_time_s']:.1f} | {run['step_flops'] / 1e9:.2f} | "
            f"{100 * run['layer_fraction_of_peak']:.1f}% |")
    table += ["", f"Measured float32 matmul peak (2048x2048 under XLA), timed in every round beside the sides: "
              f"median {np.median(peaks) / 1e9:.1f} GFLOP/s ({peaks.min() / 1e9:.1f} to {peaks.max() / 1e9:.1f}); "
              "each round's fraction of peak divides by that round's peak. Step cost from XLA's cost analysis of one "
              "value-and-grad + Adam update on all points at once. sciml, its default path (no option set): batched "
              "forward derivatives, value and gradient accumulated over cache-sized blocks of points, the points "
              f"split over the {devices} CPU devices sciml starts (one per core, each running the blocks of its own "
              "points; value and gradient added), steps fused with lax.scan. One device: the same step with every "
              "point on one device whose matrix products XLA spreads over all cores (`fit(..., mesh=data_mesh(1))`), "
              "with blocks and with all points at once. DeepXDE: reverse-mode autograd, `torch.set_num_threads` = "
              "the cores. Last column: a (points, width) x (width, width) product alone, timed the same way, the rate "
              "a layer of the case's width reaches at that shape on this machine (the whole step also runs the "
              "transposed products of the gradient and the elementwise derivatives)."]
    bench.write_report(result, "PINN training throughput: sciml vs DeepXDE", table)


if __name__ == "__main__":
    main()
