"""Multilayer perceptron with a choice of activation and a scalar or vector output."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.nn._init import glorot_linear


def check_sizes(owner: str, **sizes) -> None:
    """Raise a `ConfigError` naming the first of `sizes` (name -> int, ``"scalar"`` allowed) that is not >= 1."""
    for name, size in sizes.items():
        if size != "scalar" and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
            hint = f" (for an experiment: --set {name}=N)" if name in ("width", "depth") else ""
            raise ConfigError(f"{owner}: expected {name} to be a positive integer, got {name}={size!r}; choose "
                              f"{name} >= 1{hint}")


class MLP(eqx.Module):
    """A fully connected network `in_size -> width x depth -> out_size` (Glorot-normal weights, zero biases).

    Args:
        in_size: input features.
        out_size: output features, or ``"scalar"`` for a 0-d output.
        width: hidden units per layer.
        depth: number of hidden layers.
        activation: elementwise nonlinearity (default tanh, the PINN standard).
        key: PRNG key (keyword-only).
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable = eqx.field(static=True)
    scalar_output: bool = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | Literal["scalar"],
        width: int = 64,
        depth: int = 4,
        activation: Callable = jnp.tanh,
        *,
        key: jax.Array,
    ):
        check_sizes("MLP", in_size=in_size, out_size=out_size, width=width, depth=depth)
        sizes = [in_size] + [width] * depth + [1 if out_size == "scalar" else out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(glorot_linear(n_in, n_out, key=k)
                            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True))
        self.activation = activation
        self.scalar_output = out_size == "scalar"

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"] | Float[Array, ""]:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        y = self.layers[-1](x)
        return y[0] if self.scalar_output else y
