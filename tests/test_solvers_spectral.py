"""Reference solvers: spectral convection-diffusion / Burgers and the finite-difference nonlinear diffusion."""

import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.solvers import nonlinear_diffusion_2d, periodic_convection_diffusion


def test_linear_convection_diffusion_is_exact():
    n = 64
    x = np.arange(n) * 2 * np.pi / n
    t = np.linspace(0, 1, 5)
    u = periodic_convection_diffusion(np.sin(x) + 0.5 * np.cos(3 * x), 2 * np.pi, t, nu=0.05, velocity=30.0)
    exact = (np.exp(-0.05 * t[:, None]) * np.sin(x[None] - 30 * t[:, None])
             + 0.5 * np.exp(-0.45 * t[:, None]) * np.cos(3 * (x[None] - 30 * t[:, None])))
    assert_close(u, exact, rtol=0, atol=1e-12, what="exp(-nu k^2 t) shifted modes")


def test_burgers_is_galilean_invariant_and_converged():
    # u0 = C + sin x solves as C + v(x - C t, t), with v the solution for u0 = sin x.
    n, offset, t1 = 256, 2.0, 0.8
    x = np.arange(n) * 2 * np.pi / n
    t = np.asarray([0.0, t1])
    moving = periodic_convection_diffusion(offset + np.sin(x), 2 * np.pi, t, nu=0.05, burgers=1.0, dt=5e-4)[-1]
    still = periodic_convection_diffusion(np.sin(x), 2 * np.pi, t, nu=0.05, burgers=1.0, dt=5e-4)[-1]
    k = np.fft.rfftfreq(n, d=1 / n)
    shifted = np.fft.irfft(np.fft.rfft(still) * np.exp(-1j * k * offset * t1), n)
    assert_close(moving, offset + shifted, rtol=0, atol=1e-7, what="Galilean shift")
    coarse = periodic_convection_diffusion(np.sin(x[::2]), 2 * np.pi, t, nu=0.05, burgers=1.0, dt=5e-4)[-1]
    assert_close(coarse, still[::2], rtol=0, atol=1e-5, what="128 vs 256 modes")


def test_nonlinear_diffusion_converges_at_second_order():
    def solve(n):
        grid = np.linspace(-1, 1, n)
        x, y = np.meshgrid(grid, grid, indexing="ij")
        u0 = 0.4 * np.exp(-10 * (x**2 + y**2))
        h = grid[1] - grid[0]
        return nonlinear_diffusion_2d(u0, (h, h), np.asarray([0.0, 0.2]), alpha=0.5, dt=2e-4)[-1]

    u21, u41, u81 = solve(21), solve(41), solve(81)
    error_coarse = np.abs(u21 - u81[::4, ::4]).max()
    error_fine = np.abs(u41[::2, ::2] - u81[::4, ::4]).max()
    assert 3.0 < error_coarse / error_fine < 6.0, (f"order ratio {error_coarse / error_fine:.2f}, expected ~4 "
                                                   "(+ Richardson)")
    assert u81[[0, -1], :].max() == 0.0 and u81[:, [0, -1]].max() == 0.0


def test_solver_bad_inputs():
    with pytest.raises(ConfigError, match="n even"):
        periodic_convection_diffusion(np.zeros(7), 1.0, np.asarray([0.0, 1.0]))
    with pytest.raises(ConfigError, match="increasing"):
        periodic_convection_diffusion(np.zeros(8), 1.0, np.asarray([1.0, 0.0]))
    with pytest.raises(ConfigError, match="stability"):
        nonlinear_diffusion_2d(np.ones((11, 11)), (0.1, 0.1), np.asarray([0.0, 1.0]), alpha=1.0, dt=1.0)
