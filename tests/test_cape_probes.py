"""`benchmarks/cape_probes.py`: the probes of a seconds-long capped CAPE run, the cap's shrink factor against the
same module without the cap, and the results table."""

import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cape_probes import cap_shrink, markdown, probe  # noqa: E402
from pdebench_cape import run  # noqa: E402

from sciml import metrics  # noqa: E402
from sciml.nn import CAPEBlock  # noqa: E402


def test_the_probes_of_a_capped_run_rescore_its_rollouts_and_bound_its_update(tmp_path):
    record = run("advection", "cape", 0, samples=8, steps=100, runs=tmp_path, cape_module="paper-capped")
    folder = Path(record["predictions"]).parent
    result = probe(folder, values=[1.0, 2.0], every=10)  # refuses a model that does not give its rollouts back
    held = xr.open_dataset(folder / "predictions.nc").pipe(lambda ds: ds.where(ds.split == "held_out", drop=True))
    assert result["held_out_values"] == [0.1, 1.0, 7.0]
    assert result["held_out_nrmse"] == pytest.approx(metrics.nrmse(held.prediction.values, held.reference.values))
    assert set(result["scan"]) == {"1", "2"} and all(np.isfinite(v) for v in result["scan"].values())
    assert result["scan"]["1"] != result["scan"]["2"]  # the parameter fed reaches the rollouts
    assert result["update_cap"] == 1.0
    assert 0 < result["update_ratio_median"] <= result["update_ratio_max"] < 1.0  # the cap holds it below the state's
    assert result["cap_shrink_min"] == pytest.approx(np.sqrt(1 - result["update_ratio_max"] ** 2))


def test_the_cap_shrink_recovered_from_capped_updates_is_the_uncapped_ones():
    u = jax.random.normal(jax.random.key(4), (1, 64))
    params = jnp.array([0.7])
    sizes = {}
    for cap in (0.0, 0.5):  # the same key: the same weights, with and without the cap
        block = CAPEBlock(1, 1, width=8, modes=4, pool=1, normalize=False, update_cap=cap, key=jax.random.key(3))
        block = eqx.tree_at(lambda b: b.head.weight, block, block.head.weight * 5)  # an update near the cap
        update = np.asarray(block(u, params)) - np.asarray(u)
        sizes[cap] = np.sqrt(np.mean(update**2) / np.mean(np.asarray(u) ** 2))
    assert 0.2 < sizes[0.5] / sizes[0.0] < 0.9  # the cap acts, and not as a hard clip
    assert cap_shrink(np.array([sizes[0.5]]), 0.5)[0] == pytest.approx(sizes[0.5] / sizes[0.0], rel=1e-4)
    assert cap_shrink(np.array([sizes[0.0]]), 0.0)[0] == 1.0


def test_the_probe_table_has_a_row_per_run_with_the_lowest_scan_value_in_bold():
    run = {"run": "r-s0", "parameter": "rho", "held_out_values": [5.0], "held_out_nrmse": 0.0049, "every": 10,
           "scan": {"4.5": 0.0104, "5": 0.00489, "5.5": 0.0156}, "update_ratio_median": 0.036,
           "update_ratio_max": 0.71, "update_cap": 0.0, "cap_shrink_min": 1.0}
    rows = [line for line in markdown({"runs": [run, {**run, "run": "r-s1"}]}).splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and rows[0].startswith("| `r-s0` | rho = 5 | 0.0049 |")
    assert "4.5: 0.0104, **5: 0.00489**, 5.5: 0.0156" in rows[0]
    assert rows[0].count("|") == 9  # eight columns
