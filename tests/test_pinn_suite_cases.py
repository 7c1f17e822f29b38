"""Every case of benchmarks/pinn_suite.py resolves to a valid config of its experiment, at its budget and quick."""

import sys
from pathlib import Path

import pytest

from sciml.studies import load_experiment, resolve_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import pinn_suite  # noqa: E402


@pytest.mark.parametrize("label", list(pinn_suite.CASES))
@pytest.mark.parametrize("quick", [False, True])
def test_case_overrides_resolve(label, quick):
    experiment = pinn_suite.CASES[label][0]
    config = resolve_config(load_experiment(experiment).config_type, pinn_suite.case_overrides(label, 2, quick))
    assert config.train.seed == 2
    assert (config.train.steps == 100) == quick
