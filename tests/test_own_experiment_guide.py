"""The "add your own experiment" guide's example, run as a user would: its file in a folder of their own."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import sciml
from sciml.data import open_dataset
from sciml.studies import list_experiments, load_experiment, run_experiment

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "own-experiment.md"


def test_the_guide_example_runs_from_a_folder_of_ones_own(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "poisson1d_pinn.py").write_text(code)
    monkeypatch.setenv("SCIML_EXPERIMENTS_DIR", str(tmp_path / "mine"))
    assert list_experiments() == ["poisson1d-pinn"]
    experiment = load_experiment("poisson1d-pinn")
    out = run_experiment("poisson1d-pinn", {**experiment.smoke, "train.steps": 600}, tmp_path / "run")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["rel_l2"] < 0.1, "600 steps of the guide's PINN get within 10% of sin(pi x)"
    assert (out / "figures" / "solution.png").exists()
    trained = sciml.load(out)
    np.testing.assert_allclose(trained.predict(open_dataset(out / "predictions.nc")).prediction,
                               open_dataset(out / "predictions.nc").prediction, rtol=1e-6)
    assert trained.predict([0.5]).prediction.values[0] == pytest.approx(1.0, abs=0.1)
