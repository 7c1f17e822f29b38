"""Neural ODE: solution against the matrix exponential, gradients against calculus, training through `fit`,
hybrid vector fields and the bad-input errors."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg
from conftest import assert_close

from sciml.dynamics import HybridVectorField, MLPVectorField, NeuralODE, trajectory_mse
from sciml.train import fit


class Linear(eqx.Module):
    matrix: jax.Array

    def __call__(self, t, y, args=None):
        return self.matrix @ y


class Decay(eqx.Module):
    rate: jax.Array

    def __call__(self, t, y, args=None):
        return -self.rate * y


def test_linear_system_value_and_gradient_match_matrix_exponential():
    matrix = np.array([[-0.1, 2.0], [-2.0, -0.3]])
    direction = np.array([[0.3, -1.0], [0.5, 0.2]])
    weights = np.array([1.0, -2.0])
    ts = np.linspace(0.0, 3.0, 7)
    y0 = np.array([1.0, -0.5])

    def solve(m):
        model = NeuralODE(Linear(m), stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-7))
        ys = model(jnp.asarray(ts, jnp.float32), jnp.asarray(y0, jnp.float32))
        return ys[-1] @ jnp.asarray(weights, jnp.float32), ys

    (_, ys), grad = jax.value_and_grad(solve, has_aux=True)(jnp.asarray(matrix, jnp.float32))
    exact = np.stack([scipy.linalg.expm(matrix * t) @ y0 for t in ts])
    assert_close(ys, exact, rtol=0, atol=2e-5, what="neural ODE with a linear field vs expm")
    # d/dA [w . expm(A T) y0] along E is w . L(A T, E T) y0, L the Frechet derivative of expm.
    frechet = scipy.linalg.expm_frechet(matrix * ts[-1], direction * ts[-1], compute_expm=False)
    assert_close(np.sum(np.asarray(grad) * direction), weights @ frechet @ y0, rtol=1e-3,
                 what="directional derivative of the solution w.r.t. the matrix (RecursiveCheckpointAdjoint)")


def test_fit_recovers_decay_rate():
    ts = jnp.linspace(0.0, 2.0, 9)
    y0 = jnp.array([[1.0], [2.0], [0.5]])
    values = y0[:, None, :] * jnp.exp(-1.3 * ts)[None, :, None]
    model = NeuralODE(Decay(jnp.asarray(0.2)), solver=diffrax.Heun(), stepsize_controller=diffrax.ConstantStepSize(),
                      dt0=0.05)
    result = fit(model, trajectory_mse, {"ts": ts, "values": values}, optax.adam(0.05), 300, key=jax.random.key(0),
                 chunk=150, progress=False)
    # Heun's global error at dt = 0.05 shifts the best-fitting rate by well under 0.1%.
    assert_close(result.model.vector_field.rate, 1.3, rtol=2e-3, what="decay rate learned through fit")


def test_hybrid_field_adds_known_and_learned_terms(key):
    correction = MLPVectorField(2, 8, 1, key=key)
    hybrid = HybridVectorField(lambda t, y, args: jnp.stack([1.3 * y[0], -1.8 * y[1]]), correction)
    y = jnp.array([0.4, 2.0])
    assert_close(hybrid(0.0, y), jnp.array([0.52, -3.6]) + correction(0.0, y), rtol=1e-6, what="known + learned")


def test_state_shape_mismatch_is_a_clear_error(key):
    model = NeuralODE(MLPVectorField(2, 8, 1, key=key))
    with pytest.raises(ValueError, match=r"cannot take a state of shape \(3,\)"):
        model(jnp.linspace(0.0, 1.0, 4), jnp.ones(3))
    model = NeuralODE(lambda t, y, args: jnp.zeros(4))
    with pytest.raises(ValueError, match=r"returns shape \(4,\) for a state of shape \(2,\)"):
        model(jnp.linspace(0.0, 1.0, 4), jnp.ones(2))


def test_non_increasing_save_times_are_a_clear_error(key):
    model = NeuralODE(MLPVectorField(2, 8, 1, key=key))
    with pytest.raises(ValueError, match="strictly increasing"):
        model(jnp.array([0.0, 0.5, 0.5, 1.0]), jnp.ones(2))
    with pytest.raises(ValueError, match="strictly increasing"):
        model(jnp.array([1.0, 0.5]), jnp.ones(2))


def test_nan_save_times_are_refused_also_inside_jit(key):
    model = NeuralODE(MLPVectorField(1, 4, 1, key=key))
    ts = jnp.array([0.0, jnp.nan, 1.0])
    with pytest.raises(ValueError, match=r"strictly increasing.*ts\[0\]=0.0"):
        model(ts, jnp.ones(1))
    with pytest.raises(eqx.EquinoxRuntimeError, match="strictly increasing"):
        eqx.filter_jit(model)(ts, jnp.ones(1))


def test_nan_observations_without_mask_are_a_clear_error():
    values = jnp.ones((2, 3, 1)).at[0, 1, 0].set(jnp.nan)
    with pytest.raises(ValueError, match="NaN but no mask"):
        trajectory_mse(NeuralODE(Decay(jnp.asarray(1.0))), {"ts": jnp.linspace(0, 1, 3), "values": values})


class Explosive(eqx.Module):
    rate: jax.Array

    def __call__(self, t, y, args=None):
        return self.rate * y**2  # from y(0) = 1 it blows up at t = 1 / rate


def test_a_failed_solve_stops_fit_at_the_last_good_state_and_names_the_solver(tmp_path):
    from sciml.train import NonFiniteLossError, latest_checkpoint

    ts = jnp.linspace(0.0, 1.0, 6)
    values = (1.0 / (1.0 - 0.95 * ts))[None, :, None]  # rate 0.95: the fit overshoots past 1, where the solve fails
    model = NeuralODE(Explosive(jnp.asarray(0.5)), max_steps=32)
    _, metrics = trajectory_mse(model, {"ts": ts, "values": values})
    assert float(metrics["solver_failed"]) == 0.0
    with pytest.raises(NonFiniteLossError, match="solver_failed") as caught:
        fit(model, trajectory_mse, {"ts": ts, "values": values}, optax.sgd(0.5), 10, key=jax.random.key(0),
            chunk=5, out_dir=tmp_path, checkpoint_every=5, progress=False)
    assert caught.value.term == "solver_failed"
    assert caught.value.step >= 1 and bool(jnp.isfinite(caught.value.model.vector_field.rate))
    assert latest_checkpoint(tmp_path / "checkpoints") is not None
