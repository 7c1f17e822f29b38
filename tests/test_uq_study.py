"""The Lorenz-96 closure study: training through `sciml.studies.train` and checkpoints that carry the whole config."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.solvers import CubicClosure
from sciml.studies import RunDir, TrainConfig, config_dict
from sciml.studies.lorenz96 import Lorenz96Data, MultiFidelityConfig, closure_like, predict_closure, train_closure

SMALL = MultiFidelityConfig(train=TrainConfig(steps=20, chunk=10, schedule="exponential", decay_steps=5,
                                              decay_rate=0.5), members=2, width=8, depth=1, half_width=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)

    def pairs(n):
        x = rng.normal(3.0, 4.0, size=(n, 8)).astype(np.float32)
        return x, (-0.8 * x + rng.normal(0, 0.5, size=x.shape)).astype(np.float32)

    test_x, test_u = pairs(6)
    cubic = CubicClosure(jnp.asarray([0.0, -0.8, 0.0, 0.0], jnp.float32))
    return Lorenz96Data(pairs(64), pairs(32), np.repeat([18.0, 20.0], 16), 0.05,
                        (test_x, test_u, np.repeat([20.0, 24.0], 3)), cubic)


@pytest.mark.parametrize("kind", ["rpn", "lf", "mfrpn"])
def test_every_kind_trains_and_predicts(data, kind):
    model, result = train_closure(kind, SMALL, data)
    assert result.step == 20 and np.isfinite(result.history[-1]["loss"])
    assert model.predict_members(data.test[0]).shape == (2, 6, 8)
    assert float(model.noise_std) > 0.0


def test_checkpoint_refuses_a_rerun_with_other_settings(data, tmp_path):
    """The run's full config rides in the checkpoint: another seed or learning rate is refused, not resumed."""
    run = RunDir(tmp_path, config_dict(SMALL))
    model, _ = train_closure("rpn", SMALL, data, run)
    again, resumed = train_closure("rpn", SMALL, data, run)
    assert resumed.resumed_from == 20
    assert_close(again.noise_std, model.noise_std, rtol=1e-6, what="the same run resumed from its checkpoint")
    for train in (dataclasses.replace(SMALL.train, seed=1), dataclasses.replace(SMALL.train, learning_rate=5e-3)):
        other = dataclasses.replace(SMALL, train=train)
        with pytest.raises(ConfigError, match="other settings"):
            train_closure("rpn", other, data, RunDir(tmp_path, config_dict(other)))


@pytest.mark.parametrize("kind", ["rpn", "mfrpn"])
def test_closure_like_rebuilds_the_saved_closure(data, kind, tmp_path):
    """`closure_like` has the trained closure's structure, so the saved closure loads into it and predicts alike."""
    model, _ = train_closure(kind, SMALL, data)
    like = closure_like(kind, SMALL)
    assert ([(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(like)]
            == [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))])
    eqx.tree_serialise_leaves(tmp_path / "model.eqx", model)
    loaded = eqx.tree_deserialise_leaves(tmp_path / "model.eqx", like)
    first, again = predict_closure(model, SMALL, data.test[0]), predict_closure(loaded, SMALL, data.test[0])
    assert first.prediction.dims == ("sample", "k") and "F" not in first.coords
    for name in ("prediction", "prediction_std", "prediction_lower", "prediction_upper"):
        assert_close(again[name].values, first[name].values, rtol=1e-6, what=f"{name} of the reloaded closure")
