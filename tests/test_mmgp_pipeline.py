"""End to end: `sciml run tensile2d-mmgp` on the small dataset writes the output contract and sane metrics."""

import json

import numpy as np
import pytest
from conftest import assert_close

from sciml.data import open_dataset
from sciml.studies import load_experiment, run_experiment


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tensile2d-mmgp")
    overrides = {"small": "true", "restarts": "1", "train.lbfgs_steps": "25", "n_samples": "100"}
    return run_experiment("tensile2d-mmgp", overrides, out=out)


def test_output_contract_and_metrics(run_dir):
    ds = open_dataset(run_dir / "predictions.nc")
    for name in ("prediction", "reference", "prediction_std", "prediction_lower", "prediction_upper",
                 "scalar_prediction"):
        assert name in ds, name
    assert ds.prediction.dims == ("field", "node") and ds.prediction_lower.attrs["interval"] == 0.95
    assert (ds.prediction_lower <= ds.prediction_upper).all()
    assert (ds.prediction_std >= 0).all()
    summary = json.loads((run_dir / "summary.json").read_text())["metrics"]
    recomputed = load_experiment("tensile2d-mmgp").module.metrics_from_predictions(ds)
    for key, value in recomputed.items():
        assert_close(summary[key], value, rtol=1e-12, what=f"{key} recomputed from predictions.nc")
    assert summary["sigma22_relative_rmse"] < 0.1 and summary["compliance_relative_rmse"] < 0.1
    assert 0.3 < summary["sigma22_coverage"] <= 1.0
    assert sorted(p.name for p in (run_dir / "figures").glob("*.png")) == [
        "scalars.png", "sigma22_median_sample.png", "sigma22_worst_sample.png", "von_mises_median_sample.png"
    ]


def test_mean_lies_inside_interval_on_average(run_dir):
    ds = open_dataset(run_dir / "predictions.nc")
    inside = (ds.prediction >= ds.prediction_lower) & (ds.prediction <= ds.prediction_upper)
    assert float(inside.mean()) > 0.99
    assert np.isfinite(ds.prediction.values).all()


def test_load_rebuilds_the_predictor_from_saved_arrays(run_dir):
    """The run's model is the MMGP's arrays (no pickle): `sciml.load` and `predict` on predictions.nc rebuild the
    gpytorch predictor without refitting and give back the stored predictions and intervals."""
    import sciml
    from sciml.gp import MMGPState

    trained = sciml.load(run_dir)
    assert isinstance(trained.model, MMGPState) and trained.model.lengthscale.dtype == np.float64
    stored = open_dataset(run_dir / "predictions.nc")
    again = trained.predict(stored)
    assert "reference" not in again
    for name in ("prediction", "prediction_std", "prediction_lower", "prediction_upper", "scalar_prediction",
                 "scalar_lower"):
        assert again[name].dims == stored[name].dims
        assert_close(again[name].values, stored[name].values, rtol=1e-9, atol=1e-12, what=f"{name} after loading")
