"""A physics-informed problem: domain, residual, interior sampler and named constraints."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import equinox as eqx
import jax
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.pde._blocked import auto_block_points, blocked_mean_square
from sciml.pde._coefficients import split_coefficients
from sciml.pde._constraints import AbstractConstraint
from sciml.pde._derivatives import Field, pointwise_residual
from sciml.pde._domain import Box
from sciml.pde._samplers import PointSets
from sciml.train import AbstractSampler


class Problem(eqx.Module):
    """The pieces of a physics-informed loss.

    Args:
        domain: the box whose coordinate names the residual uses.
        residual: ``residual(u: Field) -> scalar or (k,)``, e.g. ``lambda u: u.t + u.value * u.x - nu * u.xx``;
            or, for an inverse problem, ``residual(u, p)`` with ``p = {name: value}`` the unknown coefficients of a
            trained `WithCoefficients` model, e.g. ``lambda u, p: u.t - p["kappa"] * u.xx``.
        interior: sampler of collocation points for the residual.
        constraints: named soft constraints (initial, boundary, data); each has its own sampler.
        block_points: collocation points per block of the residual's mean square (`blocked_mean_square`: value and
            gradient accumulated block by block, so each block's derivative streams stay in cache); None chooses
            from the model's size on a CPU and takes all points at once on an accelerator; 0 takes all points at
            once (needed to differentiate the loss in forward mode, e.g. `jax.hessian`).

    `terms(model, batch)` returns ``{"residual": mean square residual, name: constraint loss, ...}``.
    """

    domain: Box
    residual: Callable = eqx.field(static=True)
    interior: AbstractSampler
    constraints: dict[str, AbstractConstraint]
    block_points: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        if "residual" in self.constraints:
            raise ConfigError("a constraint may not be called 'residual'; that name is the PDE residual term")
        if self.block_points is not None and (not isinstance(self.block_points, int) or self.block_points < 0):
            raise ConfigError(f"block_points must be None (automatic), 0 (no blocks) or a positive number of "
                              f"points, got {self.block_points!r}")

    def sampler(self) -> PointSets:
        """All point sets of the problem, drawn together by the training engine."""
        return PointSets({"residual": self.interior, **{k: c.sampler for k, c in self.constraints.items()}})

    def pointwise_residual(self, model, points: Float[Array, "n d"]) -> Float[Array, "n ..."]:
        """The residual at each point, shape-checked; a trial trace plans which derivatives to compute together.

        A `WithCoefficients` model gives its field's derivatives and, to a residual ``(u, p)``, its coefficients.
        """
        field, coefficients = split_coefficients(model)
        if _reads_coefficients(self.residual):
            if not coefficients:
                raise ConfigError(
                    "the residual takes (u, p), the field and the unknown coefficients, but the model carries no "
                    "coefficients; train WithCoefficients(model, {'name': Coefficient(initial)}) instead"
                )

            def residual(u):
                return self.residual(u, coefficients)
        else:
            residual = self.residual
        requested: set = set()

        def trial(p):
            u = Field(field, p, self.domain.names)
            out = residual(u)
            requested.update(u.requested)
            return out

        single = jax.eval_shape(trial, points[0])
        if single.shape not in ((), (1,)) and len(single.shape) != 1:
            raise ConfigError(
                f"the residual must return a scalar or a vector per point, got shape {single.shape}; reduce it "
                "(e.g. return jnp.stack([...]) for a system)"
            )
        if points.shape[-1] != self.domain.ndim:
            raise ConfigError(
                f"points have {points.shape[-1]} coordinates, the domain {self.domain.names} has {self.domain.ndim}"
            )
        plan = tuple(requested)
        return pointwise_residual(residual, field, points, self.domain.names, plan)

    def residual_mean_square(self, model, points: Float[Array, "n d"]) -> Float[Array, ""]:
        """The mean square of the residual over the points (and its outputs), in blocks of `block_points`."""
        block = self.block_points
        if block is None:
            block = auto_block_points(lambda p: self.pointwise_residual(model, p), points)
        return blocked_mean_square(self.pointwise_residual, model, points, block)

    def terms(self, model, batch: dict[str, Array]) -> dict[str, Array]:
        """Mean-square residual and constraint losses on a batch from `sampler()`."""
        terms = {"residual": self.residual_mean_square(model, batch["residual"])}
        for name, constraint in self.constraints.items():
            terms[name] = constraint.loss(model, batch[name])
        return terms


def _reads_coefficients(residual: Callable) -> bool:
    """Whether `residual` takes the coefficients: two required positional arguments ``(u, p)``."""
    try:
        parameters = inspect.signature(residual).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: a field-only residual
        return False
    positional = [q for q in parameters
                  if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD) and q.default is q.empty]
    return len(positional) == 2
