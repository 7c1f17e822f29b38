"""Random-grid neural process (RGNP) on a PDE family against its baselines at the same budget.

    .venv/bin/python benchmarks/rgnp.py [--experiment poisson-rgnp] [--methods rgnp data-np pinn] [--seeds 0 1 2]
                                        [--set key=value ...]
    .venv/bin/python benchmarks/rgnp.py --render          # the table and the figure from the stored runs only

The families: `poisson-rgnp` (nonlinear Poisson; results `rgnp`) and `burgers-rgnp` (viscous Burgers with the viscosity
as parameter; results `rgnp-burgers`). Each (method, seed) is one run of the experiment (`sciml.studies.neural_process`)
with the experiment's defaults (same steps, parameter values and collocation points per step, network widths) and
`train.seed` = seed, written under benchmarks/out/<results>/; its summary metrics are merged into
benchmarks/results/<results>.json (a rerun of a (method, seed) replaces it), so the runs may be made one at a time.
Every run records the 1-minute load average before and after it: timings (training time, time per forward and per
inverse query) taken under a load above 2 are not comparable and are marked in the table. The table
(docs/results/<results>.md: mean +- std over seeds of each run's figure, and each seed's median over the held-out
cases) and the guide's figure (docs/assets/guides/<results>.png, from the RGNP run of the lowest seed) are written
from the JSON; `--render` needs the same `--experiment`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

import numpy as np
import xarray as xr

from sciml.benchmarking import (
    DOCS_RESULTS_DIR,
    RESULTS_DIR,
    ROOT,
    Benchmark,
    machine_info,
    write_report,
    xla_cpu_threads,
)
from sciml.studies import load_experiment, parse_overrides, run_experiment, save_figure
from sciml.studies.neural_process import METHODS, plot_study

RESULTS = {"poisson-rgnp": "rgnp", "burgers-rgnp": "rgnp-burgers"}
"""The results name (JSON, markdown page, figure, run folder) of each experiment."""
TITLES = {"poisson-rgnp": "Random-grid neural processes: nonlinear Poisson, forward and inverse",
          "burgers-rgnp": "Random-grid neural processes: viscous Burgers with the viscosity as parameter"}
LABELS = {"rgnp": "RGNP (random-grid ELBO)", "data-np": "neural process, solver data only",
          "pinn": "parametric PINN (z as input)"}
LOADED = 2.0


def run(experiment: str, method: str, seed: int, overrides: dict) -> dict:
    """One run of the experiment; its summary metrics, settings, wall time and load averages."""
    settings = {**overrides, "method": method, "train.seed": seed}
    folder = ROOT / "benchmarks" / "out" / RESULTS[experiment] / f"{method}-seed{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    # this run's load record (the table marks loaded runs)
    bench = Benchmark(f"{RESULTS[experiment]} {method} seed {seed}")
    bench.declare_threads(sciml=xla_cpu_threads())
    start = time.perf_counter()
    out = run_experiment(experiment, settings, folder)
    wall = time.perf_counter() - start
    bench.sample("after the run")
    summary = json.loads((out / "summary.json").read_text())
    return {"method": method, "seed": seed, "settings": settings, "run_dir": str(out.relative_to(ROOT)),
            "metrics": summary["metrics"], "wall_s": wall, "load_before": bench.samples[0]["load_1min"],
            "load_after": bench.samples[-1]["load_1min"], "load": bench.record()}


def _fmt(values, scale: float = 1.0, digits: int = 3) -> str:
    values = np.asarray(values, float) * scale
    return f"{values.mean():.{digits}g} ± {values.std():.1g}"


def _row(runs: list[dict], key: str, scale: float = 1.0) -> str:
    values = [r["metrics"][key] for r in runs if key in r["metrics"]]
    return _fmt(values, scale) if values else "—"


def _medians(runs: list[dict], key: str, scale: float = 1.0) -> str:
    values = [r["metrics"][key] for r in runs if key in r["metrics"]]
    return ", ".join(f"{v * scale:.3g}" for v in values) if values else "—"


def _setting(experiment: str, config) -> str:
    """The family and the budget shared by every method, from the experiment's default config."""
    budget = (f"{config.train.steps} Adam steps (cosine schedule from {config.train.learning_rate}), hidden layers "
              f"{config.depth} x {config.width}")
    if experiment == "burgers-rgnp":
        return (f"Viscous Burgers family `u_t + u u_x = nu u_xx` on (-1, 1) x (0, 1], u(x, 0) = -sin(pi x), "
                f"u(+-1, t) = 0, nu in [0.02, 0.1]. Same budget for every method: {budget}, {config.n_tasks} values of "
                f"nu x {config.n_points} random (t, x) collocation points per step (the PINN: "
                f"{config.n_tasks * config.n_points} random (t, x, nu) points; the data-driven neural process: "
                f"{config.n_tasks} of {config.data_cases} Cole-Hopf solutions at {config.data_points} random points "
                f"each). Forward: {config.test_z} held-out nu on a {config.n_t} x {config.n_x} (t, x) grid against the "
                f"Cole-Hopf solution; inverse: {config.inverse_cases} held-out cases, {config.inverse_sensors} random "
                f"(t, x) sensors, noise std {config.noise_level:g} x peak |u|.")
    return (f"Nonlinear Poisson family `-((1 + u^2) u')' = z pi^2 sin(pi x)`, z in [0.5, 3]. Same budget for every "
            f"method: {budget}, {config.n_tasks} values of z x {config.n_points} random collocation points per step "
            f"(the PINN: {config.n_tasks * config.n_points} random (x, z) points; the data-driven neural process: "
            f"{config.n_tasks} of {config.data_cases} solver solutions at {config.data_points} random points each). "
            f"Forward: {config.test_z} held-out z on {config.n_x} points against scipy's solve_bvp; inverse: "
            f"{config.inverse_cases} held-out cases, {config.inverse_sensors} random sensors, noise std "
            f"{config.noise_level:g} x peak |u|.")


def table(result: dict, experiment: str = "poisson-rgnp") -> list[str]:
    """The markdown lines of the results table (every number read from `result`)."""
    by_method = {m: sorted((r for r in result["runs"] if r["method"] == m), key=lambda r: r["seed"]) for m in METHODS}
    by_method = {m: runs for m, runs in by_method.items() if runs}
    config = load_experiment(experiment).config_type()
    z = "nu" if experiment == "burgers-rgnp" else "z"
    lines = [
        f"{_setting(experiment, config)} Mean ± std over seeds {sorted({r['seed'] for r in result['runs']})} "
        "(each run's mean over the held-out cases); the per-seed medians follow. No physics-informed DeepONet "
        "exists in sciml yet, so none is compared.",
        "",
        "| | " + " | ".join(LABELS[m] for m in by_method) + " |",
        "|---" * (len(by_method) + 1) + "|",
    ]
    rows = [
        ("forward rel. L2" + (" (target <= 1e-2)" if z == "z" else ""), "forward_rel_l2_mean", 1.0),
        ("forward rel. L2, per-seed medians", "forward_rel_l2_median", None),
        (f"forward rel. L2, worst {z}", "forward_rel_l2_max", 1.0),
        ("forward 90% interval coverage (target 0.85-0.95)", "forward_coverage90", 1.0),
        ("forward coverage before recalibration", "forward_coverage90_uncalibrated", 1.0),
        ("forward std scale from recalibration", "forward_std_scale", 1.0),
        ("forward CRPS", "forward_crps", 1.0),
        ("inverse rel. error of the posterior mean", "inverse_rel_error_mean", 1.0),
        ("inverse rel. error, per-seed medians", "inverse_rel_error_median", None),
        ("inverse: cases within 5%" + (" (target: all)" if z == "z" else ""), "inverse_within_5pct", 1.0),
        ("inverse 90% interval coverage (target 0.85-0.95)", "inverse_coverage90", 1.0),
        ("inverse CRPS", "inverse_crps", 1.0),
        ("training time [s]", "train_time_s", 1.0),
        (f"time per forward query (one {z}, all points) [ms]", "forward_query_s", 1e3),
        ("time per inverse query (one case) [ms]", "inverse_query_s", 1e3),
    ]
    for label, key, scale in rows:
        cells = [(_medians(runs, key) if scale is None else _row(runs, key, scale)) for runs in by_method.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    loads = [max(r["load_before"], r["load_after"]) for r in result["runs"]]
    lines += ["", f"Load average (1 min) around the runs: {min(loads):.1f} to {max(loads):.1f}."]
    if max(loads) > LOADED:
        lines.append(f"**Timings were taken under a load above {LOADED:g} (a shared machine): they are not valid "
                     "comparisons; rerun on an idle machine.**")
    lines.append("Forward coverage is over interior points (the boundary values are exact by construction); the "
                 "neural processes' forward std is rescaled by one factor fitted on "
                 f"{config.calibration_cases} solver solutions of other {z} (`calibration_cases`). The PINN is "
                 f"deterministic (no forward interval); its inverse posterior is the grid posterior of {z} with the "
                 f"PINN as forward model ({config.pinn_z_grid} values of {z}).")
    return lines


def render(result: dict, experiment: str = "poisson-rgnp") -> None:
    write_report(RESULTS[experiment], result, TITLES[experiment], table(result, experiment))
    rgnp = sorted((r for r in result["runs"] if r["method"] == "rgnp"), key=lambda r: r["seed"])
    if rgnp:
        predictions = xr.open_dataset(ROOT / rgnp[0]["run_dir"] / "predictions.nc")
        fig = plot_study(predictions)
        figure = ROOT / "docs" / "assets" / "guides" / f"{RESULTS[experiment]}.png"
        figure.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, figure, tight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="poisson-rgnp", choices=sorted(RESULTS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", help="experiment overrides key=value")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    args = parser.parse_args()
    name = RESULTS[args.experiment]
    path = RESULTS_DIR / f"{name}.json"
    result = json.loads(path.read_text()) if path.exists() else {"runs": []}
    if not args.render:
        overrides = parse_overrides(args.overrides)
        for method in args.methods:
            for seed in args.seeds:
                record = run(args.experiment, method, seed, overrides)
                result["runs"] = [r for r in result["runs"] if (r["method"], r["seed"]) != (method, seed)] + [record]
                result["machine"] = machine_info()
                write_report(name, result, TITLES[args.experiment], table(result, args.experiment))
                print(f"{method} seed {seed}: " + ", ".join(f"{k}={v:.4g}" for k, v in record["metrics"].items()
                                                            if isinstance(v, float)), flush=True)
    render(result, args.experiment)
    print(f"wrote {path} and {DOCS_RESULTS_DIR / (name + '.md')}")


if __name__ == "__main__":
    main()
