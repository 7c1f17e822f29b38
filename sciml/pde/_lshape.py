"""The L-shape ``[-1, 1]^2`` minus ``(0, 1]^2``: interior and boundary samplers and a distance function for hard
boundary conditions."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.train import AbstractSampler


def lshape_distance(p: Float[Array, " 2"]) -> Float[Array, ""]:
    """A smooth function that vanishes on the L-shape's boundary and is positive inside.

    ``(1 - x^2)(1 - y^2)`` for the outer square times the R-function disjunction ``r - x - y`` (r = |p|) of the
    half-planes x < 0 and y < 0, which vanishes on the two re-entrant segments and is smooth away from the corner.
    """
    x, y = p[0], p[1]
    radius = jnp.sqrt(x * x + y * y + 1e-12)
    return (1 - x * x) * (1 - y * y) * (radius - x - y)


class LShapePoints(AbstractSampler):
    """`n` uniform points ``(n, 2)`` of the L-shape (three unit quadrants), redrawn every step."""

    n: int = eqx.field(static=True)

    def __call__(self, key: jax.Array, step) -> Float[Array, "n 2"]:
        key = jax.random.fold_in(key, step)
        quadrant_key, point_key = jax.random.split(key)
        corners = jnp.asarray([[-1.0, -1.0], [-1.0, 0.0], [0.0, -1.0]])
        quadrant = jax.random.randint(quadrant_key, (self.n,), 0, 3)
        return corners[quadrant] + jax.random.uniform(point_key, (self.n, 2))


class LShapeBoundary(AbstractSampler):
    """`n` uniform points ``(n, 2)`` on the L-shape's boundary (six segments of total length 8), redrawn every step."""

    n: int = eqx.field(static=True)

    def __call__(self, key: jax.Array, step) -> Float[Array, "n 2"]:
        s = 8.0 * jax.random.uniform(jax.random.fold_in(key, step), (self.n,))
        starts = jnp.asarray([[-1.0, -1.0], [1.0, -1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
        directions = jnp.asarray([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -2.0]])
        edges = jnp.asarray([0.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        lengths = jnp.asarray([2.0, 1.0, 1.0, 1.0, 1.0, 2.0])
        index = jnp.clip(jnp.searchsorted(edges, s, side="right") - 1, 0, 5)
        fraction = (s - edges[index]) / lengths[index]
        return starts[index] + fraction[:, None] * directions[index]
