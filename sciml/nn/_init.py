"""Equinox layers with their initial values drawn flat, so that building a network compiles fast.

`eqx.nn.Linear`, `Conv` and `ConvTranspose` draw their weights with `jax.random.uniform` at the weight's shape, and
XLA:CPU compiles the threefry generator slowly for ranks >= 3 (`sciml._random`), once per shape: seconds per conv
layer at every model construction. `build_layer` builds the equinox layer abstractly (`eqx.filter_eval_shape`:
nothing is drawn) and fills it with values drawn flat, bit-identical to equinox's own (tested), so models,
checkpoints and results are unchanged; only construction is faster.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from sciml import _random


def build_layer(layer_type: type[eqx.Module], *args, key: jax.Array, **kwargs) -> eqx.Module:
    """``layer_type(*args, key=key, **kwargs)`` (an `eqx.nn.Linear`, `Conv` or `ConvTranspose` of any dimension)
    with equinox's default initialisation, uniform on +-1/sqrt(fan_in), drawn flat."""
    shaped = eqx.filter_eval_shape(layer_type, *args, key=key, **kwargs)
    weight_key, bias_key = jax.random.split(key)
    limit = 1.0 / math.sqrt(math.prod(shaped.weight.shape[1:]))

    def draw(k, like):
        return _random.uniform(k, like.shape, like.dtype, -limit, limit)

    built = eqx.tree_at(lambda m: m.weight, shaped, draw(weight_key, shaped.weight))
    if shaped.bias is not None:
        built = eqx.tree_at(lambda m: m.bias, built, draw(bias_key, shaped.bias))
    return built


def glorot_linear(in_size: int, out_size: int, *, key: jax.Array) -> eqx.nn.Linear:
    """An `eqx.nn.Linear` with Glorot-normal weights (`jax.nn.initializers.glorot_normal`, drawn flat with the same
    values) and zero biases, the initialisation of `sciml.nn.MLP`."""
    shaped = eqx.filter_eval_shape(eqx.nn.Linear, in_size, out_size, key=key)
    return eqx.tree_at(lambda m: (m.weight, m.bias), shaped,
                       (glorot_normal(key, shaped.weight.shape, shaped.weight.dtype),
                        jnp.zeros(shaped.bias.shape, shaped.bias.dtype)))


def glorot_normal(key: jax.Array, shape: tuple[int, int], dtype=None) -> jax.Array:
    """`jax.nn.initializers.glorot_normal()(key, shape, dtype)` for a matrix, drawn flat: a normal truncated to
    +-2 standard deviations with variance 2 / (fan_in + fan_out)."""
    dtype = jnp.zeros((), dtype).dtype
    stddev = jnp.sqrt(jnp.array(2.0 / sum(shape), dtype)) / jnp.array(0.87962566103423978, dtype)
    return _random.truncated_normal(key, -2, 2, shape, dtype) * stddev
