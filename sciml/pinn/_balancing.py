"""Loss balancing strategies: how a physics-informed loss refreshes the weights of its terms.

A strategy is called by the loss's `update` as ``strategy(loss, model, batch)`` and returns the new weights (one
scalar per term). The loss gives it ``loss.weights``, ``loss.term_values(model, batch) -> {term: L_k}`` and, for
kernel-based strategies, ``loss.pointwise_terms(batch) -> {term: (f(model, point), points)}``.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from sciml._errors import ConfigError


def _check_momentum(momentum: float, name: str) -> None:
    if not 0 <= momentum < 1:
        raise ConfigError(f"{name}: momentum must be in [0, 1), got {momentum}")


def _balanced(weights: dict[str, Array], scores: dict[str, Array], momentum: float) -> dict[str, Array]:
    """``w_k <- m w_k + (1 - m) sum_j s_j / s_k``: every term pulls as hard as the others by the score `s`."""
    total = sum(scores.values())
    return {name: momentum * w + (1 - momentum) * total / jnp.maximum(scores[name], 1e-12)
            for name, w in weights.items()}


class AbstractBalancing(eqx.Module):
    """A loss-balancing strategy: ``strategy(loss, model, batch)`` returns the loss's new term weights."""

    @abc.abstractmethod
    def __call__(self, loss, model, batch) -> dict[str, Array]:
        raise NotImplementedError


class FixedWeights(AbstractBalancing):
    """Keep the weights the loss was built with (returns ``loss.weights`` itself)."""

    def __call__(self, loss, model, batch) -> dict[str, Array]:
        return loss.weights


class GradNormBalancing(AbstractBalancing):
    """``w_k = sum_j |grad L_j| / |grad L_k|`` (gradients with respect to the model's parameters), EMA-smoothed by
    `momentum`: every term pulls the parameters equally hard."""

    momentum: float = eqx.field(static=True, default=0.9)

    def __check_init__(self):
        _check_momentum(self.momentum, "GradNormBalancing")

    def __call__(self, loss, model, batch) -> dict[str, Array]:
        params, static = eqx.partition(model, eqx.is_inexact_array)

        def term(name):
            return lambda p: loss.term_values(eqx.combine(p, static), batch)[name]

        norms = {name: optax.tree.norm(jax.grad(term(name))(params)) for name in loss.weights}
        return _balanced(loss.weights, norms, self.momentum)


class NTKBalancing(AbstractBalancing):
    """``w_k = sum_j tr K_j / tr K_k`` with ``tr K_k`` the mean squared parameter-gradient norm of term k's pointwise
    quantity over its first `points` points (the NTK trace per point), EMA-smoothed by `momentum`."""

    momentum: float = eqx.field(static=True, default=0.9)
    points: int = eqx.field(static=True, default=128)

    def __check_init__(self):
        _check_momentum(self.momentum, "NTKBalancing")
        if self.points < 1:
            raise ConfigError(f"NTKBalancing: points must be >= 1, got {self.points}")

    def __call__(self, loss, model, batch) -> dict[str, Array]:
        params, static = eqx.partition(model, eqx.is_inexact_array)

        def trace(pointwise, points):
            def squared_norm(point):
                grad = jax.grad(lambda p: jnp.sum(pointwise(eqx.combine(p, static), point)))(params)
                return optax.tree.norm(grad) ** 2

            return jnp.mean(jax.vmap(squared_norm)(points[: self.points]))

        traces = {name: trace(f, points) for name, (f, points) in loss.pointwise_terms(batch).items()}
        return _balanced(loss.weights, traces, self.momentum)
