"""Lagrangian PINN: built-in initial conditions, residuals (diffusion through the Jacobian), Eulerian evaluation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.pde import interval, time_space
from sciml.pinn import LagrangianLoss, LagrangianPINN, label_sampler
from sciml.train import fit

DOMAIN = time_space(0.0, 1.0, interval(0.0, 2 * np.pi))


def exact_transport(model: LagrangianPINN) -> LagrangianPINN:
    """Set the branches to the exact transport solution: N_X = 1 (X = x0 + speed t), N_U = 0."""
    def last_layer(net, bias):
        layer = net.layers[-1]
        return eqx.tree_at(lambda lin: (lin.weight, lin.bias), layer,
                           (jnp.zeros_like(layer.weight), jnp.full_like(layer.bias, bias)))

    model = eqx.tree_at(lambda m: m.characteristic.layers[-1], model, last_layer(model.characteristic, 1.0))
    return eqx.tree_at(lambda m: m.state.layers[-1], model, last_layer(model.state, 0.0))


def test_initial_conditions_are_built_in(key):
    model = LagrangianPINN(DOMAIN, jnp.sin, speed=30.0, key=key)
    x0 = jnp.linspace(0, 2 * np.pi, 17)
    out = jax.vmap(model)(jnp.stack([jnp.zeros_like(x0), x0], axis=1))
    assert_close(out[:, 0], x0, rtol=0, atol=1e-6, what="X(0, x0) = x0")
    assert_close(out[:, 1], jnp.sin(x0), rtol=0, atol=1e-6, what="U(0, x0) = u0(x0)")


def test_diffusion_goes_through_the_jacobian():
    # X(x0) = x0^3 + x0 and U = X^2, so U as a function of the position is X^2 and U_XX = 2 exactly.
    def model(p):
        position = p[1] ** 3 + p[1]
        return jnp.stack([position + 0.0 * p[0], position**2])

    nu = 0.1
    p = jnp.asarray([0.3, 0.7])
    _, r_u, jacobian = LagrangianLoss(lambda u: 0.0, nu=nu).residuals(model, p)
    assert_close(r_u, -2 * nu, rtol=1e-5, what="U_t - nu U_XX with U_XX = 2")
    assert_close(jacobian, 3 * 0.7**2 + 1, rtol=1e-6, what="J = X_x0")
    _, r_label, _ = LagrangianLoss(lambda u: 0.0, nu=nu, diffusion="label").residuals(model, p)
    x0 = 0.7
    label_second = 30 * x0**4 + 24 * x0**2 + 2  # d2/dx0^2 (x0^3 + x0)^2
    assert_close(r_label, -nu * label_second, rtol=1e-5, what="the label shortcut differs")


def test_exact_transport_has_zero_residual_and_interpolates_back(key):
    beta = 30.0
    model = exact_transport(LagrangianPINN(DOMAIN, jnp.sin, speed=beta, key=key))
    points = label_sampler(model, 64)(jax.random.key(1), jnp.asarray(0))
    total, terms = LagrangianLoss(lambda u: beta)(model, points)
    assert float(total) < 1e-8
    t = jnp.linspace(0, 1, 11)
    x = jnp.arange(128) * 2 * np.pi / 128
    u = model.eulerian(t, x, n_labels=1024)
    assert_close(u, np.sin(x[None, :] - beta * t[:, None]), rtol=0, atol=5e-5, what="interpolated sin(x - beta t)")


def test_inflow_boundary_uses_virtual_labels(key):
    c, length = 2.0, 1.0
    domain = time_space(0.0, 1.0, interval(0.0, length))
    model = LagrangianPINN(domain, lambda x: jnp.sin(4 * x), boundary="inflow", speed=c,
                           inflow=lambda t: jnp.sin(-4 * c * t), inflow_speed=c, key=key)
    assert model.labels.lower == (0.0, -2.0)
    assert_close(model.initial_state(jnp.asarray(-1.0)), np.sin(-4.0), rtol=1e-6, what="label -1 entered at t = 0.5")
    model = exact_transport(model)
    t, x = jnp.linspace(0, 1, 6), jnp.linspace(0, length, 50)
    assert_close(model.eulerian(t, x, n_labels=4096), np.sin(4 * (x[None, :] - c * t[:, None])), rtol=0, atol=1e-4,
                 what="inflow solution sin(4 (x - c t))")


def test_training_reduces_the_convection_error(key):
    beta = 10.0
    model = LagrangianPINN(DOMAIN, jnp.sin, speed=beta, characteristic_width=16, state_width=16, state_depth=2, key=key)
    result = fit(model, LagrangianLoss(lambda u: beta), label_sampler(model, 128), optax.adam(1e-2), 300,
                 key=jax.random.key(1), chunk=300, progress=False)
    t, x = jnp.linspace(0, 1, 21), jnp.arange(64) * 2 * np.pi / 64
    exact = np.sin(x[None, :] - beta * t[:, None])
    error = np.linalg.norm(np.asarray(result.model.eulerian(t, x, 512)) - exact) / np.linalg.norm(exact)
    assert error < 0.05, f"LPINN rel. L2 {error:.3g} after 300 steps at beta = 10"


def test_bad_inputs(key):
    with pytest.raises(ConfigError, match="time_space"):
        LagrangianPINN(time_space(0, 1, interval(0, 1, "y")), jnp.sin, key=key)
    with pytest.raises(ConfigError, match="inflow"):
        LagrangianPINN(DOMAIN, jnp.sin, boundary="inflow", key=key)
    model = LagrangianPINN(DOMAIN, jnp.sin, key=key)
    with pytest.raises(ConfigError, match="velocity"):
        LagrangianLoss(lambda u: jnp.stack([u, u]))(model, jnp.zeros((4, 2)))
    with pytest.raises(ConfigError, match=r"\(n, 2\)"):
        LagrangianLoss(lambda u: u)(model, jnp.zeros((4, 3)))


def test_jacobian_floor_guards_folded_characteristics():
    # X(x0) = x0 - x0^3 folds (J = 1 - 3 x0^2 < 0) for x0 > 1/sqrt(3); U = X.
    def model(p):
        position = p[1] - p[1] ** 3
        return jnp.stack([position + 0.0 * p[0], position])

    points = jnp.asarray([[0.5, 0.2], [0.5, 0.9]])
    floor = 0.1
    unguarded, _ = LagrangianLoss(lambda u: 0.0, nu=0.1)(model, points)
    guarded, terms = LagrangianLoss(lambda u: 0.0, nu=0.1, jacobian_floor=floor, fold_weight=2.0)(model, points)
    jacobians = 1 - 3 * points[:, 1] ** 2
    assert_close(terms["fold"], jnp.mean(jax.nn.relu(floor - jacobians) ** 2), rtol=1e-5, what="fold penalty")
    assert_close(terms["min_jacobian"], jacobians.min(), rtol=1e-5, what="min J")
    # U = X exactly, so U_XX = 0 wherever J is above the floor; below it the clamp keeps the residual finite.
    assert bool(jnp.isfinite(guarded)) and bool(jnp.isfinite(unguarded))
    _, r_u, _ = LagrangianLoss(lambda u: 0.0, nu=0.1, jacobian_floor=floor).residuals(model, points[0])
    assert_close(r_u, 0.0, rtol=0, atol=1e-6, what="U_XX = 0 above the floor")
    with pytest.raises(ConfigError, match="jacobian_floor"):
        LagrangianLoss(lambda u: u, nu=0.01, jacobian_floor=1.5)
