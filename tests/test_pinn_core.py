"""PINN pieces: hard constraints hold exactly, Fourier features match their formula, grad-norm weights balance terms."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.nn import FourierFeatures
from sciml.pde import Dirichlet, FacePoints, InitialCondition, Problem, UniformPoints, interval, time_space
from sciml.pinn import PINN, HardConstraint, PINNLoss

DOMAIN = time_space(0.0, 1.0, interval(-1.0, 1.0))


def test_hard_constraint_meets_initial_and_boundary_values_exactly():
    transform = HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))
    model = PINN(DOMAIN, "scalar", 16, 2, transform=transform, key=jax.random.key(0))
    x = jnp.linspace(-1, 1, 11)
    evaluate = eqx.filter_jit(lambda m, p: jax.vmap(m)(p))
    initial = evaluate(model, jnp.stack([jnp.zeros(11), x], axis=1))
    assert_close(initial, -np.sin(np.pi * np.asarray(x)), rtol=0, atol=1e-6, what="u(0, x)")
    t = jnp.linspace(0, 1, 7)
    for side in (-1.0, 1.0):
        assert_close(evaluate(model, jnp.stack([t, jnp.full(7, side)], axis=1)), 0.0, rtol=0, atol=1e-6, what="u(t, +-1)")


def test_fourier_features_follow_their_formula():
    features = FourierFeatures(2, n_features=8, scale=2.0, key=jax.random.key(1))
    x = jnp.asarray([0.3, -0.7])
    projected = 2 * np.pi * np.asarray(features.matrix) @ np.asarray(x)
    assert_close(features(x), np.concatenate([np.cos(projected), np.sin(projected)]), rtol=1e-5, what="features")
    model = PINN(DOMAIN, "scalar", 16, 2, embedding=features, key=jax.random.key(2))
    assert model(x).shape == ()


def _soft_problem():
    space = interval(-1.0, 1.0)
    constraints = {
        "initial": InitialCondition(FacePoints(UniformPoints(space, 32), 0, 0.0), lambda p: -jnp.sin(jnp.pi * p[1])),
        "boundary": Dirichlet(FacePoints(UniformPoints(interval(0.0, 1.0, "t"), 16), 1, 1.0), lambda p: 0.0),
    }
    return Problem(DOMAIN, lambda u: u.t + u.value * u.x - 0.01 * u.xx, UniformPoints(DOMAIN, 64), constraints)


def test_grad_norm_weights_equal_the_ratio_of_gradient_norms():
    problem = _soft_problem()
    model = PINN(DOMAIN, "scalar", 16, 2, key=jax.random.key(0))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    loss = PINNLoss(problem, balancing="grad_norm", momentum=0.0)
    updated = eqx.filter_jit(loss.update)(model, batch, jax.random.key(2))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    @jax.jit
    def term_norms(params):
        grads = jax.jacrev(lambda p: problem.terms(eqx.combine(p, static), batch))(params)
        return {name: optax.tree.norm(g) for name, g in grads.items()}

    norms = {name: float(v) for name, v in term_norms(params).items()}
    for name, norm in norms.items():
        assert_close(updated.weights[name], sum(norms.values()) / norm, rtol=1e-4, what=f"weight {name}")
    total, metrics = eqx.filter_jit(updated)(model, batch, jax.random.key(3))
    expected = sum(float(updated.weights[k]) * float(metrics[k]) for k in norms)
    assert_close(total, expected, rtol=1e-5, what="weighted total")


def test_fixed_weights_are_applied_and_unknown_terms_rejected():
    problem = _soft_problem()
    loss = PINNLoss(problem, weights={"initial": 10.0})
    model = PINN(DOMAIN, "scalar", 16, 2, key=jax.random.key(0))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    total, metrics = eqx.filter_jit(loss)(model, batch, jax.random.key(0))
    assert_close(total, metrics["residual"] + 10 * metrics["initial"] + metrics["boundary"], rtol=1e-6, what="total")
    assert loss.update(model, batch, jax.random.key(0)) is loss
    with pytest.raises(ConfigError, match="unknown terms \\['inital'\\]"):
        PINNLoss(problem, weights={"inital": 1.0})
