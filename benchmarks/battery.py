"""Battery SPM benchmark: our JAX SPM against PyBaMM, the PINN surrogate's held-out voltage error, and NUTS
calibration with the surrogate against NUTS with the solver in the loop.

    .venv/bin/python benchmarks/battery.py [--quick]
    .venv/bin/python benchmarks/battery.py --render     # the table again from benchmarks/results/battery.json

Writes benchmarks/results/battery.json (machine, versions, config, raw numbers) and docs/results/battery.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import jax
import numpy as np

from sciml.benchmarking import Benchmark, render_table, xla_cpu_threads
from sciml.provenance import device_description, package_versions
from sciml.solvers import SPM
from sciml.studies import load_experiment

ROOT = Path(__file__).resolve().parents[1]
T_END = 3000.0
CURRENT = 5.0


def pybamm_simulation(n_shells: int):
    import pybamm

    model = pybamm.lithium_ion.SPM()
    return pybamm.Simulation(model, parameter_values=pybamm.ParameterValues("Chen2020"),
                             var_pts={**model.default_var_pts, "r_n": n_shells, "r_p": n_shells},
                             solver=pybamm.IDAKLUSolver(rtol=1e-9, atol=1e-11))


def pybamm_voltage(sim, t):
    return sim.solve(t_eval=[0.0, T_END], t_interp=t)["Voltage [V]"](t)


def rmse_mv(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)) * 1e3)


def solver_agreement(shells: list[int], repeats: int) -> dict:
    """Voltage RMSE against PyBaMM (converged mesh and same mesh) and interleaved solve timings."""
    t = np.linspace(0.0, T_END, 301)
    converged = pybamm_voltage(pybamm_simulation(400), t)
    rows = []
    with jax.enable_x64(True):
        for n in shells:
            ours = SPM(n_shells=n)
            start = time.perf_counter()
            voltage = ours.solve(CURRENT, t).voltage
            compile_s = time.perf_counter() - start
            sim = pybamm_simulation(n)
            same_mesh = pybamm_voltage(sim, t)
            ours_s, pybamm_s = [], []
            for _ in range(repeats):  # interleaved A, B after the warm-up above
                start = time.perf_counter()
                ours.solve(CURRENT, t)
                ours_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                pybamm_voltage(sim, t)
                pybamm_s.append(time.perf_counter() - start)
            rows.append({
                "n_shells": n, "rmse_mv_vs_pybamm_400": rmse_mv(voltage, converged),
                "rmse_mv_vs_pybamm_same_mesh": rmse_mv(voltage, same_mesh),
                "pybamm_rmse_mv_vs_pybamm_400": rmse_mv(same_mesh, converged),
                "max_abs_mv_vs_pybamm_400": float(np.max(np.abs(voltage - converged)) * 1e3),
                "ours_first_call_s": compile_s, "ours_solve_s": ours_s, "pybamm_solve_s": pybamm_s,
                "ours_median_s": statistics.median(ours_s), "pybamm_median_s": statistics.median(pybamm_s),
                "ratio_pybamm_over_ours_median": statistics.median(
                    p / o for p, o in zip(pybamm_s, ours_s, strict=True)),
            })
    return {"t_points": len(t), "current_A": CURRENT, "t_end_s": T_END, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, short training, short chains")
    parser.add_argument("--render", action="store_true", help="only write the table again from the stored results")
    args = parser.parse_args()
    json_path, md_path = ROOT / "benchmarks" / "results" / "battery.json", ROOT / "docs" / "results" / "battery.md"
    if args.render:
        render_table(json_path, md_path, markdown)
        return
    bench = Benchmark("battery")
    bench.declare_threads(sciml=xla_cpu_threads(), pybamm=1)  # PyBaMM's CasADi solver runs on one thread
    experiment = load_experiment("battery-spm").module
    seeds = [0] if args.quick else [0, 1, 2]
    defaults = experiment.Config()
    base = experiment.Config(
        train=dataclasses.replace(defaults.train, steps=1000 if args.quick else 5000,
                                  lbfgs_steps=0 if args.quick else 300),
        num_warmup=50 if args.quick else 200, num_samples=50 if args.quick else 200,
    )
    import numpyro
    import pybamm

    versions = {**package_versions(), "pybamm": pybamm.__version__, "numpyro": numpyro.__version__}
    results = {
        "benchmark": "battery", "quick": args.quick, "device": device_description(), "versions": versions,
        "config": dataclasses.asdict(base), "seeds": seeds,
        "published": {"spm_surrogate_test_error_mv": experiment.PUBLISHED_SPM_TEST_ERROR_MV},
    }
    results["solver_vs_pybamm"] = solver_agreement([20] if args.quick else [20, 40, 80], 3 if args.quick else 5)
    print("solver vs pybamm:", [(row["n_shells"], round(row["rmse_mv_vs_pybamm_400"], 3))
                                for row in results["solver_vs_pybamm"]["rows"]], flush=True)
    bench.sample("after the solver comparison")

    per_seed = []
    calibration = None
    for seed in seeds:
        config = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        surrogate, solver, (t, cases, predicted, reference, rmse, _), scores = experiment.train_and_score(config, None)
        per_seed.append({"seed": seed, **scores, "per_case_rmse_mv": rmse.tolist(), "cases": cases.tolist()})
        print(f"seed {seed}: held-out RMSE {scores['test_rmse_mv']:.3f} mV", flush=True)
        bench.sample(f"after seed {seed}")
        if seed == seeds[0]:
            truth, _, _, runs = experiment.calibrate_both(config, surrogate, solver, scores["test_rmse_mv"])
            calibration = {"truth": truth, "noise_mv": config.noise_mv, "n_observations": config.n_observations,
                           "num_warmup": config.num_warmup, "num_samples": config.num_samples}
            for name, run in runs.items():
                calibration[name] = {
                    "ess": run.ess, "r_hat": run.r_hat, "divergences": run.divergences,
                    "wall_time_s": run.wall_time_s, "compile_and_first_s": run.compile_run_s,
                    "seconds_per_effective_sample": run.seconds_per_effective_sample,
                    "interval_95": {p: run.interval(p) for p in truth}, "covers_truth": run.covers(truth),
                    "posterior_mean": {p: float(np.mean(run.samples[p])) for p in truth},
                }
            calibration["speedup_per_effective_sample"] = (
                calibration["solver"]["seconds_per_effective_sample"]
                / calibration["surrogate"]["seconds_per_effective_sample"])
    errors = [s["test_rmse_mv"] for s in per_seed]
    results["surrogate"] = {"per_seed": per_seed, "test_rmse_mv_mean": float(np.mean(errors)),
                            "test_rmse_mv_std": float(np.std(errors)),
                            "test_rmse_mv_worst_case": float(max(s["test_rmse_mv_max"] for s in per_seed))}
    results["calibration"] = calibration
    bench.write(json_path, results, md_path, markdown(results))


def markdown(r: dict) -> str:
    device = r["device"]
    lines = [
        "# Battery SPM: solver, PINN surrogate, Bayesian calibration",
        "",
        f"Generated by `benchmarks/battery.py{' --quick' if r['quick'] else ''}` on {device['backend']} "
        f"({device['machine']}, {device['cpu_count']} CPU cores); "
        f"jax {r['versions'].get('jax', '?')}, "
        f"pybamm {r['versions'].get('pybamm', '?')}. LG M50 cell (Chen et al. 2020, PyBaMM `Chen2020`), "
        f"{r['solver_vs_pybamm']['current_A']:g} A (1C) constant-current discharge over "
        f"{r['solver_vs_pybamm']['t_end_s']:g} s.",
        "",
        "## Our SPM against PyBaMM's SPM",
        "",
        "Voltage RMSE over the discharge (301 times) against PyBaMM with 400 shells per particle (converged) and "
        "with the same number of shells; solve times are medians of interleaved repeats after warm-up (ours: "
        "compiled, float64; first call = compilation + solve).",
        "",
        "| shells | RMSE vs PyBaMM-400 [mV] | RMSE vs PyBaMM same mesh [mV] | PyBaMM same mesh vs PyBaMM-400 [mV] "
        "| ours solve [s] | PyBaMM solve [s] | ours first call [s] |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["solver_vs_pybamm"]["rows"]:
        lines.append(
            f"| {row['n_shells']} | {row['rmse_mv_vs_pybamm_400']:.3f} | {row['rmse_mv_vs_pybamm_same_mesh']:.3f} | "
            f"{row['pybamm_rmse_mv_vs_pybamm_400']:.3f} | {row['ours_median_s']:.3f} | {row['pybamm_median_s']:.3f} "
            f"| {row['ours_first_call_s']:.1f} |")
    s = r["surrogate"]
    c = r["config"]
    lines += [
        "",
        "## PINN surrogate: voltage error on held-out parameters",
        "",
        f"MLP {c['width']} x {c['depth']}, {c['train']['steps']} Adam + {c['train']['lbfgs_steps']} L-BFGS steps, "
        "trained on the "
        f"residual, the surface flux and solver data at {c['n_train_diffusivities']} diffusivity scales; scored on "
        f"{c['n_test']} random held-out (i0 scale, diffusivity scale) pairs per seed against the solver "
        f"({c['n_eval_times']} times).",
        "",
        "| seed | mean RMSE [mV] | worst case RMSE [mV] | train time [s] | compile [s] |",
        "|---|---|---|---|---|",
    ]
    for row in s["per_seed"]:
        lines.append(f"| {row['seed']} | {row['test_rmse_mv']:.2f} | {row['test_rmse_mv_max']:.2f} | "
                     f"{row['train_time_s']:.0f} | {row['compile_time_s']:.0f} |")
    lines += [
        "",
        f"Mean over seeds: **{s['test_rmse_mv_mean']:.2f} +- {s['test_rmse_mv_std']:.2f} mV** (worst single case "
        f"{s['test_rmse_mv_worst_case']:.2f} mV); paper (Hassanaly et al. 2024, SPM, low-data): "
        f"~{r['published']['spm_surrogate_test_error_mv']:g} mV.",
    ]
    cal = r["calibration"]
    truth = cal["truth"]
    lines += [
        "",
        "## NUTS calibration: surrogate against solver in the loop",
        "",
        f"Truth i0 scale = {truth['i0_scale']:g}, diffusivity scale = {truth['diffusivity_scale']:g}; "
        f"{cal['n_observations']} voltages with {cal['noise_mv']:g} mV Gaussian noise; uniform priors on the trained "
        f"box; one chain, {cal['num_warmup']} warm-up + {cal['num_samples']} draws for both (same settings). Times "
        "exclude compilation (reported apart).",
        "",
        "| sampler | 95% interval i0 scale | 95% interval diffusivity scale | covers truth | ESS (i0, D) "
        "| divergences | wall [s] | s per effective sample | compile + first [s] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("surrogate", "solver"):
        run = cal[name]
        iv = run["interval_95"]
        lines.append(
            f"| {name} | [{iv['i0_scale'][0]:.3f}, {iv['i0_scale'][1]:.3f}] | "
            f"[{iv['diffusivity_scale'][0]:.3f}, {iv['diffusivity_scale'][1]:.3f}] | "
            f"{'yes' if all(run['covers_truth'].values()) else 'no'} | "
            f"{run['ess']['i0_scale']:.0f}, {run['ess']['diffusivity_scale']:.0f} | {run['divergences']} | "
            f"{run['wall_time_s']:.1f} | {run['seconds_per_effective_sample']:.3f} | "
            f"{run['compile_and_first_s']:.1f} |")
    lines += ["", f"Speed-up of surrogate NUTS per effective sample: **{cal['speedup_per_effective_sample']:.0f}x**.",
              ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
