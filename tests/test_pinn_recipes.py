"""Training recipes: causal weights, grad-norm and NTK balancing, residual-adaptive resampling, inside `fit`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.pde import Dirichlet, FacePoints, FixedPoints, Problem, UniformPoints, interval, time_space
from sciml.pinn import (
    CausalWeighting,
    GradNormBalancing,
    NTKBalancing,
    PINNLoss,
    RecipeLoss,
    ResidualAdaptiveResampling,
)
from sciml.train import fit


class LinearModel(eqx.Module):
    """u(p) = w . phi(p) with phi(p) = (1, t, x): its NTK is phi(p) . phi(q)."""

    w: jax.Array

    def __call__(self, p):
        return self.w @ jnp.stack([jnp.ones_like(p[0]), p[0], p[1]])


DOMAIN = time_space(0.0, 1.0, interval(0.0, 1.0))


def problem(residual=lambda u: u.value, n=64):
    edge = FacePoints(FixedPoints(jnp.linspace(0, 1, 8)[:, None]), 0, 0.0)
    return Problem(DOMAIN, residual, FixedPoints(DOMAIN.uniform(jax.random.key(2), n)),
                   {"initial": Dirichlet(edge, lambda p: jnp.ones(()))})


def batch_of(prob):
    return prob.sampler()(jax.random.key(0), jnp.asarray(0))


def test_causal_weights_follow_the_cumulative_loss():
    causal = CausalWeighting(0.0, 1.0, chunks=3, tolerance=2.0)
    points = jnp.asarray([[0.1, 0.0], [0.2, 0.0], [0.5, 0.0], [0.9, 0.0]])
    squared = jnp.asarray([1.0, 3.0, 0.5, 4.0])
    value, weights = causal.loss(points, squared)
    chunk_losses = np.array([2.0, 0.5, 4.0])
    expected_w = np.exp(-2.0 * np.array([0.0, 2.0, 2.5]))
    assert_close(weights, expected_w, rtol=1e-6, what="w_i = exp(-tol sum_{j<i} L_j)")
    assert_close(value, np.mean(expected_w * chunk_losses), rtol=1e-6, what="causal residual")
    grads = jax.grad(lambda s: causal.loss(points, s)[0])(squared)
    assert_close(grads[3], expected_w[2] / 3, rtol=1e-6, what="no gradient through the weights")


def test_fixed_recipe_loss_equals_pinn_loss(key):
    prob = problem()
    model = LinearModel(jnp.asarray([0.3, -0.2, 0.5]))
    batch = batch_of(prob)
    a, _ = RecipeLoss(prob, weights={"initial": 3.0})(model, batch, key)
    b, _ = PINNLoss(prob, weights={"initial": 3.0})(model, batch, key)
    assert_close(a, b, rtol=1e-6, what="same weighted sum")


def test_ntk_balancing_uses_kernel_traces(key):
    prob = problem()
    model = LinearModel(jnp.asarray([0.3, -0.2, 0.5]))
    batch = batch_of(prob)
    loss = RecipeLoss(prob, balancing=NTKBalancing(momentum=0.0, points=1000))
    updated = loss.update(model, batch, key)
    # residual r = u and constraint value u: the NTK trace per point is |phi(p)|^2 = 1 + t^2 + x^2.
    trace_res = float(np.mean(1 + np.sum(np.asarray(batch["residual"]) ** 2, axis=1)))
    trace_ic = float(np.mean(1 + np.sum(np.asarray(batch["initial"]) ** 2, axis=1)))
    total = trace_res + trace_ic
    assert_close(updated.weights["residual"], total / trace_res, rtol=1e-4, what="NTK weight of the residual")
    assert_close(updated.weights["initial"], total / trace_ic, rtol=1e-4, what="NTK weight of the initial term")
    same = PINNLoss(prob, balancing=NTKBalancing(momentum=0.0, points=1000)).update(model, batch, key)
    for name in ("residual", "initial"):
        assert_close(same.weights[name], updated.weights[name], rtol=1e-6, what=f"PINNLoss's NTK weight {name}")


def test_grad_norm_balancing(key):
    prob = problem()
    model = LinearModel(jnp.asarray([0.3, -0.2, 0.5]))
    batch = batch_of(prob)
    updated = RecipeLoss(prob, balancing=GradNormBalancing(momentum=0.0)).update(model, batch, key)
    norms = {name: float(optax.tree.norm(jax.grad(lambda m, name=name: prob.terms(m, batch)[name])(model)))
             for name in ("residual", "initial")}
    for name in norms:
        assert_close(updated.weights[name], sum(norms.values()) / norms[name], rtol=1e-4, what=f"w_{name}")


def test_residual_adaptive_points_concentrate_where_the_residual_is_large(key):
    def bump(u):
        return jnp.exp(-200.0 * (u.coords["x"] - 0.7) ** 2) + 0.0 * u.value

    prob = problem(bump)
    rad = ResidualAdaptiveResampling(n_points=256, n_candidates=4096, exponent=2.0, offset=0.0)
    loss = RecipeLoss(prob, resampling=rad, key=key)
    model = LinearModel(jnp.zeros(3))
    updated = loss.update(model, batch_of(prob), jax.random.key(5))
    x = np.asarray(updated.adaptive_points[:, 1])
    assert abs(np.mean(x) - 0.7) < 0.02 and np.std(x) < 0.08


def test_recipes_run_inside_fit(key):
    prob = Problem(DOMAIN, lambda u: u.value - u.coords["x"], UniformPoints(DOMAIN, 32), {})
    rad = ResidualAdaptiveResampling(n_points=16, n_candidates=64)
    loss = RecipeLoss(prob, balancing=GradNormBalancing(), causal=CausalWeighting(0.0, 1.0, 4), resampling=rad,
                      update_every=5, key=key)
    result = fit(LinearModel(jnp.zeros(3)), loss, prob.sampler(), optax.adam(0.05), 40, key=key, chunk=20,
                 progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert "causal_min_weight" in result.history[-1]


def test_bad_recipe_settings():
    prob = problem()
    with pytest.raises((ConfigError, TypeError), match="balancing"):  # TypeError from the runtime type checks
        RecipeLoss(prob, balancing="lra")
    with pytest.raises(ConfigError, match="unknown terms"):
        RecipeLoss(prob, weights={"boundary": 1.0})
    with pytest.raises(ConfigError, match="key="):
        RecipeLoss(prob, resampling=ResidualAdaptiveResampling(4, 8))
    with pytest.raises(ConfigError, match="t0 < t1"):
        CausalWeighting(1.0, 0.0)
