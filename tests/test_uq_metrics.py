"""Probabilistic metrics against hand computations, numerical integration of the CRPS definition and sklearn."""

import numpy as np
import pytest
from conftest import assert_close
from scipy import integrate, stats
from sklearn.metrics import r2_score as sklearn_r2

from sciml.uq import (
    calibration_curve,
    central_interval,
    coverage,
    crps_ensemble,
    crps_gaussian,
    crps_gaussian_mixture,
    r2_score,
    spread_skill,
)


def _crps_by_integration(cdf, y, lo, hi):
    """CRPS = int (F(z) - 1{z >= y})^2 dz, split at y (and the CDF's kinks)."""
    left = integrate.quad(lambda z: cdf(z) ** 2, lo, y, limit=400)[0]
    right = integrate.quad(lambda z: (1 - cdf(z)) ** 2, y, hi, limit=400)[0]
    return left + right


def test_r2_matches_sklearn():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=200)
    prediction = reference + 0.3 * rng.normal(size=200)
    assert_close(r2_score(prediction, reference), sklearn_r2(reference, prediction), rtol=1e-12, what="R^2")
    assert r2_score(reference, reference) == 1.0


def test_crps_ensemble_equals_integral_of_empirical_cdf():
    members = np.array([-1.0, 0.3, 0.5, 2.0, 2.5])
    for y in (-3.0, 0.4, 1.0, 4.0):
        cdf = lambda z: np.mean(members <= z)  # noqa: E731
        points = np.sort(np.concatenate([members, [y, -10.0, 10.0]]))
        expected = 0.0
        for a, b in zip(points[:-1], points[1:], strict=True):
            mid = 0.5 * (a + b)
            expected += (cdf(mid) - (mid >= y)) ** 2 * (b - a)
        assert_close(crps_ensemble(members[:, None], np.array([y]))[0], expected, rtol=1e-12, what=f"CRPS y={y}")


def test_crps_ensemble_fair_hand_computation():
    members = np.array([[0.0], [1.0], [3.0]])
    y = np.array([1.0])
    # E|X-y| = (1 + 0 + 2)/3 = 1; sum_{i<j}|xi-xj| = 1 + 3 + 2 = 6
    assert_close(crps_ensemble(members, y), 1.0 - 6.0 / 9.0, rtol=1e-12, what="CRPS (empirical)")
    assert_close(crps_ensemble(members, y, fair=True), 1.0 - 6.0 / 6.0, rtol=1e-12, atol=1e-12, what="CRPS (fair)")


def test_crps_gaussian_closed_form_and_large_ensemble():
    for mean, std, y in [(0.0, 1.0, 0.3), (2.0, 0.5, -1.0)]:
        def cdf(z, mean=mean, std=std):
            return stats.norm.cdf(z, mean, std)

        assert_close(crps_gaussian(mean, std, y), _crps_by_integration(cdf, y, mean - 12 * std, mean + 12 * std),
                     rtol=1e-7, what="Gaussian CRPS vs integral")
    rng = np.random.default_rng(1)
    members = rng.normal(0.0, 1.0, size=(20000, 1))
    assert_close(crps_ensemble(members, np.array([0.7]))[0], crps_gaussian(0.0, 1.0, 0.7), rtol=2e-2,
                 what="large ensemble -> Gaussian CRPS")


def test_crps_gaussian_mixture():
    means = np.array([[-1.0], [0.5], [2.0]])
    y = np.array([0.2])
    std = 0.7
    cdf = lambda z: np.mean(stats.norm.cdf(z, means[:, 0], std))  # noqa: E731
    assert_close(crps_gaussian_mixture(means, std, y)[0], _crps_by_integration(cdf, 0.2, -15, 15), rtol=1e-7,
                 what="mixture CRPS vs integral")
    assert_close(crps_gaussian_mixture(means[:1], std, y), crps_gaussian(-1.0, std, 0.2), rtol=1e-12,
                 what="one-member mixture")
    assert_close(crps_gaussian_mixture(means, 1e-6, y), crps_ensemble(means, y), rtol=1e-5,
                 what="vanishing noise -> ensemble CRPS")


def test_interval_coverage_and_calibration():
    samples = np.arange(101, dtype=float)[:, None] * np.ones((1, 4))
    lower, upper = central_interval(samples, 0.9)
    assert_close(lower, 5.0, rtol=1e-12, what="5 % quantile")
    assert_close(upper, 95.0, rtol=1e-12, what="95 % quantile")
    assert coverage(np.zeros(4), np.ones(4), np.array([0.5, 1.0, 1.5, -0.1])) == 0.5
    rng = np.random.default_rng(2)
    samples, observation = rng.normal(size=(400, 2000)), rng.normal(size=2000)
    levels, observed = calibration_curve(samples, observation)
    assert_close(observed, levels, rtol=0, atol=0.04, what="calibrated forecast lies on the diagonal")
    with pytest.raises(ValueError, match="level"):
        central_interval(samples, 1.5)


def test_spread_skill_ratio_hand_computation():
    mean = np.array([0.0, 0.0, 0.0, 0.0])
    observation = np.array([1.0, -1.0, 2.0, -2.0])
    std = np.array([1.0, 1.0, 2.0, 2.0])
    result = spread_skill(mean, std, observation, n_bins=2)
    assert_close(result["spread"], [1.0, 2.0], rtol=1e-12, what="binned spread")
    assert_close(result["rmse"], [1.0, 2.0], rtol=1e-12, what="binned RMSE")
    assert_close(result["ratio"], 1.0, rtol=1e-12, what="spread-skill ratio")
