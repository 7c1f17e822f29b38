"""Burgers with a moving shock: u_t + u u_x = nu u_xx on t in [0, t1], x in [0, 2 pi) (periodic), u0 = C + sin x."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml.pde import Box, interval, time_space
from sciml.solvers import periodic_convection_diffusion
from sciml.studies.cases._base import PDECase, grid_dataset


@dataclasses.dataclass(frozen=True)
class BurgersShock(PDECase):
    """LPINN's case: the offset C only moves the shock in the Eulerian frame (in the Lagrangian frame it shifts X).

    The characteristics' speed is u itself (`velocity`); `initial(x0)` is u0.
    """

    offset: float = 2.0
    nu: float = 0.01
    t1: float = 1.5

    def domain(self) -> Box:
        return time_space(0.0, self.t1, interval(0.0, 2 * np.pi, "x"))

    def initial(self, x0):
        """u0 = C + sin x0."""
        return self.offset + jnp.sin(x0)

    @staticmethod
    def velocity(u):
        """The characteristics' speed: dX/dt = u."""
        return u

    def reference(self, nt: int = 61, nx: int = 256, n_solver: int = 2048) -> xr.Dataset:
        """Pseudo-spectral ETDRK4 solution on `n_solver` points, kept on `nx` of them at `nt` times."""
        t = np.linspace(0.0, self.t1, nt)
        fine = np.arange(n_solver) * 2 * np.pi / n_solver
        u = periodic_convection_diffusion(self.offset + np.sin(fine), 2 * np.pi, t, nu=self.nu, burgers=1.0,
                                          dt=2.5e-4 / max(1.0, self.offset))
        x = fine[:: n_solver // nx]
        return grid_dataset({"t": t, "x": x}, u[:, :: n_solver // nx],
                            equation="u_t + u u_x = nu u_xx, u0 = C + sin x", C=self.offset, nu=self.nu,
                            source=f"sciml.solvers.periodic_convection_diffusion, ETDRK4, {n_solver} points")
