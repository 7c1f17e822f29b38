"""Neural SDE accuracy: stationary statistics of `ou-sde` and `stochastic-lorenz-sde` over 3 seeds (final iterate).

Each seed is a full `sciml run NAME --set train.seed=S`; the statistics are recomputed here from each run's
predictions.nc (generated paths `prediction` after the burn-in against the exact OU law, or against the `reference`
ensemble of the true stochastic Lorenz system), never read from the summaries. The table gives mean +- std over seeds,
the worst seed, the tolerance of issue 5 and the standard error of one run's estimate (the statistical noise of the
check).

    python benchmarks/nde_sde.py [--cases ou-sde stochastic-lorenz-sde] [--seeds 0 1 2] [--collect]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from sciml.benchmarking import Benchmark, machine_info, xla_cpu_threads
from sciml.data import open_dataset
from sciml.dynamics import stationary_standard_errors, stationary_statistics

CASES = ("ou-sde", "stochastic-lorenz-sde")
MEAN_TOL, VARIANCE_TOL, AUTOCORRELATION_TOL = 0.05, 0.05, 0.05


def ou_errors(predictions) -> dict[str, float]:
    """Errors of the learned OU paths against the exact stationary law (mean, variance, exp(-theta lag))."""
    attrs = predictions.attrs
    kept = predictions.t.values >= attrs["burn_in"]
    paths = predictions.prediction.values[:, kept, None]
    lags = np.atleast_1d(attrs["lags"])
    stats = stationary_statistics(paths, attrs["obs_dt"], lags)
    noise = stationary_standard_errors(paths, attrs["obs_dt"], lags)
    mean, variance = attrs["mu"], attrs["sigma"] ** 2 / (2 * attrs["theta"])
    return {
        "mean_rel_error": float(abs(stats["mean"][0] - mean) / abs(mean)),
        "variance_rel_error": float(abs(stats["variance"][0] - variance) / variance),
        "autocorrelation_max_abs_error": float(np.max(np.abs(stats["autocorrelation"][:, 0]
                                                             - np.exp(-attrs["theta"] * lags)))),
        "mean_rel_standard_error": float(noise["mean"][0] / abs(mean)),
        "variance_rel_standard_error": float(noise["variance"][0] / variance),
        "autocorrelation_standard_error": float(np.max(noise["autocorrelation"])),
    }


def lorenz_errors(predictions) -> dict[str, float]:
    """Errors of the learned Lorenz paths against the true-system ensemble, worst channel.

    Mean: for z relative to the true mean; for x and y (true mean 0 by symmetry) relative to the stationary std.
    """
    attrs = predictions.attrs
    kept = predictions.t.values >= attrs["burn_in"]
    lags = np.atleast_1d(attrs["lags"])
    learned_paths, true_paths = predictions.prediction.values[:, kept], predictions.reference.values[:, kept]
    learned, truth = (stationary_statistics(p, attrs["obs_dt"], lags) for p in (learned_paths, true_paths))
    noise_l, noise_t = (stationary_standard_errors(p, attrs["obs_dt"], lags) for p in (learned_paths, true_paths))
    std = np.sqrt(truth["variance"])
    mean_scale = np.array([std[0], std[1], abs(truth["mean"][2])])
    out = {
        "mean_rel_error": float(np.max(np.abs(learned["mean"] - truth["mean"]) / mean_scale)),
        "variance_rel_error": float(np.max(np.abs(learned["variance"] - truth["variance"]) / truth["variance"])),
        "autocorrelation_max_abs_error": float(np.max(np.abs(learned["autocorrelation"] - truth["autocorrelation"]))),
        "mean_rel_standard_error": float(np.max(np.hypot(noise_l["mean"], noise_t["mean"]) / mean_scale)),
        "variance_rel_standard_error": float(np.max(np.hypot(noise_l["variance"], noise_t["variance"])
                                                    / truth["variance"])),
        "autocorrelation_standard_error": float(np.max(np.hypot(noise_l["autocorrelation"],
                                                                noise_t["autocorrelation"]))),
    }
    for c, name in enumerate(predictions.channel.values):
        out[f"mean_rel_error_{name}"] = float(abs(learned["mean"][c] - truth["mean"][c]) / mean_scale[c])
        out[f"variance_rel_error_{name}"] = float(abs(learned["variance"][c] - truth["variance"][c])
                                                  / truth["variance"][c])
        out[f"autocorrelation_max_abs_error_{name}"] = float(np.max(np.abs(learned["autocorrelation"][:, c]
                                                                           - truth["autocorrelation"][:, c])))
    return out


ERRORS = {"ou-sde": ou_errors, "stochastic-lorenz-sde": lorenz_errors}
ROWS = (("stationary mean, rel. error", "mean_rel_error", "mean_rel_standard_error", MEAN_TOL),
        ("stationary variance, rel. error", "variance_rel_error", "variance_rel_standard_error", VARIANCE_TOL),
        ("autocorrelation at the lags, max abs. error", "autocorrelation_max_abs_error",
         "autocorrelation_standard_error", AUTOCORRELATION_TOL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-nde-sde"))
    parser.add_argument("--collect", action="store_true", help="only gather finished runs under --out (no training)")
    args = parser.parse_args()
    bench = Benchmark("nde_sde", timed=False)  # accuracy; wall times are noted with the load
    bench.declare_threads(sciml=xla_cpu_threads())

    cases = {}
    for case in args.cases:
        runs = []
        for seed in args.seeds:
            out = args.out / case / f"seed{seed}"
            if not args.collect:
                subprocess.run([sys.executable, "-m", "sciml.cli", "run", case, f"--set=train.seed={seed}", "--out",
                                str(out)], check=True)
            summary = json.loads((out / "summary.json").read_text())
            runs.append({"seed": seed, "output": str(out), "wall_time_s": summary["wall_time_s"],
                         "train_time_s": summary["metrics"]["train_time_s"],
                         **ERRORS[case](open_dataset(out / "predictions.nc"))})
        config = json.loads((Path(runs[0]["output"]) / "config.json").read_text())["config"]
        cases[case] = {"config": config, "runs": runs}

    lines = ["Stationary statistics of paths generated by the trained neural SDE, run far past the training window "
             "from stationary starts, after the burn-in (`burn_in` in predictions.nc). OU: against the exact law "
             "(mean mu, variance sigma^2 / (2 theta), autocorrelation exp(-theta lag)). Stochastic Lorenz: against an "
             "independent Euler-Maruyama ensemble of the true system (step 0.001); the mean of x and y (0 by symmetry) "
             "is measured relative to the stationary std, the mean of z relative to itself; worst channel shown. "
             "Standard error: spread over 10 groups of paths of one run's estimate (both ensembles combined for "
             "Lorenz), i.e. the statistical noise of the check itself.", ""]
    lines += ["| case | quantity | mean ± std over seeds | worst seed | tolerance | met (all seeds) "
              "| standard error |",
              "|---|---|---|---|---|---|---|"]
    for case, data in cases.items():
        for label, key, noise_key, tol in ROWS:
            values = np.array([r[key] for r in data["runs"]])
            noise = np.mean([r[noise_key] for r in data["runs"]])
            lines.append(f"| `{case}` | {label} | {values.mean():.3f} ± {values.std():.3f} | {values.max():.3f} | "
                         f"{tol:g} | {'yes' if values.max() <= tol else 'no'} | {noise:.3f} |")
    lines.append("")
    for case, data in cases.items():
        c = data["config"]
        lines.append(f"- `{case}`: {len(data['runs'])} seeds, {c['train']['steps']} Adam steps, "
                     f"batch {c['batch_size']} "
                     f"windows of {c['window']} time units x {c['samples_per_window']} generated paths each "
                     "(energy score), "
                     f"dt0 {c['dt0']}, evaluation {c['eval_paths']} paths over {c['eval_horizon']} time units; "
                     "wall time per run " + ", ".join(f"seed {r['seed']}: {r['wall_time_s']:.0f} s"
                                                      for r in data["runs"]) + ".")
    result = {"benchmark": "nde_sde", "machine": machine_info(), "seeds": args.seeds, "cases": cases,
              "tolerances": {"mean": MEAN_TOL, "variance": VARIANCE_TOL, "autocorrelation": AUTOCORRELATION_TOL}}
    title = f"Neural SDEs: stationary mean, variance and autocorrelation ({len(args.seeds)} seeds)"
    bench.write_report(result, title, lines)


if __name__ == "__main__":
    main()
