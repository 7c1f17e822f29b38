"""`benchmarks/turbulence2d_smarl.py`: runs are grouped by the config keys that differ from the defaults."""

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from turbulence2d_smarl import DEFAULT, _setting  # noqa: E402


def config_json(config) -> dict:
    """The config as a run's config.json holds it."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def test_the_setting_names_the_keys_that_differ_from_the_defaults_but_not_the_case_or_seed():
    assert _setting(config_json(DEFAULT)) == "default"
    seeded = dataclasses.replace(DEFAULT, case="case2", train=dataclasses.replace(DEFAULT.train, seed=2))
    assert _setting(config_json(seeded)) == "default"
    case4 = dataclasses.replace(DEFAULT, case="case4", les=64, dealiasing="three-halves",
                                train=dataclasses.replace(DEFAULT.train, steps=100))
    assert _setting(config_json(case4)) == "dealiasing=three-halves les=64 train.steps=100"


def test_the_training_coefficient_averages_the_last_eighth_of_the_rollouts_mean_actions(tmp_path):
    from turbulence2d_smarl import training_coefficient

    # Actions 0 (coefficient c_max / 2) over steps 40 .. 280 and log(3) (3 c_max / 4) at steps 320; the last eighth
    # of 320 steps is step > 280.
    records = [{"step": step, "action_mean": 0.0} for step in range(40, 320, 40)]
    records += [{"step": 320, "action_mean": float(np.log(3))}, {"step": 320, "phase": "lbfgs"}]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert abs(training_coefficient(path, 0.34) - 0.75 * 0.34) < 1e-12
    path.write_text(json.dumps({"step": 40, "loss": 1.0}) + "\n")
    assert training_coefficient(path, 0.34) is None
