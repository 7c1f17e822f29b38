"""Physics-informed DeepONet accuracy: the default `antiderivative-pi-deeponet` config over 3 seeds.

Each seed is a full `sciml run antiderivative-pi-deeponet --set train.seed=S` (the figures are recomputable from
each run's predictions.nc: `prediction` and `reference` per held-out function); the table reports the relative L2
error per held-out function, its mean and median per seed, and mean +- std over the seeds.

    python benchmarks/pi_deeponet.py [--seeds 0 1 2] [--set key=value ...] [--collect]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from sciml import metrics
from sciml.benchmarking import Benchmark, machine_info, mean_std, xla_cpu_threads
from sciml.studies import parse_overrides

EXPERIMENT = "antiderivative-pi-deeponet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pi-deeponet"))
    parser.add_argument("--collect", action="store_true", help="only gather finished runs under --out (no training)")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    bench = Benchmark("pi_deeponet", timed=False)  # accuracy; wall times are noted with the load
    bench.declare_threads(sciml=xla_cpu_threads())
    runs = []
    for seed in args.seeds:
        out = args.out / f"seed{seed}"
        sets = [f"--set={key}={value}" for key, value in {**overrides, "train.seed": seed}.items()]
        if not args.collect:
            subprocess.run([sys.executable, "-m", "sciml.cli", "run", EXPERIMENT, *sets, "--out", str(out)],
                           check=True)
        summary = json.loads((out / "summary.json").read_text())
        with xr.open_dataset(out / "predictions.nc") as ds:  # recomputed from the run's own outputs
            errors = [metrics.relative_l2(p, r) for p, r in zip(ds.prediction.values, ds.reference.values,
                                                                strict=True)]
        runs.append({"seed": seed, "output": str(out), "wall_time_s": summary["wall_time_s"],
                     "rel_l2_mean": float(np.mean(errors)), "rel_l2_median": float(np.median(errors)),
                     "rel_l2_max": float(np.max(errors)), "functions": len(errors)})
    config = json.loads((Path(runs[0]["output"]) / "config.json").read_text())["config"]
    training = config["train"]
    means, medians = [r["rel_l2_mean"] for r in runs], [r["rel_l2_median"] for r in runs]
    result = {"benchmark": "pi_deeponet", "machine": machine_info(), "config": config, "runs": runs,
              "rel_l2_mean": float(np.mean(means)), "rel_l2_std": float(np.std(means))}
    lines = [
        f"Antiderivative operator s' = f, s(0) = 0 on [0, 1], f a Gaussian-process sample (length scale "
        f"{config['length_scale']}) read at {config['n_sensors']} sensors; physics only (no solution data): residual "
        f"at {config['n_residual']} points and s(0) = 0, {config['functions_per_step']} of "
        f"{config['n_train_functions']} training functions per step, Adam {training['steps']} steps; DeepONet with "
        f"branch and trunk {config['depth']}x{config['width']} tanh, {config['features']} basis functions. Scored on "
        f"{runs[0]['functions']} held-out functions against the exact antiderivative of their cubic splines (scipy), "
        f"on {config['n_eval']} points.",
        "",
        "| seed | rel. L2 mean over functions | median | max | wall time [s] |",
        "|---|---|---|---|---|",
        *[f"| {r['seed']} | {r['rel_l2_mean']:.2e} | {r['rel_l2_median']:.2e} | {r['rel_l2_max']:.2e} | "
          f"{r['wall_time_s']:.0f} |" for r in runs],
        f"| mean +- std over seeds | {mean_std(means)} | {mean_std(medians)} | | |",
        "",
        "Recomputed from each run's predictions.nc." + (" Collected from finished runs." if args.collect else ""),
    ]
    bench.write_report(result, "Physics-informed DeepONet: the antiderivative operator", lines)


if __name__ == "__main__":
    main()
