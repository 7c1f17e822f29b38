"""Lorenz-96: tendencies against an explicit-index implementation, RK4 order, closure fit, dataset layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError, DataError
from sciml.solvers import (
    CubicClosure,
    TwoScaleLorenz96,
    lorenz96_dataset,
    lorenz96_samples,
    simulate_one_scale,
    slow_tendency,
)


def _two_scale_loops(x, y, forcing, h, b, c):
    """Lorenz (1996) written with explicit indices: Y_{j,k} on one ring of length J K (j fastest)."""
    K, J = y.shape
    ring = y.reshape(-1)
    n = ring.size
    dx = np.empty(K)
    for k in range(K):
        dx[k] = -x[k - 1] * (x[k - 2] - x[(k + 1) % K]) - x[k] + forcing - h * c / b * y[k].sum()
    dring = np.empty(n)
    for i in range(n):
        dring[i] = (-c * b * ring[(i + 1) % n] * (ring[(i + 2) % n] - ring[i - 1]) - c * ring[i]
                    + h * c / b * x[i // J])
    return dx, dring.reshape(K, J)


def test_two_scale_tendency_matches_explicit_indices():
    rng = np.random.default_rng(0)
    system = TwoScaleLorenz96(K=5, J=4, h=0.7, b=9.0, c=11.0)
    x, y = rng.normal(size=5) * 5, rng.normal(size=(5, 4))
    dx, dy = system.tendency(jnp.asarray(x), jnp.asarray(y), 17.0)
    ex, ey = _two_scale_loops(x, y, 17.0, 0.7, 9.0, 11.0)
    assert_close(dx, ex, rtol=1e-5, atol=1e-4, what="dX/dt")
    assert_close(dy, ey, rtol=1e-5, atol=1e-4, what="dY/dt")
    assert_close(system.subgrid_tendency(jnp.asarray(y)), -0.7 * 11 / 9 * y.sum(axis=1), rtol=1e-5, what="U")
    assert_close(slow_tendency(jnp.asarray(x), 17.0), _two_scale_loops(x, 0 * y, 17.0, 0.7, 9.0, 11.0)[0],
                 rtol=1e-5, atol=1e-4, what="one-scale L(X)")


def test_rk4_is_fourth_order():
    x0 = jnp.asarray(np.random.default_rng(1).normal(size=8) * 3)
    with jax.enable_x64(True):
        x0 = x0.astype(jnp.float64)
        zero = lambda x: 0.0 * x  # noqa: E731

        def final(dt):
            return simulate_one_scale(zero, x0, 10.0, dt=dt, save_every=int(round(0.2 / dt)), n_snapshots=1)[-1]

        reference = final(0.2 / 256)
        errors = [float(jnp.max(jnp.abs(final(0.2 / n) - reference))) for n in (8, 16)]
    assert_close(np.log2(errors[0] / errors[1]), 4.0, rtol=0.1, what="RK4 convergence order")


def test_cubic_closure_recovers_coefficients():
    x = np.linspace(-10, 15, 200)
    u = 0.5 - 1.2 * x + 0.01 * x**2 + 0.002 * x**3
    closure = CubicClosure.fit(x, u)
    assert_close(closure.coefficients, [0.5, -1.2, 0.01, 0.002], rtol=1e-4, atol=1e-6, what="cubic coefficients")
    assert_close(closure(jnp.asarray(x, jnp.float32)), u, rtol=1e-4, atol=1e-4, what="closure values")


def test_dataset_layout_and_selection():
    ds = lorenz96_dataset(hf_forcings=(18.0,), lf_forcings=(18.0, 24.0), test_forcings=(24.0,), hf_duration=1.0,
                          lf_duration=1.0, test_duration=0.5, interval=0.1, test_interval=0.25)
    assert ds["X"].dims == ("sample", "k") and ds.sizes["k"] == 8
    assert np.isfinite(ds["X"].values).all() and np.isfinite(ds["U"].values).all()
    x_hf, u_hf, f_hf = lorenz96_samples(ds, "high", "train")
    x_lf, u_lf, f_lf = lorenz96_samples(ds, "low", "train")
    assert x_hf.shape == (10, 8) and set(f_hf) == {18.0}
    assert x_lf.shape == (20, 8) and set(f_lf) == {18.0, 24.0}
    closure = CubicClosure(jnp.asarray(ds.attrs["cubic_closure"], jnp.float32))
    assert_close(u_lf, closure(jnp.asarray(x_lf)), rtol=1e-5, atol=1e-5, what="LF targets are the closure")
    assert lorenz96_samples(ds, "high", "test")[0].shape == (2, 8)
    with pytest.raises(DataError, match="fidelity='low', split='test'"):
        lorenz96_samples(ds, "low", "test")


def test_one_scale_red_noise_is_ar1_with_the_asked_std_and_time(key):
    forcing, dt, std, time = 10.0, 0.01, 0.7, 0.05
    # the closure cancels the resolved tendency, so each RK4 step moves X by exactly dt * e_n
    x = np.asarray(simulate_one_scale(lambda s: -slow_tendency(s, forcing), jnp.zeros(8), forcing, dt=dt, save_every=1,
                                      n_snapshots=20_000, noise_std=std, noise_time=time, key=key), np.float64)
    e = np.diff(x, axis=0) / dt
    assert_close(e.std(), std, rtol=0.03, what="stationary std of the red noise")
    lag1 = np.mean(e[1:] * e[:-1]) / np.mean(e**2)
    assert_close(lag1, np.exp(-dt / time), rtol=0, atol=0.02, what="lag-1 autocorrelation exp(-dt / time)")
    with pytest.raises(ConfigError, match="needs a PRNG key"):
        simulate_one_scale(lambda s: s, jnp.zeros(8), forcing, noise_std=1.0)
