"""Online climate statistics against closed forms, and a learned closure coupled into the one-scale model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from conftest import assert_close

from sciml import ConfigError
from sciml.solvers import CubicClosure, TwoScaleLorenz96, simulate_one_scale
from sciml.studies import TrainConfig, train
from sciml.uq import (
    CouplingNoise,
    autocorrelation,
    coupling_noise,
    ensemble_predict,
    hellinger_distance,
    local_stencil,
    online_metrics,
    online_runs,
    online_runs_of,
    parametrization_training,
    trainable_filter,
    wavenumber_spectrum,
    with_online_runs,
)


def test_hellinger_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 400_000)
    assert hellinger_distance(a, a) == 0.0
    assert_close(hellinger_distance(a, a + 100.0), 1.0, rtol=1e-12, what="disjoint supports")
    m1, s1, m2, s2 = 0.0, 1.0, 1.0, 1.5
    b = rng.normal(m2, s2, 400_000)
    exact = np.sqrt(1 - np.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * np.exp(-((m1 - m2) ** 2) / (4 * (s1**2 + s2**2))))
    assert_close(hellinger_distance(a, b, bins=80, value_range=(-8.0, 9.0)), exact, rtol=0.03,
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
    training = parametrization_training("rpn", None, (x, u), key=key, members=2, width=8, depth=1, half_width=1)
    result = train(training.ensemble, training.loss, training.sampler, TrainConfig(steps=50, chunk=50),
                   trainable=trainable_filter(training.ensemble))
    model = training.closure(result.model)
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
    cubic = CubicClosure(jnp.asarray([0.0, -0.8, 0.0, 0.0], jnp.float32))
    runs = online_runs({"cubic": cubic, "rpn": model}, [20.0], noise={"cubic": CouplingNoise(0.5, 0.05)},
                       initial_conditions=3, duration=0.25, interval=0.05, key=jax.random.fold_in(key, 2),
                       system=TwoScaleLorenz96(J=4))
    assert runs["X"].shape == (3, 1, 3, 5, 8) and list(runs["model"].values) == ["truth", "cubic", "rpn"]
    assert runs["member"].sel(model="rpn").values.tolist() == [0, 1, 0]  # run i couples member i mod M
    assert np.all(np.isfinite(runs["X"].values)) and runs.attrs["noise_std_cubic"] == 0.5
    first = runs["X"].values[:, 0, :, 0]
    assert_close(first[1], first[0], rtol=0, atol=1.0, what="every model starts from the truth's states")
    stored = online_runs_of(with_online_runs(xr.Dataset({"prediction": ("k", np.zeros(8))}), runs))
    assert stored.identical(runs)
    metrics = online_metrics(stored)
    assert metrics["online_blowups_rpn_F20"] == 0.0 and metrics["online_stable_time_rpn_F20"] == 0.25
    assert 0.0 < metrics["online_hellinger_rpn_F20"] <= 1.0
    with pytest.raises(ConfigError, match="not closures"):
        online_runs({"cubic": cubic}, [20.0], noise={"rpn": CouplingNoise(0.5, 0.05)}, key=key)
    with pytest.raises(ConfigError, match="initial_conditions >= 1"):
        online_runs({"cubic": cubic}, [20.0], initial_conditions=0, key=key)


def test_coupling_noise_recovers_ar1_residuals():
    rng = np.random.default_rng(3)
    phi, n, interval = 0.6, 40_000, 0.1
    r = np.zeros((n, 4))
    for t in range(1, n):
        r[t] = phi * r[t - 1] + np.sqrt(1 - phi**2) * 1.5 * rng.normal(size=4)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    closure = CubicClosure(jnp.asarray([0.5, -0.8, 0.0, 0.01], jnp.float32))
    u = np.asarray(closure(jnp.asarray(x))) + r
    forcings = np.repeat([18.0, 20.0], n // 2)
    noise = coupling_noise(closure, x, u, forcings, interval=interval)
    assert_close(noise.std, 1.5, rtol=0.03, what="residual std")
    assert_close(noise.time, -interval / np.log(phi), rtol=0.05, what="e-folding time of the residual")
    white = coupling_noise(closure, x, np.asarray(closure(jnp.asarray(x))) + rng.normal(size=x.shape), forcings,
                           interval=interval)
    assert_close(white.time, interval / 3.0, rtol=1e-2, what="decorrelated residuals: the shortest time, interval/3")
