"""The SMARL table: the learned closure against no closure and static Smagorinsky / Leith, over training seeds.

    .venv/bin/python benchmarks/turbulence2d_smarl.py RUN_DIR [RUN_DIR ...] [--merge] [--case-figure RUN_DIR]

Each RUN_DIR is a finished `sciml run turbulence2d-smarl` (one case and training seed each, e.g. ``--set train.seed=1
--out runs/smarl-case1-seed1``); runs are grouped by case and setting (the config keys, other than the case and the
training seed, that differ from the experiment's defaults). Reads their summary.json (the online evaluation's metrics:
the relative L1 error of the time-mean enstrophy spectrum over the resolved wavenumbers and the Hellinger distance of
the vorticity-PDF tails beyond 3 sigma, both against the filtered DNS; stability; wall time per simulated time unit) and
writes, per case, setting and closure, their mean and standard deviation over the runs, and whether the learned closure
beat both no closure and Smagorinsky on each metric in every run: benchmarks/results/turbulence2d_smarl.json,
docs/results/turbulence2d_smarl.md, and the guide's figure docs/assets/guides/turbulence_smarl.png (the first run's
spectra, PDFs and learned coefficient field). Also lists each run's training steps, the coefficient its rollouts
settled at in training (c_max sigmoid of the rollouts' mean action, `action_mean` in metrics.jsonl, averaged over the
last eighth of training) and the grid mean and range of its learned coefficient field in the long evaluation runs (from
predictions.nc): where the two differ, the policy met flows in the long runs that training did not show it ("-" for
runs from before the rollouts' mean action was logged). `--merge` keeps the existing JSON's runs other than those given
(run folders are not kept in the repository; the JSON holds what the table needs of each) and leaves the figure as it
is. `--case-figure RUN_DIR` draws that run's figure as docs/assets/guides/turbulence_smarl_<case>.png, the guide's
figure of its case.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sciml.benchmarking import RESULTS_DIR, ROOT, machine_info, write_report
from sciml.data import open_dataset
from sciml.solvers import PeriodicGrid2D
from sciml.studies import load_experiment, save_figure

CLOSURES = ("none", "smagorinsky", "leith", "learned")
EXPERIMENT = load_experiment("turbulence2d-smarl").module  # its ranking of the closures (no tail ranks as distance 1)
METRICS = ("spectrum_error", "tail_hellinger")
DEFAULT = EXPERIMENT.Config()


def _setting(config: dict) -> str:
    """The config keys (other than the case and the training seed) that differ from the experiment's defaults, as
    ``key=value`` words; "default" when none do."""
    changed = [f"{key}={value}" for key, value in sorted(config.items())
               if key not in ("case", "train") and value != getattr(DEFAULT, key)]
    train = [f"train.{key}={value}" for key, value in sorted(config["train"].items())
             if key != "seed" and value != getattr(DEFAULT.train, key)]
    return " ".join(changed + train) or "default"


def _coefficient_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mean_std(values: list) -> str:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return "-"
    text = f"{np.mean(finite):.3f} ± {np.std(finite):.3f}" if len(finite) > 1 else f"{finite[0]:.3f}"
    if len(set(finite)) > 1:  # differs by seed: the median and each run's value
        text += f" (median {np.median(finite):.3f}; {', '.join(f'{v:.3f}' for v in finite)})"
    return text if len(finite) == len(values) else f"{text} ({len(finite)} of {len(values)})"


def training_coefficient(metrics_file: Path, max_coefficient: float) -> float | None:
    """The mean over the last eighth of training (by step) of the coefficient c_max sigmoid(a) of the rollouts' mean
    action a, from a run's metrics.jsonl; None for a run from before `action_mean` was logged."""
    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    actions = [(r["step"], r["action_mean"]) for r in records if "action_mean" in r]
    if not actions:
        return None
    last = max(step for step, _ in actions)
    kept = np.array([a for step, a in actions if step > last * 7 / 8])
    return float(np.mean(max_coefficient / (1 + np.exp(-kept))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished turbulence2d-smarl run folders")
    parser.add_argument("--merge", action="store_true", help="keep the existing JSON's rows of other runs")
    parser.add_argument("--case-figure", type=Path, action="append", default=[], metavar="RUN_DIR",
                        help="draw this run's figure as docs/assets/guides/turbulence_smarl_<case>.png (repeatable)")
    args = parser.parse_args()
    runs = []
    if args.merge:
        given = {str(path) for path in args.runs}
        previous = json.loads((RESULTS_DIR / "turbulence2d_smarl.json").read_text())["runs"]
        runs = [run for run in previous if run["path"] not in given]
    for path in args.runs:
        summary = json.loads((path / "summary.json").read_text())
        config = json.loads((path / "config.json").read_text())["config"]
        field = open_dataset(path / "predictions.nc").coefficient.sel(closure="learned").values
        c_max = config.get("max_coefficient", DEFAULT.max_coefficient)
        runs.append({"path": str(path), "config": config, "metrics": summary["metrics"],
                     "training_coefficient": training_coefficient(path / "metrics.jsonl", c_max),
                     "learned_coefficient": {"mean": float(field.mean()), "min": float(field.min()),
                                             "max": float(field.max())}})
    groups = {}
    for run in runs:
        groups.setdefault((run["config"]["case"], _setting(run["config"])), []).append(run)
    lines = ["| case | setting | closure | runs | stable | enstrophy-spectrum error | PDF-tail Hellinger |",
             "|---|---|---|---|---|---|---|"]
    table = {}
    for (case, setting), members in sorted(groups.items()):
        group = table.setdefault(case, {}).setdefault(setting, {})
        for closure in CLOSURES:
            values = {key: [run["metrics"][f"{closure}_{key}"] for run in members]
                      for key in (*METRICS, "stable", "seconds_per_time_unit")}
            dns = [run["metrics"]["dns_seconds_per_time_unit"] for run in members]
            group[closure] = {**values, "dns_seconds_per_time_unit": dns}
            lines.append(f"| {case} | {setting} | {closure} | {len(members)} | {sum(values['stable'])} of "
                         f"{len(members)} | {_mean_std(values['spectrum_error'])} | "
                         f"{_mean_std(values['tail_hellinger'])} |")
        for metric in METRICS:
            wins = [EXPERIMENT.learned_beats_baselines(run["metrics"], metric) for run in members]
            group[f"learned_beats_none_and_smagorinsky_{metric}"] = wins
        group["learned_beats_none_and_smagorinsky_both"] = [
            all(EXPERIMENT.learned_beats_baselines(run["metrics"], metric) for metric in METRICS) for run in members]
    lines += ["", "| case | setting | run | training steps | coefficient in training (last eighth) | learned "
              "coefficient in the long runs: grid mean (min .. max) of its time mean |", "|---|---|---|---|---|---|"]
    lines += [f"| {run['config']['case']} | {_setting(run['config'])} | {Path(run['path']).name} | "
              f"{run['metrics']['steps']} | {_coefficient_text(run['training_coefficient'])} | "
              f"{run['learned_coefficient']['mean']:.3f} "
              f"({run['learned_coefficient']['min']:.3f} .. {run['learned_coefficient']['max']:.3f}) |" for run in runs]

    def wins(group: dict, key: str) -> str:
        return f"{sum(group[f'learned_beats_none_and_smagorinsky_{key}'])} of {len(group['learned']['stable'])}"

    lines += ["", "Learned closure better than both no closure and static Smagorinsky, runs per case and setting: "
              + "; ".join(f"{case}, {setting}: spectrum {wins(group, 'spectrum_error')}, PDF tails "
                          f"{wins(group, 'tail_hellinger')}, both {wins(group, 'both')}"
                          for case, settings in table.items() for setting, group in settings.items()) + ".",
              "", "Mean ± standard deviation over the runs (training seeds); the static closures do not depend on the "
              "seed, so their spread is 0. PDF tails: \"-\" means the LES had no vorticity beyond 3 standard "
              "deviations of the filtered DNS (no tail to compare; in the counts above it ranks as distance 1, the "
              "maximum), \"(m of n)\" that only m of the n runs had one. The runs' LES and DNS wall times per time "
              "unit are in the JSON; "
              "they were taken on a shared, loaded CPU and are no cost comparison (the LES-vs-DNS costs, timed on an "
              f"idle machine, are in turbulence2d_cost.md). Setting \"default\": the experiment's defaults, an LES of "
              f"{DEFAULT.les}² at time step {DEFAULT.dt:g}, an action every {DEFAULT.action_every} steps, "
              f"{DEFAULT.episode_steps} actions per training episode, discount {DEFAULT.discount:g}; the evaluation "
              f"runs {DEFAULT.evaluation_episodes} episodes' time from each of {DEFAULT.evaluation_starts} "
              "filtered-DNS snapshots spread over the dataset, statistics pooled. Other settings name the keys that "
              "differ."]
    write_report("turbulence2d_smarl", {"machine": machine_info(), "runs": runs, "results": table},
                 f"SMARL: learned vs classical closures of forced 2D turbulence ({len(runs)} runs)", lines)
    guides = ROOT / "docs" / "assets" / "guides"
    if not args.merge:  # the guide's figure stays the first run's of the full table
        save_figure(run_figure(args.runs[0]), guides / "turbulence_smarl.png")
    for path in args.case_figure:
        case = json.loads((path / "config.json").read_text())["config"]["case"]
        save_figure(run_figure(path), guides / f"turbulence_smarl_{case}.png")


def run_figure(path: Path):
    """The experiment's figure (`closures_figure`) of the run `path`, from its predictions.nc."""
    config = json.loads((path / "config.json").read_text())["config"]
    resolved = PeriodicGrid2D(config["les"], config.get("dealiasing", DEFAULT.dealiasing)).cutoff
    return EXPERIMENT.closures_figure(open_dataset(path / "predictions.nc"), resolved)


if __name__ == "__main__":
    main()
