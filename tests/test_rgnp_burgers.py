"""The Burgers family of the random-grid neural process: the Cole-Hopf reference against the pseudo-spectral solver
(an independent method), its initial and boundary values, the family's residual on an exact solution, the hard
initial/boundary constraint of the forward network in (t, x), and the study's grid and output layout on (nu, t, x)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.pde import Field
from sciml.rgnp import ForwardNetwork, LowRankCovariance
from sciml.solvers import burgers_cole_hopf, periodic_convection_diffusion
from sciml.studies.neural_process import VISCOUS_BURGERS, burgers_residual, grid_points


@pytest.mark.parametrize("nu", [0.02, 0.1])
def test_cole_hopf_matches_the_pseudo_spectral_solver(nu):
    # -sin(pi x) with zero boundary values is the odd 2-periodic solution: the periodic solver on [0, 2) sees the same
    n = 256
    x = 2.0 * np.arange(n) / n
    times = np.array([0.0, 0.25, 0.5, 1.0])
    spectral = periodic_convection_diffusion(-np.sin(np.pi * x), 2.0, times, nu=nu, burgers=1.0, dt=1e-3)
    on_interval = np.where(x > 1.0, x - 2.0, x)
    exact = burgers_cole_hopf(nu, times[:, None], on_interval[None, :])
    assert_close(exact, spectral, rtol=0, atol=1e-7, what=f"Cole-Hopf vs ETDRK4 pseudo-spectral, nu={nu}")
    # the front at x = 0 is steep at the small nu (|u_x| about 12 at t = 1): a real check, not a smooth field
    assert np.max(np.abs(np.diff(exact[-1]))) * n / 2 > (10 if nu == 0.02 else 1)


def test_cole_hopf_initial_boundary_values_symmetry_and_quadrature():
    x = np.linspace(-1.0, 1.0, 41)
    assert_close(burgers_cole_hopf(0.03, 0.0, x), -np.sin(np.pi * x), rtol=0, atol=1e-14, what="u(x, 0)")
    t = np.linspace(0.0, 1.0, 11)
    assert np.max(np.abs(burgers_cole_hopf(0.03, t, 1.0))) < 1e-12
    assert np.max(np.abs(burgers_cole_hopf(0.03, t, -1.0))) < 1e-12
    u = burgers_cole_hopf(0.03, 0.7, x)
    assert_close(u, -u[::-1], rtol=0, atol=1e-12, what="odd in x")
    assert_close(burgers_cole_hopf(0.03, 0.7, x, nodes=300), u, rtol=0, atol=1e-10,
                 what="200 vs 300 Gauss-Hermite nodes")
    with pytest.raises(ConfigError, match="nu > 0"):
        burgers_cole_hopf(0.0, 0.5, x)
    with pytest.raises(ConfigError, match="fewer nodes"):
        burgers_cole_hopf(0.05, 0.5, x, nodes=1000)
    with pytest.raises(ConfigError, match="x in"):
        burgers_cole_hopf(0.05, 0.5, 1.5)


def test_burgers_residual_vanishes_on_a_viscous_shock():
    # u = -a tanh(a x / (2 nu)) is a steady solution of u_t + u u_x = nu u_xx
    nu, a = 0.05, 0.8
    points = jnp.stack([jnp.linspace(0.1, 0.9, 9), jnp.linspace(-0.5, 0.5, 9)], axis=1)

    @jax.jit
    def residuals(points):
        def of(scale):
            return jax.vmap(lambda p: burgers_residual(
                Field(lambda q: -a * jnp.tanh(scale * a * q[1] / (2 * nu)) + 0.0 * q[0], p, ("t", "x")),
                jnp.array([nu])))
        return of(1.0)(points), of(1.1)(points)

    residual, wrong = residuals(points)
    assert np.max(np.abs(residual)) < 1e-5
    assert np.max(np.abs(wrong)) > 0.1


def test_forward_network_meets_the_initial_and_boundary_values():
    problem = VISCOUS_BURGERS.problem
    forward = ForwardNetwork(problem.domain, problem.parameters, VISCOUS_BURGERS.constraint, LowRankCovariance(2),
                             width=8, depth=1, n_frequencies=3, frequency_range=VISCOUS_BURGERS.frequency_range,
                             key=jax.random.key(0))
    nu = jnp.array([0.05])
    x = jnp.linspace(-1.0, 1.0, 7)
    initial = jnp.stack([jnp.zeros_like(x), x], axis=1)
    walls = jnp.array([[0.3, -1.0], [0.3, 1.0], [1.0, -1.0], [1.0, 1.0]])

    def moments(f, points):
        distribution = f.distribution(nu, points)
        draws = jax.vmap(lambda p: f.field(nu, p, jnp.asarray(1.5), jnp.ones((2,))))(points)
        return distribution.mean, distribution.marginal_variance(), draws

    mean, variance, draws = eqx.filter_jit(moments)(forward, initial)
    assert_close(mean, -jnp.sin(jnp.pi * x), rtol=0, atol=1e-6, what="mean at t = 0")
    assert_close(draws, -jnp.sin(jnp.pi * x), rtol=0, atol=1e-6, what="draws at t = 0")
    assert np.all(np.asarray(variance) <= 1e-11)
    mean, variance, draws = eqx.filter_jit(moments)(forward, walls)
    assert np.max(np.abs(np.asarray(mean))) < 1e-6 and np.max(np.abs(np.asarray(draws))) < 1e-6
    inside = eqx.filter_jit(moments)(forward, jnp.array([[0.5, 0.3]]))[1]
    assert float(inside[0]) > 1e-8


def test_family_grid_interior_and_reference_layout():
    class Sizes:
        n_t, n_x = 3, 5

    axes = VISCOUS_BURGERS.axes(Sizes)
    assert list(axes) == ["t", "x"] and axes["t"].tolist() == [0.0, 0.5, 1.0] and axes["x"][0] == -1.0
    points = grid_points(axes)
    assert points.shape == (15, 2) and points[1].tolist() == [0.0, -0.5]  # x fastest
    interior = VISCOUS_BURGERS.interior(points).reshape(3, 5)
    expected = np.zeros((3, 5), bool)
    expected[1:, 1:-1] = True  # t = 0 and x = +-1 are fixed; t = 1 is not
    assert (interior == expected).all()
    values = VISCOUS_BURGERS.reference(0.04, points)
    assert_close(values, burgers_cole_hopf(0.04, points[:, 0], points[:, 1]), rtol=0, atol=0, what="reference")
