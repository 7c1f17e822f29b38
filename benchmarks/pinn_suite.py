"""PINN-family suite: every case x {PINN, LPINN, PIG} x seeds at a fixed budget per case, final-iterate errors.

Runs each experiment through `sciml.studies.run_experiment` with the budget overrides below, collects the final
relative L2 error, steps, wall time and device from each run's summary.json, and writes
`benchmarks/results/pinn_suite.json` (raw per-seed records, merged with earlier records of other cases) and the
table `docs/results/pinn_suite.md` (mean +- std over seeds beside the papers' numbers).

    .venv/bin/python benchmarks/pinn_suite.py [--quick] [--cases NAME ...] [--seeds 0 1 2]

Several processes (e.g. one per core, each with its own --cases) may run at once: each record is merged into the
JSON under a file lock.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sciml.benchmarking import Benchmark, xla_cpu_threads  # noqa: E402
from sciml.provenance import device_description, package_versions  # noqa: E402
from sciml.studies import run_experiment, write_json, write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pinn_suite.json"
TABLE = ROOT / "docs" / "results" / "pinn_suite.md"

# The MLP PINN baseline of a PIG case: same problem, points and steps, the usual 4 x 64 tanh MLP.
MLP_PINN = {"embedding": "none", "width": "64", "depth": "4", "train.learning_rate": "1e-3"}
# The `allen-cahn-piratenet` preset before it took two blocks and Adam only (its first suite rows' settings).
PIRATENET_1BLOCK = {"blocks": "1", "train.steps": "10000", "train.lbfgs_steps": "14000"}
# case label -> (experiment, method, overrides at the suite's budget, paper's number, paper's source)
CASES: dict[str, tuple[str, str, dict[str, str], float | None, str]] = {
    "convection-b30-lpinn": ("convection-lpinn", "LPINN", {"beta": "30"}, None, "target <= 5e-3"),
    "convection-b50-lpinn": ("convection-lpinn", "LPINN", {"beta": "50"}, None, "target <= 1e-2"),
    "convection-b50-pinn": ("convection-pinn", "PINN", {"beta": "50"}, 0.84, "PINNsFormer's PINN rRMSE [R]"),
    "convection-b30-pinn": ("convection-pinn", "PINN", {"beta": "30"}, 0.9, "Krishnapriyan et al. [R]"),
    "convection-diffusion-b30-lpinn": ("convection-lpinn", "LPINN",
                                       {"beta": "30", "nu": "0.05", "train.clip_norm": "1"}, None, ""),
    "burgers-shock-lpinn": ("burgers-shock-lpinn", "LPINN",
                            {"train.steps": "1500", "train.lbfgs_steps": "200", "n_points": "1024"}, None, ""),
    "helmholtz-pig": ("helmholtz-pig", "PIG", {"train.steps": "2000", "train.lbfgs_steps": "1000"}, 4.13e-5,
                      "PIG Table 1"),
    "helmholtz-pinn": ("helmholtz-pinn", "PINN", {"train.steps": "2000", "train.lbfgs_steps": "1000"}, 4.02e-1,
                       "PIG Table 1 (PINN)"),
    "klein-gordon-pig": ("klein-gordon-pig", "PIG", {"train.steps": "5000", "train.lbfgs_steps": "500"}, 2.76e-3,
                         "PIG Table 1"),
    "klein-gordon-pinn": ("klein-gordon-pig", "PINN", {"train.steps": "5000", "train.lbfgs_steps": "500", **MLP_PINN},
                          3.43e-2, "PIG Table 1 (PINN)"),
    "flow-mixing-pig": ("flow-mixing-pig", "PIG", {"train.steps": "18000"}, 4.51e-4, "PIG Table 1"),
    "flow-mixing-pinn": ("flow-mixing-pig", "PINN", {"train.steps": "18000", **MLP_PINN}, None, ""),
    "nonlinear-diffusion-pig": ("nonlinear-diffusion-pig", "PIG", {"train.steps": "3000"}, 2.69e-3, "PIG Table 1"),
    "nonlinear-diffusion-pinn": ("nonlinear-diffusion-pig", "PINN", {"train.steps": "3000", **MLP_PINN}, 9.50e-3,
                                 "PIG Table 1 (PINN)"),
    "allen-cahn-pinn": ("allen-cahn-pinn", "PINN+recipes", {}, 5.37e-5, "jaxpi [V]"),
    "allen-cahn-pinn-adam20k": ("allen-cahn-pinn", "PINN+recipes, 20k Adam + 4k L-BFGS",
                                {"train.steps": "20000", "train.lbfgs_steps": "4000"}, 5.37e-5, "jaxpi [V]"),
    "allen-cahn-piratenet": ("allen-cahn-piratenet", "PirateNet (1 block)+recipes, 10k Adam + 14k L-BFGS",
                             PIRATENET_1BLOCK, 2.24e-5, "PirateNet paper [V] (300k steps, width 256)"),
    "allen-cahn-piratenet-pi-init": ("allen-cahn-piratenet", "PirateNet (1 block)+recipes, physics-informed init",
                                     {**PIRATENET_1BLOCK, "pi_init": "true"}, 2.24e-5,
                                     "PirateNet paper [V] (300k steps, width 256)"),
    "allen-cahn-piratenet-2blocks-adam20k": ("allen-cahn-piratenet",
                                             "PirateNet (2 blocks)+recipes, 20k Adam + 4k L-BFGS",
                                             {"blocks": "2", "train.steps": "20000", "train.lbfgs_steps": "4000"},
                                             2.24e-5, "PirateNet paper [V] (300k steps, width 256)"),
    "allen-cahn-piratenet-2blocks-adam24k": ("allen-cahn-piratenet",
                                             "PirateNet (2 blocks)+recipes, 24k Adam (the preset)",
                                             {"blocks": "2", "train.steps": "24000", "train.lbfgs_steps": "0"},
                                             2.24e-5, "PirateNet paper [V] (300k steps, width 256)"),
    "allen-cahn-modified-mlp": ("allen-cahn-pinn", "ModifiedMLP+recipes", {"net": "modified-mlp"}, 9.55e-5,
                                "jaxpi README, ModifiedMlp 4 x 256 [V] (300k steps)"),
    "poisson-lshape-pinn": ("poisson-lshape-pinn", "PINN", {"train.steps": "3000", "train.lbfgs_steps": "500"}, None,
                            "reference: our P2 FEM (DeepXDE file 9% off)"),
    "poisson-holed-disk-pinn": ("poisson-holed-disk-pinn", "PINN", {}, None, "target <= 1e-3 (exact solution)"),
    "laplace-polygon-pinn": ("laplace-polygon-pinn", "PINN", {}, None, "target <= 1e-3 (our P2 FEM)"),
}
# The papers' budgets (PIG's scripts; jaxpi's 300k steps for Allen-Cahn), for a GPU: Adam stops at the step count or
# after PAPER_BUDGET_S seconds of training, whichever comes first; the steps reached are recorded.
PAPER_BUDGET_S = "300"
PAPER_SCHEDULE = {"train.learning_rate": "1e-2", "train.decay_steps": "2000", "train.decay_rate": "0.9",
                  "train.lbfgs_steps": "0", "train.time_budget_s": PAPER_BUDGET_S}
CASES.update({
    "helmholtz-pig-paper": ("helmholtz-pig", "PIG", {**PAPER_SCHEDULE, "n_gaussians": "800", "sigma": "0.1",
                                                       "depth": "2", "n_points": "10000", "train.steps": "60000"},
                            4.13e-5, "PIG Table 1 (60k Adam steps)"),
    "klein-gordon-pig-paper": ("klein-gordon-pig", "PIG", {**PAPER_SCHEDULE, "n_gaussians": "100", "sigma": "0.5",
                                                             "n_points": "4096", "train.steps": "50000"},
                               2.76e-3, "PIG Table 1 (50k steps)"),
    "flow-mixing-pig-paper": ("flow-mixing-pig", "PIG", {**PAPER_SCHEDULE, "n_gaussians": "4000", "sigma": "0.1",
                                                           "sigma_units": "physical", "n_points": "27000",
                                                           "train.steps": "50000"},
                              4.51e-4, "PIG Table 1 (50k steps)"),
    "nonlinear-diffusion-pig-paper": ("nonlinear-diffusion-pig", "PIG",
                                      {**PAPER_SCHEDULE, "train.learning_rate": "1e-3", "n_gaussians": "4000",
                                       "n_points": "8192", "train.steps": "100000"},
                                      2.69e-3, "PIG Table 1 (100k steps)"),
    "allen-cahn-pinn-paper": ("allen-cahn-pinn", "PINN+recipes",
                              {"train.steps": "300000", "train.time_budget_s": PAPER_BUDGET_S},
                              5.37e-5, "jaxpi [V] (300k steps)"),
})
QUICK = {"train.steps": "100", "train.lbfgs_steps": "0", "train.chunk": "50", "train.time_budget_s": "0"}


def case_overrides(label: str, seed: int, quick: bool) -> dict[str, str]:
    """The config overrides of one run: the case's budget, the seed, and with `quick` the QUICK training keys."""
    return {**CASES[label][2], "train.seed": str(seed), **(QUICK if quick else {})}


def run_case(label: str, seed: int, quick: bool, out_root: Path) -> dict:
    experiment, method, _, _, _ = CASES[label]
    overrides = case_overrides(label, seed, quick)
    out_dir = out_root / f"{label}-seed{seed}"
    shutil.rmtree(out_dir, ignore_errors=True)  # a fresh run: each record times a whole run
    bench = Benchmark(f"pinn_suite {label} seed {seed}", timed=False)  # accuracy; the load is noted per run
    bench.declare_threads(sciml=xla_cpu_threads())
    out = run_experiment(experiment, overrides, out_dir)
    bench.sample("after the run")
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())["config"]
    steps = summary["metrics"]["steps"]
    return {"case": label, "experiment": experiment, "method": method, "seed": seed, "quick": quick,
            "rel_l2": summary["metrics"]["rel_l2"], "steps": steps, "wall_time_s": summary["wall_time_s"],
            "train_time_s": summary["metrics"]["train_time_s"], "compile_time_s": summary["metrics"]["compile_time_s"],
            "config": config, "device": summary["device"], "finished": summary["finished"],
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "load": bench.record()}


def table(records: list[dict]) -> str:
    lines = [
        "# PINN-family suite (generated by benchmarks/pinn_suite.py)",
        "",
        "Final-iterate relative L2 error against the reference, mean +- std over the seeds run, at the fixed budget",
        "per case given in the script (steps = Adam + L-BFGS). Wall time is per run, on the device named. The papers'",
        "numbers are at their own (much larger) budgets and, for PIG, over 50k-100k steps. On the shared 2-core CPU",
        "other jobs ran beside the suite, and some runs were made with one XLA thread each, two side by side",
        "(XLA_FLAGS in the record), so wall times there are upper bounds of the runs' cost. The `-paper` cases, when",
        "run, use the papers' model sizes, points and step counts (meant for a GPU), with Adam cut after the "
        "wall-clock",
        "budget given in the script; their steps column says where it stopped.",
        "",
        "| case | method | seeds | rel. L2 (mean +- std) | median | per seed | steps | wall time per run (s) | "
        "device | paper | paper source |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, (_, method, _, paper, source) in CASES.items():
        rows = sorted((r for r in records if r["case"] == label and not r["quick"]), key=lambda r: r["seed"])
        if not rows:
            continue
        errors = np.array([r["rel_l2"] for r in rows])
        wall = np.mean([r["wall_time_s"] for r in rows])
        device = rows[0]["device"]
        where = (f"{device['backend']} ({device['cpu_count']} cores)" if device["backend"] == "cpu"
                 else device["devices"][0])
        paper_text = f"{paper:.3g}" if paper is not None else "-"
        steps = sorted({r["steps"] for r in rows})
        steps_text = str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
        per_seed = ", ".join(f"{r['seed']}: {r['rel_l2']:.2e}" for r in rows)
        lines.append(f"| {label} | {method} | {len(rows)} | {errors.mean():.3e} +- {errors.std():.1e} | "
                     f"{np.median(errors):.3e} | {per_seed} | {steps_text} | {wall:.0f} | {where} | {paper_text} | "
                     f"{source} |")
    loads = [r["load"] for r in records if "load" in r and not r["quick"]]
    if loads:
        busy = sum(load["busy"] for load in loads)
        lines += ["", f"Other jobs' 1-min load during the runs: up to {max(x['others_load_max'] for x in loads):.2f} "
                  f"on {loads[0]['cores']} cores; {busy} of {len(loads)} runs above the core count (their wall times "
                  "are upper bounds)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 Adam steps, no L-BFGS: a smoke run")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--runs-dir", default=None, help="keep the runs' output dirs here (default: a temp dir)")
    parser.add_argument("--table-only", action="store_true", help="rewrite the markdown table from the JSON records")
    args = parser.parse_args()
    if args.table_only:
        with _locked():
            _write(_records())
        return
    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(args.runs_dir) if args.runs_dir else Path(tmp)
        for label in args.cases:
            for seed in args.seeds:
                record = run_case(label, seed, args.quick, out_root)
                print(json.dumps({k: record[k] for k in ("case", "seed", "rel_l2", "steps", "wall_time_s")}),
                      flush=True)
                _merge(record)


def _records() -> list[dict]:
    return json.loads(RESULTS.read_text())["records"] if RESULTS.exists() else []


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Hold the results' file lock (runs of the suite in parallel processes merge one at a time)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(records: list[dict]) -> None:
    """The JSON (records and the cases' current definitions) and the markdown table."""
    write_json(RESULTS, {"benchmark": "pinn_suite", "machine": device_description(),
                         "versions": package_versions(),
                         "updated": datetime.datetime.now().isoformat(timespec="seconds"),
                         "cases": {k: {"experiment": v[0], "method": v[1], "overrides": v[2], "paper": v[3],
                                       "paper_source": v[4]} for k, v in CASES.items()},
                         "records": records})
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    write_text(TABLE, table(records))


def _merge(record: dict) -> None:
    """Replace the record of the same (case, seed, quick) in the JSON and rewrite the table, under the lock."""
    with _locked():
        records = [r for r in _records()
                   if not (r["case"] == record["case"] and r["seed"] == record["seed"]
                           and r["quick"] == record["quick"])]
        records.append(record)
        _write(records)

if __name__ == "__main__":
    main()
