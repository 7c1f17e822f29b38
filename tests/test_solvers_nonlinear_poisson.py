"""The 1D nonlinear Poisson reference solver against closed forms: the family's exact solution, a manufactured
solution, a finite-difference residual and the small-amplitude (linear) limit."""

import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.solvers import nonlinear_poisson_1d, nonlinear_poisson_family


def test_family_matches_its_exact_solution():
    # (1 + u^2) u' = (u + u^3 / 3)', so u + u^3 / 3 = z sin(pi x) exactly.
    x = np.linspace(0.0, 1.0, 57)
    z = np.array([0.5, 1.7, 3.0])
    u = nonlinear_poisson_family(z, x)
    assert_close(u + u**3 / 3, z[:, None] * np.sin(np.pi * x), rtol=0, atol=1e-9, what="u + u^3/3 = z sin(pi x)")


def test_manufactured_solution():
    # u* = x (1 - x) e^x: u*' = e^x (1 - x - x^2), u*'' = -e^x (3 x + x^2); f = -((1 + u^2) u'' + 2 u u'^2).
    def exact(s):
        return s * (1 - s) * np.exp(s)

    def source(s):
        u, du, d2u = exact(s), np.exp(s) * (1 - s - s**2), -np.exp(s) * (3 * s + s**2)
        return -((1 + u**2) * d2u + 2 * u * du**2)

    x = np.linspace(0.0, 1.0, 41)
    assert_close(nonlinear_poisson_1d(x, source), exact(x), rtol=0, atol=1e-8, what="manufactured solution")


def test_finite_difference_residual_is_small():
    x = np.linspace(0.0, 1.0, 2001)
    h = x[1] - x[0]
    u = nonlinear_poisson_family([2.2], x)[0]
    flux = (1 + ((u[1:] + u[:-1]) / 2) ** 2) * np.diff(u) / h
    residual = -np.diff(flux) / h - 2.2 * np.pi**2 * np.sin(np.pi * x[1:-1])
    assert np.max(np.abs(residual)) < 1e-3 * 2.2 * np.pi**2, np.max(np.abs(residual))


def test_small_amplitude_is_the_linear_solution():
    x = np.linspace(0.0, 1.0, 33)
    z = 1e-3
    u = nonlinear_poisson_family([z], x)[0]
    # u = s - s^3/3 + O(s^5) with s = z sin(pi x): the linear solution to O(z^3).
    assert_close(u, z * np.sin(np.pi * x), rtol=0, atol=z**3, what="linear limit")
    assert np.max(np.abs(u - z * np.sin(np.pi * x))) > 0  # the cubic correction is there


def test_points_outside_the_interval_are_refused():
    with pytest.raises(ConfigError, match="points must lie in"):
        nonlinear_poisson_1d(np.array([0.5, 1.5]), lambda s: np.ones_like(s))
    with pytest.raises(ConfigError, match="n_z"):
        nonlinear_poisson_family([1.0, 2.0], np.zeros((3, 4)))
