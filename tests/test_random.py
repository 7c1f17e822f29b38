"""`sciml._random` and `sciml.nn._init`: the flat draws equal JAX's and equinox's own draws bit for bit."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import _random as random
from sciml.nn._init import build_layer, glorot_linear


# One rank-4 case under the default generator: JAX compiles that draw slowly (what `_random` avoids).
@pytest.mark.parametrize(("shape", "partitionable"), [((), True), ((4, 6), True), ((2, 3, 4, 5), True),
                                                     ((3, 5, 7), False)])
def test_flat_draws_equal_jax_draws(shape, partitionable):
    previous = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", partitionable)
    try:
        key = jax.random.key(3)
        np.testing.assert_array_equal(random.normal(key, shape), jax.random.normal(key, shape))
        np.testing.assert_array_equal(random.uniform(key, shape, jnp.float32, -2.0, 3.0),
                                      jax.random.uniform(key, shape, jnp.float32, -2.0, 3.0))
        np.testing.assert_array_equal(random.truncated_normal(key, -2, 2, shape),
                                      jax.random.truncated_normal(key, -2, 2, shape))
    finally:
        jax.config.update("jax_threefry_partitionable", previous)


@pytest.mark.parametrize(("layer_type", "args", "kwargs"), [
    (eqx.nn.Linear, (5, 3), {}),
    (eqx.nn.Linear, ("scalar", 4), {"use_bias": False}),
    (eqx.nn.Conv, (1, 3, 4, 5), {"padding": "SAME"}),
    (eqx.nn.Conv, (2, 4, 6, 3), {"groups": 2, "use_bias": False}),
    (eqx.nn.ConvTranspose, (2, 3, 2, 2), {"stride": 2}),
])
def test_layers_built_flat_equal_equinox_layers(layer_type, args, kwargs):
    key = jax.random.key(7)
    built, reference = build_layer(layer_type, *args, key=key, **kwargs), layer_type(*args, key=key, **kwargs)
    assert eqx.tree_equal(eqx.filter(built, eqx.is_array, inverse=True),
                          eqx.filter(reference, eqx.is_array, inverse=True))
    for ours, theirs in zip(jax.tree.leaves(built), jax.tree.leaves(reference), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_glorot_linear_equals_jax_glorot_normal():
    key = jax.random.key(1)
    layer = glorot_linear(7, 5, key=key)
    np.testing.assert_array_equal(layer.weight, jax.nn.initializers.glorot_normal()(key, (5, 7)))
    np.testing.assert_array_equal(layer.bias, np.zeros(5))
