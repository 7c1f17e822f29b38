"""P2D surrogate benchmark: the physics-informed surrogate's held-out voltage error over seeds (and of its variants),
its posteriors against the solver's, and the speed-up of one surrogate voltage curve against one PyBaMM DFN solve and
one solve of our JAX P2D, also per effective posterior sample.

    .venv/bin/python benchmarks/p2d_surrogate.py accuracy runs/p2d-seed0 runs/p2d-seed1 runs/p2d-seed2 \\
        [--variant "physics only" runs/p2d-physics-seed0 ...]
    .venv/bin/python benchmarks/p2d_surrogate.py speed runs/p2d-seed0 [--repeats 9] [--cores 1]

`accuracy` reads finished `sciml run battery-p2d` folders and recomputes every figure from their predictions.nc
(writes docs/results/p2d_surrogate.md); `speed` loads the first run's surrogate and times it, our solver and PyBaMM
interleaved on an idle machine (writes docs/results/p2d_surrogate-speed.md; refused under load). PyBaMM solves on one
thread, so by default every side runs on one core (`--cores`): the speed-ups are per core. PyBaMM's solvers use
OpenMP, whose idle threads by default spin after a solve and take a core from the side timed next (the surrogate's
batch measured 1.7x slower after PyBaMM than alone); the script makes them wait passively, which leaves PyBaMM's own
time unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml.benchmarking import Benchmark, Side, machine_info, mean_std, xla_cpu_threads
from sciml.provenance import package_versions
from sciml.studies import load

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before PyBaMM loads its OpenMP runtime (see above)

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_TEST_ERROR_MV = 10.0  # Hassanaly et al. 2024, Part II: P2D surrogate test error ~10 mV
PUBLISHED_SPEEDUP = 2250.0  # Hassanaly et al. 2024, Part II: P2D surrogate vs the numerical integration
PARAMETERS = ("i0_scale", "diffusivity_scale")
BATCH = 1024  # parameter pairs per call of the batched surrogate timing


def run_accuracy(run_dir: Path) -> dict:
    """Held-out RMSE per case [mV] and posterior summaries, all from the run's predictions.nc."""
    predictions = xr.open_dataset(run_dir / "predictions.nc")
    rmse = np.sqrt(((predictions.prediction - predictions.reference) ** 2).mean("t")).values * 1e3
    metrics = json.loads((run_dir / "summary.json").read_text())["metrics"]
    out = {"run": str(run_dir), "rmse_mv": rmse.tolist(), "mean_rmse_mv": float(rmse.mean()),
           "max_rmse_mv": float(rmse.max()), "train_time_s": metrics.get("train_time_s"),
           "seed": json.loads((run_dir / "config.json").read_text())["config"]["train"]["seed"]}
    if "sampler" in predictions.coords:
        truth = {name: predictions.attrs[f"true_{name}"] for name in PARAMETERS}
        posterior = {}
        for sampler in predictions.sampler.values:
            entry = {}
            for name in PARAMETERS:
                draws = predictions[f"posterior_{name}"].sel(sampler=sampler).values
                low, high = np.percentile(draws, [2.5, 97.5])
                entry[name] = {"mean": float(draws.mean()), "q025": float(low), "q975": float(high),
                               "covers": bool(low <= truth[name] <= high)}
            entry["gradients_per_ess"] = metrics.get(f"{sampler}_nuts_gradients_per_ess")
            posterior[str(sampler)] = entry
        if "solver" in posterior:
            posterior["surrogate_mean_in_solver_interval"] = {
                name: bool(posterior["solver"][name]["q025"] <= posterior["surrogate"][name]["mean"]
                           <= posterior["solver"][name]["q975"]) for name in PARAMETERS}
        out["posterior"] = posterior
    return out


def accuracy(runs: list[Path], variants: dict[str, list[Path]]) -> None:
    bench = Benchmark("p2d_surrogate", timed=False)
    groups = {"data-informed (default)": runs, **variants}
    rows = {label: [run_accuracy(r) for r in paths] for label, paths in groups.items()}
    result = {"benchmark": "p2d_surrogate", "machine": machine_info(),
              "versions": package_versions(), "rows": rows, "published_test_error_mv": PUBLISHED_TEST_ERROR_MV}
    config = json.loads((runs[0] / "config.json").read_text())["config"]
    lines = [
        f"Physics-informed P2D surrogate (`sciml run battery-p2d`; MLP {config['width']} x {config['depth']}, "
        f"{config['train']['steps']} Adam + {config['train']['lbfgs_steps']} L-BFGS steps, low-fidelity SPM level: "
        + (f"MLP {config['spm']['width']} x {config['spm']['depth']}" if config["low_fidelity"] else "none")
        + f"), scored on {len(rows[next(iter(rows))][0]['rmse_mv'])} held-out (i0 scale, "
        "diffusivity scale) pairs per seed against the P2D solver, 101 times over the 1C discharge. Every figure is "
        "recomputed from each run's predictions.nc.",
        "",
        "| variant | seed | mean RMSE [mV] | worst case [mV] | train time [s] |",
        "|---|---|---|---|---|",
    ]
    for label, entries in rows.items():
        for entry in entries:
            train_s = entry["train_time_s"]
            lines.append(f"| {label} | {entry['seed']} | {entry['mean_rmse_mv']:.2f} | {entry['max_rmse_mv']:.2f} | "
                         f"{'-' if train_s is None else f'{train_s:.0f}'} |")
    lines.append("")
    for label, entries in rows.items():
        means = [e["mean_rmse_mv"] for e in entries]
        worst = max(e["max_rmse_mv"] for e in entries)
        lines.append(f"- {label}: mean RMSE over {len(means)} seed(s) **{mean_std(means)} mV**, median per seed "
                     f"{statistics.median(means):.2f} mV, worst single case {worst:.2f} mV; paper (Hassanaly et al. "
                     f"2024, P2D): ~{PUBLISHED_TEST_ERROR_MV:g} mV.")
    calibrated = [e for e in rows[next(iter(rows))] if "posterior" in e]
    if calibrated:
        lines += ["", "NUTS posteriors of the two scales from the noisy voltage curve (95% intervals; truth i0 scale "
                  "1.7, diffusivity scale 3.4 unless the runs say otherwise):", "",
                  "| seed | sampler | i0 scale interval | covers | diffusivity scale interval | covers | "
                  "gradients per effective sample |", "|---|---|---|---|---|---|---|"]
        for entry in calibrated:
            for sampler in ("surrogate", "solver"):
                if sampler not in entry["posterior"]:
                    continue
                post = entry["posterior"][sampler]
                i0, d = post["i0_scale"], post["diffusivity_scale"]
                gradients = post["gradients_per_ess"]
                lines.append(f"| {entry['seed']} | {sampler} | [{i0['q025']:.3f}, {i0['q975']:.3f}] | "
                             f"{'yes' if i0['covers'] else 'no'} | [{d['q025']:.3f}, {d['q975']:.3f}] | "
                             f"{'yes' if d['covers'] else 'no'} | {'-' if gradients is None else f'{gradients:.0f}'} |")
            inside = entry["posterior"].get("surrogate_mean_in_solver_interval")
            if inside:
                lines.append(f"| {entry['seed']} | surrogate mean inside the solver's interval | "
                             f"{'yes' if inside['i0_scale'] else 'no'} | | "
                             f"{'yes' if inside['diffusivity_scale'] else 'no'} | | |")
    bench.declare_threads(sciml=xla_cpu_threads())
    bench.write_report(result, "P2D physics-informed surrogate: held-out error and calibration", lines)


def speed(run_dir: Path, repeats: int, cores: int) -> None:
    # before JAX starts its CPU client, whose thread pool follows this process's cores
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    bench = Benchmark("p2d_surrogate-speed")
    trained = load(run_dir)
    import pybamm  # after loading: importing PyBaMM switches JAX to float64 by default

    surrogate, config = trained.model, trained.config
    t = np.linspace(0.0, config.t_end, config.n_eval_times)
    i0, diffusivity = 1.7, 3.4
    t32 = jnp.asarray(t, jnp.float32)
    curve = jax.jit(lambda a, b: surrogate.voltage_unchecked(t32, a, b))
    batch = jax.jit(lambda a, b: surrogate.voltages_unchecked(t32, a, b))
    rng = np.random.default_rng(0)
    (i0_low, i0_high), (d_low, d_high) = config.setup.i0_range, config.setup.diffusivity_range
    batch_scales = (jnp.asarray(rng.uniform(i0_low, i0_high, BATCH), jnp.float32),
                    jnp.asarray(np.exp(rng.uniform(np.log(d_low), np.log(d_high), BATCH)), jnp.float32))
    value_and_grad = jax.jit(jax.value_and_grad(lambda s: jnp.sum(surrogate.voltage_unchecked(t32, s[0], s[1]))))
    solver = surrogate.solver
    with jax.enable_x64(True):
        t64 = jnp.asarray(t)
        solver_curve = jax.jit(lambda a, b: solver.voltage(config.current, a, b, t64))
        solver_value_and_grad = jax.jit(jax.value_and_grad(
            lambda s: jnp.sum(solver.voltage(config.current, s[0], s[1], t64))))
        scales32, scales64 = jnp.asarray([i0, diffusivity], jnp.float32), jnp.asarray([i0, diffusivity])

        def timed(fn, *args, calls: int = 1, x64: bool = True):
            """Seconds per call, over `calls` calls (PyBaMM's import turns float64 on: the float32 surrogate is
            timed with it off, as it runs in a user's session)."""
            with jax.enable_x64(x64):
                start = time.perf_counter()
                for _ in range(calls):
                    jax.block_until_ready(fn(*args))
                return (time.perf_counter() - start) / calls

        sims = {}
        for label, var_pts in (("pybamm_same_mesh", solver.var_pts), ("pybamm_default_mesh", {})):
            model = pybamm.lithium_ion.DFN()
            parameters = pybamm.ParameterValues("Chen2020")
            parameters["Current function [A]"] = config.current
            parameters["Negative electrode exchange-current density [A.m-2]"] = _scaled(
                parameters["Negative electrode exchange-current density [A.m-2]"], i0)
            parameters["Positive particle diffusivity [m2.s-1]"] = _scaled(
                parameters["Positive particle diffusivity [m2.s-1]"], diffusivity)
            sims[label] = pybamm.Simulation(model, parameter_values=parameters,
                                            var_pts={**model.default_var_pts, **var_pts},
                                            solver=pybamm.IDAKLUSolver(rtol=1e-6, atol=1e-8))
        reference = np.asarray(solver_curve(i0, diffusivity))
        agreement = {label: float(np.sqrt(np.mean((sim.solve(t_eval=[0.0, t[-1]], t_interp=t)["Voltage [V]"](t)
                                                   - reference) ** 2)) * 1e3) for label, sim in sims.items()}
        sides = {
            "surrogate curve": Side(lambda _: timed(curve, np.float32(i0), np.float32(diffusivity), calls=100,
                                                    x64=False), xla_cpu_threads()),
            "surrogate batch": Side(lambda _: timed(batch, *batch_scales, calls=5, x64=False) / BATCH,
                                    xla_cpu_threads()),
            "surrogate value+gradient": Side(lambda _: timed(value_and_grad, scales32, calls=100, x64=False),
                                             xla_cpu_threads()),
            "sciml P2D curve": Side(lambda _: timed(solver_curve, i0, diffusivity), xla_cpu_threads()),
            "sciml P2D value+gradient": Side(lambda _: timed(solver_value_and_grad, scales64), xla_cpu_threads()),
            **{label: Side(lambda _, sim=sim: timed(lambda: sim.solve(t_eval=[0.0, t[-1]], t_interp=t)), 1)
               for label, sim in sims.items()},
        }
        timings = bench.interleaved(sides, repeats)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    metrics = json.loads((run_dir / "summary.json").read_text())["metrics"]
    gradients = {s: metrics.get(f"{s}_nuts_gradients_per_ess") for s in ("surrogate", "solver")}
    chain_source = f"the run's own solver chain ({run_dir})"
    if gradients["solver"] is None:
        gradients["solver"] = gradients["surrogate"]
        chain_source = "assumed equal to the surrogate chain's (the run calibrated with the surrogate only)"
    result = {"benchmark": "p2d_surrogate-speed", "solver_chain": chain_source, "machine": machine_info(),
              "versions": {**package_versions(), "pybamm": pybamm.__version__}, "run": str(run_dir),
              "mesh": solver.var_pts, "n_times": int(t.size), "scales": [i0, diffusivity], "timings_s": timings,
              "median_s": medians, "batch": BATCH, "cores": cores, "pybamm_vs_sciml_p2d_rmse_mv": agreement,
              "nuts_gradients_per_ess": gradients}
    curve_s = medians["surrogate curve"]
    lines = [
        f"One voltage curve ({t.size} times over the {config.t_end:g} s 1C discharge, i0 scale {i0}, diffusivity scale "
        f"{diffusivity}) from the trained surrogate of `{run_dir}` (jitted, float32, mean of 100 calls per repeat), "
        "from our P2D "
        f"(`sciml.solvers.P2D`, BDF, float64, the surrogate's mesh {solver.var_pts}) and from PyBaMM's DFN (IDAKLU, "
        "rtol 1e-6, atol 1e-8) on the same mesh and on its default mesh; medians of interleaved repeats after "
        f"warm-up; every side on {cores} core(s) (PyBaMM solves on one thread). PyBaMM's voltage against ours: "
        + ", ".join(f"{label} {value:.2f} mV" for label, value in agreement.items()) + ".",
        "",
        "| model | median [s] | surrogate speed-up |",
        "|---|---|---|",
    ]
    for name in ("surrogate curve", "sciml P2D curve", "pybamm_same_mesh", "pybamm_default_mesh"):
        lines.append(f"| {name} | {medians[name]:.2e} | {medians[name] / curve_s:.0f}x |")
    batch_s = medians["surrogate batch"]
    lines += ["", f"In a batch ({BATCH} parameter pairs drawn over the box in one call of `P2DSurrogate.voltages`, "
              "which evaluates them in cache-sized chunks, as a grid posterior, "
              "an ensemble sampler or a design study evaluates it), one surrogate curve costs "
              f"{batch_s:.2e} s: **{medians['pybamm_default_mesh'] / batch_s:.0f}x** below one PyBaMM solve on its "
              f"default mesh and {medians['sciml P2D curve'] / batch_s:.0f}x below our solver, on the same core(s).",
              f"\nPaper (Hassanaly et al. 2024, Part II): ~{PUBLISHED_SPEEDUP:g}x over the numerical integration."]
    if all(gradients.values()):
        per_ess = {name: gradients[side] * medians[f"{label} value+gradient"]
                   for name, side, label in (("surrogate", "surrogate", "surrogate"),
                                             ("sciml P2D", "solver", "sciml P2D"))}
        result["seconds_per_effective_sample"] = per_ess
        lines += ["", "Per effective posterior sample: the likelihood gradients NUTS needed per effective sample "
                  f"(surrogate {gradients['surrogate']:.0f} in the run's chain, solver {gradients['solver']:.0f} from "
                  f"{chain_source}; machine-independent counts) times the idle-measured cost of one voltage-curve "
                  "value and gradient.",
                  "", "| model | value + gradient [s] | s per effective sample | surrogate speed-up |",
                  "|---|---|---|---|"]
        for name, label in (("surrogate", "surrogate"), ("sciml P2D", "sciml P2D")):
            lines.append(f"| {name} | {medians[f'{label} value+gradient']:.2e} | {per_ess[name]:.2e} | "
                         f"{per_ess[name] / per_ess['surrogate']:.0f}x |")
    bench.write_report(result, "P2D surrogate speed-up against PyBaMM's DFN and our solver", lines)


def _scaled(value, factor):
    """A PyBaMM parameter (number or function) times `factor`."""
    if callable(value):
        return lambda *args: factor * value(*args)
    return factor * value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    acc = sub.add_parser("accuracy", help="held-out error and posteriors from finished runs")
    acc.add_argument("runs", nargs="+", type=Path)
    acc.add_argument("--variant", nargs="+", action="append", default=[], metavar=("LABEL", "RUN"),
                     help="a label and its run folders (repeatable)")
    spd = sub.add_parser("speed", help="time the first run's surrogate against the solvers (idle machine)")
    spd.add_argument("run", type=Path)
    spd.add_argument("--repeats", type=int, default=9)
    spd.add_argument("--cores", type=int, default=1, help="cores every side runs on (PyBaMM uses one)")
    args = parser.parse_args()
    if args.mode == "accuracy":
        accuracy(args.runs, {v[0]: [Path(p) for p in v[1:]] for v in args.variant})
    else:
        speed(args.run, args.repeats, args.cores)


if __name__ == "__main__":
    main()
