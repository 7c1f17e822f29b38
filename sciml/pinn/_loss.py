"""The physics-informed loss with fixed or gradient-norm-balanced term weights."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from sciml._errors import ConfigError
from sciml.pde import Problem
from sciml.train import AbstractAdaptiveLoss


class PINNLoss(AbstractAdaptiveLoss):
    """``sum_k w_k L_k`` over the terms of `problem` (residual and constraints).

    Args:
        problem: the physics-informed problem.
        weights: initial weight per term (missing terms weigh 1).
        balancing: ``"fixed"`` keeps the weights; ``"grad_norm"`` sets ``w_k = sum_j |grad L_j| / |grad L_k|``
            every `update_every` steps, smoothed by `momentum` (so every term pulls the parameters equally hard).
        update_every: steps between weight updates.
        momentum: exponential-moving-average factor for the weights.

    Returns (from a call): ``(total, {"residual": ..., name: ..., "w_name": ...})``.
    """

    problem: Problem
    weights: dict[str, jax.Array]
    balancing: Literal["fixed", "grad_norm"] = eqx.field(static=True)
    update_every: int = eqx.field(static=True)
    momentum: float = eqx.field(static=True)

    def __init__(self, problem: Problem, weights: dict[str, float] | None = None,
                 balancing: Literal["fixed", "grad_norm"] = "fixed", update_every: int = 1000, momentum: float = 0.9):
        names = ["residual", *problem.constraints]
        weights = dict(weights or {})
        unknown = set(weights) - set(names)
        if unknown:
            raise ConfigError(f"PINNLoss: weights for unknown terms {sorted(unknown)}; the terms are {names}")
        if balancing not in ("fixed", "grad_norm"):
            raise ConfigError(f"PINNLoss: balancing must be 'fixed' or 'grad_norm', got {balancing!r}")
        self.problem = problem
        self.weights = {name: jnp.asarray(weights.get(name, 1.0), jnp.float32) for name in names}
        self.balancing = balancing
        self.update_every = update_every
        self.momentum = momentum

    def __call__(self, model, batch, key):
        terms = self.problem.terms(model, batch)
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, {**terms, **{f"w_{name}": w for name, w in self.weights.items()}}

    def update(self, model, batch, key):
        if self.balancing == "fixed":
            return self
        params, static = eqx.partition(model, eqx.is_inexact_array)

        def term(name):
            return lambda p: self.problem.terms(eqx.combine(p, static), batch)[name]

        norms = {name: optax.tree.norm(jax.grad(term(name))(params)) for name in self.weights}
        total = sum(norms.values())
        new = {
            name: self.momentum * w + (1 - self.momentum) * total / jnp.maximum(norms[name], 1e-12)
            for name, w in self.weights.items()
        }
        return eqx.tree_at(lambda loss: loss.weights, self, new)
