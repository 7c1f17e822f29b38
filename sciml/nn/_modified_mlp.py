"""Modified MLP (Wang, Teng & Perdikaris, SIAM J. Sci. Comput. 2021): every hidden layer gated between two encoders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.nn._init import glorot_linear
from sciml.nn._mlp import check_sizes


class ModifiedMLP(eqx.Module):
    """``U = s(W_u x + b_u)``, ``V = s(W_v x + b_v)``; ``h_0 = x``, then for k = 1..depth
    ``z_k = s(W_k h_(k-1) + b_k)``, ``h_k = z_k * U + (1 - z_k) * V``; output ``W_o h_depth + b_o``.

    The two encoders U and V of the input are computed once and every hidden layer mixes them pointwise by its
    activation, which carries the input's information to every depth (the paper's remedy for stiff gradient flow
    in PINNs). s is `activation`.

    Args:
        in_size: input features.
        out_size: output features, or ``"scalar"`` for a 0-d output.
        width: hidden units per layer (and of the encoders).
        depth: gated hidden layers.
        activation: elementwise nonlinearity s (default tanh).
        layer: builds each dense layer as ``layer(in_size, out_size, key=key)``: `glorot_linear` (Glorot-normal
            weights, zero biases) or e.g. ``functools.partial(FactorizedLinear, mean=1.0, std=0.1)`` for random
            weight factorization.
        key: PRNG key (keyword-only).
    """

    encoders: tuple[eqx.Module, eqx.Module]
    layers: tuple[eqx.Module, ...]
    activation: Callable = eqx.field(static=True)
    scalar_output: bool = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int | Literal["scalar"], width: int = 64, depth: int = 4,
                 activation: Callable = jnp.tanh, layer: Callable[..., eqx.Module] = glorot_linear, *,
                 key: jax.Array):
        check_sizes("ModifiedMLP", in_size=in_size, out_size=out_size, width=width, depth=depth)
        sizes = [in_size] + [width] * depth + [1 if out_size == "scalar" else out_size]
        u_key, v_key, *keys = jax.random.split(key, len(sizes) + 1)
        self.encoders = (layer(in_size, width, key=u_key), layer(in_size, width, key=v_key))
        self.layers = tuple(layer(n_in, n_out, key=k) for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:],
                                                                                  strict=True))
        self.activation = activation
        self.scalar_output = out_size == "scalar"

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"] | Float[Array, ""]:
        u, v = (self.activation(encoder(x)) for encoder in self.encoders)
        h = x
        for layer in self.layers[:-1]:
            z = self.activation(layer(h))
            h = z * u + (1 - z) * v
        y = self.layers[-1](h)
        return y[0] if self.scalar_output else y
