"""PINN training throughput: sciml vs DeepXDE (PyTorch backend) on the same Burgers problem, side by side.

Same problem (Burgers, nu = 0.01/pi, hard initial/boundary constraint u = -sin(pi x) + t (1 - x^2) N), same network
(MLP 4 x 64 tanh), same 8192 fixed collocation points, same optimizer (Adam, lr 1e-3), float32. sciml takes the
residual's derivatives (u, u_t, u_x, u_xx) in one batched second-order forward pass through the network and the
hard constraint (`sciml.pde._taylor`, its default path), DeepXDE by reverse-mode autograd. Timed in one
process, interleaved (sciml, DeepXDE, sciml, ...) after warm-up; the ratio is taken pair by pair and its median
reported. sciml's compile time is reported separately, as is the achieved FLOP/s of its step (XLA's cost analysis)
against a measured large-matmul peak on the same machine.

    python benchmarks/pinn_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("DDE_BACKEND", "pytorch")

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml.benchmarking import Benchmark, Side, machine_info, xla_cpu_threads  # noqa: E402
from sciml.nn import MLP  # noqa: E402
from sciml.pde import FixedPoints, PointSets, Problem, interval, time_space  # noqa: E402
from sciml.pinn import PINN, HardConstraint, PINNLoss  # noqa: E402
from sciml.train import fit  # noqa: E402

NU = 0.01 / np.pi
WIDTH, DEPTH, N_POINTS, LR = 64, 4, 8192, 1e-3


def sciml_problem(points: np.ndarray):
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0))
    transform = HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))
    model = PINN(domain, MLP(domain.ndim, "scalar", WIDTH, DEPTH, key=jax.random.key(0)), transform=transform)
    problem = Problem(domain, lambda u: u.t + u.value * u.x - NU * u.xx, FixedPoints(jnp.asarray(points)), {})
    return model, PINNLoss(problem)


class ScimlRunner:
    """Runs `steps` Adam steps per call through `sciml.train.fit`'s compiled chunk (the engine's hot loop)."""

    def __init__(self, points: np.ndarray, steps: int):
        model, loss = sciml_problem(points)
        self.model, self.loss, self.steps = model, loss, steps
        result = fit(model, loss, PointSets({"residual": loss.problem.interior}), optax.adam(LR), steps,
                     key=jax.random.key(0), chunk=steps, progress=False)
        self.compile_time_s = result.compile_time_s
        self.model = result.model

    def run(self) -> float:
        t0 = time.perf_counter()
        result = fit(self.model, self.loss, PointSets({"residual": self.loss.problem.interior}), optax.adam(LR),
                     self.steps, key=jax.random.key(0), chunk=self.steps, progress=False)
        jax.block_until_ready(eqx.filter(result.model, eqx.is_array))
        return self.steps / (time.perf_counter() - t0 - result.compile_time_s)

    def step_flops(self) -> float:
        """FLOPs of one training step from XLA's cost analysis of the value-and-grad + Adam update."""
        params, static = eqx.partition(self.model, eqx.is_inexact_array)
        optimizer = optax.adam(LR)
        batch = {"residual": self.loss.problem.interior.points}

        def step(params, opt_state):
            (value, _), grads = jax.value_and_grad(
                lambda p: self.loss(eqx.combine(p, static), batch, jax.random.key(0)), has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

        compiled = jax.jit(step).lower(params, optimizer.init(params)).compile()
        analysis = compiled.cost_analysis()
        analysis = analysis[0] if isinstance(analysis, list) else analysis
        return float(analysis["flops"])


class DeepXDERunner:
    """The same problem in DeepXDE with the PyTorch backend, configured as its docs recommend."""

    def __init__(self, points: np.ndarray, steps: int):
        import deepxde as dde
        import torch

        torch.set_num_threads(os.cpu_count() or 1)  # the cores XLA's CPU backend uses
        self.dde, self.torch, self.steps = dde, torch, steps
        geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))

        def pde(x, u):
            u_x = dde.grad.jacobian(u, x, i=0, j=0)
            u_t = dde.grad.jacobian(u, x, i=0, j=1)
            u_xx = dde.grad.hessian(u, x, i=0, j=0)
            return u_t + u * u_x - NU * u_xx

        anchors = points[:, [1, 0]].astype(np.float32)  # DeepXDE orders inputs (x, t)
        data = dde.data.TimePDE(geomtime, pde, [], num_domain=0, num_boundary=0, num_initial=0, anchors=anchors)
        net = dde.nn.FNN([2] + [WIDTH] * DEPTH + [1], "tanh", "Glorot normal")
        net.apply_output_transform(
            lambda x, y: -torch.sin(np.pi * x[:, 0:1]) + x[:, 1:2] * (1 - x[:, 0:1] ** 2) * y
        )
        self.model = dde.Model(data, net)
        self.model.compile("adam", lr=LR)
        self.model.train(iterations=steps, display_every=10 * steps, verbose=0)

    def run(self) -> float:
        t0 = time.perf_counter()
        self.model.train(iterations=self.steps, display_every=10 * self.steps, verbose=0)
        return self.steps / (time.perf_counter() - t0)


def matmul_peak_flops(n: int = 2048, repeats: int = 10) -> float:
    """Measured float32 FLOP/s of a large matmul under XLA on this machine (the achievable peak)."""
    a = jax.random.normal(jax.random.key(0), (n, n))
    matmul = jax.jit(lambda a: a @ a)
    matmul(a).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        matmul(a).block_until_ready()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    args = parser.parse_args()
    steps, repeats = (20, 2) if args.quick else (30, 5)
    bench = Benchmark("pinn_throughput")
    points = np.asarray(
        time_space(0.0, 1.0, interval(-1.0, 1.0)).uniform(jax.random.key(42), N_POINTS), dtype=np.float32
    )
    sciml_runner = ScimlRunner(points, steps)
    deepxde_runner = DeepXDERunner(points, steps)
    rates = bench.interleaved({"sciml": Side(lambda _: sciml_runner.run(), xla_cpu_threads()),
                               "deepxde": Side(lambda _: deepxde_runner.run(), deepxde_runner.torch.get_num_threads())},
                              repeats)
    sciml_rates, deepxde_rates = np.asarray(rates["sciml"]), np.asarray(rates["deepxde"])
    ratios = sciml_rates / deepxde_rates
    flops = sciml_runner.step_flops()
    peak = matmul_peak_flops()
    achieved = flops * float(np.median(sciml_rates))
    result = {
        "benchmark": "pinn_throughput",
        "problem": {"pde": "Burgers nu=0.01/pi, hard IC/BC", "mlp": f"{DEPTH}x{WIDTH} tanh", "points": N_POINTS,
                    "optimizer": f"Adam lr={LR}", "dtype": "float32", "steps_per_timing": steps, "repeats": repeats},
        "machine": machine_info(),
        "sciml_steps_per_s": sciml_rates.tolist(),
        "deepxde_steps_per_s": deepxde_rates.tolist(),
        "ratio_per_pair": ratios.tolist(),
        "median_ratio": float(np.median(ratios)),
        "sciml_compile_time_s": sciml_runner.compile_time_s,
        "step_flops": flops,
        "achieved_flops_per_s": achieved,
        "matmul_peak_flops_per_s": peak,
        "fraction_of_peak": achieved / peak,
    }
    table = [
        "| | steps/s (median) | ratio to DeepXDE |",
        "|---|---|---|",
        f"| sciml (JAX, batched forward derivatives, fused lax.scan) | {np.median(sciml_rates):.2f} | "
        f"{np.median(ratios):.2f}x |",
        f"| DeepXDE 1.15 (PyTorch {deepxde_runner.torch.__version__}) | {np.median(deepxde_rates):.2f} | 1.00x |",
        "",
        f"sciml compile time: {sciml_runner.compile_time_s:.1f} s. Step cost {flops / 1e9:.2f} GFLOP (XLA cost "
        f"analysis); achieved {achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.1f}% of the measured float32 "
        f"matmul peak ({peak / 1e9:.1f} GFLOP/s).",
    ]
    bench.write_report(result, "PINN training throughput: sciml vs DeepXDE", table)


if __name__ == "__main__":
    main()
