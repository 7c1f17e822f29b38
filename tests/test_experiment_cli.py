"""Experiments and CLI: the output contract end to end, and clear errors for bad names and config keys."""

import json

import jax
import numpy as np
import pytest

from sciml import ConfigError, enable_compilation_cache
from sciml.cli import main as cli
from sciml.data import open_dataset
from sciml.metrics import relative_l2
from sciml.studies import load_experiment, parse_overrides, resolve_config, run_experiment


def test_unknown_experiment_suggests_the_closest_name(capsys):
    with pytest.raises(ConfigError, match="Did you mean 'burgers-pinn'"):
        load_experiment("burger-pinn")
    assert cli(["run", "burger-pinn"]) == 2
    assert "unknown experiment 'burger-pinn'" in capsys.readouterr().err


def test_config_keys_and_values_are_checked():
    config_type = load_experiment("burgers-pinn").config_type
    with pytest.raises(ConfigError, match="unknown config key 'widht'.*Did you mean 'width'"):
        resolve_config(config_type, {"widht": "32"})
    with pytest.raises(ConfigError, match="expected a value of type int, got 'many'"):
        resolve_config(config_type, {"train.steps": "many"})
    with pytest.raises(ConfigError, match="expects key=value"):
        parse_overrides(["train.steps"])
    config = resolve_config(config_type, {"train.steps": "20", "train.learning_rate": "3e-3",
                                          "train.lbfgs_dtype": "float32"})
    assert (config.train.steps, config.train.learning_rate, config.train.lbfgs_dtype) == (20, 3e-3, "float32")
    assert config.train.decay_steps == 1000, "a section override keeps the experiment's other training defaults"
    clipped = load_experiment("advection-cape").config_type  # parameter_clip: float | None = 0.0
    assert resolve_config(clipped, {"parameter_clip": "none"}).parameter_clip is None
    assert resolve_config(clipped, {"parameter_clip": "0.5"}).parameter_clip == 0.5
    with pytest.raises(ConfigError, match="parameter_clip.*got 'wide'"):
        resolve_config(clipped, {"parameter_clip": "wide"})


@pytest.mark.parametrize(("key", "new"), [("adam_steps", "train.steps"), ("learning_rate", "train.learning_rate"),
                                          ("seed", "train.seed"), ("lbfgs_precision", "train.lbfgs_dtype")])
def test_flat_training_keys_name_their_new_place(key, new):
    config_type = load_experiment("burgers-pinn").config_type
    with pytest.raises(ConfigError, match=f"'{key}' is now '{new}'"):
        resolve_config(config_type, {key: "1"})


def test_train_section_checks_its_values():
    config_type = load_experiment("burgers-pinn").config_type
    with pytest.raises(ConfigError, match=r"train.schedule must be one of .*got 'linear'"):
        resolve_config(config_type, {"train.schedule": "linear"})
    with pytest.raises(ConfigError, match="train is a section"):
        resolve_config(config_type, {"train": "3"})
    with pytest.raises(ConfigError, match="unknown config key 'train.stepz'.*Did you mean 'train.steps'"):
        resolve_config(config_type, {"train.stepz": "3"})


def test_burgers_run_writes_the_output_contract(tmp_path):
    out = run_experiment("burgers-pinn", load_experiment("burgers-pinn").smoke, tmp_path / "run")
    for name in ("config.json", "metrics.jsonl", "summary.json", "predictions.nc", "figures/fields.png",
                 "figures/slices.png"):
        assert (out / name).exists(), name
    assert any((out / "checkpoints").iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert {"rel_l2", "published_rel_l2", "steps"} <= summary["metrics"].keys()
    assert summary["seed"] == 0 and "jax" in summary["versions"] and summary["device"]["backend"] == "cpu"
    predictions = open_dataset(out / "predictions.nc")
    assert predictions.prediction.dims == ("t", "x") and predictions.prediction.shape == (100, 256)
    recomputed = relative_l2(predictions.prediction, predictions.reference)
    assert recomputed == pytest.approx(summary["metrics"]["rel_l2"], rel=1e-6)
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["train"]["steps"] == 40
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50] and np.isfinite(records[-1]["loss"])


def test_compilation_cache_folder_from_the_environment(tmp_path, monkeypatch):
    previous = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("SCIML_COMPILATION_CACHE", str(tmp_path / "xla"))
    try:
        folder = enable_compilation_cache()
        assert folder == tmp_path / "xla" and folder.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(folder)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def test_a_renamed_key_names_the_new_key_of_this_config():
    cape = load_experiment("advection-cape").config_type
    with pytest.raises(ConfigError, match="'schedule' is now 'curriculum'"):
        resolve_config(cape, {"schedule": "curriculum"})
    with pytest.raises(ConfigError, match="'schedule' is now 'train.schedule'"):
        resolve_config(load_experiment("burgers-pinn").config_type, {"schedule": "cosine"})
