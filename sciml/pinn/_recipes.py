"""Training recipes for physics-informed models, carried by the engine as adaptive-loss state.

`RecipeLoss` combines, for any `Problem` and model:

- causal weighting (Wang, Sankaran & Perdikaris, 2024): the residual is binned in time and bin i weighs
  ``exp(-tol sum_{j<i} L_j)`` (no gradient through the weights), so later times train once earlier ones are fitted;
- loss balancing by a strategy object (`FixedWeights`, `GradNormBalancing`: every term pulls the parameters equally
  hard, `NTKBalancing`: weights from the traces of each term's neural tangent kernel), refreshed every `update_every`
  steps;
- residual-based adaptive resampling (RAD, Wu et al., 2023): every `update_every` steps a pool of candidates is
  drawn and `n_points` of them are kept with probability ``|r|^k / mean|r|^k + c``; they join the residual batch.

The engine refreshes the weights and point set inside the compiled scan (`AbstractAdaptiveLoss`).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.pde import Problem
from sciml.pinn._balancing import AbstractBalancing, FixedWeights
from sciml.pinn._loss import coefficient_metrics, initial_weights
from sciml.train import AbstractAdaptiveLoss

_FIXED_WEIGHTS = FixedWeights()  # the default balancing (immutable, so one shared instance)


class CausalWeighting(eqx.Module):
    """Causal weights over `chunks` equal time bins of ``[t0, t1]`` along coordinate `time_axis`.

    `loss(points, squared)` bins the per-point squared residuals, and returns ``(mean_i w_i L_i, w)`` with
    ``w_i = exp(-tolerance * sum_{j<i} L_j)`` held constant in the gradient.
    """

    t0: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)
    chunks: int = eqx.field(static=True, default=32)
    tolerance: float = eqx.field(static=True, default=1.0)
    time_axis: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        if not self.t0 < self.t1 or self.chunks < 1 or self.tolerance < 0:
            raise ConfigError(
                f"CausalWeighting: expected t0 < t1, chunks >= 1, tolerance >= 0; got t0={self.t0}, t1={self.t1}, "
                f"chunks={self.chunks}, tolerance={self.tolerance}"
            )

    def loss(self, points: Float[Array, "n d"], squared: Float[Array, " n"]) -> tuple[Array, Float[Array, " c"]]:
        fraction = (points[:, self.time_axis] - self.t0) / (self.t1 - self.t0)
        index = jnp.clip(jnp.floor(fraction * self.chunks).astype(jnp.int32), 0, self.chunks - 1)
        sums = jax.ops.segment_sum(squared, index, self.chunks)
        counts = jax.ops.segment_sum(jnp.ones_like(squared), index, self.chunks)
        per_chunk = sums / jnp.maximum(counts, 1.0)
        weights = jax.lax.stop_gradient(jnp.exp(-self.tolerance * (jnp.cumsum(per_chunk) - per_chunk)))
        return jnp.mean(weights * per_chunk), weights


class ResidualAdaptiveResampling(eqx.Module):
    """RAD settings: keep `n_points` of `n_candidates` uniform candidates, drawn with ``p ~ |r|^k / mean|r|^k + c``."""

    n_points: int = eqx.field(static=True)
    n_candidates: int = eqx.field(static=True)
    exponent: float = eqx.field(static=True, default=1.0)
    offset: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if not 1 <= self.n_points <= self.n_candidates:
            raise ConfigError(
                f"ResidualAdaptiveResampling: expected 1 <= n_points <= n_candidates, got {self.n_points}, "
                f"{self.n_candidates}"
            )


def _squared(residual: Array) -> Float[Array, " n"]:
    return residual**2 if residual.ndim == 1 else jnp.sum(residual**2, axis=tuple(range(1, residual.ndim)))


class RecipeLoss(AbstractAdaptiveLoss):
    """``sum_k w_k L_k`` over the problem's residual and constraints, with the recipes in the module docstring.

    Args:
        problem: the physics-informed problem.
        weights: initial weight per term (missing ones weigh 1).
        balancing: the weights' strategy (`FixedWeights`, `GradNormBalancing`, `NTKBalancing`).
        causal: optional `CausalWeighting` of the residual term.
        resampling: optional `ResidualAdaptiveResampling`; its points join `batch["residual"]`.
        update_every: steps between refreshes of the weights and the adaptive points.
        key: PRNG key of the initial adaptive points (uniform).

    Returns (from a call): ``(total, {term: L_k, "w_term": w_k, ["causal_min_weight"]})`` and the coefficients of a
    `WithCoefficients` model by name.
    """

    problem: Problem
    weights: dict[str, Array]
    adaptive_points: Array | None
    balancing: AbstractBalancing
    causal: CausalWeighting | None
    resampling: ResidualAdaptiveResampling | None
    update_every: int = eqx.field(static=True)

    def __init__(
        self,
        problem: Problem,
        weights: dict[str, float] | None = None,
        balancing: AbstractBalancing = _FIXED_WEIGHTS,
        causal: CausalWeighting | None = None,
        resampling: ResidualAdaptiveResampling | None = None,
        update_every: int = 1000,
        *,
        key: jax.Array | None = None,
    ):
        if not isinstance(balancing, AbstractBalancing):
            raise ConfigError(f"RecipeLoss: balancing must be a strategy such as FixedWeights(), got {balancing!r}")
        if update_every < 1:
            raise ConfigError(f"RecipeLoss: update_every must be >= 1, got {update_every}")
        self.problem = problem
        self.weights = initial_weights(problem, weights, "RecipeLoss")
        self.balancing = balancing
        self.causal = causal
        self.resampling = resampling
        if resampling is not None:
            if key is None:
                raise ConfigError("RecipeLoss with resampling needs key= for the initial adaptive points")
            self.adaptive_points = problem.domain.uniform(key, resampling.n_points)
        else:
            self.adaptive_points = None
        self.update_every = update_every

    def _residual_points(self, batch) -> Float[Array, "n d"]:
        points = batch["residual"]
        if self.adaptive_points is None:
            return points
        return jnp.concatenate([points, jax.lax.stop_gradient(self.adaptive_points).astype(points.dtype)])

    def _residual_term(self, model, points) -> tuple[Array, dict]:
        if self.causal is None:  # mean over points of the square summed over the residual's outputs
            outputs = math.prod(jax.eval_shape(self.problem.pointwise_residual, model, points[:1]).shape[1:])
            return outputs * self.problem.residual_mean_square(model, points), {}
        squared = _squared(self.problem.pointwise_residual(model, points))
        value, weights = self.causal.loss(points, squared)
        return value, {"causal_min_weight": weights[-1]}

    def terms(self, model, batch) -> tuple[dict[str, Array], dict[str, Array]]:
        residual, extra = self._residual_term(model, self._residual_points(batch))
        terms = {"residual": residual}
        for name, constraint in self.problem.constraints.items():
            terms[name] = constraint.loss(model, batch[name])
        return terms, extra

    def term_values(self, model, batch) -> dict[str, Array]:
        """The unweighted terms ``{term: L_k}`` (the residual with the causal weights and adaptive points)."""
        return self.terms(model, batch)[0]

    def pointwise_terms(self, batch) -> dict:
        """``{term: (f(model, point), points)}``: the residual on its points (with the adaptive ones), and the model's
        output at each constraint's points (exact NTK quantity for initial, Dirichlet and data terms)."""
        terms = {"residual": (lambda m, p: self.problem.pointwise_residual(m, p[None])[0],
                              self._residual_points(batch))}
        return {**terms, **{name: (lambda m, p: m(p), batch[name]) for name in self.problem.constraints}}

    def __call__(self, model, batch, key):
        terms, extra = self.terms(model, batch)
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, {**terms, **extra, **{f"w_{name}": w for name, w in self.weights.items()},
                       **coefficient_metrics(model, terms)}

    def update(self, model, batch, key):
        new = self
        weights = self.balancing(self, model, batch)
        if weights is not self.weights:
            new = eqx.tree_at(lambda loss: loss.weights, new, weights)
        if self.resampling is not None:
            new = eqx.tree_at(lambda loss: loss.adaptive_points, new, self._resample(model, key))
        return new

    def _resample(self, model, key) -> Float[Array, "m d"]:
        settings = self.resampling
        pool_key, pick_key = jax.random.split(key)
        pool = self.problem.domain.uniform(pool_key, settings.n_candidates)
        magnitude = jnp.sqrt(_squared(self.problem.pointwise_residual(model, pool))) ** settings.exponent
        density = magnitude / jnp.maximum(jnp.mean(magnitude), 1e-30) + settings.offset
        chosen = jax.random.choice(pick_key, settings.n_candidates, (settings.n_points,), replace=False,
                                   p=density / jnp.sum(density))
        return jax.lax.stop_gradient(pool[chosen]).astype(self.adaptive_points.dtype)
