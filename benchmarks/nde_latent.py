"""Latent ODE interpolation vs linear interpolation: `latent-ode-interp` at its defaults over 3 seeds.

Each seed is a full `sciml run latent-ode-interp --set train.seed=S`; the errors are recomputed here from each
run's predictions.nc (hidden points = NaN in `observations`; `prediction` and `linear_interpolation` against the
clean `reference`), never read from the summaries.

    python benchmarks/nde_latent.py [--seeds 0 1 2] [--collect]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from sciml.benchmarking import Benchmark, machine_info, mean_std, xla_cpu_threads
from sciml.data import open_dataset

CASE = "latent-ode-interp"


def interpolation_errors(predictions) -> dict[str, float]:
    """MSE on the hidden points of the latent ODE and of linear interpolation, and the 90% band's coverage there."""
    hidden = np.isnan(predictions.observations.values)
    truth = predictions.reference.values
    inside = (truth >= predictions.prediction_lower.values) & (truth <= predictions.prediction_upper.values)
    return {
        "latent_ode_hidden_mse": float(np.mean((predictions.prediction.values - truth)[hidden] ** 2)),
        "linear_interpolation_hidden_mse": float(np.mean((predictions.linear_interpolation.values - truth)[hidden]
                                                         ** 2)),
        "band_coverage_hidden": float(np.mean(inside[hidden])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-nde-latent"))
    parser.add_argument("--collect", action="store_true", help="only gather finished runs under --out (no training)")
    args = parser.parse_args()
    bench = Benchmark("nde_latent", timed=False)  # accuracy; wall times are noted with the load
    bench.declare_threads(sciml=xla_cpu_threads())

    runs = []
    for seed in args.seeds:
        out = args.out / f"seed{seed}"
        if not args.collect:
            subprocess.run([sys.executable, "-m", "sciml.cli", "run", CASE, f"--set=train.seed={seed}", "--out",
                            str(out)], check=True)
        summary = json.loads((out / "summary.json").read_text())
        runs.append({"seed": seed, "output": str(out), "wall_time_s": summary["wall_time_s"],
                     **interpolation_errors(open_dataset(out / "predictions.nc"))})
    config = json.loads((Path(runs[0]["output"]) / "config.json").read_text())["config"]
    latent = [r["latent_ode_hidden_mse"] for r in runs]
    linear = [r["linear_interpolation_hidden_mse"] for r in runs]
    ratio = [a / b for a, b in zip(latent, linear, strict=True)]
    lines = [
        f"Decaying 2-D oscillators, {config['length']} times on [0, {config['t1']}], {config['observed_fraction']:.0%} "
        f"of the points observed (noise {config['noise']}); {config['n_train']} training series, {config['n_test']} "
        f"test series; latent size {config['latent_size']}, {config['train']['steps']} Adam steps. Error on the hidden "
        "points of the test series against the clean truth.",
        "",
        "| method | hidden-point MSE (mean ± std over seeds) | worst seed |",
        "|---|---|---|",
        f"| latent ODE (posterior mean) | {mean_std(latent)} | {max(latent):.2e} |",
        f"| linear interpolation | {mean_std(linear)} | {max(linear):.2e} |",
        "",
        f"Latent ODE / linear, per seed: {', '.join(f'{r:.2f}' for r in ratio)} (below 1 = the latent ODE is better). "
        "90% band coverage of the hidden points (z0 uncertainty only): "
        + ", ".join(f"{r['band_coverage_hidden']:.2f}" for r in runs) + ". Wall time per run: "
        + ", ".join(f"seed {r['seed']}: {r['wall_time_s']:.0f} s" for r in runs) + ".",
    ]
    result = {"benchmark": "nde_latent", "machine": machine_info(), "config": config, "runs": runs,
              "latent_over_linear": ratio}
    bench.write_report(result, f"Latent ODE interpolation vs linear interpolation ({len(runs)} seeds)", lines)


if __name__ == "__main__":
    main()
