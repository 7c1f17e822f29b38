"""`benchmarks/turbulence2d_smarl.py`: runs are grouped by the config keys that differ from the defaults."""

import dataclasses
import json
import sys
from pathlib import Path

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
