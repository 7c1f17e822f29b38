"""Inverse PINN problems: trainable coefficients reach the residual (on the batched forward-derivative path) and get
the right gradients, their parametrisations, weighted data, the ensemble loss, the interval's coverage, and a small
inverse problem recovered to a tight tolerance."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import sciml.pde._derivatives as derivatives_module
from sciml._errors import ConfigError, DataError
from sciml.nn import MLP
from sciml.pde import (
    Bounded,
    Coefficient,
    DataConstraint,
    FixedPoints,
    LogPositive,
    Problem,
    SoftplusPositive,
    Unconstrained,
    UniformPoints,
    WithCoefficients,
    interval,
    time_space,
)
from sciml.pinn import PINN, EnsembleLoss, HardConstraint, PINNLoss, bootstrap_counts, ensemble_estimate
from sciml.train import fit
from sciml.uq import make_ensemble, member

DOMAIN = time_space(0.0, 1.0, interval(0.0, 1.0, "x"))


def heat_model(key, kappa=0.5):
    field = PINN(DOMAIN, MLP(2, "scalar", 8, 2, key=key))
    return WithCoefficients(field, {"kappa": Coefficient(kappa, LogPositive())})


def test_coefficient_reaches_the_residual_on_the_batched_path_with_its_gradient(monkeypatch):
    model = heat_model(jax.random.key(0))
    points = jax.random.uniform(jax.random.key(1), (16, 2))
    problem = Problem(DOMAIN, lambda u, p: u.t - p["kappa"] * u.xx, UniformPoints(DOMAIN, 16), {})
    batched = []
    original = derivatives_module.taylor_derivatives

    def recording(*args):
        out = original(*args)
        batched.append(out is not None)
        return out

    monkeypatch.setattr(derivatives_module, "taylor_derivatives", recording)
    residual = eqx.filter_jit(problem.pointwise_residual)(model, points)
    assert batched == [True], "the coefficient kept the residual off the batched forward-derivative path"

    # Independently: u_t and u_xx by jax.grad / jax.hessian at each point, kappa = 0.5.
    u = model.field
    u_t, u_xx = eqx.filter_jit(jax.vmap(lambda p: (jax.grad(u)(p)[0], jax.hessian(u)(p)[1, 1])))(points)
    np.testing.assert_allclose(residual, u_t - 0.5 * u_xx, rtol=1e-5, atol=1e-6)

    # d/d raw of mean(r^2) with kappa = exp(raw): mean(2 r (-u_xx)) kappa.
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: problem.terms(m, {"residual": points})["residual"]))(model)
    expected = jnp.mean(2 * (u_t - 0.5 * u_xx) * -u_xx) * 0.5
    np.testing.assert_allclose(grads.coefficients["kappa"].raw, expected, rtol=1e-4)
    assert optax.tree.norm(grads.field) > 0


def test_field_only_residual_is_unchanged_and_coefficient_residual_needs_coefficients():
    model = heat_model(jax.random.key(0))
    points = jax.random.uniform(jax.random.key(1), (8, 2))
    forward = Problem(DOMAIN, lambda u: u.t - 0.5 * u.xx, UniformPoints(DOMAIN, 8), {})
    inverse = Problem(DOMAIN, lambda u, p: u.t - p["kappa"] * u.xx, UniformPoints(DOMAIN, 8), {})
    residuals = eqx.filter_jit(lambda m: (forward.pointwise_residual(m.field, points),
                                          inverse.pointwise_residual(m, points),
                                          forward.pointwise_residual(m, points)))(model)
    np.testing.assert_allclose(residuals[0], residuals[1], rtol=1e-6)
    np.testing.assert_allclose(residuals[2], residuals[0], rtol=0)
    with pytest.raises(ConfigError, match="carries no coefficients"):
        inverse.pointwise_residual(model.field, points)


@pytest.mark.parametrize("parametrisation, value", [(LogPositive(), 3e-3), (SoftplusPositive(), 3e-3),
                                                    (SoftplusPositive(), 40.0), (Bounded(0.5, 2.0), 1.7),
                                                    (Unconstrained(), -2.5)])
def test_parametrisations_round_trip_and_keep_their_range(parametrisation, value):
    coefficient = Coefficient(value, parametrisation)
    np.testing.assert_allclose(coefficient.value, value, rtol=1e-5)
    extremes = parametrisation.forward(jnp.asarray([-80.0, 0.0, 80.0]))
    if isinstance(parametrisation, Bounded):
        assert np.all((extremes >= 0.5) & (extremes <= 2.0))
    elif not isinstance(parametrisation, Unconstrained):
        assert np.all(extremes >= 0) and np.all(np.diff(extremes) > 0)


def test_parametrisations_refuse_values_outside_their_range():
    with pytest.raises(ConfigError, match="> 0"):
        Coefficient(0.0, LogPositive())
    with pytest.raises(ConfigError, match="> 0"):
        Coefficient(-1.0, SoftplusPositive())
    with pytest.raises(ConfigError, match="inside"):
        Coefficient(3.0, Bounded(0.0, 1.0))
    with pytest.raises(ConfigError, match="lower < upper"):
        Bounded(1.0, 0.0)


def test_weighted_data_constraint_is_the_mean_square_over_the_resampled_set():
    points = np.linspace(0.0, 1.0, 6)[:, None]
    values = points[:, 0] ** 2 + 0.1
    counts = np.array([2.0, 0.0, 1.0, 0.0, 3.0, 0.0])

    def u(p):
        return p[0]

    weighted = DataConstraint(points, values, counts).loss(u, jnp.asarray(points))
    resampled = np.repeat(np.arange(6), counts.astype(int))
    expected = np.mean((points[resampled, 0] - values[resampled]) ** 2)
    np.testing.assert_allclose(weighted, expected, rtol=1e-6)
    with pytest.raises(DataError, match="weights"):
        DataConstraint(points, values, -counts)
    with pytest.raises(DataError, match="weights"):
        DataConstraint(points, values, counts[:3])


def test_bootstrap_counts_are_n_draws_per_member():
    counts = bootstrap_counts(50, 4, np.random.default_rng(0))
    assert counts.shape == (4, 50) and np.all(counts.sum(axis=1) == 50)
    assert len({tuple(c) for c in counts}) == 4


def test_ensemble_interval_formula_and_coverage():
    estimate = ensemble_estimate([1.0, 2.0, 3.0], level=0.95)
    half = 4.302652729911275 * 1.0 * np.sqrt(1 + 1 / 3)  # t_{2, 0.975} = 4.3027, s = 1
    assert estimate.mean == 2.0 and estimate.std == 1.0
    np.testing.assert_allclose([estimate.lower, estimate.upper], [2.0 - half, 2.0 + half], rtol=1e-9)
    # Members drawn around the truth: the interval holds one more draw (and the truth, for an unbiased estimator
    # whose member spread is its sampling spread) at the nominal rate.
    rng = np.random.default_rng(1)
    draws = rng.normal(0.0, 1.0, (4000, 6))
    covered = [ensemble_estimate(d[:5]).covers(d[5]) for d in draws]
    assert 0.935 < np.mean(covered) < 0.965
    with pytest.raises(ConfigError, match="at least 2"):
        ensemble_estimate([1.0])


def decay(u, p):
    """The residual of u_t = -k u."""
    return u.t + p["k"] * u.value


def _decay_problem(observed_t, observed_u, weights):
    """u_t = -k u on t in [0, 1] (u(0) = 1 built into the model), data at the observed times."""
    return Problem(interval(0.0, 1.0, "t"), decay, FixedPoints(jnp.linspace(0.0, 1.0, 48)[:, None]),
                   {"data": DataConstraint(observed_t, observed_u, weights)})


def test_ensemble_recovers_the_rate_of_an_exponential_decay():
    k_true = 1.5
    t_obs = np.linspace(0.05, 1.0, 12)[:, None]
    u_obs = np.exp(-k_true * t_obs[:, 0])
    domain = interval(0.0, 1.0, "t")
    counts = bootstrap_counts(12, 2, np.random.default_rng(0))
    losses = [PINNLoss(_decay_problem(t_obs, u_obs, w)) for w in counts]
    loss = EnsembleLoss(losses)

    def one(key):
        field = PINN(domain, MLP(1, "scalar", 12, 2, key=key),
                     transform=HardConstraint(lambda p: jnp.ones(()), lambda p: p[0]))
        return WithCoefficients(field, {"k": Coefficient(0.5, LogPositive())})

    ensemble = make_ensemble(one, 2, key=jax.random.key(0))
    batch = losses[0].problem.sampler()(jax.random.key(0), 0)
    total, logged = loss(ensemble, batch, jax.random.key(0))
    separate = [losses[m](member(ensemble, m), batch, jax.random.key(0))[0] for m in range(2)]
    np.testing.assert_allclose(total, sum(separate), rtol=1e-5)
    assert {"k", "k_0", "k_1", "residual", "data"} <= set(logged)

    # The rate decays: at a constant 1e-2, Adam's k still oscillates by 1% around the optimum at step 2000, and where
    # in that swing it stops depends on float rounding (points on one device or split over four).
    rate = optax.cosine_decay_schedule(1e-2, 2000, alpha=0.01)
    result = fit(ensemble, loss, losses[0].problem.sampler(), optax.adam(rate), 2000, key=jax.random.key(1),
                 chunk=1000, progress=False)
    recovered = np.asarray(result.model.values()["k"])
    np.testing.assert_allclose(recovered, k_true, rtol=5e-3)
    # Logged every chunk: the last record holds the value the last step started from, one Adam step (lr 1e-4 on
    # log k by then) before the returned model.
    np.testing.assert_allclose(result.history[-1]["k_1"], recovered[1], rtol=1e-3)


def test_ensemble_loss_refuses_members_of_different_structure():
    t_obs, u_obs = np.linspace(0.1, 1.0, 4)[:, None], np.ones(4)
    other = Problem(interval(0.0, 1.0, "t"), lambda u, p: u.t, FixedPoints(jnp.zeros((3, 1))),
                    {"data": DataConstraint(t_obs, u_obs, np.ones(4))})
    with pytest.raises(ConfigError, match="share their structure|same shapes"):
        EnsembleLoss([PINNLoss(_decay_problem(t_obs, u_obs, np.ones(4))), PINNLoss(other)])
