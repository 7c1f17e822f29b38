"""Probabilistic skill scores (NumPy, float64): R^2, ensemble CRPS, central intervals, coverage, spread-skill,
calibration curve. Inputs are host arrays; ensembles put members on axis 0."""

from __future__ import annotations

import numpy as np
from scipy import special

from sciml._errors import ConfigError


def _pair(prediction, reference, what: str):
    prediction, reference = np.asarray(prediction, np.float64), np.asarray(reference, np.float64)
    if prediction.shape != reference.shape:
        raise ValueError(f"{what}: prediction {prediction.shape} and reference {reference.shape} differ in shape")
    return prediction, reference


def r2_score(prediction, reference, axis=None):
    """Coefficient of determination 1 - SSE/SST, SST about the reference mean along `axis` (all entries if None)."""
    prediction, reference = _pair(prediction, reference, "r2_score")
    sse = np.sum((prediction - reference) ** 2, axis=axis)
    sst = np.sum((reference - np.mean(reference, axis=axis, keepdims=True)) ** 2, axis=axis)
    return 1.0 - sse / sst


def crps_ensemble(members, observation, *, fair: bool = False):
    """CRPS of an ensemble forecast, pointwise: E|X - y| - 1/2 E|X - X'| with X, X' drawn from the members.

    members: (M, ...) ensemble; observation: (...). The default is the CRPS of the ensemble's empirical CDF; with
    `fair=True` the pair term uses M (M - 1) instead of M^2 (unbiased for the underlying distribution).
    Computed from the sorted members: sum_{i<j} |x_i - x_j| = sum_i x_(i) (2 i - M - 1), i = 1..M.
    """
    members, observation = np.asarray(members, np.float64), np.asarray(observation, np.float64)
    if members.shape[1:] != observation.shape:
        raise ValueError(f"crps_ensemble: members {members.shape} must be (M, *observation.shape), "
                         f"observation is {observation.shape}")
    m = members.shape[0]
    if fair and m < 2:
        raise ConfigError("crps_ensemble(fair=True) needs at least 2 members")
    skill = np.mean(np.abs(members - observation), axis=0)
    ranks = (2 * np.arange(1, m + 1) - m - 1).reshape((m,) + (1,) * observation.ndim)
    pair_sum = np.sum(np.sort(members, axis=0) * ranks, axis=0)
    return skill - pair_sum / (m * (m - 1) if fair else m * m)


def crps_gaussian(mean, std, observation):
    """Closed-form CRPS of N(mean, std^2): std [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)], z = (y - mean)/std."""
    mean, std, observation = (np.asarray(a, np.float64) for a in (mean, std, observation))
    z = (observation - mean) / std
    pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return std * (z * special.erf(z / np.sqrt(2)) + 2 * pdf - 1 / np.sqrt(np.pi))


def central_interval(samples, level: float = 0.9):
    """(lower, upper) empirical quantiles (1 - level)/2 and (1 + level)/2 over axis 0 of `samples`."""
    if not 0 < level < 1:
        raise ConfigError(f"central_interval: level must lie in (0, 1), got {level}")
    samples = np.asarray(samples, np.float64)
    lower, upper = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lower, upper


def coverage(lower, upper, observation) -> float:
    """Fraction of observations inside [lower, upper]."""
    lower, upper, observation = (np.asarray(a, np.float64) for a in (lower, upper, observation))
    return float(np.mean((observation >= lower) & (observation <= upper)))


def calibration_curve(samples, observation, levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)):
    """Observed coverage of the central intervals at each nominal `level`; returns (levels, observed) arrays.

    A calibrated forecast lies on the diagonal; below it the intervals are too narrow (over-confident).
    """
    levels = np.asarray(levels, np.float64)
    observed = np.array([coverage(*central_interval(samples, level), observation) for level in levels])
    return levels, observed


def spread_skill(mean, std, observation, n_bins: int = 10):
    """Binned spread-skill: for bins of equal count in predicted std, (mean spread, RMSE of the mean) per bin,
    and the overall ratio sqrt(mean(std^2)) / RMSE (1 for a calibrated forecast, < 1 over-confident).

    Returns dict(spread=(n_bins,), rmse=(n_bins,), ratio=float).
    """
    mean, std, observation = (np.asarray(a, np.float64).ravel() for a in (mean, std, observation))
    if not mean.shape == std.shape == observation.shape:
        raise ValueError(f"spread_skill: mean, std and observation must match, got {mean.shape}, {std.shape}, "
                         f"{observation.shape}")
    if n_bins < 1 or n_bins > mean.size:
        raise ConfigError(f"spread_skill: n_bins must lie in [1, {mean.size}], got {n_bins}")
    order = np.argsort(std)
    bins = np.array_split(order, n_bins)
    spread = np.array([np.sqrt(np.mean(std[b] ** 2)) for b in bins])
    rmse = np.array([np.sqrt(np.mean((mean[b] - observation[b]) ** 2)) for b in bins])
    ratio = float(np.sqrt(np.mean(std**2)) / np.sqrt(np.mean((mean - observation) ** 2)))
    return {"spread": spread, "rmse": rmse, "ratio": ratio}


def _expected_abs_normal(mean, variance):
    """E|Z| for Z ~ N(mean, variance)."""
    std = np.sqrt(variance)
    return std * np.sqrt(2 / np.pi) * np.exp(-0.5 * (mean / std) ** 2) + mean * special.erf(mean / (std * np.sqrt(2)))


def crps_gaussian_mixture(means, std: float, observation):
    """Exact CRPS of the equal-weight mixture of N(means_i, std^2), pointwise: E|X - y| - 1/2 E|X - X'|.

    means: (M, ...) member predictions; std > 0 the shared noise std; observation: (...). With std -> 0 this is
    `crps_ensemble` of the members; with M = 1 it is `crps_gaussian`.
    """
    means, observation = np.asarray(means, np.float64), np.asarray(observation, np.float64)
    if means.shape[1:] != observation.shape:
        raise ValueError(f"crps_gaussian_mixture: means {means.shape} must be (M, *observation.shape), "
                         f"observation is {observation.shape}")
    if not std > 0:
        raise ConfigError(f"crps_gaussian_mixture: std must be > 0 (use crps_ensemble for std = 0), got {std}")
    skill = np.mean(_expected_abs_normal(means - observation, std**2), axis=0)
    m = means.shape[0]
    spread = sum(np.sum(_expected_abs_normal(means[i] - means, 2 * std**2), axis=0) for i in range(m)) / (m * m)
    return skill - 0.5 * spread
