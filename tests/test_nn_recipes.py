"""Periodic embedding and random weight factorization."""

import jax
import jax.numpy as jnp
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.nn import MLP, FactorizedLinear, FactorizedMLP, PeriodicEmbedding
from sciml.pde import derivative, interval, time_space
from sciml.pinn import PINN


def test_periodic_embedding_makes_the_pinn_periodic(key):
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0))
    embedding = PeriodicEmbedding(2, axes=(1,), harmonics=2)
    assert embedding.out_size == 5
    model = PINN(domain, MLP(embedding.out_size, "scalar", 16, 2, key=key), embedding=embedding)
    left, right = jnp.asarray([0.3, -1.0]), jnp.asarray([0.3, 1.0])
    assert_close(model(left), model(right), rtol=1e-5, what="u(t, -1) = u(t, 1)")
    assert_close(derivative(model, left, (1,)), derivative(model, right, (1,)), rtol=1e-4, atol=1e-6, what="u_x")


def test_factorized_layer_starts_as_its_glorot_weight(key):
    layer = FactorizedLinear(3, 4, key=key)
    weight = jnp.exp(layer.log_scale)[:, None] * layer.direction
    x = jnp.asarray([0.5, -1.0, 2.0])
    assert_close(layer(x), weight @ x, rtol=1e-6, what="exp(s) V x")
    expected = jax.nn.initializers.glorot_normal()(jax.random.split(key)[0], (4, 3))
    assert_close(weight, expected, rtol=1e-5, what="W = exp(s) V")
    net = FactorizedMLP(2, "scalar", 8, 2, key=key)
    assert net(jnp.zeros(2)).shape == () and MLP(2, "scalar", 8, 2, key=key)(jnp.zeros(2)).shape == ()


def test_periodic_embedding_bad_axes():
    with pytest.raises(ConfigError, match="axes"):
        PeriodicEmbedding(2, axes=(2,))
    with pytest.raises(ConfigError, match="period"):
        PeriodicEmbedding(2, axes=(1,), periods=(0.0,))
