"""Modified MLP, PirateNet, the least-squares readout and trainable periods: formulas, identities, derivatives."""

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError, DataError
from sciml.nn import FactorizedLinear, FourierFeatures, ModifiedMLP, PeriodicEmbedding, PirateNet, least_squares_readout
from sciml.pde import derivative, interval, time_space
from sciml.pde._taylor import taylor_derivatives
from sciml.pinn import PINN, HardConstraint
from sciml.studies import load_experiment, resolve_config
from sciml.studies.cases import AllenCahn

DOMAIN = time_space(0.0, 1.0, interval(-1.0, 1.0))
KEYS = ((), (0,), (1,), (0, 0), (0, 1), (1, 1))
RWF = functools.partial(FactorizedLinear, mean=1.0, std=0.1)


def set_linear(layer, weight, bias):
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (jnp.asarray(weight, jnp.float32),
                                                             jnp.asarray(bias, jnp.float32)))


def test_modified_mlp_is_its_formula_on_a_hand_computed_case(key):
    net = ModifiedMLP(1, "scalar", width=1, depth=1, key=key)
    net = eqx.tree_at(lambda n: n.encoders, net, (set_linear(net.encoders[0], [[1.0]], [0.0]),
                                                  set_linear(net.encoders[1], [[-1.0]], [0.0])))
    net = eqx.tree_at(lambda n: n.layers, net, (set_linear(net.layers[0], [[2.0]], [0.0]),
                                                set_linear(net.layers[1], [[3.0]], [0.5])))
    # U = tanh(x), V = -tanh(x) = -U, z = tanh(2x): h = z U + (1 - z) V = U (2 z - 1), y = 3 h + 0.5.
    u, z = math.tanh(0.5), math.tanh(1.0)
    assert_close(net(jnp.asarray([0.5])), 3 * u * (2 * z - 1) + 0.5, rtol=1e-6, what="modified MLP at x = 0.5")


def test_modified_mlp_matches_numpy_with_factorized_layers(key):
    net = ModifiedMLP(3, 2, width=5, depth=2, layer=RWF, key=key)
    x = np.array([0.3, -0.7, 1.1])

    def dense(layer, h):
        return (np.exp(np.asarray(layer.log_scale))[:, None] * np.asarray(layer.direction)) @ h + np.asarray(layer.bias)

    u, v = np.tanh(dense(net.encoders[0], x)), np.tanh(dense(net.encoders[1], x))
    h = x
    for layer in net.layers[:-1]:
        z = np.tanh(dense(layer, h))
        h = z * u + (1 - z) * v
    assert_close(net(jnp.asarray(x, jnp.float32)), dense(net.layers[-1], h), rtol=1e-5, what="modified MLP")


@pytest.mark.parametrize("layer", [None, RWF])
def test_piratenet_at_alpha_zero_is_the_linear_readout_of_its_embedding(key, layer):
    net = PirateNet(3, 2, width=8, blocks=2, fourier_scale=0.5, **({} if layer is None else {"layer": layer}),
                    key=key)
    points = jax.random.uniform(jax.random.key(1), (16, 3), minval=-1, maxval=1)
    assert jax.vmap(net)(points).shape == (16, 2)
    assert net.embedding.out_size == 8 and all(float(b.alpha) == 0.0 for b in net.blocks)
    matrix = np.asarray(net.embedding.matrix)  # the Fourier features, rebuilt by hand
    phases = 2 * np.pi * np.asarray(points, np.float64) @ matrix.T
    phi = np.concatenate([np.cos(phases), np.sin(phases)], axis=1)
    readout = net.readout
    weight = (np.asarray(readout.weight) if layer is None
              else np.exp(np.asarray(readout.log_scale))[:, None] * np.asarray(readout.direction))
    assert_close(jax.vmap(net)(points), phi @ weight.T + np.asarray(readout.bias), rtol=1e-4, atol=1e-5,
                 what="alpha = 0: W_o phi + b_o")
    deeper = eqx.tree_at(lambda n: n.blocks[0].alpha, net, jnp.asarray(0.5))
    assert float(jnp.max(jnp.abs(jax.vmap(deeper)(points) - jax.vmap(net)(points)))) > 1e-3


def test_least_squares_readout_solves_the_normal_equations(key):
    net = PirateNet(2, "scalar", width=8, blocks=1, layer=RWF, key=key)
    net = eqx.tree_at(lambda n: n.blocks[0].alpha, net, jnp.asarray(0.3))  # any alpha: fits the last features
    x = jax.random.uniform(jax.random.key(2), (64, 2), minval=-1, maxval=1)
    representable = jax.vmap(net.features)(x) @ jnp.arange(1.0, 9.0) / 8 - 0.25
    fitted = least_squares_readout(net, x, representable)
    assert_close(jax.vmap(fitted)(x), representable, rtol=1e-3, atol=1e-4, what="an exact linear target is refit")
    targets = jnp.sin(3 * x[:, 0]) * x[:, 1]  # not representable: the residual is orthogonal to the features
    fitted = least_squares_readout(net, x, targets)
    design = np.concatenate([np.asarray(jax.vmap(net.features)(x)), np.ones((64, 1))], axis=1)
    residual = np.asarray(jax.vmap(fitted)(x)) - np.asarray(targets)
    assert np.max(np.abs(design.T @ residual)) < 1e-3 * np.linalg.norm(targets) * np.sqrt(64)
    ridged = least_squares_readout(net, x, targets, ridge=0.01)  # normal equations with the penalty on W, not b
    weight = np.exp(np.asarray(ridged.readout.log_scale))[:, None] * np.asarray(ridged.readout.direction)
    residual = np.asarray(jax.vmap(ridged)(x)) - np.asarray(targets)
    gradient = design.T @ residual + 0.01 * 64 * np.append(weight[0], 0.0)
    assert np.max(np.abs(gradient)) < 1e-3 * np.linalg.norm(targets) * np.sqrt(64)
    assert np.linalg.norm(weight) < np.linalg.norm(np.exp(np.asarray(fitted.readout.log_scale))[:, None]
                                                   * np.asarray(fitted.readout.direction))
    with pytest.raises(DataError, match="same n"):
        least_squares_readout(net, x, targets[:10])


def test_trainable_periods_are_trained_and_start_as_the_fixed_embedding():
    fixed = PeriodicEmbedding(2, axes=(1,), periods=(1.5,), harmonics=2)
    trained = PeriodicEmbedding(2, axes=(1,), periods=(1.5,), harmonics=2, trainable_periods=True)
    x = jnp.asarray([0.2, 0.4])
    assert_close(trained(x), fixed(x), rtol=1e-6, what="same start")
    assert jax.tree.leaves(fixed) == []

    grad = jax.grad(lambda e: e(x)[1])(trained).trained_periods  # d/dP cos(2 pi x / P) = sin(.) 2 pi x / P^2
    phase = 2 * np.pi * 0.4 / 1.5
    assert_close(grad, [np.sin(phase) * phase / 1.5], rtol=1e-5, what="d cos / d period")


def pinn_with(net, embedding):
    transform = HardConstraint(lambda p: AllenCahn.initial_value(p[1]), lambda p: p[0])
    return PINN(DOMAIN, net, embedding=embedding, transform=transform)


@eqx.filter_jit
def both(model, points):
    nested = {k: jax.vmap(lambda p, k=k: derivative(model, p, k))(points) for k in KEYS}
    return taylor_derivatives(model, points, KEYS), nested


@pytest.mark.parametrize("architecture", ["modified-mlp", "piratenet"])
def test_taylor_path_takes_the_new_nets_and_equals_nested_forward_mode(key, architecture):
    embedding = PeriodicEmbedding(2, axes=(1,), harmonics=2, trainable_periods=True)
    if architecture == "piratenet":
        net = PirateNet(embedding.out_size, "scalar", width=8, blocks=2, layer=RWF, key=key)
        net = eqx.tree_at(lambda n: [b.alpha for b in n.blocks], net, [jnp.asarray(0.4), jnp.asarray(-0.2)])
    else:
        net = ModifiedMLP(embedding.out_size, "scalar", width=8, depth=3, layer=RWF, key=key)
    points = DOMAIN.uniform(jax.random.key(3), 24)
    found, nested = both(pinn_with(net, embedding), points)
    assert found is not None, "the batched forward pass declined the network"
    for k in KEYS:
        scale = float(jnp.max(jnp.abs(nested[k]))) + 1e-3
        assert_close(found[k], nested[k], rtol=1e-4, atol=1e-4 * scale, what=f"{architecture} derivative {k}")


def test_allen_cahn_initial_rate_is_the_pde_at_t0():
    x = np.linspace(-1, 1, 9)
    u0 = x**2 * np.cos(np.pi * x)
    u0_xx = 2 * np.cos(np.pi * x) - 4 * np.pi * x * np.sin(np.pi * x) - np.pi**2 * x**2 * np.cos(np.pi * x)
    rate = jax.vmap(AllenCahn().initial_rate)(jnp.asarray(x, jnp.float32))
    assert_close(rate, 1e-4 * u0_xx - 5 * u0**3 + 5 * u0, rtol=1e-5, atol=1e-6, what="u_t(0, x)")


def test_bad_widths_and_names_are_refused(key):
    with pytest.raises(ConfigError, match="even width"):
        PirateNet(2, "scalar", width=7, key=key)
    with pytest.raises(ConfigError, match="must map"):
        PirateNet(2, "scalar", width=8, embedding=FourierFeatures(2, 3, key=key), key=key)
    with pytest.raises(ConfigError, match="blocks"):
        PirateNet(2, "scalar", width=8, blocks=0, key=key)
    config_type = load_experiment("allen-cahn-pinn").config_type
    with pytest.raises(ConfigError, match="net must be one of"):
        resolve_config(config_type, {"net": "resnet"})
