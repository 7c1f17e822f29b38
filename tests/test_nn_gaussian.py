"""GaussianFeatures (PIG): values against a direct NumPy sum, full covariance, blocking, cutoff, derivatives, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.nn import MLP, GaussianFeatures
from sciml.pde import derivative, rectangle
from sciml.pinn import PINN


def numpy_features(features: GaussianFeatures, x: np.ndarray) -> np.ndarray:
    means, scales = np.asarray(features.means), np.asarray(features.scales)
    weights = np.asarray(features.weights)
    out = np.zeros(means.shape[0])
    for c in range(means.shape[0]):
        for i in range(means.shape[1]):
            delta = x - means[c, i]
            precision_factor = np.diag(1 / scales[c, i])
            if features.off_diagonal is not None:
                precision_factor = precision_factor + np.tril(np.asarray(features.off_diagonal[c, i]), k=-1)
            z = precision_factor @ delta
            out[c] += weights[c, i] * np.exp(-0.5 * z @ z)
    return out


def test_diagonal_features_match_a_direct_sum(key):
    features = GaussianFeatures(2, 7, channels=3, sigma=0.4, weight_std=1.0, key=key)
    x = np.asarray([0.2, -0.3], np.float32)
    assert features.out_size == 3
    assert_close(features(jnp.asarray(x)), numpy_features(features, x), rtol=1e-5, what="sum of Gaussians")


def test_full_covariance_features_match_a_direct_sum(key):
    features = GaussianFeatures(3, 5, channels=2, covariance="full", sigma=0.5, weight_std=1.0, key=key)
    features = eqx.tree_at(lambda f: f.off_diagonal, features,
                           0.7 * jax.random.normal(jax.random.key(3), features.off_diagonal.shape))
    x = np.asarray([0.1, 0.4, -0.2], np.float32)
    assert_close(features(jnp.asarray(x)), numpy_features(features, x), rtol=1e-5, what="full covariance")


def test_blocked_and_nearest_evaluation(key):
    def features(**options):
        return GaussianFeatures(2, 64, channels=2, sigma=0.05, weight_std=1.0, key=key, **options)

    x = jnp.asarray([0.3, 0.1])
    full = features()(x)
    assert_close(features(block_size=16)(x), full, rtol=1e-5, what="blocked over 4 x 16 Gaussians")
    assert_close(features(neighbours=64)(x), full, rtol=1e-5, what="cutoff keeping every Gaussian")
    nearest = features(neighbours=16)
    # Narrow Gaussians: the 16 nearest of 64 carry the sum up to exp(-d^2/2) of the 17th.
    assert_close(nearest(x), full, rtol=0, atol=1e-4, what="cutoff at 16 nearest")


def test_per_axis_initial_scales(key):
    features = GaussianFeatures(3, 4, channels=2, sigma=(0.1, 0.5, 0.25), weight_std=1.0, key=key)
    assert_close(features.scales, np.broadcast_to([0.1, 0.5, 0.25], (2, 4, 3)), rtol=1e-6, what="initial scales")
    x = np.asarray([0.1, -0.2, 0.3], np.float32)
    assert_close(features(jnp.asarray(x)), numpy_features(features, x), rtol=1e-5, what="anisotropic sum")
    with pytest.raises(ConfigError, match=r"one per axis \(3\), got sigma=\[0.1, 0.5\]"):
        GaussianFeatures(3, 4, sigma=(0.1, 0.5), key=key)


def test_scales_stay_positive_and_derivatives_are_analytic(key):
    features = GaussianFeatures(1, 1, channels=1, sigma=0.3, weight_std=1.0, key=key)
    collapsed = eqx.tree_at(lambda f: f.raw_scales, features, jnp.full_like(features.raw_scales, -50.0))
    assert float(collapsed.scales.min()) >= features.min_sigma
    mu, s, w = float(features.means[0, 0, 0]), float(features.scales[0, 0, 0]), float(features.weights[0, 0])
    x = 0.1

    def f(p):
        return features(p)[0]

    second = derivative(f, jnp.asarray([x]), (0, 0))
    expected = w * np.exp(-0.5 * ((x - mu) / s) ** 2) * (((x - mu) / s**2) ** 2 - 1 / s**2)
    assert_close(second, expected, rtol=1e-4, what="d2/dx2 of a Gaussian")


def test_pig_as_pinn_embedding_trains(key):
    domain = rectangle((-1.0, -1.0), (1.0, 1.0))
    features = GaussianFeatures(2, 32, key=key)
    model = PINN(domain, MLP(features.out_size, "scalar", 16, 1, key=key), embedding=features)
    points = jax.random.uniform(key, (16, 2), minval=-1, maxval=1)
    grads = eqx.filter_grad(lambda m: jnp.mean(jax.vmap(m)(points) ** 2))(model)
    assert np.all(np.isfinite(np.asarray(grads.embedding.means)))
    assert float(jnp.abs(grads.embedding.weights).sum()) > 0


def test_bad_gaussian_settings(key):
    with pytest.raises(ConfigError, match="at least one Gaussian"):
        GaussianFeatures(2, 0, key=key)
    with pytest.raises(ConfigError, match="block_size"):
        GaussianFeatures(2, 10, block_size=3, key=key)
    with pytest.raises(ConfigError, match="covariance"):
        GaussianFeatures(2, 10, covariance="dense", key=key)
    with pytest.raises(ConfigError, match="shape"):
        GaussianFeatures(2, 10, key=key)(jnp.zeros(3))
