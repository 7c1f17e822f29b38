"""Neural SDE: moments of known SDEs under Ito and Stratonovich, the path-MMD loss, stationary statistics."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml.dynamics import NeuralSDE, path_mmd, stationary_statistics


class Affine(eqx.Module):
    slope: jax.Array
    offset: jax.Array

    def __init__(self, slope, offset):
        self.slope, self.offset = jnp.asarray(slope), jnp.asarray(offset)

    def __call__(self, t, y, args=None):
        return self.slope * y + self.offset


def _terminal(model, ts, y0, n, key):
    keys = jax.random.split(key, n)
    return jax.vmap(lambda k: model(ts, y0, key=k)[-1, 0])(keys)


def test_ito_and_stratonovich_geometric_noise_give_their_exact_means():
    # dX = s X dW from X0 = 1: Ito mean stays 1; Stratonovich (= Ito with drift s^2/2 X) has mean exp(s^2 t / 2).
    s, n, ts = 0.8, 4000, jnp.linspace(0.0, 1.0, 3)
    for noise, exact_mean in (("ito", 1.0), ("stratonovich", np.exp(s**2 / 2))):
        model = NeuralSDE(Affine(0.0, 0.0), Affine(s, 0.0), dt0=0.01, noise=noise)
        terminal = np.asarray(_terminal(model, ts, jnp.ones(1), n, jax.random.key(1)))
        standard_error = terminal.std() / np.sqrt(n)
        assert abs(terminal.mean() - exact_mean) < 4 * standard_error + 0.01, (noise, terminal.mean(), exact_mean)


def test_ou_sde_terminal_mean_and_variance():
    # dX = -theta X dt + sigma dW from X0 = 2: mean 2 exp(-theta t), variance sigma^2 (1 - exp(-2 theta t)) / (2 theta).
    # Same shapes and step as the Ito case above, so the compiled solve is reused.
    theta, sigma, n, t1 = 1.5, 0.6, 4000, 1.0
    model = NeuralSDE(Affine(-theta, 0.0), Affine(0.0, sigma), dt0=0.01)
    terminal = np.asarray(_terminal(model, jnp.linspace(0.0, t1, 3), jnp.full(1, 2.0), n, jax.random.key(2)))
    variance = sigma**2 * (1 - np.exp(-2 * theta * t1)) / (2 * theta)
    assert_close(terminal.mean(), 2 * np.exp(-theta * t1), rtol=0, atol=4 * np.sqrt(variance / n) + 0.005,
                 what="OU mean")
    assert_close(terminal.var(), variance, rtol=0.08, what="OU variance")


def test_bad_state_shape_for_sde(key):
    model = NeuralSDE(Affine(-1.0, 0.0), lambda t, y, args: jnp.ones(3), dt0=0.1)
    with pytest.raises(ValueError, match="diffusion"):
        model(jnp.linspace(0.0, 1.0, 3), jnp.ones(2), key=key)


def test_path_mmd_separates_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 5, 2)), rng.normal(size=(400, 5, 2))
    shifted = rng.normal(size=(400, 5, 2)) * 1.3
    same, different = float(path_mmd(jnp.asarray(a), jnp.asarray(b))), float(path_mmd(jnp.asarray(shifted),
                                                                                        jnp.asarray(b)))
    assert abs(same) < 0.01 and different > 10 * max(abs(same), 1e-3)
    with pytest.raises(ValueError, match="share"):
        path_mmd(jnp.asarray(a[:, :4]), jnp.asarray(b))


def test_stationary_statistics_of_an_exact_ar1_process():
    rng = np.random.default_rng(0)
    dt, theta, n, length = 0.1, 0.8, 2000, 200
    decay = np.exp(-theta * dt)
    x = rng.standard_normal(n)
    paths = [x]
    for _ in range(length - 1):
        x = decay * x + np.sqrt(1 - decay**2) * rng.standard_normal(n)
        paths.append(x)
    stats = stationary_statistics(np.stack(paths, 1)[:, :, None], dt, (0.5, 1.0))
    assert_close(stats["mean"], [0.0], rtol=0, atol=0.01, what="mean")
    assert_close(stats["variance"], [1.0], rtol=0.02, what="variance")
    assert_close(stats["autocorrelation"][:, 0], np.exp(-theta * np.array([0.5, 1.0])), rtol=0, atol=0.02,
                 what="autocorrelation")
    with pytest.raises(ValueError, match="multiple of dt"):
        stationary_statistics(np.stack(paths, 1)[:, :, None], dt, (0.55,))
