"""Random weight factorization (RWF): each weight matrix as a trained per-neuron scale times a direction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.nn._mlp import check_sizes


class FactorizedLinear(eqx.Module):
    """``y = (exp(s)[:, None] * V) x + b``: the weight split into per-output scales exp(s) and a direction V.

    Initialised from a Glorot-normal W with ``s ~ N(mean, std)`` and ``V = W / exp(s)``, so the layer starts as the
    plain layer while gradient steps act on scale and direction separately (Wang et al., 2022).
    """

    log_scale: Float[Array, " out"]
    direction: Float[Array, "out in"]
    bias: Float[Array, " out"]

    def __init__(self, in_size: int, out_size: int, mean: float = 1.0, std: float = 0.1, *, key: jax.Array):
        weight_key, scale_key = jax.random.split(key)
        weight = jax.nn.initializers.glorot_normal()(weight_key, (out_size, in_size))
        self.log_scale = mean + std * jax.random.normal(scale_key, (out_size,))
        self.direction = weight / jnp.exp(self.log_scale)[:, None]
        self.bias = jnp.zeros((out_size,))

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        return (jnp.exp(self.log_scale)[:, None] * self.direction) @ x + self.bias


class FactorizedMLP(eqx.Module):
    """An MLP whose layers are `FactorizedLinear`; a drop-in replacement for `sciml.nn.MLP` (e.g. as a PINN's net).

    Args:
        in_size, out_size (or ``"scalar"``), width, depth, activation: as for `MLP`.
        mean, std: distribution of the initial log-scales s.
        key: PRNG key.
    """

    layers: tuple[FactorizedLinear, ...]
    activation: Callable = eqx.field(static=True)
    scalar_output: bool = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int | Literal["scalar"], width: int = 64, depth: int = 4,
                 activation: Callable = jnp.tanh, mean: float = 1.0, std: float = 0.1, *, key: jax.Array):
        check_sizes("FactorizedMLP", in_size=in_size, out_size=out_size, width=width, depth=depth)
        sizes = [in_size] + [width] * depth + [1 if out_size == "scalar" else out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(FactorizedLinear(a, b, mean, std, key=k)
                            for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True))
        self.activation = activation
        self.scalar_output = out_size == "scalar"

    def __call__(self, x: Float[Array, " in_size"]):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        y = self.layers[-1](x)
        return y[0] if self.scalar_output else y
