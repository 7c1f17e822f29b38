"""CAPE benchmark: {FNO, FNO + parameter channels, FNO + CAPE, U-Net, U-Net + CAPE} x seeds on PDE families.

For each run: rollout nRMSE (full autoregressive rollout from the first input frames) on unseen trajectories of seen
parameter values and on held-out parameter values (also per held-out value), parameter count, training time,
inference time per step. Each family runs its experiment's configuration (`experiments/<family>_cape.py`: splits,
budget, knobs); baselines without CAPE are widened to the parameter count of the CAPE model (`match_parameters`).
Each run trains in its own folder, `runs/cape/FAMILY-MODEL-sSEED`, which keeps its predictions.nc (a finished folder
is read back, not trained again). Writes `benchmarks/results/cape.json` (every run, raw, with the device it ran on)
and `docs/results/cape.md`. Runs are appended as they finish, and `--resume` skips runs already in the JSON, so an
interrupted benchmark continues where it stopped. `--processes N` runs the missing runs as N parallel processes (one
run each, e.g. sharing a GPU) and merges them; `--name`/`--include` merge parts run elsewhere.

    .venv/bin/python benchmarks/cape.py [--quick] [--families advection burgers diffreact] [--seeds 0 1 2]
        [--models ...] [--resume] [--processes N]
    .venv/bin/python benchmarks/cape.py --table     # rewrite the table (and its verdict) from the JSON only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from pdebench_cape import ratio_verdict

from sciml import enable_compilation_cache
from sciml.benchmarking import Benchmark, render_table, trained_run, xla_cpu_threads
from sciml.provenance import package_versions
from sciml.studies import write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cape.json"
TABLE = ROOT / "docs" / "results" / "cape.md"
FAMILIES = {"advection": "advection-cape", "burgers": "burgers-cape", "diffreact": "diffreact-cape",
            "ns2d": "ns2d-cape"}
MODELS = {
    "FNO": dict(base="fno", conditioning="none"),
    "FNO + channels": dict(base="fno", conditioning="channels"),
    "FNO + CAPE": dict(base="fno", conditioning="cape"),
    "U-Net": dict(base="unet", conditioning="none", size=8, depth=3),
    "U-Net + CAPE": dict(base="unet", conditioning="cape", size=8, depth=3),
}
REPORTED = ("seen_nrmse", "held_out_nrmse", "held_out_crmse", "held_out_frmse_high", "parameter_count",
            "train_time_s", "held_out_inference_ms_per_step")
QUICK = {"small": True, "train.steps": 20, "epochs": 2, "train.chunk": 10, "spatial_stride": 1,  # --quick overrides
         "max_eval_samples": 8}
SETTINGS = ("steps", "batch_size", "frames", "horizon", "epochs", "spatial_stride", "learning_rate", "size", "modes",
            "depth", "cape_width", "cape_modes", "cape_pool", "cape_normalize", "cape_update_cap", "cape_weight",
            "parameter_scale", "parameter_clip", "initial_window_fraction", "excluded_values")


def overrides(model: str, seed: int, quick: bool) -> dict:
    """Config overrides of the family's experiment for the model's base and conditioning (U-Net sizes) and `seed`."""
    values = {**MODELS[model], "train.seed": seed}
    if quick:
        values.update(QUICK)
    return values


def run_one(family: str, model: str, seed: int, quick: bool) -> dict:
    """Train and score one model in its run folder (`runs/cape[-quick]/FAMILY-MODEL-sSEED`, which keeps
    predictions.nc; a finished folder is read back); returns its record."""
    slug = model.lower().replace(" + ", "-").replace(" ", "")
    runs = ROOT / "runs" / ("cape-quick" if quick else "cape")
    summary = trained_run(FAMILIES[family], overrides(model, seed, quick), runs / f"{family}-{slug}-s{seed}")
    return {"family": family, "model": model, "seed": seed, "config": summary["config"], "device": summary["device"],
            "versions": summary["versions"], "wall_s": summary["wall_time_s"], "predictions": summary["predictions"],
            "summary": summary["metrics"]}


def aggregate(runs: list[dict]) -> dict:
    """Mean and std over seeds of each reported figure (and the held-out nRMSE per value), per (family, model)."""
    table: dict = {}
    for run in runs:
        table.setdefault(run["family"], {}).setdefault(run["model"], []).append(run["summary"])
    out = {}
    for family, models in table.items():
        for model, summaries in models.items():
            stats = {"seeds": len(summaries)}
            per_value = sorted({k for s in summaries for k in s if k.startswith("held_out_nrmse_")})
            for key in (*REPORTED, *per_value):
                values = np.asarray([s[key] for s in summaries if key in s], dtype=float)
                stats[key] = {"mean": float(values.mean()),
                              "std": float(values.std(ddof=1)) if values.size > 1 else 0.0}
            out.setdefault(family, {})[model] = stats
    return out


def acceptance(runs: list[dict]) -> dict:
    """FNO + CAPE held-out nRMSE over that of the parameter-matched FNO + channels, seed by seed, per family, and the
    verdict of `ratio_verdict` (median per seed <= 0.8, no result where both rollouts are worse than predicting zero;
    a ratio of seed means would let one diverged run decide); beside it, over the plain FNO's (no verdict). Passed:
    met on at least two of the three 1D families."""
    out = {}
    for family in sorted({r["family"] for r in runs}):
        by_seed = {(r["model"], r["seed"]): r["summary"]["held_out_nrmse"] for r in runs if r["family"] == family}
        seeds = sorted(seed for model, seed in by_seed if model == "FNO + CAPE" and ("FNO + channels", seed) in by_seed)
        if not seeds:
            continue
        per_seed, met, verdict = ratio_verdict([(by_seed[("FNO + CAPE", s)], by_seed[("FNO + channels", s)])
                                           for s in seeds])
        over_plain = [by_seed[("FNO + CAPE", s)] / by_seed[("FNO", s)] for s in seeds if ("FNO", s) in by_seed]
        out[family] = {"seeds": seeds, "per_seed_ratio": per_seed, "median_per_seed_ratio": float(np.median(per_seed)),
                       "verdict": verdict, "met": met, "per_seed_ratio_over_plain": over_plain}
    met = sorted(f for f, v in out.items() if v["met"] and f != "ns2d")
    return {"cape_over_channels": out, "families_met": met, "passed": len(met) >= 2}


def _family_setup(runs: list[dict], family: str) -> str:
    """The family's devices and settings (those of its FNO + CAPE runs), as recorded in the runs."""
    mine = [r for r in runs if r["family"] == family]
    devices = sorted({f"{r['device']['backend']} ({', '.join(sorted(set(r['device']['devices'])))})" for r in mine})
    config = next((r["config"] for r in mine if r["model"] == "FNO + CAPE"), mine[0]["config"])
    config = {**config.get("train", {}), **config}  # training knobs sit in `train` (flat in runs before the move)
    settings = ", ".join(f"{k}={config[k]}" for k in SETTINGS if k in config)
    older = sorted({r["model"] for r in mine if "predictions" not in r})
    kept = (f" Rows recorded before runs kept their folder, so without a predictions.nc to recompute them from: "
            f"{', '.join(older)}." if older else " Every run's predictions.nc is in its folder.")
    return f"Ran on {' and '.join(devices)}. Settings: {settings}.{kept}"


def markdown(payload: dict) -> str:
    stats, runs = payload["stats"], payload["runs"]
    lines = [
        "# CAPE: parameter-conditioned neural PDE solvers",
        "",
        f"Generated by `benchmarks/cape.py`, {payload['date']}. Mean +- std over seeds; nRMSE of the full "
        "autoregressive rollout from the first input frames (the settings' `frames`; PDEBench's definition, "
        "`sciml.metrics.nrmse`), on unseen "
        "trajectories of the trained parameter values (seen) and on held-out parameter values. Baselines without "
        "CAPE are widened to the CAPE model's parameter count. Each family runs its experiment's configuration "
        "(`experiments/<family>_cape.py`); the knobs are explained in `docs/guides/cape.md`.",
        "",
    ]
    for family, models in stats.items():
        config = next(r["config"] for r in runs if r["family"] == family)
        held = f"{config['held_out_parameter']} in {list(config['held_out_values'])}"
        per_value = sorted({k for m in models.values() for k in m if k.startswith("held_out_nrmse_")},
                           key=lambda k: float(k.split("=")[1]))
        lines += [f"## {family} (held out: {held})", "", _family_setup(runs, family), "",
                  "| model | seeds | nRMSE seen | nRMSE held-out | " + " | ".join(
                      k.removeprefix("held_out_nrmse_") for k in per_value)
                  + " | cRMSE held-out | fRMSE high held-out | parameters | train time (s) | inference (ms/step) |",
                  "|---|---|---|---|" + "---|" * len(per_value) + "---|---|---|---|---|"]
        for model, s in models.items():
            def cell(key, fmt="{:.3g}", s=s):
                if key not in s:
                    return "-"
                return f"{fmt.format(s[key]['mean'])} +- {fmt.format(s[key]['std'])}"
            lines.append(
                f"| {model} | {s['seeds']} | {cell('seen_nrmse')} | {cell('held_out_nrmse')} | "
                + "".join(f"{cell(k)} | " for k in per_value)
                + f"{cell('held_out_crmse')} | {cell('held_out_frmse_high')} | {int(s['parameter_count']['mean'])} | "
                f"{cell('train_time_s', '{:.1f}')} | {cell('held_out_inference_ms_per_step', '{:.2f}')} |")
        lines.append("")
    verdict = payload["acceptance"]
    lines += ["## Acceptance: FNO + CAPE vs the parameter-matched FNO + channels on held-out parameters", "",
              "| family | held-out nRMSE ratio per seed (CAPE / channels) | median per seed | verdict "
              "| CAPE / plain FNO per seed |",
              "|---|---|---|---|---|"]
    for family, v in verdict["cape_over_channels"].items():
        seeds = ", ".join(f"{r:.3g}" for r in v["per_seed_ratio"])
        plain = ", ".join(f"{r:.3g}" for r in v.get("per_seed_ratio_over_plain", [])) or "-"
        lines.append(f"| {family} | {seeds} | {v['median_per_seed_ratio']:.3f} | {v['verdict']} | {plain} |")
    lines += ["", f"Target (median per seed <= 0.8 on at least two of the three 1D families): "
              f"{'met' if verdict['passed'] else 'not met'}.", ""]
    return "\n".join(lines)


def write_outputs(runs: list[dict], results: Path, table: Path, bench: Benchmark) -> dict:
    stats = aggregate(runs)
    payload = {"benchmark": "cape", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "versions": package_versions(), "stats": stats, "acceptance": acceptance(runs), "runs": runs}
    bench.write(results, payload, table, markdown(payload))
    return payload


def rewrite_table(results: Path, table: Path) -> None:
    """The table and the verdict recomputed from the runs in `results`, which keeps the load record of the
    invocation that ran them (none for runs from before it was recorded): rewriting measures nothing."""
    payload = json.loads(results.read_text())
    payload.update(stats=aggregate(payload["runs"]), acceptance=acceptance(payload["runs"]))
    write_json(results, payload)
    render_table(results, table, markdown)


def run_in_processes(todo: list[tuple[str, str, int]], processes: int, quick: bool, name: str) -> list[dict]:
    """Run each (family, model, seed) of `todo` as its own process of this script, `processes` at a time; returns
    the runs that finished (a failed run is reported and left out)."""

    def one(job):
        family, model, seed = job
        part = f"{name}-part-{family}-{model.replace(' + ', '-').replace(' ', '')}-{seed}"
        command = [sys.executable, __file__, "--families", family, "--models", model, "--seeds", str(seed),
                   "--name", part] + (["--quick"] if quick else [])
        if subprocess.run(command, check=False).returncode:
            print(f"{family} {model} seed {seed}: failed", flush=True)
            return []
        suffix = "-quick" if quick else ""
        results, table = RESULTS.with_name(f"{part}{suffix}.json"), TABLE.with_name(f"{part}{suffix}.md")
        runs = json.loads(results.read_text())["runs"]
        results.unlink()
        table.unlink()
        return runs

    with ThreadPoolExecutor(processes) as pool:
        return [run for runs in pool.map(one, todo) for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small datasets, 20 steps: a smoke run")
    parser.add_argument("--families", nargs="+", default=["advection", "burgers", "diffreact"], choices=list(FAMILIES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--resume", action="store_true", help="keep runs already in the results JSON")
    parser.add_argument("--name", default="cape", help="results name (a separate file for runs made in parallel)")
    parser.add_argument("--include", nargs="*", type=Path, default=[],
                        help="results JSON files of parallel runs to merge into this one")
    parser.add_argument("--processes", type=int, default=1, help="run the missing runs in this many processes")
    parser.add_argument("--table", action="store_true",
                        help="only rewrite the table and its verdict from the JSON (its runs' load record kept)")
    args = parser.parse_args()
    if args.table:
        rewrite_table(RESULTS, TABLE)
        return
    enable_compilation_cache()  # seeds 1, 2 reuse seed 0's compiled programs
    name = f"{args.name}-quick" if args.quick else args.name
    results, table = RESULTS.with_name(f"{name}.json"), TABLE.with_name(f"{name}.md")
    bench = Benchmark(name, timed=False)  # accuracy; the wall times are noted with the load
    bench.declare_threads(sciml=min(bench.cores, args.processes * xla_cpu_threads()))
    runs = json.loads(results.read_text())["runs"] if args.resume and results.exists() else []
    for extra in args.include:
        runs += [r for r in json.loads(extra.read_text())["runs"]
                 if (r["family"], r["model"], r["seed"]) not in {(q["family"], q["model"], q["seed"]) for q in runs}]
    done = {(r["family"], r["model"], r["seed"]) for r in runs}
    if args.processes > 1:
        todo = [(f, m, s) for s in args.seeds for f in args.families for m in args.models if (f, m, s) not in done]
        runs += run_in_processes(todo, args.processes, args.quick, args.name)
        done = {(r["family"], r["model"], r["seed"]) for r in runs}
    for seed in args.seeds:
        for family in args.families:
            for model in args.models:
                if (family, model, seed) in done:
                    continue
                runs.append(run_one(family, model, seed, args.quick))
                summary = runs[-1]["summary"]
                print(f"{family:10s} {model:15s} seed {seed}: held-out nRMSE {summary['held_out_nrmse']:.4f} "
                      f"seen {summary['seen_nrmse']:.4f} ({runs[-1]['wall_s']:.0f} s)", flush=True)
                write_outputs(runs, results, table, bench)
    write_outputs(runs, results, table, bench)


if __name__ == "__main__":
    main()
