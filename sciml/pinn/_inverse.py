"""Inverse problems: a deep ensemble of PINNs with unknown coefficients, trained in one program, and the interval it
gives for each coefficient.

The model is a stacked ensemble (array leaves with a leading member axis, e.g. from `sciml.uq.make_ensemble`) of
`WithCoefficients` members; `EnsembleLoss` scores member m with its own loss (each may hold its own arrays, such as
bootstrap weights of the observations from `bootstrap_counts`) on one shared collocation batch, so every member is
trained as if alone, by the one engine. `ensemble_estimate` turns the members' final values into a mean, a spread and
a central interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jaxtyping import ArrayLike, Float

from sciml._errors import ConfigError
from sciml.pde import split_coefficients
from sciml.train import AbstractAdaptiveLoss


class EnsembleLoss(AbstractAdaptiveLoss):
    """The sum of M member losses over a stacked ensemble: member m of the model is scored by ``losses[m]`` on the
    batch all members share.

    The gradient of member m's parameters is that of its own loss, so with an elementwise optimizer (Adam) the members
    train exactly as if trained one by one; an L-BFGS stage minimises the sum, which has the same minimisers (its
    line search is shared). The members' loss states (e.g. adaptive weights) are refreshed member by member.

    Args:
        losses: M losses of one structure (e.g. `PINNLoss` of problems built from one residual and one sampler) that
            differ only in their arrays, such as a `DataConstraint`'s weights.

    Returns (from a call): ``(sum of the member losses, metrics)``: each member metric's mean over the members and,
    for each coefficient of the (`WithCoefficients`) members, its value per member as ``name_m`` (m = 0 .. M-1).
    """

    members: AbstractAdaptiveLoss
    update_every: int = eqx.field(static=True)

    def __init__(self, losses: Sequence[AbstractAdaptiveLoss]):
        losses = list(losses)
        if not losses or not all(isinstance(loss, AbstractAdaptiveLoss) for loss in losses):
            raise ConfigError(f"EnsembleLoss: expected one or more losses such as PINNLoss, got {losses!r}")
        arrays = [eqx.filter(loss, eqx.is_array) for loss in losses]
        structures = {jax.tree.structure(a) for a in arrays}
        statics = [eqx.partition(loss, eqx.is_array)[1] for loss in losses]
        if len(structures) != 1 or any(jax.tree.structure(s) != jax.tree.structure(statics[0]) for s in statics):
            raise ConfigError("EnsembleLoss: the member losses must share their structure (build them from one "
                              "residual and one sampler, changing only arrays such as the data weights)")
        shapes = {tuple(jnp.shape(leaf) for leaf in jax.tree.leaves(a)) for a in arrays}
        if len(shapes) != 1:
            raise ConfigError("EnsembleLoss: the member losses' arrays must have the same shapes (same numbers of "
                              "points and observations in every member)")
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *arrays)
        self.members = eqx.combine(stacked, statics[0])
        self.update_every = losses[0].update_every

    def __call__(self, model, batch, key):
        values, metrics = eqx.filter_vmap(lambda m, loss: loss(m, batch, key))(model, self.members)
        coefficients = split_coefficients(model)[1]
        out = {name: jnp.mean(value) for name, value in metrics.items()}
        for name, value in coefficients.items():
            out.update({f"{name}_{m}": value[m] for m in range(value.shape[0])})
        return jnp.sum(values), out

    def update(self, model, batch, key):
        members = eqx.filter_vmap(lambda m, loss: loss.update(m, batch, key))(model, self.members)
        return eqx.tree_at(lambda ensemble: ensemble.members, self, members)


def bootstrap_counts(n_observations: int, n_members: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_members, n_observations)`` multinomial bootstrap counts: member m weighs observation i by the number of
    times it was drawn in n draws with replacement (a `DataConstraint`'s weights; the weighted mean square equals the
    mean square over the resampled set)."""
    if n_observations < 1 or n_members < 1:
        raise ConfigError(f"bootstrap_counts: expected n_observations >= 1 and n_members >= 1, got {n_observations} "
                          f"and {n_members}")
    draws = rng.integers(0, n_observations, size=(n_members, n_observations))
    return np.stack([np.bincount(d, minlength=n_observations) for d in draws]).astype(np.float64)


@dataclasses.dataclass(frozen=True)
class CoefficientEstimate:
    """A coefficient from an ensemble: the members' values, their mean and sample standard deviation, and the
    central interval ``[lower, upper]`` at `level` (see `ensemble_estimate`)."""

    members: tuple[float, ...]
    mean: float
    std: float
    lower: float
    upper: float
    level: float

    def covers(self, value: float) -> bool:
        """Whether `value` lies inside the interval."""
        return bool(self.lower <= value <= self.upper)

    def relative_error(self, truth: float) -> float:
        """``|mean - truth| / |truth|``."""
        return float(abs(self.mean - truth) / abs(truth))


def ensemble_estimate(members: Float[ArrayLike, " m"] | Sequence[float], level: float = 0.95) -> CoefficientEstimate:
    """Mean, spread and central interval of a coefficient from its M ensemble members' values.

    The interval is ``mean +- t_{M-1} s sqrt(1 + 1/M)``, s the members' sample standard deviation and t_{M-1} the
    Student-t quantile at ``(1 + level) / 2``: a prediction interval for one more member drawn like the others. When
    the members differ by their observations (a bootstrap, `bootstrap_counts`) and their initialisation, their spread
    stands for how much the estimate would move with other noise on the data and another training run, so the
    interval is an approximate `level` confidence interval for the coefficient.

    It is too narrow where the error is shared by all members and so invisible in their spread: a bias of the
    network or of too few collocation points, a residual that is not the true physics, observations that miss the
    region the coefficient acts in, noise that is correlated or not Gaussian; and, without a bootstrap, noisy data
    (then the spread is that of the optimisation alone). With few members the t quantile widens it, but the width
    itself is uncertain (a 5-member interval's width varies by about 35 % from one ensemble to the next).
    """
    values = np.asarray(members, np.float64).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise ConfigError(f"ensemble_estimate: expected at least 2 finite member values, got {values}")
    if not 0 < level < 1:
        raise ConfigError(f"ensemble_estimate: level must lie in (0, 1), got {level}")
    m = values.size
    mean, std = float(values.mean()), float(values.std(ddof=1))
    half = float(scipy.stats.t.ppf((1 + level) / 2, m - 1)) * std * float(np.sqrt(1 + 1 / m))
    return CoefficientEstimate(tuple(float(v) for v in values), mean, std, mean - half, mean + half, level)
