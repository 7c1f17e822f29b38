"""Burgers PINN accuracy: the default `burgers-pinn` config over 3 seeds, final iterate, with wall time.

Each seed is a full `sciml run burgers-pinn --set train.seed=S` (so the figures are recomputable from each run's
predictions.nc); the table reports mean +- std of the relative L2 error on the full 100 x 256 reference grid beside
the published numbers.

    python benchmarks/burgers_accuracy.py [--seeds 0 1 2] [--jobs 1] [--set key=value ...]

`--jobs N` runs N seeds at once as separate `sciml run` processes (their wall times then include the sharing of
the machine's cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sciml.benchmarking import Benchmark, machine_info, mean_std, xla_cpu_threads
from sciml.studies import parse_overrides

PUBLISHED = [
    ("Raissi et al. 2019, PINN 9x20 tanh, L-BFGS, 10k points", 6.7e-4),
    ("PINNacle vanilla PINN (5x100, Adam 20k)", 1.45e-2),
    ("PINNacle Adam then L-BFGS", 1.33e-2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-burgers"))
    parser.add_argument("--collect", action="store_true", help="only gather finished runs under --out (no training)")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    bench = Benchmark("burgers_accuracy", timed=False)  # accuracy; wall times are noted with the load
    bench.declare_threads(sciml=min(bench.cores, args.jobs * xla_cpu_threads()))

    def run_seed(seed: int) -> dict:
        out = args.out / f"seed{seed}"
        sets = [f"--set={key}={value}" for key, value in {**overrides, "train.seed": seed}.items()]
        if not args.collect:
            subprocess.run([sys.executable, "-m", "sciml.cli", "run", "burgers-pinn", *sets, "--out", str(out)],
                           check=True)
        summary = json.loads((out / "summary.json").read_text())
        return {"seed": seed, "output": str(out), "wall_time_s": summary["wall_time_s"], **summary["metrics"]}

    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run_seed, args.seeds))
    errors = [r["rel_l2"] for r in runs]
    walls = [r["wall_time_s"] for r in runs]
    config = json.loads((Path(runs[0]["output"]) / "config.json").read_text())["config"]
    training = config["train"]
    result = {"benchmark": "burgers_accuracy", "machine": machine_info(), "config": config, "jobs": args.jobs,
              "runs": runs, "rel_l2_mean": float(np.mean(errors)), "rel_l2_std": float(np.std(errors)),
              "wall_time_s_max": float(np.max(walls))}
    lines = [
        f"Default config: MLP {config['depth']}x{config['width']} tanh with hard IC/BC, Adam {training['steps']} steps "
        f"on {config['n_residual']} Sobol points (resampled every {config['resample_every']}), then L-BFGS "
        f"{training['lbfgs_steps']} steps in {training['lbfgs_dtype']} on {config['n_residual_lbfgs']} points.",
        "",
        "| method | rel. L2 (final iterate) | seeds | wall time per run |",
        "|---|---|---|---|",
        f"| sciml `burgers-pinn` | {mean_std(errors)} | {len(errors)} | {np.mean(walls):.0f} s "
        f"(max {np.max(walls):.0f} s) |",
        *[f"| {name} | {value:.2e} | (published) | |" for name, value in PUBLISHED],
        "",
        "Per seed: " + ", ".join(f"seed {r['seed']}: {r['rel_l2']:.2e} in {r['wall_time_s']:.0f} s" for r in runs)
        + (". Collected from finished runs (each run's summary.json holds its own wall time and device)."
           if args.collect else f". Seeds run {args.jobs} at a time."),
    ]
    bench.write_report(result, "Burgers PINN accuracy (nu = 0.01/pi)", lines)


if __name__ == "__main__":
    main()
