"""The SPM PINN surrogate (hard constraints, residual, range checks, training) and NUTS calibration."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.battery import (
    ExtrapolationWarning,
    SPMSurrogate,
    SurrogateSetup,
    TrainingData,
    build_network,
    calibrate,
    surrogate_loss,
)
from sciml.battery._surrogate import SurfaceFlux, diffusion_residual
from sciml.pde import Field, FixedPoints
from sciml.studies import TrainConfig
from sciml.studies.battery import SurrogateConfig, surrogate_like, train_surrogate

SETUP = SurrogateSetup()


@pytest.fixture(scope="module")
def surrogate():
    return SPMSurrogate(build_network(SETUP, 16, 2, key=jax.random.key(0)), SETUP)


def test_hard_initial_condition_and_centre_symmetry(surrogate):
    initial = np.asarray(SETUP.initial())
    cases = jnp.array([(0.0, 0.5, 1.0), (0.4, 2.0, 3.0), (1.0, 4.0, 10.0)])
    at_start = jax.jit(jax.vmap(lambda c: surrogate.stoichiometry(0.0, c[0], c[1], c[2])))(cases)
    assert_close(at_start, np.broadcast_to(initial, (3, 2)), rtol=1e-6, what="x at t = 0")
    slope = jax.jit(jax.jacfwd(lambda r: surrogate.stoichiometry(1200.0, r, 1.0, 2.0)))(0.0)
    assert_close(slope, np.zeros(2), rtol=0, atol=1e-7, what="dx/drho at the centre")


def steady_drift_solution(point):
    """The exact long-time solution x = x0 + drift s^2 + g (rho^2 - 3/5) / 2 of the scaled diffusion problem."""
    s, rho, _, scale = point
    return SETUP.initial() + SETUP.drift() * s**2 + 0.5 * SETUP.surface_gradient(scale) * (rho**2 - 0.6)


def test_residual_and_flux_vanish_on_an_exact_solution():
    points = jnp.asarray(np.random.default_rng(0).uniform([0, 0, 0.5, 1], [1, 1, 4, 10], (64, 4)), jnp.float32)
    residual = diffusion_residual(SETUP)

    @jax.jit
    def residuals(points, drift_error):
        def solution(point):
            return steady_drift_solution(point) + drift_error * point[0] ** 2

        return jax.vmap(lambda p: residual(Field(solution, p, SETUP.domain.names)))(points)

    values = residuals(points, 0.0)
    assert_close(values, np.zeros((64, 2)), rtol=0, atol=1e-5, what="diffusion residual on the exact solution")
    surface = points.at[:, 1].set(1.0)
    flux = SurfaceFlux(FixedPoints(surface), SETUP)
    assert float(jax.jit(lambda pts: flux.loss(steady_drift_solution, pts))(surface)) < 1e-10

    assert float(jnp.max(jnp.abs(residuals(points, 0.01)))) > 1e-2, "a wrong drift must leave a residual"


def test_surrogate_like_takes_the_saved_surrogate(surrogate, tmp_path):
    """The surrogate's structure from its config alone takes the saved weights and gives the same voltages."""
    like = surrogate_like(SETUP, SurrogateConfig(TrainConfig(seed=5), width=16, depth=2))
    def shapes(tree):
        return [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]

    assert shapes(like) == shapes(surrogate)
    eqx.tree_serialise_leaves(tmp_path / "model.eqx", surrogate)
    loaded = eqx.tree_deserialise_leaves(tmp_path / "model.eqx", like)
    t = np.linspace(0.0, 3000.0, 9)
    assert_close(loaded.voltage(t, 1.5, 3.0), surrogate.voltage(t, 1.5, 3.0), rtol=1e-6, what="reloaded voltage")


def test_out_of_range_parameters_are_refused_or_flagged(surrogate):
    t = np.linspace(0, 3000, 5)
    with pytest.raises(ConfigError, match=r"i0_scale = 5 lies outside the trained range \[0.5, 4\]"):
        surrogate.voltage(t, 5.0, 2.0)
    with pytest.raises(ConfigError, match="diffusivity_scale = 0.5 lies outside"):
        surrogate.voltage(t, 1.0, 0.5)
    with pytest.warns(ExtrapolationWarning, match="extrapolating") as caught:
        voltage = surrogate.voltage(t, 1.0, 12.0, extrapolate=True)
    assert voltage.shape == (5,)
    assert caught[0].filename == __file__  # the warning names the caller's line, not sciml's
    with pytest.raises(ConfigError, match=r"times must be a 1-D array in \[0, 3000\]"):
        surrogate.voltage(np.array([0.0, 4000.0]), 1.0, 2.0)
    with pytest.raises(ConfigError, match="must be a positive number"):
        surrogate.voltage(t, -1.0, 2.0, extrapolate=True)


def test_bad_setup_and_data():
    with pytest.raises(ConfigError, match="i0_range must be"):
        SurrogateSetup(i0_range=(4.0, 0.5))
    with pytest.raises(ConfigError, match=r"points \(n, 4\) and values \(n, 2\)"):
        surrogate_loss(SETUP, TrainingData(np.zeros((5, 3)), np.zeros((5, 2))))


def test_training_fits_the_exact_solution_data():
    """A few hundred steps through `sciml.studies.train` on data from the exact long-time solution at least halve
    the loss."""
    rng = np.random.default_rng(1)
    points = rng.uniform([0.5, 0, 0.5, 1], [1, 1, 4, 10], (256, 4)).astype(np.float32)
    values = np.asarray(jax.vmap(steady_drift_solution)(jnp.asarray(points)))
    train = TrainConfig(seed=2, steps=300, learning_rate=5e-3, schedule="exponential", decay_steps=1000,
                        decay_rate=0.6, chunk=100)
    config = SurrogateConfig(train, width=16, depth=2, n_residual=128, n_surface=32)
    surrogate, result = train_surrogate(SETUP, TrainingData(points, values), config)
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < 0.5 * first["loss"], (first["loss"], last["loss"])
    assert np.isfinite(surrogate.voltage(np.linspace(0, 3000, 7), 1.0, 2.0)).all()


def test_nuts_recovers_a_linear_gaussian_posterior():
    """For V = a * i0 + b * D the posterior is Gaussian with a known mean and covariance (flat priors, far edges)."""
    t = jnp.linspace(0.0, 1.0, 40)
    a, b = 0.2 + 0.1 * t, 0.05 - 0.03 * t

    def voltage(i0_scale, diffusivity_scale):
        return a * i0_scale + b * diffusivity_scale

    sigma = 0.01
    observed = voltage(2.0, 5.0) + sigma * jax.random.normal(jax.random.key(3), t.shape)
    result = calibrate(voltage, observed, sigma, num_warmup=150, num_samples=500, key=jax.random.key(4))
    design = np.stack([np.asarray(a), np.asarray(b)], axis=1)
    covariance = sigma**2 * np.linalg.inv(design.T @ design)
    mean = covariance @ design.T @ np.asarray(observed) / sigma**2
    drawn = np.stack([result.samples["i0_scale"], result.samples["diffusivity_scale"]], axis=1)
    standard = np.sqrt(np.diag(covariance))
    assert_close(drawn.mean(0), mean, rtol=0, atol=0.25 * standard.max(), what="posterior mean")
    assert_close(drawn.std(0), standard, rtol=0.2, what="posterior standard deviation")
    assert result.r_hat["i0_scale"] < 1.1 and result.min_ess > 50, (result.r_hat, result.ess)
    with pytest.raises(ConfigError, match="sigma"):
        calibrate(voltage, observed, 0.0, key=jax.random.key(0))
