"""Data parallelism: a step sharded over 4 CPU devices gives the update of the unsharded step."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.nn import MLP
from sciml.pde import Problem, UniformPoints, interval, time_space
from sciml.pinn import PINN, PINNLoss
from sciml.train import data_mesh, fit, shard_batch


def _burgers_like():
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0))
    problem = Problem(domain, lambda u: u.t + u.value * u.x - 0.01 * u.xx, UniformPoints(domain, 64), {})
    model = PINN(domain, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    return model, PINNLoss(problem)


def _flat(model):
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))])


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (forced) CPU devices")
def test_sharded_collocation_step_matches_unsharded():
    model, loss = _burgers_like()
    kwargs = dict(key=jax.random.key(1), chunk=5)
    single = fit(model, loss, loss.problem.sampler(), optax.adam(1e-2), 5, **kwargs)
    sharded = fit(model, loss, loss.problem.sampler(), optax.adam(1e-2), 5, mesh=data_mesh(4), **kwargs)
    assert_close(_flat(sharded.model), _flat(single.model), rtol=1e-5, atol=1e-6, what="sharded vs single device")
    assert len(sharded.model.net.layers[0].weight.sharding.device_set) == 4  # replicated on every device


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (forced) CPU devices")
def test_sharded_host_batches_match_unsharded():
    model, loss = _burgers_like()
    points = np.asarray(loss.problem.interior(jax.random.key(2), jnp.asarray(0)))
    batches = lambda step: {"residual": points}  # noqa: E731
    single = fit(model, loss, batches, optax.adam(1e-2), 4, key=jax.random.key(1), chunk=2)
    sharded = fit(model, loss, batches, optax.adam(1e-2), 4, key=jax.random.key(1), chunk=2, mesh=data_mesh(4))
    assert_close(_flat(sharded.model), _flat(single.model), rtol=1e-5, atol=1e-6, what="sharded host batches")


def test_batches_that_do_not_split_evenly_are_rejected():
    with pytest.raises(ConfigError, match="multiple of 4"):
        shard_batch(np.zeros((10, 2)), data_mesh(4))
