"""The study layer's training config: optimizer and schedule mapping, gradient accumulation, progress stages."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close
from test_train_fit import _linear, _regression_data, mse

from sciml import ConfigError
from sciml.studies import TrainConfig, resolve_config, train
from sciml.train import AbstractProgress, Evaluation


def test_schedules_match_optax():
    exponential = TrainConfig(learning_rate=1e-2, schedule="exponential", decay_steps=10, decay_rate=0.5)
    cosine = TrainConfig(steps=100, learning_rate=1e-2, schedule="cosine", final_fraction=0.05)
    for step in (0, 7, 10, 55, 100):
        assert_close(exponential.learning_rate_schedule()(step), 1e-2 * 0.5 ** (step / 10), rtol=1e-6, what="exp")
        assert_close(cosine.learning_rate_schedule()(step),
                     optax.cosine_decay_schedule(1e-2, 100, alpha=0.05)(step), rtol=1e-6, what="cosine")
    assert TrainConfig(learning_rate=3e-3).learning_rate_schedule() == 3e-3


def test_accumulation_averages_the_gradients_of_micro_batches():
    """Two accumulated half batches give the update of one full batch (mean-squared loss, equal halves)."""
    data = _regression_data(n=64)
    halves = [{k: v[:32] for k, v in data.items()}, {k: v[32:] for k, v in data.items()}]
    accumulated = train(_linear(), mse, lambda step: halves[step % 2],
                        TrainConfig(steps=40, learning_rate=0.05, accumulate=2, chunk=10))
    full = train(_linear(), mse, data, TrainConfig(steps=20, learning_rate=0.05, chunk=10))
    assert_close(accumulated.model.w, full.model.w, rtol=1e-5, atol=1e-6, what="w after accumulation")
    assert not np.allclose(np.asarray(full.model.w), 0.0)


def test_clipping_and_adamw_change_the_update():
    data = _regression_data()
    plain = train(_linear(), mse, data, TrainConfig(steps=1, learning_rate=0.1, chunk=1, optimizer="adamw"))
    clipped = train(_linear(), mse, data, TrainConfig(steps=1, learning_rate=0.1, chunk=1, clip_norm=1e-3))
    # Adam's first step moves every coordinate by lr regardless of scale; decay of zero weights adds nothing.
    assert_close(jnp.abs(plain.model.w), 0.1, rtol=1e-4, what="adam first step")
    assert_close(jnp.abs(clipped.model.w), 0.1, rtol=1e-3, what="clipping leaves adam's sign step")
    with pytest.raises(ValueError, match="weight_decay=0.1 needs train.optimizer='adamw'"):
        TrainConfig(weight_decay=0.1)


def test_invalid_training_values_name_the_field():
    with pytest.raises(ValueError, match=r"train.accumulate must be >= 1, got 0"):
        TrainConfig(accumulate=0)
    with pytest.raises(ValueError, match=r"train.optimizer must be one of \('adam', 'adamw'\), got 'sgd'"):
        TrainConfig(optimizer="sgd")


class Recorder(AbstractProgress):
    def __init__(self):
        self.events = []

    def start(self, total, initial):
        self.events.append(("start", total, initial))

    def stage(self, name):
        self.events.append(name)

    def advance(self, steps, loss):
        self.events.append(steps)

    def close(self):
        self.events.append("close")


def test_progress_is_told_each_stage():
    recorder = Recorder()
    evaluation = Evaluation(lambda m: {"w0": m.w[0]}, 10)
    train(_linear(), mse, _regression_data(), TrainConfig(steps=20, lbfgs_steps=5, chunk=10),
          evaluations=[evaluation], progress=recorder)
    assert recorder.events == [("start", 25, 0), "compiling", "adam", "evaluation", "adam", 10,
                               "evaluation", "adam", 10, "compiling", "lbfgs", 5, "close"]


def test_nested_values_and_sections_from_python():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Config:
        train: TrainConfig = TrainConfig(steps=5, learning_rate=0.5)
        width: int = 3

    config = resolve_config(Config, {"train.steps": "7"}, width=4, train={"chunk": 7})
    assert (config.train.steps, config.train.chunk, config.train.learning_rate, config.width) == (7, 7, 0.5, 4)
    with pytest.raises(ConfigError, match="'steps' is now 'train.steps'"):
        resolve_config(Config, {"steps": "3"})
    assert jax.random.key_data(config.train.key(1)).tolist() == jax.random.key_data(
        jax.random.fold_in(jax.random.key(0), 1)).tolist()
