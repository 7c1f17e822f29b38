"""Finite-difference reference solver for 2D nonlinear (porous-medium type) diffusion with zero Dirichlet data.

``u_t = alpha (u_x^2 + u u_xx + u_y^2 + u u_yy) = (alpha / 2) Laplace(u^2)`` on a rectangle, u = 0 on the
boundary: second-order central differences of u^2 on a uniform grid, classical RK4 in time (explicit; the step is
kept under the diffusive stability limit for the largest |u|). NumPy float64.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from sciml._errors import ConfigError


def nonlinear_diffusion_2d(
    u0: Float[np.ndarray, "nx ny"],
    spacing: tuple[float, float],
    times: Float[np.ndarray, " m"],
    *,
    alpha: float,
    dt: float,
) -> Float[np.ndarray, "m nx ny"]:
    """Integrate from ``u(times[0]) = u0`` (boundary rows/columns are held at zero) and return u at `times`."""
    u0 = np.asarray(u0, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if u0.ndim != 2 or min(u0.shape) < 3:
        raise ConfigError(f"nonlinear_diffusion_2d: expected a 2-D grid of at least 3 x 3, got {u0.shape}")
    if times.ndim != 1 or np.any(np.diff(times) <= 0):
        raise ConfigError("nonlinear_diffusion_2d: times must be a 1-D increasing array")
    hx, hy = spacing
    limit = min(hx, hy) ** 2 / (4 * alpha * max(float(np.abs(u0).max()), 1e-12))
    if dt > 2 * limit:
        raise ConfigError(f"nonlinear_diffusion_2d: dt={dt} is above the stability limit ~{2 * limit:.2e}; lower it")

    def rate(u):
        w = u * u
        out = np.zeros_like(u)
        out[1:-1, 1:-1] = 0.5 * alpha * (
            (w[2:, 1:-1] - 2 * w[1:-1, 1:-1] + w[:-2, 1:-1]) / hx**2
            + (w[1:-1, 2:] - 2 * w[1:-1, 1:-1] + w[1:-1, :-2]) / hy**2
        )
        return out

    u = u0.copy()
    u[0, :] = u[-1, :] = u[:, 0] = u[:, -1] = 0.0
    out = np.empty((times.size, *u.shape))
    out[0] = u
    for i in range(1, times.size):
        steps = int(np.ceil((times[i] - times[i - 1]) / dt - 1e-9))
        h = (times[i] - times[i - 1]) / steps
        for _ in range(steps):
            k1 = rate(u)
            k2 = rate(u + 0.5 * h * k1)
            k3 = rate(u + 0.5 * h * k2)
            k4 = rate(u + h * k3)
            u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[i] = u
    return out
