"""The batched second-order forward pass (`taylor_derivatives`) against closed forms and against nested jvps."""

import contextlib
import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml.nn import MLP, FourierFeatures
from sciml.pde import Field, FixedPoints, Problem, derivative, interval, time_space
from sciml.pde._derivatives import pointwise_residual
from sciml.pde._taylor import reverse_mode_only, taylor_derivatives
from sciml.pinn import PINN, HardConstraint

KEYS = [(), (0,), (1,), (0, 0), (0, 1), (1, 1)]
DOMAIN = time_space(0.0, 1.0, interval(-1.0, 1.0))


def analytic(p):
    """``sin(a t + b x) exp(c x) + t^2 x^3`` and ``2 f + t / (1 + x^2)``: transcendental, products, a quotient."""
    t, x = p[0], p[1]
    f = jnp.sin(1.3 * t + 0.7 * x) * jnp.exp(0.5 * x) + t**2 * x**3
    return jnp.stack([f, 2 * f + t / (1 + x**2)])


def analytic_derivatives(t, x):
    """Closed-form derivatives of `analytic` (keys as in KEYS), each ``(2,)``."""
    a, b, c = 1.3, 0.7, 0.5
    s, co, e = np.sin(a * t + b * x), np.cos(a * t + b * x), np.exp(c * x)
    q = 1 / (1 + x**2)
    q_x, q_xx = -2 * x * q**2, (6 * x**2 - 2) * q**3
    f = {(): s * e + t**2 * x**3,
         (0,): a * co * e + 2 * t * x**3,
         (1,): b * co * e + c * s * e + 3 * t**2 * x**2,
         (0, 0): -(a**2) * s * e + 2 * x**3,
         (0, 1): -a * b * s * e + a * c * co * e + 6 * t * x**2,
         (1, 1): (c**2 - b**2) * s * e + 2 * b * c * co * e + 6 * t**2 * x}
    g = {(): t * q, (0,): q, (1,): t * q_x, (0, 0): 0 * t, (0, 1): q_x, (1, 1): t * q_xx}
    return {key: np.stack([f[key], 2 * f[key] + g[key]], axis=-1) for key in KEYS}


def nested(fn, points, key):
    return jax.vmap(lambda p: derivative(fn, p, key))(points)


@eqx.filter_jit
def both(fn, points, keys):
    """``(taylor_derivatives, {key: nested forward mode})`` compiled together (fast in the test run)."""
    return taylor_derivatives(fn, points, keys), {key: nested(fn, points, key) for key in keys}


def burgers_transform():
    return HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))


def pinn(out, transform=None, embedding=None, dtype=jnp.float32, key=1):
    size = 2 if embedding is None else embedding.out_size
    net = MLP(size, out, 16, 3, key=jax.random.key(key))
    model = PINN(DOMAIN, net, embedding=embedding, transform=transform)
    return jax.tree.map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, model)


def points(n=33, dtype=jnp.float32, seed=0):
    return DOMAIN.uniform(jax.random.key(seed), n).astype(dtype)


def test_every_derivative_matches_the_closed_form_of_a_vector_field():
    pts = points(17)
    found = eqx.filter_jit(taylor_derivatives)(analytic, pts, tuple(KEYS))
    expected = analytic_derivatives(np.asarray(pts[:, 0]), np.asarray(pts[:, 1]))
    for key in KEYS:
        assert found[key].shape == (17, 2)
        assert_close(found[key], expected[key], rtol=1e-4, atol=1e-4, what=f"derivative {key}")


@pytest.mark.parametrize(("dtype", "out", "transform"), [(jnp.float32, "scalar", burgers_transform()),
                                                         (jnp.float64, "scalar", None), (jnp.float32, 3, None),
                                                         (jnp.float64, 3, burgers_transform())])
def test_pinn_derivatives_equal_nested_forward_mode(dtype, out, transform):
    with jax.enable_x64(dtype == jnp.float64):
        model, pts = pinn(out, transform, dtype=dtype), points(dtype=dtype)
        found, nested_found = both(model, pts, tuple(KEYS))
        tol = 2e-5 if dtype == jnp.float32 else 1e-12
        for key in KEYS:
            reference = nested_found[key]
            assert found[key].dtype == dtype and found[key].shape == reference.shape
            scale = float(jnp.max(jnp.abs(reference))) + 1e-3
            assert_close(found[key], reference, rtol=tol, atol=tol * scale, what=f"{out}, {transform}: {key}")


def test_fourier_embedding_and_a_subset_of_keys():
    model = pinn("scalar", embedding=FourierFeatures(2, 8, key=jax.random.key(2)))
    pts = points()
    found, reference = both(model, pts, ((), (1,), (0, 1)))
    assert set(found) == {(), (1,), (0, 1)}
    for key in found:
        assert_close(found[key], reference[key], rtol=1e-4, atol=1e-4, what=f"Fourier features {key}")


def test_outside_the_rules_it_declines_and_the_residual_falls_back():
    def reduce_max(p):  # a max over a vector: not among the jet rules
        return jnp.max(jnp.stack([jnp.sin(p[0]), p[1] ** 2]))

    pts = points()
    assert taylor_derivatives(reduce_max, pts, [(0,)]) is None
    assert taylor_derivatives(jnp.sum, pts, [(0, 1, 1)]) is None  # third order
    residual = lambda u: u.t + u.xx  # noqa: E731
    fallback, by_hand = jax.jit(lambda q: (pointwise_residual(residual, reduce_max, q, DOMAIN.names, [(0,), (1, 1)]),
                                           jax.vmap(lambda p: residual(Field(reduce_max, p, DOMAIN.names)))(q)))(pts)
    assert_close(fallback, by_hand, rtol=1e-6, what="fallback residual")


def test_burgers_residual_and_its_parameter_gradient_equal_the_per_point_path():
    nu = 0.01 / np.pi
    residual = lambda u: u.t + u.value * u.x - nu * u.xx  # noqa: E731
    problem = Problem(DOMAIN, residual, FixedPoints(points(64)), {})
    model, pts = pinn("scalar", burgers_transform()), points(64)

    def per_point(model):
        plan = [(), (0,), (1,), (1, 1)]
        return jax.vmap(lambda p: residual(Field(model, p, DOMAIN.names, plan)))(pts)

    @eqx.filter_jit
    def residuals_and_gradients(model):
        new = eqx.filter_value_and_grad(lambda m: jnp.mean(problem.pointwise_residual(m, pts) ** 2))(model)
        old = eqx.filter_value_and_grad(lambda m: jnp.mean(per_point(m) ** 2))(model)
        return problem.pointwise_residual(model, pts), per_point(model), new[1], old[1]

    new_residual, old_residual, new, old = residuals_and_gradients(model)
    assert_close(new_residual, old_residual, rtol=1e-5, atol=1e-6, what="residual")
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True):
        assert_close(a, b, rtol=1e-4, atol=1e-6 * float(jnp.max(jnp.abs(b))), what="parameter gradient")


def test_mixed_and_vector_residual_under_jit_and_vmap():
    model, pts = pinn(2, burgers_transform()), points(16)
    residual = lambda u: jnp.stack([u.tx[0] - u.value[1], u.tt[1] * u.x[0]])  # noqa: E731
    plan = [(0, 1), (), (0, 0), (1,)]

    @eqx.filter_jit
    def three_ways(model):
        return (jax.vmap(lambda p: residual(Field(model, p, DOMAIN.names)))(pts),
                pointwise_residual(residual, model, pts, DOMAIN.names, plan),
                jax.vmap(lambda q: pointwise_residual(residual, model, q[None], DOMAIN.names, plan)[0])(pts))

    expected, batched, single = three_ways(model)
    assert_close(batched, expected, rtol=1e-4, atol=1e-5, what="batched residual")
    assert_close(single, expected, rtol=1e-4, atol=1e-5, what="one point at a time under vmap")


def test_keys_cover_all_pairs_in_three_dimensions():
    def cubic(p):
        return jnp.tanh(p[0] * p[1] + p[2]) * p[2] ** 2

    pts = jax.random.uniform(jax.random.key(3), (8, 3))
    keys = [(), *itertools.combinations_with_replacement(range(3), 1),
            *itertools.combinations_with_replacement(range(3), 2)]
    found, reference = both(cubic, pts, tuple(keys))
    for key in keys:
        assert_close(found[key], reference[key], rtol=1e-5, atol=1e-6, what=f"3-d {key}")



@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_reverse_only_dense_layers_give_the_same_values_and_parameter_gradients(dtype):
    """Under `reverse_mode_only` the custom VJPs of the dense layers (weight gradient from an explicitly transposed
    cotangent) and of the activations on jets (derivatives recomputed to third order) give the plain pass's loss and
    parameter gradients, with pure and mixed second derivatives, for a scalar and a vector output and vmapped over
    an ensemble of two; forward mode through it is refused by JAX."""
    tolerance = 1e-5 if dtype == jnp.float32 else 1e-12

    def loss_of(static, pts):
        def loss(params):
            found = taylor_derivatives(eqx.combine(params, static), pts, [(0,), (1,), (0, 0), (0, 1), (1, 1)])
            return sum(jnp.mean(jnp.sin(v) ** 2) for v in found.values())
        return loss

    def check(found, plain, what):
        for a, b in zip(jax.tree.leaves(found), jax.tree.leaves(plain), strict=True):
            assert_close(a, b, rtol=tolerance, atol=tolerance * float(jnp.max(jnp.abs(b))), what=what)

    def value_and_grad(loss, params, reverse_only, vmapped=False):
        def run(p):
            with reverse_mode_only() if reverse_only else contextlib.nullcontext():
                return jax.value_and_grad(loss)(p)
        return jax.jit(jax.vmap(run) if vmapped else run)(params)

    with jax.enable_x64(dtype == jnp.float64):
        pts = points(40, dtype)
        for model in (pinn("scalar", burgers_transform(), dtype=dtype), pinn(2, dtype=dtype)):
            params, static = eqx.partition(model, eqx.is_inexact_array)
            loss = loss_of(static, pts)
            check(value_and_grad(loss, params, True), value_and_grad(loss, params, False), "loss and gradient")

        members = [eqx.partition(pinn("scalar", dtype=dtype, key=k), eqx.is_inexact_array) for k in (1, 2)]
        params = jax.tree.map(lambda *a: jnp.stack(a), *(p for p, _ in members))
        loss = loss_of(members[0][1], pts)
        check(value_and_grad(loss, params, True, vmapped=True), value_and_grad(loss, params, False, vmapped=True),
              "ensemble members' losses and gradients")
        with reverse_mode_only(), pytest.raises(TypeError, match="forward-mode"):
            jax.jvp(loss, (members[0][0],), (jax.tree.map(jnp.ones_like, members[0][0]),))


class _TrainedExponent(eqx.Module):
    """``sum(((tanh(W x + b))^2 + 1)^p)`` with a trained exponent p: an activation with a traced second operand."""

    weight: jax.Array
    bias: jax.Array
    exponent: jax.Array

    def __call__(self, point):
        return jnp.sum(jnp.power(jnp.tanh(self.weight @ point + self.bias) ** 2 + 1.0, self.exponent))


def test_an_activation_with_a_trained_operand_keeps_its_gradient_under_reverse_only():
    """`pow` with a trained exponent closes over a traced value: it takes the plain chain rule, not the recomputing
    VJP, and the exponent's gradient is the plain pass's."""
    keys = jax.random.split(jax.random.key(3), 3)
    model = _TrainedExponent(jax.random.normal(keys[0], (8, 2)), jax.random.normal(keys[1], (8,)),
                             1.0 + 0.5 * jax.random.uniform(keys[2], (8,)))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    pts = DOMAIN.uniform(jax.random.key(4), 30)

    def loss(p):
        found = taylor_derivatives(eqx.combine(p, static), pts, [(0,), (1,), (1, 1)])
        return sum(jnp.mean(v**2) for v in found.values())

    with reverse_mode_only():
        value, grads = jax.jit(jax.value_and_grad(loss))(params)
    reference, reference_grads = jax.jit(jax.value_and_grad(loss))(params)
    assert_close(value, reference, rtol=1e-5)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(reference_grads), strict=True):
        assert_close(g, r, rtol=1e-4, atol=1e-6 * float(jnp.max(jnp.abs(r))))
    assert float(jnp.max(jnp.abs(grads.exponent))) > 1e-3
