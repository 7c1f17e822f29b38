"""DeepONet and its physics-informed loss: the batched operator derivatives against nested forward mode, the loss
against its definition, and a short physics-only training that learns the antiderivative of a simple family."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest

import sciml.pinn._deeponet as deeponet_module
from sciml._errors import ConfigError
from sciml.nn import DeepONet
from sciml.pde._derivatives import derivative
from sciml.pinn import PhysicsInformedDeepONetLoss, operator_derivatives
from sciml.train import AbstractSampler, fit
from tests.conftest import assert_close


def _nested(model, sensors, points, key):
    return jax.vmap(lambda s: jax.vmap(lambda p: derivative(lambda q: model(s, q), p, key))(points))(sensors)


@pytest.mark.parametrize("batched", [True, False])
def test_operator_derivatives_equal_nested_forward_mode(batched, monkeypatch):
    if not batched:  # the fallback for models outside the batched rules
        monkeypatch.setattr(deeponet_module, "taylor_derivatives", lambda *a: None)
    with jax.enable_x64(True):
        model = DeepONet(5, 2, features=6, width=8, depth=2, key=jax.random.key(0))
        model = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), eqx.tree_at(lambda m: m.bias, model, 0.3))
        sensors = jax.random.normal(jax.random.key(1), (3, 5), jnp.float64)
        points = jax.random.uniform(jax.random.key(2), (7, 2), jnp.float64)
        keys = [(), (0,), (1,), (0, 0), (0, 1), (1, 1)]
        found = operator_derivatives(model, sensors, points, keys)
        for key in keys:
            assert_close(found[key], _nested(model, sensors, points, key), rtol=1e-9, atol=1e-12, what=str(key))


def test_loss_is_its_definition():
    model = DeepONet(4, 1, features=5, width=8, depth=2, key=jax.random.key(3))
    sensors = jax.random.normal(jax.random.key(4), (2, 4))
    points = jnp.linspace(0.0, 1.0, 6)[:, None]
    source = jax.random.normal(jax.random.key(5), (2, 6))
    batch = {"sensors": sensors, "residual_points": points, "source": source,
             "constraints": {"initial": {"points": jnp.zeros((1, 1)), "values": jnp.ones((2, 1))}}}
    total, terms = PhysicsInformedDeepONetLoss(lambda u, f: u.xx + u.value * u.x - f, ("x",),
                                               weights={"initial": 3.0})(model, batch, jax.random.key(0))
    u, u_x, u_xx = (_nested(model, sensors, points, key) for key in [(), (0,), (0, 0)])
    residual = jnp.mean((u_xx + u * u_x - source) ** 2)
    initial = jnp.mean((jax.vmap(lambda s: model(s, jnp.zeros(1)))(sensors) - 1.0) ** 2)
    assert_close(terms["residual"], residual, rtol=1e-5, what="residual term")
    assert_close(terms["initial"], initial, rtol=1e-5, what="initial term")
    assert_close(total, residual + 3.0 * initial, rtol=1e-5, what="total")


def test_residual_coordinates_must_match_the_names():
    loss = PhysicsInformedDeepONetLoss(lambda u, f: u.x - f, ("x",))
    with pytest.raises(ConfigError, match="one name per coordinate"):
        loss.requested(jnp.zeros((4, 2)))


class FixedBatch(AbstractSampler):
    batch: dict

    def __call__(self, key, step):
        return self.batch


def test_physics_only_training_learns_the_antiderivative():
    """f(x) = a + b x (sensors: its values at 0 and 1) -> s(x) = a x + b x^2 / 2, from s' = f and s(0) = 0 only."""
    coefficients = jax.random.uniform(jax.random.key(6), (64, 2), minval=-1.0, maxval=1.0)
    sensors = jnp.stack([coefficients[:, 0], coefficients.sum(1)], axis=1)  # f(0), f(1)
    points = jnp.linspace(0.0, 1.0, 16)[:, None]
    source = coefficients[:, :1] + coefficients[:, 1:] * points[None, :, 0]
    batch = {"sensors": sensors, "residual_points": points, "source": source,
             "constraints": {"initial": {"points": jnp.zeros((1, 1)), "values": jnp.zeros((64, 1))}}}
    model = DeepONet(2, 1, features=8, width=16, depth=2, key=jax.random.key(7))
    loss = PhysicsInformedDeepONetLoss(lambda u, f: u.x - f, ("x",))
    trained = fit(model, loss, FixedBatch(batch), optax.adam(3e-3), 800, key=jax.random.key(0),
                  chunk=400, progress=False).model
    test = jnp.asarray([[0.5, -0.3], [-0.8, 0.9]])
    x = jnp.linspace(0.0, 1.0, 11)[None, :]
    exact = test[:, :1] * x + test[:, 1:] * x**2 / 2
    predicted = jax.vmap(lambda c: jax.vmap(lambda p: trained(jnp.stack([c[0], c.sum()]), p[None]))(x[0]))(test)
    error = float(jnp.linalg.norm(predicted - exact) / jnp.linalg.norm(exact))
    assert error < 0.05, error
