"""The BDF integrator of semi-explicit index-1 DAEs (sciml/solvers/_bdf.py): an analytic nonlinear DAE with its
parameter derivative, an event located to round-off, the stiff Robertson kinetics against SciPy's Radau."""

import jax
import jax.numpy as jnp
import numpy as np
from conftest import assert_close
from scipy.integrate import solve_ivp

from sciml.solvers._bdf import STATUS, bdf_solve


def bernoulli(t, u, k):
    """y' = -k y + z, 0 = z - y^2: y = k / (1 + (2k - 1) e^{kt}) from y(0) = 1/2."""
    y, z = u
    return jnp.stack([-k * y + z, z - y**2])


def bernoulli_exact(t, k):
    y = k / (1.0 + (2.0 * k - 1.0) * np.exp(k * t))
    return np.stack([y, y**2], axis=-1)


def test_nonlinear_dae_and_its_parameter_derivative_match_the_exact_solution():
    t_eval = np.linspace(0.0, 5.0, 11)
    mass = np.array([1.0, 0.0])

    @jax.jit
    def solve(k):
        return bdf_solve(bernoulli, jnp.array([0.5, 0.25]), jnp.asarray(t_eval), k, mass=mass, rtol=1e-9,
                         atol=1e-12)

    with jax.enable_x64(True):
        solution = solve(1.5)
        derivative = jax.jit(jax.jacfwd(lambda k: solve(k).ys[:, 0]))(1.5)
    assert STATUS[int(solution.status)] == "end time" and float(solution.t_end) == 5.0
    assert_close(solution.ys, bernoulli_exact(t_eval, 1.5), rtol=1e-7, atol=1e-12, what="y and z")
    eps = 1e-6
    exact = (bernoulli_exact(t_eval, 1.5 + eps) - bernoulli_exact(t_eval, 1.5 - eps))[:, 0] / (2 * eps)
    assert_close(derivative, exact, rtol=1e-5, atol=1e-10, what="dy/dk")
    assert int(solution.stats["steps"]) < 400, solution.stats


def test_event_ends_the_integration_where_it_crosses_zero():
    def fall(t, u, args):
        return jnp.stack([-jnp.ones_like(u[0]), u[1] - 2.0 * u[0]])  # y = 1 - t, z = 2 y

    t_eval = np.linspace(0.0, 1.0, 6)
    with jax.enable_x64(True):
        solution = jax.jit(lambda: bdf_solve(fall, jnp.array([1.0, 2.0]), jnp.asarray(t_eval),
                                             mass=np.array([1.0, 0.0]),
                                             events=lambda t, u, args: jnp.stack([u[0] + 1.0, u[1] - 0.5])))()
    assert STATUS[int(solution.status)] == "event" and int(solution.event) == 1
    assert_close(solution.t_end, 0.75, rtol=1e-12, what="event time (z = 1/2)")
    assert_close(solution.y_end, [0.25, 0.5], rtol=1e-10, what="state at the event")
    assert_close(solution.ys[:4], np.stack([1.0 - t_eval[:4], 2.0 - 2.0 * t_eval[:4]], axis=1), rtol=1e-10,
                 what="states before the event")
    assert np.all(np.isnan(solution.ys[4:])), "times after the event have no state"


def test_stiff_robertson_kinetics_match_radau():
    """Robertson's reactions with the conservation law as the algebraic equation (a classic stiff index-1 DAE)."""

    def robertson(t, u, args):
        a, b, c = u
        return jnp.stack([-0.04 * a + 1e4 * b * c, 0.04 * a - 1e4 * b * c - 3e7 * b**2, a + b + c - 1.0])

    def ode(t, u):
        a, b, c = u
        return [-0.04 * a + 1e4 * b * c, 0.04 * a - 1e4 * b * c - 3e7 * b**2, 3e7 * b**2]

    t_eval = np.array([0.0, 0.4, 4.0, 40.0, 400.0, 4000.0, 4e4])
    reference = solve_ivp(ode, (0.0, 4e4), [1.0, 0.0, 0.0], method="Radau", t_eval=t_eval, rtol=1e-10,
                          atol=1e-14).y.T
    with jax.enable_x64(True):
        solution = jax.jit(lambda: bdf_solve(robertson, jnp.array([1.0, 0.0, 0.0]), jnp.asarray(t_eval),
                                             mass=np.array([1.0, 1.0, 0.0]), rtol=1e-8, atol=1e-14))()
    assert STATUS[int(solution.status)] == "end time"
    assert_close(np.asarray(solution.ys).sum(axis=1), np.ones(t_eval.size), rtol=1e-12, what="conservation")
    assert_close(solution.ys[:, 0], reference[:, 0], rtol=1e-5, what="A")
    assert_close(solution.ys[:, 2], reference[:, 2], rtol=1e-5, atol=1e-12, what="C")
    assert_close(solution.ys[1:, 1], reference[1:, 1], rtol=1e-4, what="B (the fast intermediate)")
    assert int(solution.stats["steps"]) < 1000, solution.stats
