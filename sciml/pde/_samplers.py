"""On-device collocation samplers.

A sampler is called by `sciml.train.fit` as ``sampler(key, step)``: `key` is the run's sampling key (the same at
every step) and `step` the traced step index, so that points are redrawn every `every` steps from
``fold_in(key, step // every)`` (``every = 1``: fresh points each step) and a resumed run sees the same points.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats.qmc
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.pde._domain import Box
from sciml.train import AbstractSampler


def _check_count(n: int, what: str) -> None:
    if n < 1:
        raise ConfigError(f"{what}: expected a positive number of points, got {n}")


def _draw_key(key: jax.Array, step: jax.Array, every: int) -> jax.Array:
    """The key of the points in use at `step` when they are redrawn every `every` steps."""
    return jax.random.fold_in(key, step // every)


class UniformPoints(AbstractSampler):
    """`n` uniform points in `domain`, redrawn every `every` steps."""

    domain: Box
    n: int = eqx.field(static=True)
    every: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        _check_count(self.n, "UniformPoints")

    def __call__(self, key, step) -> Float[Array, "n d"]:
        return self.domain.uniform(_draw_key(key, step, self.every), self.n)


class LatinHypercube(AbstractSampler):
    """`n` Latin-hypercube points in `domain` (one point per stratum and axis), redrawn every `every` steps."""

    domain: Box
    n: int = eqx.field(static=True)
    every: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        _check_count(self.n, "LatinHypercube")

    def __call__(self, key, step) -> Float[Array, "n d"]:
        key = _draw_key(key, step, self.every)
        perm_key, jitter_key = jax.random.split(key)
        d = self.domain.ndim
        strata = jax.vmap(lambda k: jax.random.permutation(k, self.n))(jax.random.split(perm_key, d)).T
        unit = (strata + jax.random.uniform(jitter_key, (self.n, d))) / self.n
        return self.domain.scale_unit(unit)


class SobolPoints(AbstractSampler):
    """A scrambled Sobol set of `n` points, randomly shifted (mod 1) every `every` steps.

    The shift keeps the low-discrepancy structure while moving the points (Cranley-Patterson rotation).
    """

    domain: Box
    unit_points: Float[Array, "n d"]
    every: int = eqx.field(static=True, default=1)

    def __init__(self, domain: Box, n: int, every: int = 1, *, seed: int = 0):
        _check_count(n, "SobolPoints")
        self.domain = domain
        engine = scipy.stats.qmc.Sobol(domain.ndim, scramble=True, seed=seed)
        self.unit_points = jnp.asarray(engine.random(n), dtype=jnp.float32)
        self.every = every

    def __call__(self, key, step) -> Float[Array, "n d"]:
        shift = jax.random.uniform(_draw_key(key, step, self.every), (self.domain.ndim,))
        unit = jnp.mod(jax.lax.stop_gradient(self.unit_points) + shift[None, :], 1.0)
        return self.domain.scale_unit(unit)


class FacePoints(AbstractSampler):
    """Points on the face ``coordinate == value`` of a box, drawn by `inner` on the remaining coordinates.

    E.g. the initial line of a space-time box: ``FacePoints(UniformPoints(space, 256), axis=0, value=t0)``.
    """

    inner: AbstractSampler
    axis: int = eqx.field(static=True)
    value: float = eqx.field(static=True)

    def __call__(self, key, step) -> Float[Array, "n d"]:
        points = self.inner(key, step)
        fixed = jnp.full((points.shape[0], 1), self.value, points.dtype)
        return jnp.concatenate([points[:, : self.axis], fixed, points[:, self.axis :]], axis=1)


def box_faces(domain: Box, n: int, axes: tuple[int, ...], every: int = 1) -> dict[str, FacePoints]:
    """Samplers of `n` uniform points on both faces ``x_a = lower_a`` and ``x_a = upper_a`` for each axis a in `axes`,
    named ``"<name>_lower"`` and ``"<name>_upper"`` by the axis's name."""
    faces = {}
    for axis in axes:
        keep = [i for i in range(domain.ndim) if i != axis]
        rest = Box([domain.lower[i] for i in keep], [domain.upper[i] for i in keep], [domain.names[i] for i in keep])
        for side, value in (("lower", domain.lower[axis]), ("upper", domain.upper[axis])):
            faces[f"{domain.names[axis]}_{side}"] = FacePoints(UniformPoints(rest, n, every), axis, value)
    return faces


class FixedPoints(AbstractSampler):
    """The same points at every step (e.g. a fixed collocation set or observation sites)."""

    points: Float[Array, "n d"]

    def __check_init__(self):
        if not np.all(np.isfinite(np.asarray(self.points))):
            raise ConfigError("FixedPoints: points contain NaN or Inf; remove them before training")

    def __call__(self, key, step) -> Float[Array, "n d"]:
        return self.points


class PointSets(AbstractSampler):
    """Several named samplers drawn together: ``{name: sampler(fold_in(key, i), step)}``."""

    samplers: dict[str, AbstractSampler]

    def __call__(self, key, step) -> dict[str, Float[Array, "n d"]]:
        return {
            name: sampler(jax.random.fold_in(key, i), step)
            for i, (name, sampler) in enumerate(sorted(self.samplers.items()))
        }
