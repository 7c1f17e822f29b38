"""Static Smagorinsky and Leith closures of forced 2D turbulence over a range of coefficients, judged as
`turbulence2d-smarl` judges its closures.

    .venv/bin/python benchmarks/turbulence2d_coefficient_scan.py [--cases case1 case2 case4] [--coefficients 0 ...]
        [--forms smagorinsky leith] [--merge] [--sums weighted_energy+log_spectrum ...]

For each case and coefficient, the LES of the experiment's default config (32^2, dt 5e-3; case 4, forced at k_f = 25, on
64^2 with 3/2 padding, the experiment's `CASE_LES`) runs from its `evaluation_starts` filtered-DNS snapshots for its
evaluation time (`static_closure_metrics` of experiments/turbulence2d_smarl.py), and the pooled time-mean enstrophy
spectrum and vorticity PDF are scored against the filtered DNS (relative L1 spectrum error over the resolved
wavenumbers, Hellinger distance of the PDF tails beyond 3 sigma); each reward of `sciml.rl.REWARDS` is averaged over
the runs' snapshots. Shows which uniform coefficient a learned closure has to beat, how the two metrics pull apart, and
where each reward's optimum lies against the coefficients that beat no closure and static Smagorinsky (C_s = 0.17) on
both metrics.
`--sums` adds columns for weighted sums of rewards (`sciml.rl.reward_terms`): a sum's mean over a run's snapshots is
the same sum of its terms' means, so these columns need no run of their own.
Writes benchmarks/results/turbulence2d_coefficient_scan.json and docs/results/turbulence2d_coefficient_scan.md;
`--merge` keeps the rows of the existing JSON that this run does not redo (e.g. a finer scan around a window); with
`--merge` and no `--coefficients` it only rewrites the table (with the sums of every scan so far).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from sciml.benchmarking import RESULTS_DIR, Benchmark, machine_info, xla_cpu_threads
from sciml.rl import REWARDS, reward_terms
from sciml.solvers import Leith, Smagorinsky
from sciml.studies import load_experiment

EXPERIMENT = load_experiment("turbulence2d-smarl").module
FORMS = {"smagorinsky": Smagorinsky, "leith": Leith}
STATIC = Smagorinsky().coefficient
"""The static Smagorinsky coefficient the experiment's baseline uses (0.17)."""


def _text(value) -> str:
    return f"{value:.3f}" if value is not None and np.isfinite(value) else "-"


def window_row(results: list[dict], case: str, form: str, rewards: list[str]) -> str:
    """One case and form: the coefficients whose runs beat no closure and static Smagorinsky (the scan's rows at
    coefficient 0 and Smagorinsky `STATIC`) on both metrics, and the coefficient each reward ranks best."""
    rows = [r for r in results if r["case"] == case and r["form"] == form]
    baselines = [r for r in results if r["case"] == case
                 and (r["coefficient"] == 0 or (r["form"] == "smagorinsky" and r["coefficient"] == STATIC))]
    metrics = ("spectrum_error", "tail_hellinger")
    if {r["coefficient"] for r in baselines} != {0, STATIC}:
        window = f"(scan 0 and Smagorinsky {STATIC:g})"
    else:
        bar = {m: min(EXPERIMENT.ranked(b["stable"], b[m], m) for b in baselines) for m in metrics}
        window = ", ".join(f"{r['coefficient']:g}" for r in rows
                           if all(EXPERIMENT.ranked(r["stable"], r[m], m) < bar[m] for m in metrics))
    best = [max((r for r in rows if r.get(reward) is not None and np.isfinite(r[reward])), key=lambda r: r[reward],
                default=None)
            for reward in rewards]
    return (f"| {case} | {form} | {window or 'none'} | "
            + " | ".join(f"{b['coefficient']:g}" if b else "-" for b in best) + " |")


def with_sums(result: dict, sums: list[str]) -> dict:
    """The row with a column ``reward_<sum>`` for each weighted sum of rewards, from its terms' columns (None where a
    term's column is missing)."""
    columns = {}
    for total in sums:
        terms = [(weight, result.get(f"reward_{name}")) for weight, name in reward_terms(total)]
        columns[f"reward_{total}"] = (None if any(value is None for _, value in terms)
                                      else sum(weight * value for weight, value in terms))
    return {**result, **columns}


def _scan_order(result: dict) -> tuple:
    return result["case"], result["form"], result["coefficient"]


def merged(new: list[dict], previous: list[dict]) -> list[dict]:
    """The rows of `new` and those of `previous` that `new` does not redo (same case, form and coefficient), sorted by
    case, form and coefficient."""
    redone = {_scan_order(r) for r in new}
    return sorted(new + [r for r in previous if _scan_order(r) not in redone], key=_scan_order)


def _row(result: dict, rewards: list[str]) -> str:
    les = f"{result['les']}² ({result['dealiasing']})"
    return (f"| {result['case']} | {les} | {result['form']} | {result['coefficient']:g} | {result['stable']} | "
            f"{_text(result['spectrum_error'])} | {_text(result['tail_hellinger'])} | "
            + " | ".join(_text(result.get(reward)) for reward in rewards) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["case1", "case2", "case4"])
    parser.add_argument("--coefficients", nargs="*", type=float, default=[0.0, 0.04, 0.06, 0.08, 0.1, 0.12, 0.17, 0.22])
    parser.add_argument("--forms", nargs="+", choices=sorted(FORMS), default=sorted(FORMS))
    parser.add_argument("--merge", action="store_true",
                        help="keep the existing JSON's rows that this run does not redo")
    parser.add_argument("--sums", nargs="*", default=[], help="weighted sums of rewards to add as columns, e.g. "
                        "weighted_energy+log_spectrum")
    args = parser.parse_args()
    for total in args.sums:
        reward_terms(total)
    if not args.coefficients and not args.merge:
        parser.error("no --coefficients to scan: give some, or --merge to rewrite the table from the JSON")
    bench = Benchmark("turbulence2d_coefficient_scan", timed=False)  # accuracy only
    bench.declare_threads(sciml=xla_cpu_threads())
    results = []
    for case in args.cases if args.coefficients else []:
        config = EXPERIMENT.Config(case=case, **EXPERIMENT.CASE_LES.get(case, {}))
        closures = {(form, c): FORMS[form](coefficient=c) for form in args.forms for c in args.coefficients}
        for (form, coefficient), metrics in EXPERIMENT.static_closure_metrics(config, closures).items():
            results.append({"case": case, "les": config.les, "dealiasing": config.dealiasing, "form": form,
                            "coefficient": coefficient, **metrics})
    scans = [vars(args)]
    if args.merge:
        previous = json.loads((RESULTS_DIR / "turbulence2d_coefficient_scan.json").read_text())
        results = merged(results, previous["results"])
        scans = previous.get("scans", [previous["config"]]) + scans
    sums = list(dict.fromkeys(total for scan in scans for total in scan.get("sums", [])))
    names = [*REWARDS, *sums]
    rewards = [f"reward_{reward}" for reward in names]
    results = sorted(results, key=_scan_order)
    shown = [with_sums(r, sums) for r in results]
    cases = sorted({r["case"] for r in results})
    forms = sorted({r["form"] for r in results})
    lines = ["| case | LES | form | coefficient | stable | enstrophy-spectrum error | PDF-tail Hellinger | "
             + " | ".join(f"mean reward {reward}" for reward in names) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(names), *(_row(r, rewards) for r in shown)]
    lines += ["", "Where each reward's optimum lies (the scanned coefficient with the highest mean reward) against the "
              f"coefficients that beat both no closure and static Smagorinsky (C_s = {STATIC:g}) on both metrics:", "",
              "| case | form | beats both on both metrics | " + " | ".join(f"best by {r}" for r in names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    lines += [window_row(shown, case, form, rewards) for case in cases for form in forms]
    config = EXPERIMENT.Config()
    scanned = sum(1 for scan in scans if scan.get("coefficients", True))
    time_units = config.evaluation_episodes * config.episode_steps * config.action_every * config.dt
    lines += ["", f"Each row: {config.evaluation_starts} runs of LES at dt {config.dt:g} from "
              f"filtered-DNS snapshots spread over the dataset, {time_units:g} time units each, statistics pooled "
              "after the spin-up (the `turbulence2d-smarl` evaluation). Coefficient 0 is no closure. PDF tails: "
              "\"-\" means no vorticity beyond 3 filtered-DNS standard deviations; a reward column's \"-\", a row "
              "scanned before that reward existed."
              + (f" Rows from {scanned} scans (`--merge`; their arguments in the JSON)." if scanned > 1 else "")]
    bench.write_report({"machine": machine_info(), "config": vars(args), "scans": scans, "results": results},
                       "Static closures of forced 2D turbulence over their coefficient, against the filtered DNS",
                       lines)


if __name__ == "__main__":
    main()
