"""The physics-informed loss: a weighted sum of the problem's terms, the weights refreshed by a balancing strategy."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from sciml._errors import ConfigError
from sciml.pde import Problem, split_coefficients
from sciml.pinn._balancing import AbstractBalancing, FixedWeights
from sciml.train import AbstractAdaptiveLoss

_FIXED_WEIGHTS = FixedWeights()  # the default balancing (immutable, so one shared instance)


def initial_weights(problem: Problem, weights: dict[str, float] | None, owner: str) -> dict[str, jax.Array]:
    """One float32 weight per term of `problem` (residual first; missing terms weigh 1); unknown names are refused."""
    names = ["residual", *problem.constraints]
    weights = dict(weights or {})
    unknown = set(weights) - set(names)
    if unknown:
        raise ConfigError(f"{owner}: weights for unknown terms {sorted(unknown)}; the terms are {names}")
    return {name: jnp.asarray(weights.get(name, 1.0), jnp.float32) for name in names}


def coefficient_metrics(model, terms: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """``{name: value}`` of a `WithCoefficients` model's coefficients, logged beside the loss terms (so
    ``metrics.jsonl`` holds their trajectory); empty for any other model. Names that clash with a term are refused."""
    values = split_coefficients(model)[1]
    clash = set(values) & {"loss", *terms, *(f"w_{name}" for name in terms)}
    if clash:
        raise ConfigError(f"coefficients {sorted(clash)} share their names with loss terms {sorted(terms)}; rename "
                          "the coefficients")
    return values


class PINNLoss(AbstractAdaptiveLoss):
    """``sum_k w_k L_k`` over the terms of `problem` (residual and constraints).

    Args:
        problem: the physics-informed problem.
        weights: initial weight per term (missing terms weigh 1).
        balancing: the strategy refreshing the weights every `update_every` steps (`FixedWeights`,
            `GradNormBalancing`, `NTKBalancing`).
        update_every: steps between weight updates.

    Returns (from a call): ``(total, {"residual": ..., name: ..., "w_name": ...})``, and the value of each
    coefficient of a `WithCoefficients` model by its name.
    """

    problem: Problem
    weights: dict[str, jax.Array]
    balancing: AbstractBalancing
    update_every: int = eqx.field(static=True)

    def __init__(self, problem: Problem, weights: dict[str, float] | None = None,
                 balancing: AbstractBalancing = _FIXED_WEIGHTS, update_every: int = 1000):
        if not isinstance(balancing, AbstractBalancing):
            raise ConfigError(f"PINNLoss: balancing must be a strategy such as FixedWeights(), got {balancing!r}")
        self.problem = problem
        self.weights = initial_weights(problem, weights, "PINNLoss")
        self.balancing = balancing
        self.update_every = update_every

    def term_values(self, model, batch) -> dict[str, jax.Array]:
        """The unweighted terms ``{term: L_k}``."""
        return self.problem.terms(model, batch)

    def pointwise_terms(self, batch) -> dict:
        """``{term: (f(model, point), points)}``: the residual, and the model's output at each constraint's points."""
        terms = {"residual": (lambda m, p: self.problem.pointwise_residual(m, p[None])[0], batch["residual"])}
        return {**terms, **{name: (lambda m, p: m(p), batch[name]) for name in self.problem.constraints}}

    def __call__(self, model, batch, key):
        terms = self.term_values(model, batch)
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, {**terms, **{f"w_{name}": w for name, w in self.weights.items()},
                       **coefficient_metrics(model, terms)}

    def update(self, model, batch, key):
        weights = self.balancing(self, model, batch)
        return self if weights is self.weights else eqx.tree_at(lambda loss: loss.weights, self, weights)
