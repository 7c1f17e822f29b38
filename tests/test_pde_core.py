"""PDE core: derivatives against closed forms, samplers' properties, constraints, problem residuals, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError, DataError
from sciml.pde import (
    Box,
    DataConstraint,
    DerivativeCondition,
    FacePoints,
    Field,
    LatinHypercube,
    Periodic,
    Problem,
    SobolPoints,
    UniformPoints,
    box_faces,
    derivative,
    interval,
    rectangle,
    time_space,
)


def wave(p):
    t, x = p
    return jnp.exp(-0.5 * t) * jnp.sin(3.0 * x) + t**2 * x


def test_derivatives_match_closed_forms():
    p = jnp.asarray([0.7, 0.4])
    t, x = 0.7, 0.4
    e = np.exp(-0.5 * t)
    expected = {
        (): e * np.sin(3 * x) + t**2 * x,
        (0,): -0.5 * e * np.sin(3 * x) + 2 * t * x,
        (1,): 3 * e * np.cos(3 * x) + t**2,
        (1, 1): -9 * e * np.sin(3 * x),
        (0, 1): -1.5 * e * np.cos(3 * x) + 2 * t,
        (1, 1, 1): -27 * e * np.cos(3 * x),
    }
    for axes, value in expected.items():
        assert_close(derivative(wave, p, axes), value, rtol=1e-5, atol=1e-6, what=f"derivative {axes}")
    u = Field(wave, p, ("t", "x"))
    assert_close([u.value, u.t, u.x, u.xx, u.tx, u.xt, u.xxx],
                 [expected[k] for k in [(), (0,), (1,), (1, 1), (0, 1), (0, 1), (1, 1, 1)]],
                 rtol=1e-5, atol=1e-6, what="Field attributes")
    planned = Field(wave, p, ("t", "x"), plan=[(1, 1), (0,)])
    assert_close([planned.t, planned.x, planned.xx], [expected[(0,)], expected[(1,)], expected[(1, 1)]], rtol=1e-6,
                 what="planned Field")
    # A vector field takes its first derivatives by forward mode (a scalar one by one reverse pass): same values.
    pair = Field(lambda q: jnp.stack([wave(q), q[0] * q[1]]), p, ("t", "x"))
    assert_close([pair.t, pair.x], [[expected[(0,)], x], [expected[(1,)], t]], rtol=1e-5, what="vector Field")


def test_field_rejects_unknown_coordinates():
    u = Field(wave, jnp.zeros(2), ("t", "x"))
    with pytest.raises(AttributeError, match="derivatives are named by coordinates"):
        _ = u.y
    with pytest.raises(ConfigError, match="no coordinate 'y'"):
        u.d("y")


def test_heat_residual_vanishes_on_the_exact_solution_only():
    nu = 0.1
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0))
    problem = Problem(domain, lambda u: u.t - nu * u.xx, UniformPoints(domain, 64), {})
    points = domain.uniform(jax.random.key(0), 64)

    def exact(p):
        return jnp.exp(-nu * jnp.pi**2 * p[0]) * jnp.sin(jnp.pi * p[1])

    def wrong(p):
        return jnp.exp(-2 * nu * jnp.pi**2 * p[0]) * jnp.sin(jnp.pi * p[1])

    assert float(jnp.max(jnp.abs(problem.pointwise_residual(exact, points)))) < 1e-5
    assert float(jnp.max(jnp.abs(problem.pointwise_residual(wrong, points)))) > 0.1


def test_residual_of_the_wrong_shape_is_rejected():
    domain = rectangle((0.0, 0.0), (1.0, 1.0))
    problem = Problem(domain, lambda u: jnp.ones((2, 2)) * u.value, UniformPoints(domain, 8), {})
    with pytest.raises(ConfigError, match="scalar or a vector per point"):
        problem.pointwise_residual(lambda p: p[0], domain.uniform(jax.random.key(0), 8))


def test_inverted_bounds_and_bad_names_are_rejected():
    with pytest.raises(ConfigError, match="expected lower < upper, got \\[1.0, -1.0\\]"):
        interval(1.0, -1.0)
    with pytest.raises(ConfigError, match="distinct"):
        Box((0, 0), (1, 1), ("x", "x"))
    with pytest.raises(ConfigError, match="positive number of points"):
        UniformPoints(interval(0, 1), 0)


def test_samplers_stay_in_the_domain_and_resample_on_schedule():
    domain = rectangle((-1.0, 2.0), (1.0, 5.0))
    key = jax.random.key(0)
    for sampler in (UniformPoints(domain, 128, every=10), LatinHypercube(domain, 128, every=10),
                    SobolPoints(domain, 128, every=10)):
        pts = np.asarray(sampler(key, jnp.asarray(0)))
        assert pts.shape == (128, 2)
        assert (pts >= [-1, 2]).all() and (pts <= [1, 5]).all()
        np.testing.assert_array_equal(pts, sampler(key, jnp.asarray(9)))
        assert not np.allclose(pts, sampler(key, jnp.asarray(10)))


def test_latin_hypercube_puts_one_point_in_each_stratum():
    pts = np.asarray(LatinHypercube(rectangle((0.0, 0.0), (1.0, 1.0)), 50)(jax.random.key(1), jnp.asarray(0)))
    for axis in range(2):
        np.testing.assert_array_equal(np.sort(np.floor(pts[:, axis] * 50)), np.arange(50))


def test_face_points_lie_on_the_face():
    domain = time_space(0.0, 2.0, interval(-1.0, 1.0))
    face = FacePoints(UniformPoints(interval(-1.0, 1.0), 16), axis=0, value=0.0)
    pts = np.asarray(face(jax.random.key(0), jnp.asarray(0)))
    assert pts.shape == (16, domain.ndim) and (pts[:, 0] == 0).all()


def test_periodic_constraint_detects_non_periodic_fields():
    sampler = UniformPoints(interval(0.0, 1.0, "t"), 32)
    constraint = Periodic(FacePoints(sampler, axis=1, value=0.0), axis=1, lower=0.0, upper=2 * np.pi, derivatives=1)
    pts = constraint.sampler(jax.random.key(0), jnp.asarray(0))
    assert float(constraint.loss(lambda p: jnp.sin(p[1] - p[0]), pts)) < 1e-10
    assert float(constraint.loss(lambda p: p[1] * p[0], pts)) > 1.0


def test_data_constraint_rejects_nan_observations():
    with pytest.raises(DataError, match="NaN/Inf"):
        DataConstraint(np.zeros((3, 2)), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(DataError, match="expected points"):
        DataConstraint(np.zeros((3, 2)), np.zeros(4))


def test_box_faces_lie_on_the_faces_and_a_derivative_condition_reads_the_rate():
    domain = time_space(0.0, 2.0, Box((-1.0, 0.0), (1.0, 3.0), ("x", "y")))
    faces = box_faces(domain, 16, (1, 2))
    assert set(faces) == {"x_lower", "x_upper", "y_lower", "y_upper"}
    for name, sampler in faces.items():
        points = np.asarray(sampler(jax.random.key(0), jnp.asarray(0)))
        axis = domain.names.index(name[0])
        value = domain.lower[axis] if name.endswith("lower") else domain.upper[axis]
        assert points.shape == (16, 3) and np.all(points[:, axis] == value), name
    condition = DerivativeCondition(faces["x_lower"], 0, lambda p: 2.0 * p[2])
    points = faces["x_lower"](jax.random.key(1), jnp.asarray(0))
    assert float(condition.loss(lambda p: 2.0 * p[0] * p[2] + p[1], points)) < 1e-10
    assert_close(condition.loss(lambda p: p[0] * p[2], points), jnp.mean(points[:, 2] ** 2), rtol=1e-5, what="loss")
