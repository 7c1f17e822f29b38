"""Experiments and CLI: the output contract end to end, and clear errors for bad names and config keys."""

import json

import jax
import numpy as np
import pytest

from sciml import ConfigError, enable_compilation_cache
from sciml.cli import main as cli
from sciml.data import open_dataset
from sciml.experiment import load_experiment, parse_overrides, resolve_config, run_experiment
from sciml.metrics import relative_l2


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
        resolve_config(config_type, {"adam_steps": "many"})
    with pytest.raises(ConfigError, match="expects key=value"):
        parse_overrides(["adam_steps"])
    config = resolve_config(config_type, {"adam_steps": "20", "learning_rate": "3e-3", "lbfgs_precision": "float32"})
    assert (config.adam_steps, config.learning_rate, config.lbfgs_precision) == (20, 3e-3, "float32")


def test_burgers_run_writes_the_output_contract(tmp_path):
    overrides = {"adam_steps": "40", "lbfgs_steps": "10", "n_residual": "256", "n_residual_lbfgs": "256",
                 "width": "16", "depth": "2", "chunk": "10", "checkpoint_every": "20"}
    out = run_experiment("burgers-pinn", overrides, tmp_path / "run")
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
    assert config["config"]["adam_steps"] == 40
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
