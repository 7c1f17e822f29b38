"""Inverse PINNs: recovered coefficients (heat diffusivity, Burgers viscosity) from clean and 1 %-noisy sensors, over
seeds, with the ensemble's interval and whether it covers the truth.

Each (experiment, noise, seed) is a full `sciml run EXPERIMENT --set noise=N --set train.seed=S` (so every number is
recomputable from its run's predictions.nc and summary.json); the table reports, per experiment and noise level,
the recovered value (the ensemble mean, mean +- std over seeds), its relative error (mean +- std and median over
seeds), each seed's interval and how many cover the truth, and the wall time per run.

    python benchmarks/pinn_inverse.py [--experiments ...] [--noises 0 0.01] [--seeds 0 1 2] [--set key=value ...]
    python benchmarks/pinn_inverse.py --collect      # only tabulate finished runs under --out
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from sciml.benchmarking import Benchmark, machine_info, mean_std, xla_cpu_threads
from sciml.studies import parse_overrides

EXPERIMENTS = {"heat-diffusivity-inverse-pinn": "kappa", "burgers-viscosity-inverse-pinn": "nu"}
TARGETS = {0.0: 0.01, 0.01: 0.05}  # noise -> the accuracy target on the relative error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--noises", type=float, nargs="+", default=[0.0, 0.01])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides for every run (e.g. train.steps=2000)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pinn-inverse"))
    parser.add_argument("--collect", action="store_true", help="only gather finished runs under --out (no training)")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    bench = Benchmark("pinn_inverse", timed=False)  # accuracy; wall times are noted with the load
    bench.declare_threads(sciml=min(bench.cores, xla_cpu_threads()))

    def run_one(name: str, noise: float, seed: int) -> dict | None:
        out = args.out / name / f"noise{noise:g}" / f"seed{seed}"
        sets = [f"--set={key}={value}" for key, value in {**overrides, "noise": noise, "train.seed": seed}.items()]
        if not args.collect:
            subprocess.run([sys.executable, "-m", "sciml.cli", "run", name, *sets, "--out", str(out)], check=True)
        if not (out / "summary.json").exists():  # --collect: a run not (yet) finished is left out, and said so
            return None
        summary = json.loads((out / "summary.json").read_text())
        config = json.loads((out / "config.json").read_text())["config"]
        return {"experiment": name, "noise": noise, "seed": seed, "output": str(out), "config": config,
                "wall_time_s": summary["wall_time_s"], **summary["metrics"]}

    planned = [(name, noise, seed) for name in args.experiments for noise in args.noises for seed in args.seeds]
    runs = [run for run in (run_one(*plan) for plan in planned) if run is not None]
    missing = [plan for plan in planned if not any((r["experiment"], r["noise"], r["seed"]) == plan for r in runs)]
    lines = ["Each run trains one ensemble (its members differ in initialisation and in a bootstrap resample of the "
             "sensors) and reports the members' mean and the interval mean +- t_{M-1} s sqrt(1 + 1/M) "
             "(`sciml.pinn.ensemble_estimate`); the rows pool the seeds (other sensor sites, noise and "
             "initialisations). Targets: relative error below 1 % from clean data, below 5 % with a covering "
             "interval from 1 %-noisy data. Noise is Gaussian with standard deviation `noise` x the standard "
             "deviation of the clean sensor values.",
             "",
             "| experiment | coefficient (true) | noise | recovered (mean +- std over seeds) | "
             "rel. error mean +- std | rel. error median | intervals (per seed) | covers truth | "
             "target met (all seeds) | wall time per run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    summary = []
    for name in args.experiments:
        coefficient = EXPERIMENTS[name]
        for noise in args.noises:
            rows = [r for r in runs if r["experiment"] == name and r["noise"] == noise]
            if not rows:
                continue
            truth = rows[0][f"{coefficient}_true"]
            errors = [r[f"{coefficient}_rel_error"] for r in rows]
            covered = [bool(r[f"{coefficient}_covered"]) for r in rows]
            target = TARGETS.get(noise)
            met = (target is not None and len(rows) == len(args.seeds) and max(errors) < target
                   and (noise == 0 or all(covered)))
            intervals = ", ".join(f"[{r[f'{coefficient}_lower']:.4g}, {r[f'{coefficient}_upper']:.4g}]" for r in rows)
            walls = [r["wall_time_s"] for r in rows]
            lines.append(
                f"| `{name}` | {coefficient} ({truth:.4g}) | {noise:g} | "
                f"{mean_std([r[coefficient] for r in rows])} | {mean_std(errors)} | {np.median(errors):.2e} | "
                f"{intervals} | {sum(covered)}/{len(rows)} | {'yes' if met else 'no'} | {np.mean(walls):.0f} s |")
            summary.append({"experiment": name, "coefficient": coefficient, "noise": noise, "truth": truth,
                            "rel_error_mean": float(np.mean(errors)), "rel_error_std": float(np.std(errors)),
                            "rel_error_median": float(np.median(errors)), "covered": sum(covered),
                            "seeds": len(rows), "target_met": met, "wall_time_s_mean": float(np.mean(walls))})
    lines += ["", "Per run: " + "; ".join(
        f"{r['experiment'].split('-')[0]} noise {r['noise']:g} seed {r['seed']}: "
        f"{r[EXPERIMENTS[r['experiment']]]:.5g} (rel. error {r[EXPERIMENTS[r['experiment']] + '_rel_error']:.2e}, "
        f"field rel. L2 {r['rel_l2']:.2e}) in {r['wall_time_s']:.0f} s" for r in runs) + "."]
    if missing:
        lines += ["", "Not run to the end (left out of the table, which counts the seeds it pools): " + ", ".join(
            f"{name} noise {noise:g} seed {seed}" for name, noise, seed in missing) + "."]
    settings = {r["experiment"]: r["config"] for r in runs}
    lines += ["", "Settings (all runs of an experiment share them but the seed and the noise): " + "; ".join(
        f"`{name}`: {c['members']} members, MLP {c['depth']}x{c['width']}, {c['n_sensors']} sensors, Adam "
        f"{c['train']['steps']} steps on {c['n_residual']} points, then L-BFGS {c['train']['lbfgs_steps']} steps "
        f"({c['train']['lbfgs_dtype']}) on {c['n_residual_lbfgs']} points" for name, c in settings.items()) + ".",
              "",
              "DeepXDE's inverse examples (`dde.Variable`) publish no recovered values to set beside these; the "
              "project's research notes give none either."]
    result = {"benchmark": "pinn_inverse", "machine": machine_info(), "runs": runs, "summary": summary,
              "missing": [list(plan) for plan in missing], "overrides": overrides}
    bench.write_report(result, "Inverse PINNs: recovered coefficients with ensemble intervals", lines)


if __name__ == "__main__":
    main()
