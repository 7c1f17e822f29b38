"""`sciml._random`: the flat draws equal JAX's own draws bit for bit, for every rank, dtype and bounds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import _random as random


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
    finally:
        jax.config.update("jax_threefry_partitionable", previous)
