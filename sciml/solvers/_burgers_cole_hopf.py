"""Exact viscous Burgers solution ``u_t + u u_x = nu u_xx`` on (-1, 1), u(x, 0) = -sin(pi x), u(+-1, t) = 0, by the
Cole-Hopf transform and Gauss-Hermite quadrature: the reference of the random-grid neural process's Burgers family.

With ``u = -2 nu phi_x / phi`` the heat equation ``phi_t = nu phi_xx`` takes the initial value
``phi_0(y) = exp(-cos(pi y) / (2 pi nu))`` (up to a constant), whose convolution with the heat kernel gives

    u(x, t) = -int sin(pi (x - eta)) phi_0(x - eta) exp(-eta^2 / (4 nu t)) d eta
              / int phi_0(x - eta) exp(-eta^2 / (4 nu t)) d eta,

and with ``eta = sqrt(4 nu t) s`` both integrals are of the form ``int f(s) exp(-s^2) ds``: Gauss-Hermite quadrature.
(The odd, 2-periodic initial value makes the whole-line solution vanish at x = +-1 for all t.) The exponent
``-cos / (2 pi nu)`` is shifted by its largest value per point before exponentiation, so small nu does not overflow.
"""

from __future__ import annotations

import numpy as np

from sciml._errors import ConfigError


def burgers_cole_hopf(nu: float, t, x, *, nodes: int = 200) -> np.ndarray:
    """u(x, t) of viscous Burgers with u(x, 0) = -sin(pi x) on (-1, 1) and zero boundary values.

    Args:
        nu: viscosity (> 0).
        t: times (>= 0), any shape broadcastable with `x` (t = 0 returns the initial value).
        x: positions in [-1, 1].
        nodes: Gauss-Hermite nodes; the quadrature resolves the integrand when ``sqrt(t / nu)`` (the number of
            oscillations of the exponent over the Gaussian's width) is well below `nodes` (200 suffices for
            ``nu >= 0.005`` up to t = 1 to about 1e-8).

    Returns: u, float64, of the broadcast shape of t and x.
    """
    t, x = np.broadcast_arrays(np.asarray(t, np.float64), np.asarray(x, np.float64))
    if not nu > 0 or nodes < 2:
        raise ConfigError(f"burgers_cole_hopf: expected nu > 0 and nodes >= 2, got nu={nu}, nodes={nodes}")
    if t.size and (t.min() < 0 or x.min() < -1 - 1e-12 or x.max() > 1 + 1e-12):
        raise ConfigError(f"burgers_cole_hopf: expected t >= 0 and x in [-1, 1], got t in [{t.min()}, {t.max()}] and "
                          f"x in [{x.min()}, {x.max()}]")
    s, w = np.polynomial.hermite.hermgauss(nodes)
    if not np.all(np.isfinite(w)):
        raise ConfigError(f"burgers_cole_hopf: NumPy's Gauss-Hermite weights overflow at nodes={nodes}; use fewer "
                          "nodes (200 suffices for nu >= 0.005)")
    shift = np.sqrt(4 * nu * t)[..., None] * s  # (..., nodes)
    y = x[..., None] - shift
    exponent = -np.cos(np.pi * y) / (2 * np.pi * nu)
    weights = w * np.exp(exponent - exponent.max(axis=-1, keepdims=True))
    return -np.sum(weights * np.sin(np.pi * y), axis=-1) / np.sum(weights, axis=-1)
