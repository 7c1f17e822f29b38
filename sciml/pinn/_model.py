"""The PINN model: input scaling, optional embedding, any network, and an optional hard-constraint output transform."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

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
        net: any module mapping the (embedded) scaled point ``(f,)`` to the output ``()`` or ``(m,)``: an `MLP`,
            a `FactorizedMLP`, or a user's own module.
        embedding: optional module mapping the scaled point ``(d,)`` to features ``(f,)`` (e.g. `FourierFeatures`).
        transform: optional `HardConstraint`.
    """

    domain: Box
    net: eqx.Module
    embedding: eqx.Module | None = None
    transform: HardConstraint | None = None

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
