"""Fourier pseudo-spectral solver for 1D periodic convection-diffusion and viscous Burgers (ETDRK4).

``u_t + c u_x + b u u_x = nu u_xx`` on ``[0, length)``, periodic. The linear part (``-c u_x + nu u_xx``) is
integrated exactly in Fourier space; the Burgers term ``-(b/2) (u^2)_x`` (2/3-rule dealiased) by the fourth-order
exponential time-differencing Runge-Kutta scheme of Cox & Matthews, with the coefficients evaluated by contour
integrals (Kassam & Trefethen, 2005). NumPy float64 on the host: a reference solver, not a training component.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from sciml._errors import ConfigError


def _etdrk4_coefficients(linear: np.ndarray, h: float, contour_points: int = 32):
    roots = np.exp(1j * np.pi * (np.arange(1, contour_points + 1) - 0.5) / contour_points)
    z = h * linear[:, None] + roots[None, :]
    e, e2 = np.exp(h * linear), np.exp(h * linear / 2)
    q = h * np.real(np.mean((np.exp(z / 2) - 1) / z, axis=1))
    f1 = h * np.real(np.mean((-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3, axis=1))
    f2 = h * np.real(np.mean((2 + z + np.exp(z) * (-2 + z)) / z**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3, axis=1))
    return e, e2, q, f1, f2, f3


def periodic_convection_diffusion(
    u0: Float[np.ndarray, " n"],
    length: float,
    times: Float[np.ndarray, " m"],
    *,
    nu: float = 0.0,
    velocity: float = 0.0,
    burgers: float = 0.0,
    dt: float = 1e-3,
) -> Float[np.ndarray, "m n"]:
    """Solve from ``u(times[0]) = u0`` on n equispaced points ``x_j = j length / n``; return u at every time.

    Args:
        u0: initial values on the grid (n even).
        length: period of the domain.
        times: increasing output times (the first is the initial time).
        nu: diffusivity (>= 0).
        velocity: constant convection speed c.
        burgers: coefficient b of the nonlinear term ``b u u_x`` (1 for Burgers, 0 for linear problems).
        dt: largest time step (each output interval is split into equal steps no larger than this).
    """
    u0 = np.asarray(u0, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    n = u0.shape[0]
    if u0.ndim != 1 or n % 2 or n < 4:
        raise ConfigError(f"periodic_convection_diffusion: expected u0 of shape (n,) with n even >= 4, got {u0.shape}")
    if times.ndim != 1 or np.any(np.diff(times) <= 0):
        raise ConfigError("periodic_convection_diffusion: times must be a 1-D increasing array")
    if nu < 0 or length <= 0 or dt <= 0:
        raise ConfigError(f"periodic_convection_diffusion: expected nu >= 0, length > 0, dt > 0; got {nu}, {length}, "
                          f"{dt}")
    k = 2 * np.pi * np.fft.rfftfreq(n, d=length / n)
    linear = -1j * velocity * k - nu * k**2
    dealias = np.abs(k) < (2 / 3) * np.max(np.abs(k))

    def nonlinear(v_hat):
        u = np.fft.irfft(v_hat, n)
        return -0.5j * burgers * k * dealias * np.fft.rfft(u * u)

    out = np.empty((times.size, n))
    out[0] = u0
    v = np.fft.rfft(u0)
    cache: dict[float, tuple] = {}
    for i in range(1, times.size):
        span = times[i] - times[i - 1]
        steps = int(np.ceil(span / dt - 1e-9))
        h = span / steps
        key = round(h, 14)
        if key not in cache:
            cache[key] = _etdrk4_coefficients(linear, h)
        e, e2, q, f1, f2, f3 = cache[key]
        for _ in range(steps):
            if burgers == 0.0:
                v = e * v
                continue
            nv = nonlinear(v)
            a = e2 * v + q * nv
            na = nonlinear(a)
            b = e2 * v + q * na
            nb = nonlinear(b)
            c = e2 * a + q * (2 * nb - nv)
            nc = nonlinear(c)
            v = e * v + nv * f1 + 2 * (na + nb) * f2 + nc * f3
        out[i] = np.fft.irfft(v, n)
    return out
