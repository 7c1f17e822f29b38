"""1D nonlinear Poisson ``-(d/dx)[(1 + u^2) du/dx] = f(x)`` on (0, L), u(0) = u(L) = 0, by collocation (scipy's
`solve_bvp`): the reference of the random-grid neural process family."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_bvp

from sciml._errors import ConfigError


def nonlinear_poisson_1d(x, source: Callable[[np.ndarray], np.ndarray], *, length: float = 1.0, tol: float = 1e-9,
                         nodes: int = 201, max_nodes: int = 100_000) -> np.ndarray:
    """u at the points `x` (any shape, inside [0, length]) solving ``-((1 + u^2) u')' = source(x)``, u = 0 at both ends.

    The equation is solved as the first-order system ``u' = q / (1 + u^2)``, ``q' = -source(x)`` (q the flux) by
    `scipy.integrate.solve_bvp` (4th-order collocation, mesh refined until the relative residual is below `tol`),
    started from the linear solution's shape; values between mesh nodes come from its C1 cubic interpolant.

    Args:
        x: evaluation points.
        source: f, vectorised over a 1-D array of points.
        length: the interval's right end L.
        tol: `solve_bvp`'s residual tolerance.
        nodes: nodes of the initial mesh.
        max_nodes: mesh size at which the solver gives up.
    """
    x = np.asarray(x, np.float64)
    if length <= 0 or x.size and (x.min() < 0 or x.max() > length):
        raise ConfigError(f"nonlinear_poisson_1d: points must lie in [0, {length}] with length > 0; got points in "
                          f"[{x.min() if x.size else 'none'}, {x.max() if x.size else 'none'}]")

    def system(s, y):
        return np.vstack([y[1] / (1 + y[0] ** 2), -np.asarray(source(s), np.float64)])

    def boundary(left, right):
        return np.array([left[0], right[0]])

    mesh = np.linspace(0.0, length, nodes)
    guess = np.vstack([np.zeros_like(mesh), np.zeros_like(mesh)])
    solution = solve_bvp(system, boundary, mesh, guess, tol=tol, max_nodes=max_nodes)
    if not solution.success:
        raise ConfigError(f"nonlinear_poisson_1d: solve_bvp did not converge ({solution.message}); raise max_nodes "
                          f"or loosen tol (got tol={tol}, max_nodes={max_nodes})")
    return solution.sol(x.ravel())[0].reshape(x.shape)


def nonlinear_poisson_family(z, x) -> np.ndarray:
    """The family ``-((1 + u^2) u')' = z pi^2 sin(pi x)`` on (0, 1), u(0) = u(1) = 0: u for each z at the points x.

    Args:
        z: parameter values ``(n_z,)``.
        x: points in [0, 1], ``(n_x,)`` (shared by all z) or ``(n_z, n_x)`` (one row per z).

    Returns: ``(n_z, n_x)`` float64.
    """
    z = np.atleast_1d(np.asarray(z, np.float64))
    x = np.asarray(x, np.float64)
    rows = np.broadcast_to(x, (z.size, x.shape[-1])) if x.ndim == 1 else x
    if rows.shape[0] != z.size:
        raise ConfigError(f"nonlinear_poisson_family: x must be (n_x,) or (n_z, n_x) with n_z = {z.size}, got "
                          f"{x.shape}")
    return np.stack([nonlinear_poisson_1d(row, lambda s, zi=zi: zi * np.pi**2 * np.sin(np.pi * s))
                     for zi, row in zip(z, rows, strict=True)])
