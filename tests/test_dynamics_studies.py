"""The neural-DE study helpers: ODE rollouts, long SDE ensembles and their bands."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from conftest import assert_close

from sciml.dynamics import NeuralODE, NeuralSDE
from sciml.studies.dynamics import ensemble_band, generate_paths, rollout


class Affine(eqx.Module):
    slope: jax.Array
    offset: jax.Array

    def __init__(self, slope, offset):
        self.slope, self.offset = jnp.asarray(slope), jnp.asarray(offset)

    def __call__(self, t, y, args=None):
        return self.slope * y + self.offset


def test_rollout_solves_each_initial_state():
    ts, y0s = np.linspace(0.0, 2.0, 5), np.array([[1.0, -2.0], [0.5, 3.0]])
    paths = rollout(NeuralODE(Affine(-0.7, 0.0)), ts, y0s)
    assert paths.shape == (2, 5, 2) and paths.dtype == np.float32
    assert_close(paths, y0s[:, None] * np.exp(-0.7 * ts)[None, :, None], rtol=1e-4, atol=1e-5, what="rollout")


def test_generate_paths_lifts_the_step_limit_and_keys_each_path(key):
    ts = jnp.linspace(0.0, 2.0, 21)
    model = NeuralSDE(Affine(-1.0, 0.0), Affine(0.0, 0.3), dt0=0.1, brownian="grid", max_steps=5)
    starts = jnp.array([[1.0], [-1.0], [0.0]])
    paths = generate_paths(model, ts, starts, key, max_steps=20)
    assert paths.shape == (3, 21, 1) and np.isfinite(paths).all()
    one = dataclasses.replace(model, max_steps=20)(ts, starts[1], key=jax.random.split(key, 3)[1])
    assert_close(paths[1], one, rtol=1e-6, what="path 1 uses the second split key")
    assert not np.allclose(paths[0], paths[2])


def test_ensemble_band_variables():
    paths = np.arange(40.0).reshape(20, 2, 1)
    band = ensemble_band(paths, ("t", "channel"))
    assert set(band) == {"prediction_mean", "prediction_std", "prediction_lower", "prediction_upper"}
    dims, lower = band["prediction_lower"]
    assert dims == ("t", "channel") and lower.shape == (2, 1)
    assert_close(band["prediction_mean"][1], paths.mean(0), rtol=1e-12, what="mean")
    assert_close(lower, np.quantile(paths, 0.05, axis=0), rtol=1e-12, what="lower")
    assert (band["prediction_upper"][1] > lower).all()


def test_a_failed_solve_in_rollout_or_generate_paths_is_a_clear_error(key):
    import pytest

    from sciml import DataError

    ts = np.linspace(0.0, 2.0, 5)
    with pytest.raises(DataError, match=r"rollout: the solve of sample 0 .*maximum number of solver steps"):
        rollout(NeuralODE(Affine(-0.7, 0.0), max_steps=2), ts, np.ones((2, 2)))
    model = NeuralSDE(Affine(-1.0, 0.0), Affine(0.0, 0.3), dt0=0.1, brownian="grid", max_steps=5)
    with pytest.raises(DataError, match=r"generate_paths: .*max_steps=10"):
        generate_paths(model, jnp.asarray(ts), jnp.ones((3, 1)), key, max_steps=10)
