"""GPU training throughput: the PINN, FNO + CAPE, neural-ODE and randomized-prior-ensemble steps of sciml on one GPU.

Each workload trains through `sciml.train.fit` (one compiled chunk of `steps` steps per timed repeat; compilation
left out), in float32 and, where it makes sense, with bfloat16 compute and float32 master weights (`MixedPrecision`;
not for the neural ODE, whose solver times bfloat16 cannot resolve). The sides run interleaved after a warm-up
(`sciml.benchmarking.Benchmark`). Reported per side: steps/s, samples/s (collocation points, windows, trajectories,
member-samples), the step's FLOPs and the achieved rate as a fraction of the GPU's measured matmul rate in the same
precision (an 8192^3 float32 matmul at JAX's default precision, and a bfloat16 one). FLOPs come from XLA's cost
analysis of one step; for the neural ODE, whose solve is a loop XLA counts once, from the vector field's FLOPs x
function evaluations x 3 (forward and backward). Writes `benchmarks/results/gpu.json` and `docs/results/gpu.md`;
about 5 minutes on one H200 (under 10).

    python benchmarks/gpu.py [--quick]      (or: sciml bench gpu [--quick])
    python benchmarks/gpu.py --smoke        tiny sizes on any backend, writes nothing (a check of the script)

Without a GPU it stops with exit code 2 and writes nothing. On a machine lent by the device tool, whose image has
JAX for CUDA but not the pure-Python packages `sciml.uq` imports (exponax, pyqg-jax) nor h5netcdf (which runs that
write netCDF need), copy them from the venv with their metadata (exponax reads its own version at import) into the
ignored folder `.gpu-site/` first and carry it (`carry: [".gpu-site"]`):

    mkdir -p .gpu-site && cp -r .venv/lib/python3.*/site-packages/{exponax,pyqg_jax,h5netcdf}{,-*.dist-info} \
        .gpu-site/
    # on the device: PYTHONPATH=.gpu-site:. python3 benchmarks/gpu.py && cp docs/results/gpu.md \\
    #     benchmarks/results/gpu.json $OUT/
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

SIZES = {
    "full": {"steps": 200, "repeats": 3, "pinn_points": 65536, "pinn_width": 128, "fno_batch": 128, "fno_grid": 1024,
             "fno_width": 64, "ode_batch": 1024, "ode_width": 128, "ode_steps": 50, "rpn_members": 64,
             "rpn_batch": 1024, "rpn_width": 128, "matmul": 8192},
    "quick": {"steps": 100, "repeats": 2, "pinn_points": 16384, "pinn_width": 64, "fno_batch": 64, "fno_grid": 512,
              "fno_width": 32, "ode_batch": 256, "ode_width": 64, "ode_steps": 50, "rpn_members": 32,
              "rpn_batch": 512, "rpn_width": 64, "matmul": 8192},
    "smoke": {"steps": 4, "repeats": 1, "pinn_points": 64, "pinn_width": 8, "fno_batch": 4, "fno_grid": 32,
              "fno_width": 4, "ode_batch": 4, "ode_width": 8, "ode_steps": 5, "rpn_members": 2, "rpn_batch": 8,
              "rpn_width": 8, "matmul": 256},
}


@dataclasses.dataclass(frozen=True)
class Workload:
    """One training problem: the model, its loss and batch source, and what a step processes."""

    name: str
    size: str
    model: Any
    loss: Any
    data: Any
    samples_per_step: int
    sample_unit: str
    trainable: Callable = eqx.is_inexact_array
    precisions: tuple[str, ...] = ("float32", "bfloat16")
    model_flops: Callable[[], float] | None = None
    """FLOPs of one training step counted from the model (when XLA's cost analysis cannot: loops)."""


def pinn(s: dict) -> Workload:
    from sciml.nn import MLP
    from sciml.pde import Problem, UniformPoints, interval, time_space
    from sciml.pinn import PINN, PINNLoss

    domain = time_space(0.0, 1.0, interval(-1.0, 1.0))
    nu = 0.01 / np.pi
    problem = Problem(domain, lambda u: u.t + u.value * u.x - nu * u.xx, UniformPoints(domain, s["pinn_points"]), {})
    model = PINN(domain, MLP(2, "scalar", s["pinn_width"], 4, key=jax.random.key(0)))
    return Workload("PINN (Burgers residual, 2nd derivatives)", f"MLP 4x{s['pinn_width']} tanh, "
                    f"{s['pinn_points']} points", model, PINNLoss(problem), problem.sampler(), s["pinn_points"],
                    "points")


def fno_cape(s: dict) -> Workload:
    from sciml.data import WindowSampler
    from sciml.operators import Autoregressive, RolloutLoss
    from sciml.studies.neural_solvers import NeuralSolverConfig, build_solver

    config = NeuralSolverConfig(size=s["fno_width"], modes=16 if s["fno_grid"] >= 64 else 4, depth=4,
                                cape_width=s["fno_width"], cape_modes=16 if s["fno_grid"] >= 64 else 4)
    model, _ = build_solver(config, channels=1, ndim=1, key=jax.random.key(0))
    x = np.arange(s["fno_grid"]) / s["fno_grid"]
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, (64, 1, 1, 1))
    frames = np.arange(21)[None, :, None, None] * 0.05
    u = np.sin(2 * np.pi * (x - frames) + phases).astype(np.float32)  # advected sine waves (sample, t, channel, x)
    params = np.linspace(0.1, 4.0, 64, dtype=np.float32)[:, None]
    data = WindowSampler(u, params, batch_size=s["fno_batch"], horizon=5)
    loss = RolloutLoss(steps_per_epoch=s["steps"], epochs=1, curriculum=Autoregressive())
    return Workload("FNO + CAPE (5-step rollout)", f"width {s['fno_width']}, 4 layers, {s['fno_grid']} points, batch "
                    f"{s['fno_batch']}", model, loss, data, s["fno_batch"], "windows")


def neural_ode(s: dict) -> Workload:
    import diffrax

    from sciml.dynamics import MLPVectorField, NeuralODE, trajectory_mse

    t1, n_steps = 2.0, s["ode_steps"]
    field = MLPVectorField(2, s["ode_width"], 2, key=jax.random.key(0))
    model = NeuralODE(field, stepsize_controller=diffrax.ConstantStepSize(), dt0=t1 / n_steps)
    ts = np.linspace(0.0, t1, 20, dtype=np.float32)
    y0 = np.random.default_rng(0).normal(size=(s["ode_batch"], 2)).astype(np.float32)
    decay, turn = np.exp(-0.1 * ts)[None, :, None], 2.0 * ts[None, :, None]
    values = decay * np.stack([y0[:, None, 0] * np.cos(turn[..., 0]) + y0[:, None, 1] * np.sin(turn[..., 0]),
                               -y0[:, None, 0] * np.sin(turn[..., 0]) + y0[:, None, 1] * np.cos(turn[..., 0])], -1)
    batch = {"ts": jnp.asarray(ts), "values": jnp.asarray(values, jnp.float32)}

    def model_flops() -> float:
        # Tsit5: 6 new vector-field evaluations per step (first same as last); the backward pass costs about 2 more.
        states = jnp.zeros((s["ode_batch"], 2))
        evaluations = jax.jit(jax.vmap(lambda y: field(0.0, y, None))).lower(states).compile()
        return 3 * 6 * n_steps * _cost(evaluations)[0]

    return Workload("neural ODE (Tsit5, fixed step)", f"MLP 2x{s['ode_width']}, {n_steps} steps, batch "
                    f"{s['ode_batch']}", model, trajectory_mse, batch, s["ode_batch"], "trajectories",
                    precisions=("float32",), model_flops=model_flops)


def rpn_ensemble(s: dict) -> Workload:
    from sciml.uq import (
        BootstrapSampler,
        RandomizedPrior,
        bootstrap_subsets,
        ensemble_loss,
        make_ensemble,
        mse_member_loss,
        trainable_filter,
    )

    key, n = jax.random.key(0), 65536 if s["rpn_batch"] > 8 else 64
    features = jax.random.normal(key, (n, 5))
    targets = jnp.sin(features.sum(axis=1, keepdims=True))
    ensemble = make_ensemble(lambda k: RandomizedPrior(5, 1, s["rpn_width"], 3, key=k), s["rpn_members"], key=key)
    data = BootstrapSampler({"data": (features, targets, bootstrap_subsets(n, s["rpn_members"], key=key))},
                            s["rpn_batch"])
    return Workload("randomized-prior ensemble (one program)", f"{s['rpn_members']} members, MLP 3x{s['rpn_width']}, "
                    f"batch {s['rpn_batch']}", ensemble, ensemble_loss(mse_member_loss), data,
                    s["rpn_members"] * s["rpn_batch"], "member-samples", trainable=trainable_filter(ensemble))


def _cost(compiled) -> tuple[float, bool]:
    """FLOPs of a compiled program (XLA's cost analysis) and whether it holds a loop (whose body XLA counts once)."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", float("nan"))), "while" in compiled.as_text()


def step_flops(workload: Workload, precision) -> tuple[float, bool]:
    """FLOPs of one training step (loss, gradient, Adam update) and whether that count is only a lower bound."""
    from sciml.train import AbstractSampler

    if workload.model_flops is not None:
        return workload.model_flops(), False
    params, static = eqx.partition(workload.model, workload.trainable)
    key = jax.random.key(0)
    batch = workload.data(key, jnp.asarray(0)) if isinstance(workload.data, AbstractSampler) else workload.data
    optimizer = optax.adam(1e-3)

    def step(params, opt_state, batch):
        def objective(p):
            value, _ = workload.loss(precision.compute(eqx.combine(p, static)), precision.compute(batch), key)
            return value.astype(jnp.float32)

        grads = jax.grad(objective)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return _cost(jax.jit(step).lower(params, optimizer.init(params), batch).compile())


def matmul_rate(n: int, dtype, repeats: int = 10) -> float:
    """Measured FLOP/s of an n x n x n matmul in `dtype` (float32 at JAX's default precision)."""
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    product = jax.jit(lambda a, b: a @ b)
    for _ in range(3):
        product(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems and 2 repeats (about 2 minutes)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on any backend; writes nothing")
    args = parser.parse_args(argv)
    if jax.default_backend() != "gpu" and not args.smoke:
        print(f"benchmarks/gpu.py: needs a GPU, but JAX sees only {jax.default_backend()} devices "
              f"({', '.join(sorted({d.device_kind for d in jax.devices()}))}); nothing was run or written. Run it on a "
              "GPU machine with JAX for CUDA (see this script's docstring), or pass --smoke to check the script here.",
              file=sys.stderr)
        return 2
    from sciml import enable_compilation_cache
    from sciml.benchmarking import Benchmark, Side, machine_info, xla_cpu_threads
    from sciml.train import FullPrecision, MixedPrecision, fit, matmul_precision

    started = time.perf_counter()
    s = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    cache = tempfile.TemporaryDirectory()
    enable_compilation_cache(cache.name)  # the repeats' fits load the warm-up's compiled programs
    bench = Benchmark("gpu-smoke" if args.smoke else "gpu-quick" if args.quick else "gpu")
    rates = {"float32": matmul_rate(s["matmul"], jnp.float32), "bfloat16": matmul_rate(s["matmul"], jnp.bfloat16)}
    strategies = {"float32": FullPrecision(), "bfloat16": MixedPrecision()}
    workloads = [pinn(s), fno_cape(s), neural_ode(s), rpn_ensemble(s)]
    sides, info = {}, {}
    threads = 1 if jax.default_backend() == "gpu" else xla_cpu_threads()  # on a GPU the host only dispatches

    def timed(workload: Workload, precision) -> Callable[[int], float]:
        def steps_per_s(repeat: int) -> float:
            result = fit(workload.model, workload.loss, workload.data, optax.adam(1e-3), s["steps"],
                         key=jax.random.key(repeat), chunk=s["steps"], trainable=workload.trainable,
                         precision=precision, progress=False)
            return result.history[-1]["steps_per_s"]

        return steps_per_s

    for workload in workloads:
        for name in workload.precisions:
            side = f"{workload.name}, {name}"
            sides[side] = Side(timed(workload, strategies[name]), threads)
            flops, lower_bound = step_flops(workload, strategies[name])
            info[side] = {"workload": workload.name, "size": workload.size, "precision": name, "step_flops": flops,
                          "flops_lower_bound": lower_bound, "samples_per_step": workload.samples_per_step,
                          "sample_unit": workload.sample_unit}
    measured = bench.interleaved(sides, s["repeats"])
    rows = []
    for side, values in measured.items():
        row = {**info[side], "steps_per_s": values, "steps_per_s_median": float(np.median(values))}
        row["samples_per_s"] = row["steps_per_s_median"] * row["samples_per_step"]
        row["achieved_flops_per_s"] = row["steps_per_s_median"] * row["step_flops"]
        row["fraction_of_matmul_rate"] = row["achieved_flops_per_s"] / rates[row["precision"]]
        rows.append(row)
    result = {"benchmark": bench.name, "machine": machine_info(), "sizes": s, "matmul_flops_per_s": rates,
              "matmul_precision": matmul_precision(), "rows": rows, "wall_time_s": time.perf_counter() - started}
    lines = [
        f"One GPU ({jax.devices()[0].device_kind}), JAX {jax.__version__}; each side {s['steps']} Adam steps per timed "
        f"repeat in one compiled chunk, {s['repeats']} interleaved repeats after a warm-up, median reported. Measured "
        f"{s['matmul']}^3 matmul rate: float32 {rates['float32'] / 1e12:.1f} TFLOP/s (matmul precision "
        f"{matmul_precision()}), bfloat16 {rates['bfloat16'] / 1e12:.1f} TFLOP/s. Whole script: "
        f"{result['wall_time_s']:.0f} s.",
        "",
        "| workload | size | precision | steps/s | samples/s | GFLOP/step | TFLOP/s | of matmul rate |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r['workload']} | {r['size']} | {r['precision']} | {r['steps_per_s_median']:.1f} | "
          f"{r['samples_per_s']:.3g} {r['sample_unit']} | {r['step_flops'] / 1e9:.3g} | "
          f"{'≥ ' if r['flops_lower_bound'] else ''}{r['achieved_flops_per_s'] / 1e12:.3g} | "
          f"{'≥ ' if r['flops_lower_bound'] else ''}{100 * r['fraction_of_matmul_rate']:.2g}% |" for r in rows],
        "",
        "FLOPs per step: XLA's cost analysis of one step (loss, gradient, Adam update); '≥' where the step holds a "
        "loop, whose body XLA counts once. Neural ODE: vector-field FLOPs x 6 evaluations per Tsit5 step x steps x 3 "
        "(forward and backward).",
    ]
    print("\n".join(lines))
    if not args.smoke:
        bench.write_report(result, "GPU training throughput", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
