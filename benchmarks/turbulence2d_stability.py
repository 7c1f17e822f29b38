"""Long runs of learned SMARL closures: stability and statistics over many training episodes.

    .venv/bin/python benchmarks/turbulence2d_stability.py RUN_DIR [RUN_DIR ...] [--time-units 1000] [--starts 1]
        [--merge]

Each RUN_DIR is a finished `sciml run turbulence2d-smarl`. Its policy (`sciml.studies.load`) sets the closure of an LES
that runs `--time-units` time units from each of `--starts` filtered-DNS snapshots spread over the dataset, as the
experiment's evaluation does (`learned_closure_metrics`, the same spin-up and snapshot spacing) but for longer.
Reports per run whether every snapshot stayed finite, how many training episodes and how many of the training's
continuous LES runs (`restart_every` episodes) that length is, the learned coefficient's grid mean, and the spectrum
error and PDF-tail distance of the pooled snapshots against the filtered DNS, beside no closure and static Smagorinsky
run the same way on each case's LES (the LES settings of the first run given of that case). Writes
benchmarks/results/turbulence2d_stability.json and docs/results/turbulence2d_stability.md; `--merge` keeps the
existing JSON's rows of other runs (and its baseline rows of a case, which it does not run again).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from sciml.benchmarking import RESULTS_DIR, Benchmark, machine_info, xla_cpu_threads
from sciml.solvers import NoClosure, Smagorinsky
from sciml.studies import TrainedRun, load, load_experiment

EXPERIMENT = load_experiment("turbulence2d-smarl").module


def _long_config(config, time_units: float, starts: int):
    """`config` with its evaluation `time_units` long (in whole training episodes) from `starts` snapshots."""
    episode = config.episode_steps * config.action_every * config.dt
    return dataclasses.replace(config, evaluation_starts=starts, evaluation_episodes=int(round(time_units / episode)))


def long_run(trained: TrainedRun, time_units: float, starts: int) -> dict:
    """The learned closure of the run `trained` over `time_units` from `starts` filtered-DNS snapshots: stability,
    length in training episodes and in training runs, coefficient and the two metrics."""
    config = _long_config(trained.config, time_units, starts)
    found = EXPERIMENT.learned_closure_metrics(config, trained.model)
    episodes = config.evaluation_episodes
    return {"run": trained.path.name, "time_units": episodes * config.episode_steps * config.action_every * config.dt,
            "starts": starts, "stable": found["stable"], "training_episodes": episodes,
            "training_runs": episodes / config.restart_every, "coefficient": found["coefficient"],
            "spectrum_error": found["spectrum_error"], "tail_hellinger": found["tail_hellinger"]}


def baseline_runs(config, time_units: float, starts: int) -> list[dict]:
    """No closure and static Smagorinsky (the experiment's baselines) on the LES of a run's `config`, over the same
    length and starts as `long_run`."""
    config = _long_config(config, time_units, starts)
    closures = {"no closure": NoClosure(), "static Smagorinsky": Smagorinsky()}
    found = EXPERIMENT.static_closure_metrics(config, closures)
    time = config.evaluation_episodes * config.episode_steps * config.action_every * config.dt
    return [{"run": f"{config.case} ({config.les}², {config.dealiasing}): {name}", "time_units": time,
             "starts": starts, "stable": found[name]["stable"], "training_episodes": None, "training_runs": None,
             "coefficient": getattr(closure, "coefficient", 0.0), "spectrum_error": found[name]["spectrum_error"],
             "tail_hellinger": found[name]["tail_hellinger"]}
            for name, closure in closures.items()]


def _text(value, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished turbulence2d-smarl run folders")
    parser.add_argument("--time-units", type=float, default=1000.0)
    parser.add_argument("--starts", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="keep the existing JSON's rows of other runs")
    args = parser.parse_args()
    bench = Benchmark("turbulence2d_stability", timed=False)  # stability and accuracy only
    bench.declare_threads(sciml=xla_cpu_threads())
    previous = json.loads((RESULTS_DIR / "turbulence2d_stability.json").read_text()) if args.merge else None
    trained = [load(path) for path in args.runs]
    results = [long_run(run, args.time_units, args.starts) for run in trained]
    cases = {}
    for run in trained:
        cases.setdefault(run.config.case, run.config)
    baselines = [r for r in previous["results"] if r["training_episodes"] is None] if previous else []
    have = {r["run"].split(" ")[0] for r in baselines}
    results += [row for case, config in cases.items() if case not in have
                for row in baseline_runs(config, args.time_units, args.starts)]
    commands = [{**vars(args), "runs": [str(p) for p in args.runs]}]
    if previous:
        redone = {r["run"] for r in results}
        results += [r for r in previous["results"] if r["run"] not in redone]
        commands = previous["commands"] + commands
    results.sort(key=lambda r: r["run"])
    lines = ["| run | time units x starts | stable | training episodes | training runs (restart_every episodes) | "
             "learned coefficient (grid mean) | enstrophy-spectrum error | PDF-tail Hellinger |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['time_units']:g} x {r['starts']} | {r['stable']} | "
              f"{_text(r['training_episodes'], 'g')} | {_text(r['training_runs'], 'g')} | {r['coefficient']:.3f} | "
              f"{_text(r['spectrum_error'], '.3f')} | {_text(r['tail_hellinger'], '.3f')} |" for r in results]
    lines += ["", "Each run's policy sets the closure of an LES from filtered-DNS snapshots spread over the dataset "
              "(the first for one start), with the evaluation's spin-up left out of the statistics; the metrics are "
              "against the filtered DNS as in `turbulence2d-smarl`'s evaluation (whose runs are 10 training episodes "
              "long). The no-closure and static-Smagorinsky rows run the same way on each case's LES. PDF tails: \"-\" "
              "means no vorticity beyond 3 filtered-DNS standard deviations."]
    bench.write_report({"machine": machine_info(), "commands": commands, "results": results},
                       "Learned SMARL closures over long runs: stability and statistics", lines)


if __name__ == "__main__":
    main()
