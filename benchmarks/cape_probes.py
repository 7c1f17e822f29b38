"""Probes of trained CAPE runs of `benchmarks/pdebench_cape.py`, read from their folders: which value of the held-out
parameter a run's error is lowest at, and how large its CAPE module's update is against the state.

- parameter scan: the held-out trajectories of the run's predictions.nc rolled out again (`sciml.load(run).predict`)
  with the held-out parameter replaced by each of ``--values``; nRMSE against the same references. Fed their own
  parameters, the rollouts are the stored ones (checked: a run whose stored held-out nRMSE is not given back is
  refused). A model that reads the held-out value as what it is has its lowest error there.
- update size: the CAPE module (`sciml.nn.CAPEBlock`) on every ``--every``-th frame of the held-out references and of
  the rollouts (the run's normalisation, the sample's parameters): r = rms(guess - u) / rms(u) over space, u the
  frame. A capped module (``update_cap`` k) maps an update of relative size R to R / sqrt(1 + R^2 / k^2), so the
  factor it shrank the update by is sqrt(1 - r^2 / k^2) (1 for an uncapped module).

    .venv/bin/python benchmarks/cape_probes.py RUN [RUN ...] [--values 4 4.5 5 5.5 6] [--every 10]
    .venv/bin/python benchmarks/cape_probes.py --table

Writes `benchmarks/results/cape_probes.json` and `docs/results/cape_probes.md` (one row per run; runs probed before
are kept, a run probed again is replaced); ``--table`` only rewrites the page from the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from sciml import DataError, metrics
from sciml.benchmarking import Benchmark, render_table, xla_cpu_threads
from sciml.provenance import package_versions
from sciml.studies import load

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cape_probes.json"
TABLE = ROOT / "docs" / "results" / "cape_probes.md"


def held_out(predictions: xr.Dataset) -> xr.Dataset:
    """The held-out samples of a predictions dataset."""
    return predictions.isel(sample=predictions["split"].values == "held_out").load()


def parameter_scan(trained, held: xr.Dataset, values: list[float]) -> dict[str, float]:
    """Held-out nRMSE with the held-out parameter fed as each of `values` (keys ``f"{value:g}"``)."""
    name = trained.config.held_out_parameter
    scores = {}
    for value in values:
        fed = held.assign_coords({name: ("sample", np.full(held.sizes["sample"], value))})
        scores[f"{value:g}"] = metrics.nrmse(trained.predict(fed)["prediction"].values, held["reference"].values)
    return scores


def update_sizes(trained, held: xr.Dataset, every: int) -> dict[str, float]:
    """The CAPE module's update against the state, rms(guess - u) / rms(u), over every `every`-th frame of the
    held-out references and rollouts: its median and maximum, and the smallest factor the cap shrank it by."""
    cape, norm = trained.model.solver.cape, trained.model.normalization
    if cape.horizon != 1 or cape.channels != 1:
        raise DataError(f"the update-size probe reads one-channel, one-step CAPE modules; got "
                        f"channels={cape.channels}, horizon={cape.horizon}")
    params = norm.params(np.stack([held[p].values for p in trained.config.parameters], axis=1))
    guess = jax.jit(jax.vmap(jax.vmap(cape, in_axes=(0, None))))
    ratios = []
    for source in ("reference", "prediction"):
        u = norm.fields(held[source].values[:, ::every, None])  # (sample, frame, channel, x)
        update = np.asarray(guess(u, params)) - u
        ratios.append(np.sqrt(np.mean(update**2, axis=-1) / np.mean(u**2, axis=-1)).ravel())
    r = np.concatenate(ratios)
    return {"update_ratio_median": float(np.median(r)), "update_ratio_max": float(r.max()),
            "update_cap": float(cape.update_cap), "cap_shrink_min": float(cap_shrink(r, cape.update_cap).min())}


def cap_shrink(ratio: np.ndarray, cap: float) -> np.ndarray:
    """The factor a cap `cap` shrank updates by, from their relative sizes `ratio` after it: the cap maps R to
    r = R / sqrt(1 + R^2 / cap^2), which shrinks by sqrt(1 - r^2 / cap^2); ones where there is no cap (0)."""
    return np.sqrt(np.clip(1 - (ratio / cap) ** 2, 0, 1)) if cap else np.ones_like(ratio)


def probe(folder: Path, values: list[float], every: int) -> dict:
    """Both probes of the run in `folder`, with its stored held-out nRMSE."""
    trained = load(folder)
    with xr.open_dataset(folder / "predictions.nc") as predictions:
        held = held_out(predictions)
    stored = metrics.nrmse(held["prediction"].values, held["reference"].values)
    again = metrics.nrmse(trained.predict(held)["prediction"].values, held["reference"].values)
    if not np.isclose(again, stored, rtol=1e-5):  # fed their own parameters, the rollouts are the stored ones
        raise DataError(f"{folder}: its model rolls the held-out samples out to nRMSE {again:.6g}, its "
                        f"predictions.nc holds {stored:.6g}; the folder's model and predictions disagree")
    true_values = np.unique(held[trained.config.held_out_parameter].values)
    return {"run": folder.name, "parameter": trained.config.held_out_parameter,
            "held_out_values": [float(v) for v in true_values], "held_out_nrmse": stored,
            "scan": parameter_scan(trained, held, values), "every": every, **update_sizes(trained, held, every)}


def markdown(payload: dict) -> str:
    """The results page: a table, one row per probed run."""
    lines = ["# Probes of trained CAPE runs: the held-out error against the parameter fed, and the update's size", "",
             "Generated by `benchmarks/cape_probes.py` (its docstring gives the probes) from the run folders of "
             "`runs/pdebench_cape/`. 'scan': held-out nRMSE with the held-out parameter fed as each value (the lowest "
             "in bold); 'update / state': rms(guess - u) / rms(u) of the CAPE module over every n-th frame of the "
             "held-out references and rollouts; 'cap shrink': the smallest factor the cap shrank the update by (1: no "
             "cap).", "",
             "| run | held out | nRMSE held-out | scan | update / state, median | update / state, max | frames probed "
             "| cap shrink |",
             "|---|---|---|---|---|---|---|---|"]
    for run in payload["runs"]:
        scan = run["scan"]
        lowest = min(scan, key=scan.get)
        cells = ", ".join(f"**{k}: {v:.3g}**" if k == lowest else f"{k}: {v:.3g}" for k, v in scan.items())
        values = ", ".join(f"{v:g}" for v in run["held_out_values"])
        lines.append(f"| `{run['run']}` | {run['parameter']} = {values} | {run['held_out_nrmse']:.3g} | {cells} | "
                     f"{run['update_ratio_median']:.3g} | {run['update_ratio_max']:.3g} | every {run['every']}th | "
                     f"{run['cap_shrink_min']:.3g} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run folders of a CAPE conditioning")
    parser.add_argument("--values", type=float, nargs="+", default=[4.0, 4.5, 5.0, 5.5, 6.0],
                        help="values of the held-out parameter to feed (default: around diffusion-reaction's rho = 5)")
    parser.add_argument("--every", type=int, default=10, help="probe the update at every n-th frame")
    parser.add_argument("--table", action="store_true", help="only rewrite the table from the JSON")
    args = parser.parse_args()
    if args.table:
        render_table(RESULTS, TABLE, markdown)
        return
    if not args.runs:
        parser.error("expected run folders to probe (e.g. runs/pdebench_cape/diffreact-cape-...-s0), or --table")
    bench = Benchmark("cape_probes", timed=False)
    bench.declare_threads(sciml=xla_cpu_threads())
    kept = {r["run"]: r for r in json.loads(RESULTS.read_text())["runs"]} if RESULTS.exists() else {}
    for folder in args.runs:
        record = probe(folder, args.values, args.every)
        print(json.dumps(record), flush=True)
        kept[record["run"]] = record
    payload = {"benchmark": "cape_probes", "versions": package_versions(), "runs": sorted(kept.values(),
                                                                                       key=lambda r: r["run"])}
    bench.write(RESULTS, payload, TABLE, markdown(payload))


if __name__ == "__main__":
    main()
