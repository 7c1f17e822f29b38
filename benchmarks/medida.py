"""MEDIDA on two-layer QG: which model errors are found, and how well, from full and from 25 % noisy observations.

    .venv/bin/python benchmarks/medida.py [--seeds 0 1 2] [--part all|runs|render] [--set key=value ...]

`runs` runs the experiment qg-medida once per seed (its default config: the full state and the four interpolators
of the observations; the seed draws the sensors, the noise and the networks' initialisation, the reference flow is
the same) into runs/medida/seed<k>, one after another; a finished run is reused. `render` reads the runs, recomputes
every discovered coefficient from each run's predictions.nc (`sciml.studies.medida.coefficients_from_predictions`)
and fails if one differs from the stored value, then writes benchmarks/results/medida.json, docs/results/medida.md
and the guide's figure docs/assets/guides/medida.png (the discovery figure, drawn from the seed-0 run's
predictions.nc).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

from sciml.data import open_dataset
from sciml.discovery import QG_TERMS, term_names
from sciml.provenance import device_description, package_versions
from sciml.studies import (
    load_experiment,
    parse_overrides,
    resolve_config,
    run_experiment,
    save_figure,
    write_json,
    write_text,
)
from sciml.studies.medida import coefficient_error, coefficients_from_predictions, discovery_figure, support_correct

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "medida"
LATEX = {term.name: term.latex for term in QG_TERMS}
LABELS = {"full": "full state (no noise)", "rff": "RFF-MLP, 25 % noisy", "mlp": "plain MLP, 25 % noisy",
          "rbf": "RBF, 25 % noisy", "cubic": "cubic, 25 % noisy"}


def run_seeds(seeds: list[int], overrides: dict[str, str]) -> list[Path]:
    """One qg-medida run per seed (reused when finished)."""
    return [run_experiment("qg-medida", {**overrides, "train.seed": str(seed)}, RUNS / f"seed{seed}")
            for seed in seeds]


def run_config(path: Path):
    """The resolved config of a finished run."""
    stored_config = json.loads((path / "config.json").read_text())["config"]
    return resolve_config(load_experiment("qg-medida").config_type, stored_config)


def recompute(path: Path) -> float:
    """Largest |recomputed - stored| / max |stored| over every discovered coefficient of a run."""
    config = run_config(path)
    ds = open_dataset(path / "predictions.nc").load()
    arrays = coefficients_from_predictions(config, ds)
    worst = 0.0
    for j, term in enumerate(ds["term"].values):
        stored = ds[f"{term}_coefficient"].values
        scale = np.abs(stored).max() or 1.0
        worst = max(worst, float(np.abs(arrays.coefficient[..., j] - stored).max() / scale))
    if not np.array_equal(support_correct(arrays), ds["support_correct"].values):
        raise AssertionError(f"{path}: the supports recomputed from predictions.nc differ from the stored ones")
    return worst


def full_library(path: Path, ds) -> dict:
    """The discovery of a run redone from its predictions.nc with every candidate term (`QG_TERMS`)."""
    config = dataclasses.replace(run_config(path), terms=tuple(term_names(QG_TERMS)))
    arrays = coefficients_from_predictions(config, ds)
    return {"terms": list(config.terms), "support_correct": support_correct(arrays).tolist(),
            "coefficient_relative_error": coefficient_error(arrays).tolist(), "selected": arrays.selected.tolist()}


def _mean_std(values) -> str:
    values = np.asarray(values, float)
    return f"{values.mean():.2%} ± {values.std():.2%}" if len(values) > 1 else f"{values[0]:.2%}"


def _number(value: float) -> str:
    return f"{value:.4e}"


def collect(paths: list[Path]) -> dict:
    """Per seed: the discovery arrays and interpolation errors of each run, as plain lists."""
    per_seed = []
    for path in paths:
        ds = open_dataset(path / "predictions.nc").load()
        summary = json.loads((path / "summary.json").read_text())
        terms = list(map(str, ds["term"].values))
        per_seed.append({
            "run": str(path.relative_to(ROOT)),
            "seed": summary["seed"],
            "wall_time_s": summary["wall_time_s"],
            "analyses": list(map(str, ds["analysis"].values)),
            "cases": list(map(str, ds["case"].values)),
            "case_descriptions": list(map(str, ds["case_description"].values)),
            "regressions": list(map(str, ds["regression"].values)),
            "terms": terms,
            "support_correct": ds["support_correct"].values.tolist(),
            "coefficient_relative_error": ds["coefficient_relative_error"].values.tolist(),
            "selected": ds["selected"].values.tolist(),
            "coefficient": np.stack([ds[f"{t}_coefficient"].values for t in terms], -1).tolist(),
            "coefficient_std": np.stack([ds[f"{t}_coefficient_std"].values for t in terms], -1).tolist(),
            "true_coefficient": np.stack([ds[f"{t}_true_coefficient"].values for t in terms], -1).tolist(),
            "interpolators": list(map(str, ds["interpolator"].values)),
            "interpolation_relative_error": ds["interpolation_relative_error"].values.tolist(),
            "interpolation_relative_error_band": ds["interpolation_relative_error_band"].values.tolist(),
            "recomputed_max_relative_difference": recompute(path),
            "full_library": full_library(path, ds),
        })
    return {"seeds": per_seed}


def verdicts(results: dict) -> dict[str, str]:
    """The issue's acceptance checks, stated and judged from the numbers."""
    seeds = results["seeds"]
    first = seeds[0]
    a_full, a_rff, a_mlp = (first["analyses"].index(a) if a in first["analyses"] else None
                            for a in ("full", "rff", "mlp"))
    rvm = first["regressions"].index("rvm")
    found = np.array([s["support_correct"] for s in seeds])[..., rvm]  # (seed, analysis, case)
    error = np.array([s["coefficient_relative_error"] for s in seeds])[..., rvm]
    out = {}
    full_ok = bool(np.all(found[:, a_full]) and np.all(error[:, a_full] <= 0.02))
    out["full observations: every case's exact support, coefficients within 2%"] = (
        f"{'met' if full_ok else 'NOT met'} (largest error {error[:, a_full].max():.2e})")
    if a_rff is not None:
        good = (found[:, a_rff] == 1) & (error[:, a_rff] <= 0.10)
        counts = good.sum(axis=1)
        out["25% noisy, RFF-MLP: exact support and coefficients within 10% in >= 3 of 4 cases"] = (
            f"{'met' if np.median(counts) >= 3 else 'NOT met'} (cases per seed: {counts.tolist()}, median "
            f"{np.median(counts):g})")
    if a_mlp is not None:
        good = (found[:, a_mlp] == 1) & (error[:, a_mlp] <= 0.10)
        counts = good.sum(axis=1)
        out["25% noisy, plain MLP: does not (fewer than 3 of 4)"] = (
            f"{'met' if np.median(counts) < 3 else 'NOT met'} (cases per seed: {counts.tolist()}, median "
            f"{np.median(counts):g})")
    return out


def render(results: dict) -> str:
    seeds = results["seeds"]
    first = seeds[0]
    analyses, cases, regressions = first["analyses"], first["cases"], first["regressions"]
    found = np.array([s["support_correct"] for s in seeds])  # seed, analysis, case, regression
    error = np.array([s["coefficient_relative_error"] for s in seeds])
    coefficient = np.array([s["coefficient"] for s in seeds])  # seed, analysis, case, regression, layer, term
    posterior = np.array([s["coefficient_std"] for s in seeds])
    truth = np.array(first["true_coefficient"])  # case, layer, term
    selected = np.array([s["selected"] for s in seeds])
    lines = [
        "# MEDIDA on two-layer QG: results",
        "",
        "Generated by `benchmarks/medida.py` from the runs of `sciml run qg-medida --set train.seed=K` "
        f"(K = {', '.join(str(s['seed']) for s in seeds)}); do not edit by hand. The reference flow is the same in "
        "every run; the seed draws the sensors, the noise and the networks. Every coefficient below was recomputed "
        "from the run's `predictions.nc` (largest relative difference to the stored value: "
        f"{max(s['recomputed_max_relative_difference'] for s in seeds):.1e}).",
        "",
        "## Acceptance",
        "",
        "| check | verdict |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in verdicts(results).items()],
        "",
        "## Support found and largest coefficient error",
        "",
        "Per analysis and regression: in how many seeds the selected support of both layers is exactly the true "
        "one, and the largest relative error of a true term's coefficient (mean ± std over seeds; a true term "
        "left out counts as 100%).",
        "",
        "| analysis | regression | " + " | ".join(cases) + " | cases found per seed (median) |",
        "|---|---|" + "---|" * (len(cases) + 1),
    ]
    for a, analysis in enumerate(analyses):
        for r, regression in enumerate(regressions):
            cells = []
            for c in range(len(cases)):
                cells.append(f"{int(found[:, a, c, r].sum())}/{len(seeds)}, {_mean_std(error[:, a, c, r])}")
            per_seed = found[:, a, :, r].sum(axis=1)
            lines.append(f"| {LABELS.get(analysis, analysis)} | {regression} | " + " | ".join(cells)
                         + f" | {per_seed.tolist()} ({np.median(per_seed):g}) |")
    lines += ["", "## Coefficients of the true terms (RVM)", "",
              "Mean ± std over seeds of the discovered coefficient; in brackets the mean posterior std of the RVM "
              "(it assumes independent Gaussian residuals, which spatially correlated interpolation errors are not, "
              "so it is too narrow for the sparse analyses).", "",
              "| case | term (layer) | true | " + " | ".join(LABELS.get(a, a) for a in analyses) + " |",
              "|---|---|---|" + "---|" * len(analyses)]
    rvm = regressions.index("rvm")
    for c, case in enumerate(cases):
        for layer in range(2):
            for j, term in enumerate(first["terms"]):
                if truth[c, layer, j] == 0:
                    continue
                cells = []
                for a in range(len(analyses)):
                    values = coefficient[:, a, c, rvm, layer, j]
                    cells.append(f"{_number(values.mean())} ± {values.std():.1e} "
                                 f"[{posterior[:, a, c, rvm, layer, j].mean():.1e}]")
                lines.append(f"| {case} ({first['case_descriptions'][c]}) | ${LATEX[term]}$ ({layer + 1}) | "
                             f"{_number(truth[c, layer, j])} | " + " | ".join(cells) + " |")
    lines += ["", "## Spurious terms (RVM)", "", "Terms selected that are not in the truth, with the number of seeds.",
              "", "| analysis | case | spurious terms (layer: term x seeds) |", "|---|---|---|"]
    for a, analysis in enumerate(analyses):
        for c, case in enumerate(cases):
            extra = []
            for layer in range(2):
                for j, term in enumerate(first["terms"]):
                    count = int(((selected[:, a, c, rvm, layer, j] == 1) & (truth[c, layer, j] == 0)).sum())
                    if count:
                        extra.append(f"{layer + 1}: {term} x{count}")
            lines.append(f"| {LABELS.get(analysis, analysis)} | {case} | {', '.join(extra) or 'none'} |")
    interpolation = np.array([s["interpolation_relative_error"] for s in seeds])  # seed, interpolator, quantity
    band = np.array([s["interpolation_relative_error_band"] for s in seeds])
    lines += ["", "## Interpolation error", "",
              "RMS error over RMS field of psi(t) and of its one-step change dpsi, over all snapshots and both "
              "layers; in brackets at |k| <= the regression cutoff (mean ± std over seeds).", "",
              "| interpolator | psi | dpsi |", "|---|---|---|"]
    for i, kind in enumerate(first["interpolators"]):
        lines.append(f"| {LABELS.get(kind, kind)} | {_mean_std(interpolation[:, i, 0])} "
                     f"({_mean_std(band[:, i, 0])}) | {_mean_std(interpolation[:, i, 1])} "
                     f"({_mean_std(band[:, i, 1])}) |")
    full = [s["full_library"] for s in seeds]
    full_found = np.array([f["support_correct"] for f in full])  # seed, analysis, case, regression
    full_error = np.array([f["coefficient_relative_error"] for f in full])
    full_selected = np.array([f["selected"] for f in full])
    full_truth_terms = full[0]["terms"]
    lines += ["", "## With every candidate term", "",
              f"The same runs, the discovery redone with all {len(full_truth_terms)} candidate terms "
              f"({', '.join(full_truth_terms)}): RVM, support found in how many seeds, largest coefficient error "
              "(mean ± std), and the spurious terms selected (layer: term x how many case-seed pairs).", "",
              "| analysis | " + " | ".join(cases) + " | spurious terms |", "|---|" + "---|" * (len(cases) + 1)]
    for a, analysis in enumerate(analyses):
        cells = [f"{int(full_found[:, a, c, rvm].sum())}/{len(seeds)}, {_mean_std(full_error[:, a, c, rvm])}"
                 for c in range(len(cases))]
        extra = {}
        for c in range(len(cases)):
            for layer in range(2):
                for j, term in enumerate(full_truth_terms):
                    true = term in first["terms"] and truth[c, layer, first["terms"].index(term)] != 0
                    count = int((full_selected[:, a, c, rvm, layer, j] == 1).sum()) if not true else 0
                    if count:
                        key = f"{layer + 1}: {term}"
                        extra[key] = extra.get(key, 0) + count
        spurious = ", ".join(f"{k} x{v}" for k, v in sorted(extra.items(), key=lambda kv: -kv[1])) or "none"
        lines.append(f"| {LABELS.get(analysis, analysis)} | " + " | ".join(cells) + f" | {spurious} |")
    times = ", ".join(f"{s['wall_time_s']:.0f} s" for s in seeds)
    lines += ["", f"Wall time per run (2-core machine shared with other jobs): {times}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--part", choices=("all", "runs", "render"), default="all")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides of every run (the default config is the acceptance setting)")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # figures go to files
    overrides = parse_overrides(args.set)
    if args.part in ("all", "runs"):
        run_seeds(args.seeds, overrides)
    if args.part in ("all", "render"):
        paths = [RUNS / f"seed{seed}" for seed in args.seeds]
        missing = [str(p) for p in paths if not (p / "summary.json").exists()]
        if missing:
            print(f"medida: no finished run in {missing}; run --part runs first", file=sys.stderr)
            return 1
        results = collect(paths)
        payload = {"machine": device_description(), "versions": package_versions(), "overrides": overrides,
                   **results, "verdicts": verdicts(results)}
        write_json(ROOT / "benchmarks" / "results" / "medida.json", payload)
        write_text(ROOT / "docs" / "results" / "medida.md", render(results))
        figure = discovery_figure(open_dataset(paths[0] / "predictions.nc").load())
        save_figure(figure, ROOT / "docs" / "assets" / "guides" / "medida.png", dpi=90)
        print("\n".join(f"{k}: {v}" for k, v in payload["verdicts"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
