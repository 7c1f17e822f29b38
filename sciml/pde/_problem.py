"""A physics-informed problem: domain, residual, interior sampler and named constraints."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.pde._constraints import AbstractConstraint
from sciml.pde._derivatives import Field, pointwise_residual
from sciml.pde._domain import Box
from sciml.pde._samplers import PointSets
from sciml.train import AbstractSampler


class Problem(eqx.Module):
    """The pieces of a physics-informed loss.

    Args:
        domain: the box whose coordinate names the residual uses.
        residual: ``residual(u: Field) -> scalar or (k,)``, e.g. ``lambda u: u.t + u.value * u.x - nu * u.xx``.
        interior: sampler of collocation points for the residual.
        constraints: named soft constraints (initial, boundary, data); each has its own sampler.

    `terms(model, batch)` returns ``{"residual": mean square residual, name: constraint loss, ...}``.
    """

    domain: Box
    residual: Callable = eqx.field(static=True)
    interior: AbstractSampler
    constraints: dict[str, AbstractConstraint]

    def __check_init__(self):
        if "residual" in self.constraints:
            raise ConfigError("a constraint may not be called 'residual'; that name is the PDE residual term")

    def sampler(self) -> PointSets:
        """All point sets of the problem, drawn together by the training engine."""
        return PointSets({"residual": self.interior, **{k: c.sampler for k, c in self.constraints.items()}})

    def pointwise_residual(self, model, points: Float[Array, "n d"]) -> Float[Array, "n ..."]:
        """The residual at each point, shape-checked; a trial trace plans which derivatives to compute together."""
        requested: set = set()

        def trial(p):
            field = Field(model, p, self.domain.names)
            out = self.residual(field)
            requested.update(field.requested)
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
        return pointwise_residual(self.residual, model, points, self.domain.names, plan)

    def terms(self, model, batch: dict[str, Array]) -> dict[str, Array]:
        """Mean-square residual and constraint losses on a batch from `sampler()`."""
        terms = {"residual": jnp.mean(jnp.square(self.pointwise_residual(model, batch["residual"])))}
        for name, constraint in self.constraints.items():
            terms[name] = constraint.loss(model, batch[name])
        return terms
