"""Random-grid neural processes: the Gaussian algebra against dense formulas, the GICNet's invariances and
interpolation, the hard boundary condition, the ELBO's pieces against hand computations, the residual operator on the
family's exact solution, and a tiny training run."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close
from scipy import stats

from sciml import ConfigError
from sciml.nn import GICNet, KernelInterpolation
from sciml.pde import Field
from sciml.rgnp import (
    RGNP,
    DataELBO,
    DiagonalCovariance,
    ForwardNetwork,
    Gaussian,
    InverseNetwork,
    LowRankCovariance,
    RandomGridELBO,
    RandomGridTasks,
    SensorData,
    kl_divergence,
    observe,
    residual_log_likelihood,
    residual_noise_std,
    sensor_mask,
)
from sciml.studies.neural_process import _DIRICHLET, POISSON, grid_posterior, poisson_residual

kl = jax.jit(kl_divergence)


def _call(module, *args):
    """A module's call, compiled (eager dispatch of many small ops is what makes tests slow)."""
    return eqx.filter_jit(lambda m, *a: m(*a))(module, *args)


def _compiled(fn, *args):
    """``fn(*args)`` compiled; modules among the args are traced, not baked in."""
    return eqx.filter_jit(fn)(*args)


def _gaussian(key, n, k, shift=0.0):
    a, b, c = jax.random.split(key, 3)
    return Gaussian(jax.random.normal(a, (n,)) + shift, 0.2 + jax.random.uniform(b, (n,)),
                    0.5 * jax.random.normal(c, (n, k)))


@pytest.mark.parametrize("rank", [0, 3])
def test_gaussian_log_prob_entropy_and_inverse_match_dense_formulas(rank):
    g = _gaussian(jax.random.key(1), 6, rank)
    cov = np.asarray(g.covariance(), np.float64)
    x = np.linspace(-1.0, 1.0, 6)
    dense = stats.multivariate_normal(np.asarray(g.mean, np.float64), cov)
    log_prob, entropy, inverse_diagonal, marginal = _compiled(
        lambda g, x: (g.log_prob(x), g.entropy(), g.inverse_diagonal(), g.marginal_variance()), g,
        jnp.asarray(x, jnp.float32))
    assert_close(log_prob, dense.logpdf(x), rtol=1e-5, what="log density")
    assert_close(entropy, dense.entropy(), rtol=1e-5, what="entropy")
    assert_close(inverse_diagonal, np.diag(np.linalg.inv(cov)), rtol=1e-4, what="diagonal of the inverse")
    assert_close(marginal, np.diag(cov), rtol=1e-6, what="marginal variance")


def test_kl_of_gaussians_matches_closed_forms():
    # one dimension: log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    p = Gaussian(jnp.array([0.3]), jnp.array([0.5**2]), jnp.zeros((1, 0)))
    q = Gaussian(jnp.array([-0.4]), jnp.array([1.5**2]), jnp.zeros((1, 0)))
    assert_close(kl(p, q), np.log(1.5 / 0.5) + (0.25 + 0.49) / (2 * 2.25) - 0.5, rtol=1e-6, what="1D KL")
    # low-rank against the dense formula
    p, q = _gaussian(jax.random.key(2), 5, 2), _gaussian(jax.random.key(3), 5, 1, shift=0.5)
    sp, sq = (np.asarray(g.covariance(), np.float64) for g in (p, q))
    delta = np.asarray(q.mean - p.mean, np.float64)
    dense = 0.5 * (np.trace(np.linalg.solve(sq, sp)) + delta @ np.linalg.solve(sq, delta) - 5
                   + np.linalg.slogdet(sq)[1] - np.linalg.slogdet(sp)[1])
    assert_close(kl(p, q), dense, rtol=1e-4, what="low-rank KL")
    assert_close(kl(p, p), 0.0, rtol=0, atol=1e-4, what="KL(p || p)")


def test_covariance_strategies_build_their_gaussians():
    rows = jnp.array([[0.1, 0.0, 2.0, 3.0], [0.2, -30.0, 0.0, 1.0]])
    g = LowRankCovariance(2, min_std=1e-3).gaussian(rows)
    assert_close(g.variance, [(1e-3 + np.log(2.0)) ** 2, 1e-6], rtol=1e-4, what="std = min_std + softplus(raw)")
    assert_close(g.factor, rows[:, 2:], rtol=0, what="factor rows")
    assert g.rank == 2 and DiagonalCovariance().gaussian(rows[:, :2]).rank == 0
    with pytest.raises(ConfigError, match="raw rows of 2"):
        DiagonalCovariance().gaussian(rows)
    with pytest.raises(ConfigError, match="factor_rank"):
        LowRankCovariance(0)


def _gicnet(key, query_size=0):
    return GICNet((0.0,), (1.0,), 3, channels=4, resolution=8, conv_channels=4, conv_depth=2, basis=5,
                  query_size=query_size, key=key)


def test_gicnet_shapes_permutation_invariance_and_mask():
    net = _gicnet(jax.random.key(0), query_size=1)
    points = jax.random.uniform(jax.random.key(1), (12, 1))
    values = jnp.sin(3 * points)
    query = jnp.array([0.5])
    out = _call(net, points, values, None, query)
    assert out.shape == (3,)
    order = jax.random.permutation(jax.random.key(2), 12)
    assert_close(_call(net, points[order], values[order], None, query), out, rtol=1e-5, what="permuted points")
    mask = jnp.arange(12) < 7
    garbage = values.at[7:].set(100.0)
    assert_close(_call(net, points, garbage, mask, query), _call(net, points[:7], values[:7], None, query),
                 rtol=1e-5, atol=1e-6, what="masked points do not count")
    with pytest.raises(ConfigError, match="query"):
        net(points, values)


def test_kernel_interpolation_reproduces_a_smooth_field():
    nodes = np.linspace(0.0, 1.0, 11)[:, None]
    layer = KernelInterpolation(nodes, 2, lengthscale_range=(0.01, 10.0))
    points = jnp.linspace(0.0, 1.0, 801)[:, None]
    field = jnp.sin(jnp.pi * points)
    out = _call(layer, points, jnp.concatenate([field, field], axis=1))
    exact = np.sin(np.pi * nodes[:, 0])
    # a short length-scale interpolates (away from the ends, where Nadaraya-Watson is biased) ...
    assert_close(out[2:-2, 0], exact[2:-2], rtol=0, atol=2e-3, what="short length-scale")
    # ... a long one averages: every node sees nearly the field's mean 2/pi
    assert_close(out[:, 1], np.full(11, 2 / np.pi), rtol=0, atol=5e-3, what="long length-scale")
    # density: sum_j k(g, x_j) / n = sqrt(2 pi) l / spacing / n inside the cloud
    assert_close(out[2:-2, 2], np.full(7, np.sqrt(2 * np.pi) * 0.01 * 800 / 801), rtol=1e-3, what="density")


def _forward(covariance, key=None):
    return ForwardNetwork(POISSON.domain, POISSON.parameters, _DIRICHLET, covariance, width=8, depth=1,
                          n_frequencies=3, key=jax.random.key(0) if key is None else key)


@pytest.mark.parametrize("covariance", [DiagonalCovariance(), LowRankCovariance(2)])
def test_hard_boundary_condition_is_exact(covariance):
    forward = _forward(covariance)
    z = jnp.array([1.7])
    ends = jnp.array([[0.0], [1.0]])
    mean, variance, draws, middle = _compiled(lambda f, z, ends: (
        f.distribution(z, ends).mean, f.distribution(z, ends).marginal_variance(),
        jax.vmap(lambda x: f.field(z, x, jnp.asarray(2.0), jnp.ones((covariance.rank,))))(ends),
        f.mean(z, jnp.array([0.5]))), forward, z, ends)
    assert np.all(np.asarray(mean) == 0.0) and np.all(np.asarray(draws) == 0.0)
    assert np.all(np.asarray(variance) <= 1e-12)
    assert float(jnp.abs(middle)) > 0


def test_draws_agree_with_the_joint_distribution():
    forward = _forward(LowRankCovariance(2))
    z, points = jnp.array([2.0]), jnp.array([[0.2], [0.6]])
    point_noise, shared_noise = jnp.array([0.3, -1.2]), jnp.array([0.5, 2.0])
    joint, single = _compiled(lambda f, z, points: (
        f.distribution(z, points).sample_from(point_noise, shared_noise),
        jax.vmap(lambda p, e: f.field(z, p, e, shared_noise))(points, point_noise)), forward, z, points)
    assert_close(joint, single, rtol=1e-5, what="field draws vs the joint Gaussian's draw")


def _exact(z, x):
    # the real root of u^3/3 + u = z sin(pi x) (Cardano)
    s = z * jnp.sin(jnp.pi * x)
    r = jnp.sqrt(2.25 * s**2 + 1)
    return jnp.cbrt(1.5 * s + r) + jnp.cbrt(1.5 * s - r)


def test_residual_of_the_exact_solution_vanishes():
    z = jnp.array([2.3])
    points = jnp.linspace(0.05, 0.95, 19)[:, None]

    @jax.jit
    def residuals(points):
        def of(scale):
            return jax.vmap(lambda p: poisson_residual(Field(lambda q: scale * _exact(z[0], q[0]), p, ("x",)), z))
        return of(1.0)(points), of(1.01)(points)

    residual, wrong = residuals(points)
    assert np.max(np.abs(residual)) < 1e-4 * 2.3 * np.pi**2
    assert np.max(np.abs(wrong)) > 0.1


def test_elbo_pieces_against_hand_computations():
    r = jnp.array([[0.5], [-1.0], [2.0]])
    assert_close(residual_log_likelihood(r, jnp.asarray(0.7)), np.sum(stats.norm.logpdf([0.5, -1.0, 2.0], 0, 0.7)),
                 rtol=1e-6, what="residual log-likelihood")
    assert_close(residual_noise_std(r, floor=0.0), np.sqrt(np.mean([0.25, 1.0, 4.0])), rtol=1e-6, what="eps_r")
    assert float(residual_noise_std(r, ceiling=0.5)) == 0.5
    assert sensor_mask(4, jnp.asarray(2)).tolist() == [True, True, False, False]
    readings, std = observe(jax.random.key(0), jnp.zeros(20000), jnp.asarray(0.01), jnp.asarray(3.0))
    assert_close(std, 0.03, rtol=1e-6, what="noise std = level x scale")
    assert_close(np.std(readings), 0.03, rtol=0.03, what="drawn noise")

    forward = _forward(DiagonalCovariance())
    inverse = InverseNetwork(POISSON.domain, POISSON.parameters, query_size=1, key=jax.random.key(1), channels=2,
                             resolution=4, conv_channels=2, conv_depth=1, basis=2)
    model = RGNP(forward, inverse)
    loss = RandomGridELBO(POISSON, reference_std=3.0, max_residual_std=1e6)
    z, grid, slots = jnp.array([1.2]), jnp.array([[0.1], [0.4], [0.8]]), jnp.array([[0.3], [0.7]])

    batch = {"z": z[None], "grid": grid[None], "sensor_points": slots[None], "n_sensors": jnp.array([2]),
             "noise_level": jnp.array([0.01])}

    def pieces(model):
        terms = jax.tree.map(lambda t: t[0], loss.terms(model, batch, jax.random.key(3)))
        joint = model.forward.distribution(z, jnp.concatenate([grid, slots]))
        mean_residual = jax.vmap(lambda p: poisson_residual(
            Field(lambda q: model.forward.mean(z, q), p, ("x",)), z))(grid)
        return terms, joint.mean, joint.variance, mean_residual

    terms, mean, var, mean_residual = _compiled(pieces, model)
    mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
    hand_kl = 0.5 * np.sum(var / 9 + mean**2 / 9 - 1 + np.log(9 / var))
    assert_close(terms["kl"], hand_kl, rtol=1e-4, what="KL to N(0, s0^2 I)")
    assert_close(terms["residual_std"], np.sqrt(np.mean(np.square(mean_residual)) + 1e-12), rtol=1e-4,
                 what="eps_r from the mean's residual")


def test_samplers_draw_fresh_grids_within_bounds():
    tasks = RandomGridTasks(POISSON.domain, POISSON.parameters, 5, 7, 6, (2, 6), (0.01, 0.1))
    draw = eqx.filter_jit(lambda t, s: t(jax.random.key(0), s))
    first, again, later = (draw(tasks, jnp.asarray(s)) for s in (0, 0, 1))
    assert first["grid"].shape == (5, 7, 1) and first["sensor_points"].shape == (5, 6, 1)
    assert np.all((first["z"] >= 0.5) & (first["z"] <= 3.0))
    assert np.all((first["n_sensors"] >= 2) & (first["n_sensors"] <= 6))
    assert np.all((first["noise_level"] >= 0.01 - 1e-7) & (first["noise_level"] <= 0.1 + 1e-7))
    assert np.array_equal(first["grid"], again["grid"]) and not np.allclose(first["grid"], later["grid"])
    with pytest.raises(ConfigError, match="n_slots"):
        RandomGridTasks(POISSON.domain, POISSON.parameters, 5, 7, 4, (2, 6))
    data = SensorData(jnp.ones((3, 1)), jnp.zeros((3, 5, 1)), jnp.arange(15.0).reshape(3, 5), 4, (1, 5))
    batch = _compiled(lambda d: d(jax.random.key(0), jnp.asarray(0)), data)
    assert batch["values"].shape == (4, 5) and batch["points"].shape == (4, 5, 1)
    cases = np.asarray(batch["values"][:, 0] // 5, int)  # case c holds the values 5c ... 5c + 4, shuffled
    assert np.array_equal(np.sort(batch["values"], axis=1), np.asarray(data.values)[cases])


def test_grid_posterior_of_a_gaussian_likelihood():
    z = np.linspace(-5.0, 5.0, 4001)
    posterior = grid_posterior(stats.norm.logpdf(z, 0.7, 0.3)[None, :], z)
    assert_close(posterior["mean"], [0.7], rtol=1e-6, what="mean")
    assert_close(posterior["std"], [0.3], rtol=1e-4, what="std")
    assert_close(posterior["upper"], [0.7 + 0.3 * stats.norm.ppf(0.95)], rtol=1e-3, what="95% quantile")


def _tiny_model(key):
    k1, k2 = jax.random.split(key)
    inverse = InverseNetwork(POISSON.domain, POISSON.parameters, query_size=1, key=k2, channels=2, resolution=4,
                             conv_channels=2, conv_depth=1, basis=2)
    return RGNP(_forward(DiagonalCovariance(), k1), inverse)


def test_tiny_training_lowers_the_negative_elbo():
    # one fixed batch and key, plain Adam steps (the engine's own path is the experiment's smoke run)
    tasks = RandomGridTasks(POISSON.domain, POISSON.parameters, 4, 8, 4, (2, 4))
    batch, loss, optimizer = tasks(jax.random.key(0), jnp.asarray(0)), RandomGridELBO(POISSON), optax.adam(1e-2)
    model = _tiny_model(jax.random.key(0))
    state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, state):
        (value, metrics), grads = eqx.filter_value_and_grad(loss, has_aux=True)(model, batch, jax.random.key(1))
        updates, state = optimizer.update(grads, state, model)
        return eqx.apply_updates(model, updates), state, value, metrics

    values = []
    for _ in range(40):
        model, state, value, metrics = step(model, state)
        values.append(float(value))
    assert values[-1] < 0.5 * values[0], values
    assert {"residual_loglik", "inverse_loglik", "kl", "residual_std"} <= metrics.keys()


def test_data_elbo_is_the_data_and_inverse_log_likelihoods():
    model = _tiny_model(jax.random.key(0))
    data = SensorData(jnp.array([[1.0], [2.5]]), jax.random.uniform(jax.random.key(1), (2, 6, 1)),
                      jnp.ones((2, 6)), 2, (2, 4))

    def pieces(model, data):
        batch = data(jax.random.key(2), jnp.asarray(0))
        value, metrics = DataELBO(4, data_noise=0.1)(model, batch, jax.random.key(3))
        cases = [model.forward.distribution(batch["z"][i], batch["points"][i]).with_noise(0.01 + 1e-10)
                 for i in range(2)]
        return value, metrics, [case.log_prob(batch["values"][i]) for i, case in enumerate(cases)]

    value, metrics, by_hand = _compiled(pieces, model, data)
    assert_close(metrics["data_loglik"], sum(by_hand) / 2, rtol=1e-4, what="data log-likelihood")
    assert_close(value, -(metrics["data_loglik"] + metrics["inverse_loglik"]) / 6, rtol=1e-5, what="total")
