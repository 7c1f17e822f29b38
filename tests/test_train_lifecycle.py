"""The engine's side of a run's lifecycle: finished runs rerun, verified checkpoints, refused mismatches, torn logs."""

import json
import warnings

import jax
import numpy as np
import optax
import pytest
from test_train_fit import _linear, _params, _regression_data, mse

from sciml import ConfigError
from sciml.train import CheckpointWarning, checkpoint_problem, fit, latest_checkpoint

KWARGS = dict(key=jax.random.key(3), chunk=10, checkpoint_every=10)


def _fit(out, steps=40, **extra):
    return fit(_linear(), mse, _regression_data(), optax.adam(0.05), steps, out_dir=out, **{**KWARGS, **extra})


def test_a_finished_run_reruns_with_its_history(tmp_path):
    first = _fit(tmp_path)
    again = _fit(tmp_path)
    assert again.resumed_from == 40 and again.step == 40
    assert [h["step"] for h in again.history] == [10, 20, 30, 40]
    assert again.history[-1]["loss"] == first.history[-1]["loss"]
    np.testing.assert_array_equal(_params(again.model), _params(first.model))


def test_a_corrupt_newest_checkpoint_falls_back_to_the_newest_good_one(tmp_path):
    straight = _fit(tmp_path / "straight")
    _fit(tmp_path / "run", steps=30)
    newest = latest_checkpoint(tmp_path / "run" / "checkpoints")
    state = newest / "state.eqx"
    data = bytearray(state.read_bytes())
    data[8:72] = bytes(255 - b for b in data[8:72])  # 64 flipped bytes
    state.write_bytes(bytes(data))
    assert "does not match its checksum" in checkpoint_problem(newest)
    with pytest.warns(CheckpointWarning, match="step_000000030 is not usable"):
        resumed = _fit(tmp_path / "run")
    assert resumed.resumed_from == 20
    np.testing.assert_array_equal(_params(resumed.model), _params(straight.model))


@pytest.mark.parametrize("damage", ["truncate state", "truncate meta", "delete checksums"])
def test_truncated_or_incomplete_checkpoints_are_passed_over(tmp_path, damage):
    _fit(tmp_path, steps=30)
    newest = latest_checkpoint(tmp_path / "checkpoints")
    name = {"truncate state": "state.eqx", "truncate meta": "meta.json", "delete checksums": "checksums.json"}[damage]
    if damage.startswith("truncate"):
        (newest / name).write_bytes((newest / name).read_bytes()[:20])
    else:
        (newest / name).unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert latest_checkpoint(tmp_path / "checkpoints").name == "step_000000020"
    assert any(issubclass(w.category, CheckpointWarning) for w in caught)


def test_a_checkpoint_of_another_seed_is_refused_without_meta(tmp_path):
    _fit(tmp_path, steps=20)
    with pytest.raises(ConfigError, match=r"another root key \(another seed\)"):
        _fit(tmp_path, steps=40, key=jax.random.key(4))


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path):
    straight = _fit(tmp_path / "straight")
    _fit(tmp_path / "run", steps=30)
    log = tmp_path / "run" / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": 40, "phase": "ad')
    resumed = _fit(tmp_path / "run")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    np.testing.assert_array_equal(_params(resumed.model), _params(straight.model))
