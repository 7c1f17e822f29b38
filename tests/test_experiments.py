"""Every experiment, end to end at its smoke size, through the one output contract and back through `sciml.load`;
and the shared skeleton."""

import dataclasses
import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_cf_outputs import assert_cf_conventions, assert_loss_curve

import sciml
from sciml.data import open_dataset
from sciml.studies import (
    TrainConfig,
    list_experiments,
    load_experiment,
    read_config_file,
    resolve_config,
    run_experiment,
)

EXPERIMENTS = list_experiments()
FAMILIES = {"pinn", "neural-solver", "neural-de", "parametrization", "gp", "battery", "turbulence", "model-error",
            "neural-process"}


def test_every_experiment_has_the_one_skeleton():
    for name in EXPERIMENTS:
        module = load_experiment(name).module
        assert module.NAME == name and (module.__doc__ or "").strip(), f"{name}: NAME and a docstring"
        family, reproduces = getattr(module, "FAMILY", None), getattr(module, "REPRODUCES", None)
        assert family in FAMILIES, f"{name}: FAMILY {family!r}, expected one of {sorted(FAMILIES)}"
        assert isinstance(reproduces, str) and reproduces.strip(), f"{name}: REPRODUCES (a paper and result, or '-')"
        assert dataclasses.is_dataclass(module.Config) and module.Config.__dataclass_params__.frozen, name
        fields = {f.name: f for f in dataclasses.fields(module.Config)}
        assert isinstance(fields["train"].default, TrainConfig), f"{name}: Config.train must be a TrainConfig"
        flat = sorted({f.name for f in dataclasses.fields(TrainConfig)} & fields.keys())
        assert not flat, f"{name}: training knobs {flat} belong in Config.train"
        assert list(inspect.signature(module.main).parameters) == ["config", "run"], name
        assert isinstance(module.SMOKE, dict) and module.SMOKE, f"{name}: SMOKE overrides"
        for function in ("model_like", "predict"):
            assert callable(getattr(module, function, None)), f"{name}: {function}, for sciml.load"


CONFIG_FILES = sorted((Path(__file__).resolve().parents[1] / "experiments" / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda path: path.stem)
def test_shipped_config_files_are_valid_settings_of_their_experiment(path):
    """experiments/configs/NAME-*.toml: each key exists in NAME's Config, with a valid value, and differs from its
    default (a file that only repeats defaults has gone stale)."""
    names = [n for n in EXPERIMENTS if path.stem == n or path.stem.startswith(f"{n}-")]
    assert names, f"{path.name}: name a config file after its experiment (NAME.toml or NAME-SETTING.toml)"
    name = max(names, key=len)
    config_type = load_experiment(name).module.Config
    settings = read_config_file(path, config_type, name)
    config, default = resolve_config(config_type, settings), resolve_config(config_type)
    for key, value in settings.items():
        section, _, field = key.rpartition(".")
        assert getattr(getattr(config, section) if section else config, field) == value, key
        assert getattr(getattr(default, section) if section else default, field) != value, f"{key} is the default"


def _finite_numbers(tree):
    if isinstance(tree, dict):
        return all(_finite_numbers(v) for v in tree.values())
    if isinstance(tree, list):
        return all(_finite_numbers(v) for v in tree)
    return not isinstance(tree, float) or math.isfinite(tree)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke_run_writes_the_output_contract(name, tmp_path):
    experiment = load_experiment(name)
    out = run_experiment(name, experiment.smoke, tmp_path / name)
    config = json.loads((out / "config.json").read_text())
    assert config["experiment"] == name and "train" in config["config"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] and _finite_numbers(summary["metrics"]), summary["metrics"]
    assert summary["seed"] == config["config"]["train"]["seed"] and summary["versions"]["jax"]
    predictions = open_dataset(out / "predictions.nc")
    assert "prediction" in predictions and np.isfinite(predictions.prediction.values).all()
    for variable in ("prediction", "reference"):
        if variable in predictions:
            missing = [d for d in predictions[variable].dims if d not in predictions.coords]
            assert not missing, f"{variable} lacks coordinates {missing}"
    assert_cf_conventions(predictions, what=name, command=f"{name} wrote")
    assert list((out / "figures").glob("*.png")), "at least one figure"
    assert_loss_curve(out)
    metrics_log = out / "metrics.jsonl"
    if metrics_log.exists():
        records = [json.loads(line) for line in metrics_log.read_text().splitlines()]
        assert records and all("step" in r for r in records)
    trained = sciml.load(out)
    assert trained.config == resolve_config(experiment.config_type, experiment.smoke), "config read back"
    again = trained.predict(predictions)
    np.testing.assert_allclose(again.prediction.values, predictions.prediction.values, rtol=1e-5, atol=1e-6,
                               err_msg=f"{name}: sciml.load(run).predict(predictions.nc) against the stored prediction")
