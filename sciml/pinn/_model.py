"""The PINN model: input scaling, optional embedding, an MLP, and an optional hard-constraint output transform."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.nn import MLP
from sciml.pde import Box


class HardConstraint(eqx.Module):
    """Output transform ``u(x) = g(x) + d(x) * N(x)`` that satisfies constraints exactly.

    `g` meets the initial/boundary values and `d` vanishes where they are imposed; e.g. for Burgers on
    ``t in [0, 1], x in [-1, 1]`` with u0 = -sin(pi x) and u(+-1) = 0: ``g = -sin(pi x)``, ``d = t (1 - x^2)``.

    Args:
        particular: g, a function of the point ``(d,) -> ()`` or ``(m,)``.
        distance: d, a function of the point that is zero on the constrained set.
    """

    particular: Callable = eqx.field(static=True)
    distance: Callable = eqx.field(static=True)

    def __call__(self, x: Float[Array, " d"], raw):
        return self.particular(x) + self.distance(x) * raw


class PINN(eqx.Module):
    """``u(x) = transform(x, net(embedding(normalise(x))))`` for one point x of `domain`.

    Args:
        domain: the box whose points the model takes; inputs are scaled to [-1, 1] per axis.
        out_size: outputs per point, or ``"scalar"``.
        width, depth: MLP size.
        activation: hidden nonlinearity.
        embedding: optional module mapping the scaled point to features (e.g. `FourierFeatures`); it needs an
            `out_size` attribute.
        transform: optional `HardConstraint`.
        key: PRNG key.
    """

    domain: Box
    net: MLP
    embedding: eqx.Module | None
    transform: HardConstraint | None

    def __init__(
        self,
        domain: Box,
        out_size="scalar",
        width: int = 64,
        depth: int = 4,
        activation: Callable = jnp.tanh,
        embedding: eqx.Module | None = None,
        transform: HardConstraint | None = None,
        *,
        key: jax.Array,
    ):
        in_size = embedding.out_size if embedding is not None else domain.ndim
        self.domain = domain
        self.net = MLP(in_size, out_size, width, depth, activation, key=key)
        self.embedding = embedding
        self.transform = transform

    def __call__(self, x: Float[Array, " d"]):
        features = self.domain.normalise(x)
        if self.embedding is not None:
            features = self.embedding(features)
        raw = self.net(features)
        return raw if self.transform is None else self.transform(x, raw)

    def on_grid(self, points: Float[Array, "n d"], batch_size: int = 65536) -> Array:
        """Evaluate on many points in batches (for prediction grids)."""
        n = points.shape[0]
        pieces = [jax.vmap(self)(points[i : i + batch_size]) for i in range(0, n, batch_size)]
        return jnp.concatenate(pieces)
