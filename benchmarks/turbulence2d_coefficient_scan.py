"""Static Smagorinsky and Leith closures of forced 2D turbulence over a range of coefficients, judged as
`turbulence2d-smarl` judges its closures.

    .venv/bin/python benchmarks/turbulence2d_coefficient_scan.py [--cases case1 case2 case4] [--coefficients 0 ...]
        [--forms smagorinsky leith]

For each case and coefficient, the LES of the experiment's default config (32^2, dt 5e-3; case 4, forced at k_f = 25, on
64^2 with 3/2 padding, the experiment's `CASE_LES`) runs from its `evaluation_starts` filtered-DNS snapshots for its
evaluation time (`static_closure_metrics` of experiments/turbulence2d_smarl.py), and the pooled time-mean enstrophy
spectrum and vorticity PDF are scored against the filtered DNS (relative L1 spectrum error over the resolved
wavenumbers, Hellinger distance of the PDF tails beyond 3 sigma). Shows which uniform coefficient a learned closure has
to beat, and how the two metrics pull apart.
Writes benchmarks/results/turbulence2d_coefficient_scan.json and docs/results/turbulence2d_coefficient_scan.md.
"""

from __future__ import annotations

import argparse

import numpy as np

from sciml.benchmarking import Benchmark, machine_info, xla_cpu_threads
from sciml.solvers import Leith, Smagorinsky
from sciml.studies import load_experiment

EXPERIMENT = load_experiment("turbulence2d-smarl").module
FORMS = {"smagorinsky": Smagorinsky, "leith": Leith}


def _text(value) -> str:
    return f"{value:.3f}" if value is not None and np.isfinite(value) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["case1", "case2", "case4"])
    parser.add_argument("--coefficients", nargs="+", type=float, default=[0.0, 0.04, 0.08, 0.12, 0.17, 0.22])
    parser.add_argument("--forms", nargs="+", choices=sorted(FORMS), default=sorted(FORMS))
    args = parser.parse_args()
    bench = Benchmark("turbulence2d_coefficient_scan", timed=False)  # accuracy only
    bench.declare_threads(sciml=xla_cpu_threads())
    results, lines = [], ["| case | LES | form | coefficient | stable | enstrophy-spectrum error | "
                          "PDF-tail Hellinger |", "|---|---|---|---|---|---|---|"]
    for case in args.cases:
        config = EXPERIMENT.Config(case=case, **EXPERIMENT.CASE_LES.get(case, {}))
        les = f"{config.les}² ({config.dealiasing})"
        closures = {(form, c): FORMS[form](coefficient=c) for form in args.forms for c in args.coefficients}
        for (form, coefficient), metrics in EXPERIMENT.static_closure_metrics(config, closures).items():
            results.append({"case": case, "les": config.les, "dealiasing": config.dealiasing, "form": form,
                            "coefficient": coefficient, **metrics})
            lines.append(f"| {case} | {les} | {form} | {coefficient:g} | {metrics['stable']} | "
                         f"{_text(metrics['spectrum_error'])} | {_text(metrics['tail_hellinger'])} |")
    config = EXPERIMENT.Config()
    time_units = config.evaluation_episodes * config.episode_steps * config.action_every * config.dt
    lines += ["", f"Each row: {config.evaluation_starts} runs of LES at dt {config.dt:g} from "
              f"filtered-DNS snapshots spread over the dataset, {time_units:g} time units each, statistics pooled "
              "after the spin-up (the `turbulence2d-smarl` evaluation). Coefficient 0 is no closure. PDF tails: "
              "\"-\" means no vorticity beyond 3 filtered-DNS standard deviations."]
    bench.write_report({"machine": machine_info(), "config": vars(args), "results": results},
                       "Static closures of forced 2D turbulence over their coefficient, against the filtered DNS",
                       lines)

if __name__ == "__main__":
    main()
