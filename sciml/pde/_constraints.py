"""Soft constraints: initial, Dirichlet, Neumann, Robin, periodic, derivative and data terms, each with its own point
sampler."""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from sciml._errors import DataError
from sciml.pde._derivatives import derivative
from sciml.pde._geometry import AbstractGeometry
from sciml.pde._samplers import FixedPoints
from sciml.train import AbstractSampler


def _mean_square(residual: Array) -> Array:
    return jnp.mean(jnp.square(residual))


class AbstractConstraint(eqx.Module):
    """A loss term evaluated on the points drawn by `sampler`: ``constraint.loss(u, points) -> scalar``."""

    sampler: eqx.AbstractVar[AbstractSampler]

    @abc.abstractmethod
    def loss(self, u: Callable, points: Float[Array, "n d"]) -> Array:
        raise NotImplementedError


class InitialCondition(AbstractConstraint):
    """``u(t0, x) = value(x)`` on points of the initial face; `value` takes the full point (t0, x...)."""

    sampler: AbstractSampler
    value: Callable = eqx.field(static=True)

    def loss(self, u, points):
        return _mean_square(jax.vmap(u)(points) - jax.vmap(self.value)(points))


class Dirichlet(AbstractConstraint):
    """``u = value`` on boundary points."""

    sampler: AbstractSampler
    value: Callable = eqx.field(static=True)

    def loss(self, u, points):
        return _mean_square(jax.vmap(u)(points) - jax.vmap(self.value)(points))


class Periodic(AbstractConstraint):
    """``u(.., lower, ..) = u(.., upper, ..)`` along `axis` (and the first `derivatives` derivatives too).

    The sampler's points are moved onto both ends of the axis.
    """

    sampler: AbstractSampler
    axis: int = eqx.field(static=True)
    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)
    derivatives: int = eqx.field(static=True, default=0)

    def loss(self, u, points):
        from sciml.pde._derivatives import derivative

        low = points.at[:, self.axis].set(self.lower)
        high = points.at[:, self.axis].set(self.upper)
        total = 0.0
        for order in range(self.derivatives + 1):
            axes = (self.axis,) * order
            f = jax.vmap(lambda p, axes=axes: derivative(u, p, axes))
            total = total + _mean_square(f(low) - f(high))
        return total


class DataConstraint(AbstractConstraint):
    """``u(points_i) = values_i`` for observed data (fixed points, e.g. sensors at arbitrary places and times).

    The loss is the mean square misfit, or with `weights` ``(n,)`` (e.g. ``1 / sigma_i^2`` of noisy sensors, or a
    bootstrap's counts) the weighted mean ``sum_i w_i |u_i - values_i|^2 / sum_i w_i``.
    """

    sampler: FixedPoints
    values: Float[Array, "n ..."]
    weights: Float[Array, " n"] | None

    def __init__(self, points: Float[ArrayLike, "n d"], values: Float[ArrayLike, "m ..."],  # m = n, checked below
                 weights: Float[ArrayLike, " k"] | None = None):  # k = n, checked below
        points, values = np.asarray(points), np.asarray(values)
        if points.ndim != 2 or values.shape[0] != points.shape[0]:
            raise DataError(
                f"DataConstraint: expected points (n, d) and values (n, ...), got {points.shape} and {values.shape}"
            )
        bad = ~np.isfinite(values).reshape(len(values), -1).all(axis=1)
        if bad.any():
            raise DataError(
                f"DataConstraint: {int(bad.sum())} observations are NaN/Inf (first at point {points[np.argmax(bad)]}); "
                "expected finite values. Drop those rows before building the constraint."
            )
        if weights is not None:
            weights = np.asarray(weights)
            if weights.shape != (len(points),) or not np.all(np.isfinite(weights)) or (weights < 0).any() \
                    or not weights.sum() > 0:
                raise DataError(f"DataConstraint: expected weights (n,) = ({len(points)},), finite, >= 0 and not all "
                                f"zero; got shape {weights.shape}")
            weights = jnp.asarray(weights, jnp.float32)
        self.sampler = FixedPoints(jnp.asarray(points))
        self.values = jnp.asarray(values)
        self.weights = weights

    def loss(self, u, points):
        if self.weights is None:
            return _mean_square(jax.vmap(u)(points) - self.values)
        squared = jnp.square(jax.vmap(u)(points) - self.values).reshape(points.shape[0], -1).mean(axis=1)
        return jnp.sum(self.weights * squared) / jnp.sum(self.weights)


def _normal_derivative(u: Callable, geometry, points: Float[Array, "n d"]) -> Array:
    """``du/dn`` at each point: one forward pass of u along the geometry's outward unit normal there."""
    return jax.vmap(lambda p: jax.jvp(u, (p,), (geometry.normal(p),))[1])(points)


class Neumann(AbstractConstraint):
    """``du/dn = value`` on boundary points, n the outward unit normal of `geometry` (the whole domain's: on a hole
    it points into the hole) at each point; `sampler` draws points of the part of the boundary it applies to (e.g.
    ``BoundaryPoints(hole, 256)``)."""

    sampler: AbstractSampler
    geometry: AbstractGeometry
    value: Callable = eqx.field(static=True)

    def loss(self, u, points):
        return _mean_square(_normal_derivative(u, self.geometry, points) - jax.vmap(self.value)(points))


class Robin(AbstractConstraint):
    """``a u + b du/dn = value`` on boundary points, n the outward unit normal of `geometry` (see `Neumann`)."""

    sampler: AbstractSampler
    geometry: AbstractGeometry
    value: Callable = eqx.field(static=True)
    a: float = eqx.field(static=True, default=1.0)
    b: float = eqx.field(static=True, default=1.0)

    def loss(self, u, points):
        flux = _normal_derivative(u, self.geometry, points)
        return _mean_square(self.a * jax.vmap(u)(points) + self.b * flux - jax.vmap(self.value)(points))


class DerivativeCondition(AbstractConstraint):
    """``d u / d x_axis = value`` on the sampler's points (e.g. the initial velocity u_t(0, x) of a wave equation)."""

    sampler: AbstractSampler
    axis: int = eqx.field(static=True)
    value: Callable = eqx.field(static=True)

    def loss(self, u: Callable, points: Float[Array, "n d"]) -> Array:
        rate = jax.vmap(lambda p: derivative(u, p, (self.axis,)))(points)
        return _mean_square(rate - jax.vmap(self.value)(points))
