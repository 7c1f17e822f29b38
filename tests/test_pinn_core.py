"""PINN pieces: hard constraints hold exactly, Fourier features match their formula, any network fits in, the
balancing strategies weigh the terms."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.nn import MLP, FactorizedMLP, FourierFeatures, GaussianFeatures
from sciml.pde import Dirichlet, FacePoints, InitialCondition, Problem, UniformPoints, interval, time_space
from sciml.pinn import PINN, FixedWeights, GradNormBalancing, HardConstraint, PINNLoss

DOMAIN = time_space(0.0, 1.0, interval(-1.0, 1.0))


def test_hard_constraint_meets_initial_and_boundary_values_exactly():
    transform = HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))
    model = PINN(DOMAIN, MLP(2, "scalar", 16, 2, key=jax.random.key(0)), transform=transform)
    x = jnp.linspace(-1, 1, 11)
    evaluate = eqx.filter_jit(lambda m, p: jax.vmap(m)(p))
    initial = evaluate(model, jnp.stack([jnp.zeros(11), x], axis=1))
    assert_close(initial, -np.sin(np.pi * np.asarray(x)), rtol=0, atol=1e-6, what="u(0, x)")
    t = jnp.linspace(0, 1, 7)
    for side in (-1.0, 1.0):
        assert_close(evaluate(model, jnp.stack([t, jnp.full(7, side)], axis=1)), 0.0, rtol=0, atol=1e-6,
                     what="u(t, +-1)")


def test_fourier_features_follow_their_formula():
    features = FourierFeatures(2, n_features=8, scale=2.0, key=jax.random.key(1))
    x = jnp.asarray([0.3, -0.7])
    projected = 2 * np.pi * np.asarray(features.matrix) @ np.asarray(x)
    assert_close(features(x), np.concatenate([np.cos(projected), np.sin(projected)]), rtol=1e-5, what="features")
    model = PINN(DOMAIN, MLP(features.out_size, "scalar", 16, 2, key=jax.random.key(2)), embedding=features)
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
    model = PINN(DOMAIN, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    loss = PINNLoss(problem, balancing=GradNormBalancing(momentum=0.0))
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
    model = PINN(DOMAIN, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    total, metrics = eqx.filter_jit(loss)(model, batch, jax.random.key(0))
    assert_close(total, metrics["residual"] + 10 * metrics["initial"] + metrics["boundary"], rtol=1e-6, what="total")
    assert loss.update(model, batch, jax.random.key(0)) is loss
    with pytest.raises(ConfigError, match="unknown terms \\['inital'\\]"):
        PINNLoss(problem, weights={"inital": 1.0})


def test_fixed_weights_strategy_gives_the_fixed_loss_exactly():
    problem = _soft_problem()
    model = PINN(DOMAIN, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    weights = {"residual": 2.0, "initial": 10.0, "boundary": 0.5}
    loss = PINNLoss(problem, weights=weights, balancing=FixedWeights())
    total, metrics = loss(model, batch, jax.random.key(0))
    terms = problem.terms(model, batch)
    expected = sum(jnp.float32(weights[name]) * value for name, value in terms.items())
    assert float(total) == float(expected)
    assert all(float(metrics[f"w_{name}"]) == w for name, w in weights.items())
    assert loss.update(model, batch, jax.random.key(0)) is loss


def test_grad_norm_strategy_smooths_the_weights_with_its_momentum():
    problem = _soft_problem()
    model = PINN(DOMAIN, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    start = {"residual": 1.0, "initial": 4.0, "boundary": 1.0}
    loss = PINNLoss(problem, weights=start, balancing=GradNormBalancing(momentum=0.5))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    def norm(name):
        return float(optax.tree.norm(jax.grad(lambda p: problem.terms(eqx.combine(p, static), batch)[name])(params)))

    norms = {name: norm(name) for name in start}
    once = loss.update(model, batch, jax.random.key(2))
    twice = once.update(model, batch, jax.random.key(2))
    ratio = {name: sum(norms.values()) / norm for name, norm in norms.items()}
    for name in start:
        assert_close(once.weights[name], 0.5 * start[name] + 0.5 * ratio[name], rtol=1e-4, what=f"w_{name}, once")
        assert_close(twice.weights[name], 0.25 * start[name] + 0.75 * ratio[name], rtol=1e-4, what=f"w_{name}, twice")
    with pytest.raises(ConfigError, match="momentum"):
        GradNormBalancing(momentum=1.0)
    with pytest.raises((ConfigError, TypeError), match="balancing"):  # TypeError from the runtime type checks
        PINNLoss(problem, balancing="grad_norm")


class Quadratic(eqx.Module):
    """A user's network: u = a . z + b . z^2 + c on the scaled point z."""

    a: jax.Array
    b: jax.Array
    c: jax.Array

    def __call__(self, z):
        return self.a @ z + self.b @ z**2 + self.c


def test_pinn_takes_a_user_defined_network():
    net = Quadratic(jnp.asarray([0.5, -1.0]), jnp.asarray([0.25, 2.0]), jnp.asarray(0.1))
    transform = HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))
    model = PINN(DOMAIN, net, transform=transform)
    p = jnp.asarray([0.25, 0.6])
    z = DOMAIN.normalise(p)
    assert_close(model(p), transform(p, net(z)), rtol=1e-6, what="transform(x, net(normalise(x)))")
    problem = _soft_problem()
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    grads = eqx.filter_grad(lambda m: PINNLoss(problem)(m, batch, jax.random.key(0))[0])(model)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in (grads.net.a, grads.net.b, grads.net.c))
    assert float(jnp.abs(grads.net.b).sum()) > 0



@pytest.mark.parametrize("sizes", [{"width": 0}, {"depth": -1}])
@pytest.mark.parametrize("net", [MLP, FactorizedMLP])
def test_nets_refuse_sizes_below_one_naming_the_value(net, sizes):
    name, value = next(iter(sizes.items()))
    expected = rf"{net.__name__}: expected {name} .* got {name}={value}; choose {name} >= 1 \(.*--set {name}="
    with pytest.raises(ConfigError, match=expected):
        net(2, "scalar", **sizes, key=jax.random.key(0))


def test_gaussian_features_refuse_zero_channels():
    with pytest.raises(ConfigError, match="GaussianFeatures: expected channels .* got channels=0"):
        GaussianFeatures(2, 8, channels=0, key=jax.random.key(0))


def test_grad_norm_strategy_reproduces_the_former_string_switch():
    """Weights the former ``PINNLoss(balancing="grad_norm", momentum=0.5)`` gave on this set-up (same model init)."""
    problem = _soft_problem()
    model = PINN(DOMAIN, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    loss = PINNLoss(problem, weights={"initial": 3.0}, balancing=GradNormBalancing(momentum=0.5))
    updated = loss.update(model, batch, jax.random.key(2))
    former = {"residual": 1.3075716, "initial": 5.9783602, "boundary": 2.3572733}
    for name, value in former.items():
        assert_close(updated.weights[name], value, rtol=1e-4, what=f"w_{name}")
