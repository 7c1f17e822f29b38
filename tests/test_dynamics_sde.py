"""Neural SDE: moments of known SDEs under Ito and Stratonovich, the path-MMD loss, stationary statistics."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close
from scipy.stats import norm

from sciml.dynamics import (
    GridBrownianPath,
    NeuralSDE,
    energy_score,
    path_mmd,
    sde_energy_loss,
    stationary_standard_errors,
    stationary_statistics,
)


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


def test_grid_brownian_path_and_ou_moments_with_it():
    path = GridBrownianPath(0.0, 0.1, 10, (3,), key=jax.random.key(3))
    assert_close(path.evaluate(0.0, 0.3), path.evaluate(0.0, 0.1) + path.evaluate(0.1, 0.3), rtol=1e-5, atol=1e-6,
                 what="increments add up")
    assert_close(path.evaluate(0.15), 0.5 * (path.evaluate(0.1) + path.evaluate(0.2)), rtol=1e-5, atol=1e-6,
                 what="linear between grid points")
    # Same OU check as with the virtual Brownian tree (exact terminal mean and variance).
    theta, sigma, n, t1 = 1.5, 0.6, 4000, 1.0
    model = NeuralSDE(Affine(-theta, 0.0), Affine(0.0, sigma), dt0=0.01, brownian="grid", max_steps=100)
    terminal = np.asarray(_terminal(model, jnp.linspace(0.0, t1, 3), jnp.full(1, 2.0), n, jax.random.key(2)))
    variance = sigma**2 * (1 - np.exp(-2 * theta * t1)) / (2 * theta)
    assert_close(terminal.mean(), 2 * np.exp(-theta * t1), rtol=0, atol=4 * np.sqrt(variance / n) + 0.005,
                 what="OU mean (grid Brownian path)")
    assert_close(terminal.var(), variance, rtol=0.08, what="OU variance (grid Brownian path)")


def test_energy_loss_gradient_through_checkpointed_solve_with_grid_noise_matches_finite_differences():
    # The backward pass recomputes steps from checkpoints: it must see the same noise as the forward pass.
    batch, k = {"ts": jnp.linspace(0.0, 0.5, 6), "values": jnp.ones((3, 6, 1))}, jax.random.key(5)

    @jax.jit
    @jax.value_and_grad
    def loss(theta):
        model = NeuralSDE(Affine(-theta, 0.0), Affine(0.0, 0.5), dt0=0.05, brownian="grid", max_steps=10)
        return sde_energy_loss(model, batch, k, 4)[0]

    eps = 1e-2
    value, gradient = loss(1.0)
    finite_difference = (loss(1.0 + eps)[0] - loss(1.0 - eps)[0]) / (2 * eps)
    assert np.isfinite(float(value))
    assert_close(gradient, finite_difference, rtol=2e-2, what="d energy loss / d theta")


def test_energy_score_matches_the_gaussian_crps_and_prefers_the_true_law():
    # One channel, many samples: the energy score is the CRPS, sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)).
    rng = np.random.default_rng(0)
    y, mu, sigma = 0.7, 0.2, 1.3
    quantiles = norm.ppf((np.arange(2000) + 0.5) / 2000)  # evenly spread samples: no Monte Carlo noise to speak of
    samples = jnp.asarray(mu + sigma * quantiles[:, None, None], jnp.float32)
    z = (y - mu) / sigma
    crps = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    assert_close(energy_score(samples, jnp.full((1, 1), y)), crps, rtol=0.01, what="energy score vs Gaussian CRPS")
    # Averaged over observations from N(0, 1): the true law scores lower than a too wide one.
    observed = rng.standard_normal(400)
    score = jax.jit(jax.vmap(energy_score))

    def mean_score(scale):
        samples = jnp.asarray(scale * rng.standard_normal((observed.size, 64, 1, 1)), jnp.float32)
        return float(jnp.mean(score(samples, jnp.asarray(observed, jnp.float32)[:, None, None])))

    assert mean_score(1.0) < mean_score(1.3)
    with pytest.raises(ValueError, match="at least 2"):
        energy_score(samples[:1], jnp.full((1, 1), y))


def test_stationary_standard_errors_of_white_noise():
    # 50 groups: the estimated standard error itself is good to about 10%.
    paths = np.random.default_rng(1).standard_normal((2000, 20, 1))
    errors = stationary_standard_errors(paths, 0.1, (0.1,), groups=50)
    assert_close(errors["mean"], [1 / np.sqrt(paths.size)], rtol=0.35, what="standard error of the mean")
    assert_close(errors["autocorrelation"], [[1 / np.sqrt(paths.size)]], rtol=0.35,
                 what="standard error of the lag-1 correlation")


def test_a_failed_solve_makes_the_sde_losses_inf_and_names_the_solver(key):
    from sciml.dynamics import sde_mmd_loss

    batch = {"ts": jnp.linspace(0.0, 1.0, 11), "values": 1 + 0.1 * jax.random.normal(key, (4, 11, 1))}
    model = NeuralSDE(Affine(-1.0, 0.0), Affine(0.0, 0.3), dt0=0.1, brownian="grid", max_steps=10)
    for loss_fn in (sde_energy_loss, sde_mmd_loss):
        loss, metrics = loss_fn(model, batch, key)
        assert np.isfinite(loss) and float(metrics["solver_failed"]) == 0.0
        loss, metrics = loss_fn(eqx.tree_at(lambda m: m.dt0, model, 0.05), batch, key)  # 20 steps needed
        assert np.isinf(loss) and np.isinf(metrics["solver_failed"])
        assert all(np.isfinite(v) for k, v in metrics.items() if k != "solver_failed")
