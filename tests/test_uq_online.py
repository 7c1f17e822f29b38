"""Online climate statistics against closed forms, and a learned closure coupled into the one-scale model."""

import jax
import jax.numpy as jnp
import numpy as np
from conftest import assert_close

from sciml.solvers import simulate_one_scale
from sciml.uq import (
    autocorrelation,
    ensemble_predict,
    hellinger_distance,
    local_stencil,
    train_parametrization,
    wavenumber_spectrum,
)


def test_hellinger_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 400_000)
    assert hellinger_distance(a, a) == 0.0
    assert_close(hellinger_distance(a, a + 100.0), 1.0, rtol=1e-12, what="disjoint supports")
    m1, s1, m2, s2 = 0.0, 1.0, 1.0, 1.5
    b = rng.normal(m2, s2, 400_000)
    exact = np.sqrt(1 - np.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * np.exp(-((m1 - m2) ** 2) / (4 * (s1**2 + s2**2))))
    assert_close(hellinger_distance(a, b, bins=80, value_range=(-8, 9)), exact, rtol=0.03,
                 what="Hellinger of two Gaussians")


def test_autocorrelation_of_ar1_and_spectrum_parseval():
    rng = np.random.default_rng(1)
    phi, n = 0.8, 100_000
    x = np.zeros((n, 2))
    noise = rng.normal(size=(n, 2))
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    assert_close(autocorrelation(x, 3), phi ** np.arange(4), rtol=0, atol=0.02, what="AR(1) autocorrelation")
    field = rng.normal(size=(50, 8))
    spectrum = wavenumber_spectrum(field)
    full = np.concatenate([spectrum, spectrum[1:-1]])  # rfft of even K: bins 1..K/2-1 appear twice
    anomalies = field - field.mean()
    assert_close(full.sum(), np.mean(np.sum(anomalies**2, axis=1)), rtol=1e-10, what="Parseval")


def test_learned_closure_members_noise_and_coupling(key):
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 4.0, size=(64, 8)).astype(np.float32)
    u = (-0.8 * x + rng.normal(0, 0.5, size=x.shape)).astype(np.float32)
    model, result = train_parametrization("rpn", None, (x, u), key=key, members=2, width=8, depth=1, steps=50,
                                          half_width=1, chunk=50)
    state = jnp.asarray(x[0])
    features = model.inputs.normalize(local_stencil(state, 1))
    manual = model.outputs.denormalize(ensemble_predict(model.ensemble, features)[..., 0])
    assert_close(model.members(state), manual, rtol=1e-5, what="member predictions in physical units")
    assert_close(model(state), manual.mean(axis=0), rtol=1e-5, what="closure = ensemble mean")
    assert model.predict_members(x[:5]).shape == (2, 5, 8)
    assert float(model.noise_std) > 0.3
    trajectory = simulate_one_scale(model, state, 20.0, dt=0.005, save_every=20, n_snapshots=10)
    assert bool(jnp.all(jnp.isfinite(trajectory)))
    samples = model.predictive_samples(x[:5], 3, key=jax.random.fold_in(key, 1))
    assert samples.shape == (6, 5, 8)
