"""Advection's parameter handling, checked on validation splits that never use the held-out speeds.

`advection-cape` holds out beta in {0.1, 1, 7}: 0.1 lies a factor 2 below the smallest trained speed (0.2), 7 a
factor 1.75 above the largest (4), and 1 in the gap between 0.7 and 2. Two of its settings were first picked in
one-seed trials that reported held-out errors: parameters clipped to the trained range (`parameter_clip=0`) and a
linear parameter scale. This benchmark re-makes both choices with the held-out speeds dropped from the data, on
splits of the five trained speeds that mimic the test:

- extrapolation: train on {0.4, 0.7, 2}, validate at 0.2 and 4 (a factor 2 outside on either side): clipping or not,
  and, not clipped, CAPE's gradient penalty on the parameter input (`ParameterGradientPenalty`), its draws spanning
  the validation speeds as the paper's [min / 2, 2 max] does (the trained range widened by 1.25 times its width each
  side reaches 4): at the paper's weight 5.16e-4, and at 0.1, where the penalty term is no longer three orders of
  magnitude below the rollout loss;
- interpolation: train on {0.2, 0.4, 2, 4}, validate at 0.7 (in the gap between 0.4 and 2): linear or log scale.

Beside them the plain FNO, which ignores beta. Everything else is the experiment's configuration. Writes
`benchmarks/results/cape_validation.json` and `docs/results/cape_validation.md`; each run's folder
(`runs/cape_validation/SPLIT-VARIANT-sSEED`) keeps its predictions.nc, and a finished folder is read back rather than
trained again; `--resume` keeps the runs already in the JSON.

    .venv/bin/python benchmarks/cape_validation.py [--seeds 0 1 2] [--processes 2] [--resume] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from cape import QUICK  # benchmarks/cape.py, beside this script

from sciml.benchmarking import Benchmark, trained_run, xla_cpu_threads
from sciml.provenance import package_versions

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "cape_validation"  # one folder per run, with its predictions.nc
SPEEDS = (0.1, 0.2, 0.4, 0.7, 1.0, 2.0, 4.0, 7.0)  # the advection family's beta values
TEST_SPEEDS = (0.1, 1.0, 7.0)  # advection-cape's held-out values, dropped from every split here
SPLITS = {
    "extrapolation": dict(held_out_values=(0.2, 4.0), excluded_values=TEST_SPEEDS),
    "interpolation": dict(held_out_values=(0.7,), excluded_values=TEST_SPEEDS),
}
VARIANTS = {
    "extrapolation": {
        "FNO": dict(conditioning="none"),
        "FNO + CAPE, clipped (experiment)": dict(conditioning="cape"),
        "FNO + CAPE, not clipped": dict(conditioning="cape", parameter_clip=None),
        "FNO + CAPE, not clipped, gradient penalty 5.16e-4": dict(
            conditioning="cape", parameter_clip=None, gradient_penalty=5.16e-4, gradient_penalty_widen=1.25),
        "FNO + CAPE, not clipped, gradient penalty 0.1": dict(
            conditioning="cape", parameter_clip=None, gradient_penalty=0.1, gradient_penalty_widen=1.25),
    },
    "interpolation": {
        "FNO": dict(conditioning="none"),
        "FNO + CAPE, linear scale (experiment)": dict(conditioning="cape"),
        "FNO + CAPE, log scale": dict(conditioning="cape", parameter_scale="log"),
    },
}


def overrides(split: str, variant: str, seed: int, quick: bool) -> dict:
    """`advection-cape`'s config overrides for one run."""
    values = {"base": "fno", **SPLITS[split], **VARIANTS[split][variant], "train.seed": seed}
    if quick:
        values.update(QUICK)
    return values


def run_folder(split: str, variant: str, seed: int, quick: bool) -> Path:
    """`runs/cape_validation[-quick]/SPLIT-VARIANT-sSEED`, the variant's name lower-cased, runs of other characters
    as one '-'."""
    slug = re.sub(r"[^a-z0-9.]+", "-", variant.lower()).strip("-")
    return RUNS.with_name(RUNS.name + ("-quick" if quick else "")) / f"{split}-{slug}-s{seed}"


def run_one(split: str, variant: str, seed: int, quick: bool) -> dict:
    """One training run (in its own process) into its run folder, which keeps predictions.nc (a finished folder is
    read back); returns its record."""
    from sciml import enable_compilation_cache

    enable_compilation_cache()
    summary = trained_run("advection-cape", overrides(split, variant, seed, quick), run_folder(split, variant, seed,
                                                                                             quick))
    return {"split": split, "variant": variant, "seed": seed, "config": summary["config"],
            "device": summary["device"], "wall_s": summary["wall_time_s"], "predictions": summary["predictions"],
            "summary": {k: v for k, v in summary["metrics"].items() if "nrmse" in k}}


def markdown(payload: dict) -> str:
    runs = payload["runs"]
    lines = ["# CAPE on advection: validation of the parameter handling", "",
             f"Generated by `benchmarks/cape_validation.py`, {payload['date']}. The held-out speeds 0.1, 1 and 7 are "
             "dropped from the data; nRMSE of full 40-step rollouts (mean +- std over seeds) on unseen trajectories "
             "of the trained speeds (seen) and at the validation speeds; each run's folder "
             "(`runs/cape_validation/`) keeps its predictions.nc. Ran on "
             f"{', '.join(sorted({r['device']['backend'] for r in runs}))}.", ""]
    for split in SPLITS:
        mine = [r for r in runs if r["split"] == split]
        if not mine:
            continue
        config = mine[0]["config"]
        trained = sorted(set(SPEEDS) - set(config["held_out_values"]) - set(config["excluded_values"]))
        values = [f"held_out_nrmse_beta={v:g}" for v in config["held_out_values"]]
        lines += [f"## {split}: trained on beta in {trained}, validated at {list(config['held_out_values'])}", "",
                  "| model | seeds | nRMSE seen | nRMSE validation | "
                  + " | ".join(v.removeprefix("held_out_nrmse_") for v in values) + " | per seed (validation) |",
                  "|---|---|---|---|" + "---|" * len(values) + "---|"]
        for variant in VARIANTS[split]:
            summaries = [r["summary"] for r in sorted(mine, key=lambda r: r["seed"]) if r["variant"] == variant]
            if not summaries:
                continue

            def cell(key, summaries=summaries):
                x = np.asarray([s[key] for s in summaries], dtype=float)
                return f"{x.mean():.3g} +- {x.std(ddof=1) if x.size > 1 else 0.0:.2g}"

            seeds = ", ".join(f"{s['held_out_nrmse']:.3g}" for s in summaries)
            lines.append(f"| {variant} | {len(summaries)} | {cell('seen_nrmse')} | {cell('held_out_nrmse')} | "
                         + "".join(f"{cell(v)} | " for v in values) + f"{seeds} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="keep runs already in the results JSON")
    parser.add_argument("--quick", action="store_true", help="small dataset, 20 steps: a smoke run")
    args = parser.parse_args()
    suffix = "-quick" if args.quick else ""
    results = ROOT / "benchmarks" / "results" / f"cape_validation{suffix}.json"
    table = ROOT / "docs" / "results" / f"cape_validation{suffix}.md"
    bench = Benchmark(f"cape_validation{suffix}", timed=False)  # accuracy; the wall times are noted with the load
    bench.declare_threads(sciml=min(bench.cores, args.processes * xla_cpu_threads()))
    runs = json.loads(results.read_text())["runs"] if args.resume and results.exists() else []
    done = {(r["split"], r["variant"], r["seed"]) for r in runs}
    todo = [(split, variant, seed) for seed in args.seeds for split in args.splits for variant in VARIANTS[split]
            if (split, variant, seed) not in done]

    def save():
        payload = {"benchmark": "cape_validation", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "versions": package_versions(), "runs": runs}
        bench.write(results, payload, table, markdown(payload))

    context = multiprocessing.get_context("spawn")  # a fresh JAX per run
    with ProcessPoolExecutor(args.processes, mp_context=context) as pool:
        futures = [pool.submit(run_one, *job, args.quick) for job in todo]
        for future in as_completed(futures):
            record = future.result()
            runs.append(record)
            print(f"{record['split']:13s} {record['variant']:38s} seed {record['seed']}: validation nRMSE "
                  f"{record['summary']['held_out_nrmse']:.4g} ({record['wall_s']:.0f} s)", flush=True)
            save()
    save()


if __name__ == "__main__":
    main()
