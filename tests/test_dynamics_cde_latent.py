"""Neural CDE (interpolation of gappy data, exact solution for a constant field) and latent ODE/SDE (masking, the
latent SDE's path KL against its closed form)."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml.dynamics import LatentODE, LatentSDE, NeuralCDE, SeriesEncoder, cde_coefficients, elbo_loss


def _gappy_series():
    ts = jnp.linspace(0.0, 1.0, 8)
    values = jnp.stack([jnp.sin(3 * ts), ts**2], axis=1)
    gappy = values.at[jnp.array([0, 3, 4, 7]), 0].set(jnp.nan)
    return ts, values, gappy


def test_cde_coefficients_interpolate_observed_points_and_fill_gaps():
    ts, values, gappy = _gappy_series()
    path = diffrax.CubicInterpolation(ts, cde_coefficients(ts, gappy))
    at_knots = jax.vmap(path.evaluate)(ts)
    assert np.isfinite(np.asarray(at_knots)).all()
    observed = ~np.isnan(np.asarray(gappy[:, 0]))
    assert_close(at_knots[:, 0], ts, rtol=1e-6, what="time channel")
    assert_close(at_knots[observed, 1], values[observed, 0], rtol=1e-5, what="observed knots")
    assert_close(at_knots[:, 2], values[:, 1], rtol=1e-5, what="fully observed channel")


def test_cde_with_constant_field_integrates_the_path_increment(key):
    # With f(z) = M constant, z(T) = z(0) + M int dX/dt dt: set the field MLP's last layer to a bias only. The
    # integral is taken by 2-point Gauss-Legendre on each knot interval (exact: dX/dt is quadratic there).
    ts, values, gappy = _gappy_series()
    coeffs = cde_coefficients(ts, gappy)
    model = NeuralCDE(3, 4, 1, width=8, depth=1, key=key)
    bias = jax.random.normal(jax.random.fold_in(key, 1), (12,)) * 0.5
    last = model.field.mlp.layers[-1]
    model = eqx.tree_at(lambda m: (m.field.mlp.layers[-1].weight, m.field.mlp.layers[-1].bias), model,
                        (jnp.zeros_like(last.weight), bias))
    path = diffrax.CubicInterpolation(ts, coeffs)
    nodes = np.array([-1.0, 1.0]) / np.sqrt(3.0)
    left, right = np.asarray(ts[:-1]), np.asarray(ts[1:])
    points = ((left + right)[:, None] + (right - left)[:, None] * nodes[None, :]) / 2
    increment = jnp.sum(jax.vmap(path.derivative)(jnp.asarray(points.ravel(), jnp.float32))
                        * jnp.repeat(jnp.asarray((right - left) / 2, jnp.float32), 2)[:, None], axis=0)
    z1 = model.initial(path.evaluate(ts[0])) + jnp.tanh(bias).reshape(4, 3) @ increment
    assert_close(model(ts, coeffs), model.readout(z1), rtol=1e-4, atol=1e-5, what="CDE output vs closed form")
    with pytest.raises(ValueError, match="coefficients of shape"):
        model(ts, cde_coefficients(ts, gappy[:, :1]))


class Constant(eqx.Module):
    value: jax.Array

    def __call__(self, t, z, context=None):
        return self.value


def test_latent_sde_path_kl_matches_closed_form(key):
    # Constant posterior drift a, prior drift b, diffusion s: KL rate 0.5 |(a - b) / s|^2, times the horizon.
    model = LatentSDE(2, latent_size=2, context_size=3, dt0=0.05, key=key)
    a, b, s = jnp.array([0.5, -1.0]), jnp.array([0.2, 0.3]), jnp.array([0.7, 1.1])
    model = eqx.tree_at(lambda m: (m.posterior_drift, m.prior_drift, m.diffusion), model,
                        (Constant(a), Constant(b), Constant(s)))
    ts = jnp.linspace(0.0, 2.0, 5)
    values = jnp.ones((5, 2))
    _, path_kl, kl_z0 = model.posterior_paths(ts, values, jnp.ones((5, 2), bool), key=key)
    assert_close(path_kl, 0.5 * jnp.sum(((a - b) / s) ** 2) * 2.0, rtol=1e-5, what="latent SDE path KL")
    assert float(kl_z0) >= 0.0


def test_latent_ode_ignores_masked_values_and_trains_on_elbo(key):
    model = LatentODE(2, latent_size=3, hidden_size=8, width=8, depth=1, key=key)
    ts = jnp.linspace(0.0, 1.0, 6)
    values = jnp.sin(ts)[:, None] * jnp.ones((6, 2))
    mask = jnp.ones((6, 2), bool).at[2:4].set(False)
    poked = values.at[2:4].set(100.0)
    assert_close(model(ts, values, mask, ts), model(ts, poked, mask, ts), rtol=1e-6, what="masked entries unused")
    with pytest.raises(ValueError, match="NaN where the mask says observed"):
        model(ts, values.at[0, 0].set(jnp.nan), mask, ts)
    with pytest.raises(ValueError, match="query_ts must start"):
        model(ts, values, mask, ts[1:])
    batch = {"ts": ts, "values": jnp.stack([values, poked]), "mask": jnp.stack([mask, mask])}
    loss, terms = elbo_loss(model, batch, key)
    assert np.isfinite(float(loss)) and float(terms["kl"]) >= 0.0


def test_series_encoder_reads_the_gaps_between_observations(key):
    # Unobserved grid points in between must not change the encoding (only the observed points and their spacing
    # count); moving an observed point in time must change it.
    encoder = SeriesEncoder(2, latent_size=3, hidden_size=8, key=key)
    ts = jnp.array([0.0, 0.4, 1.0, 1.5])
    values = jnp.stack([jnp.cos(ts), jnp.sin(ts)], axis=1)
    mask = jnp.ones((4, 2), bool)
    dense_ts = jnp.array([0.0, 0.2, 0.4, 0.7, 1.0, 1.2, 1.5])
    dense_values = jnp.zeros((7, 2)).at[jnp.array([0, 2, 4, 6])].set(values)
    dense_mask = jnp.zeros((7, 2), bool).at[jnp.array([0, 2, 4, 6])].set(True)
    sparse, dense = encoder(ts, values, mask), encoder(dense_ts, dense_values, dense_mask)
    for a, b, what in zip(sparse, dense, ("mean", "std", "context"), strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6, what=f"encoder {what} with masked grid points")
    moved = encoder(ts.at[1].set(0.7), values, mask)[0]
    assert float(jnp.max(jnp.abs(moved - sparse[0]))) > 1e-4


def test_a_failed_solve_makes_the_cde_and_elbo_losses_inf_and_names_the_solver(key):
    from sciml.dynamics import with_failure_metric

    ts, _, gappy = _gappy_series()
    coeffs = cde_coefficients(ts, gappy)
    for max_steps, failed in ((4096, False), (1, True)):
        out, flag = NeuralCDE(3, 4, 1, 8, 1, max_steps=max_steps, key=key).output_and_failure(ts, coeffs)
        assert bool(flag) == failed and bool(np.isfinite(out).all()) != failed
    loss, metric = with_failure_metric(jnp.asarray(0.3), jnp.array([False, True]))
    assert np.isinf(loss) and np.isinf(metric)
    batch = {"ts": ts, "values": jnp.nan_to_num(gappy), "mask": ~jnp.isnan(gappy)}
    batch = {k: v if k == "ts" else jnp.stack([v, v]) for k, v in batch.items()}
    models = (LatentODE(2, 2, 4, 8, 1, ode_kwargs={"max_steps": 1}, key=key),
              LatentSDE(2, 2, 2, 4, 8, 1, dt0=0.05, max_steps=3, key=key))
    for model in models:
        loss, metrics = elbo_loss(model, batch, key)
        assert np.isinf(loss) and np.isinf(metrics["solver_failed"])
        assert np.isfinite(metrics["nll"]) and np.isfinite(metrics["kl"])
