"""Convection / convection-diffusion u_t + beta u_x = nu u_xx on t in [0, 1], x in [0, 2 pi) (periodic), u0 = sin x."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml.pde import Box, FacePoints, InitialCondition, Periodic, Problem, UniformPoints, interval, time_space
from sciml.solvers import periodic_convection_diffusion
from sciml.studies.cases._base import PDECase, grid_dataset


@dataclasses.dataclass(frozen=True)
class Convection(PDECase):
    """The convection(-diffusion) case at speed `beta` and viscosity `nu`; exact ``sin(x - beta t)`` for nu = 0.

    `paper`: Krishnapriyan et al. (2021)'s PINN relative error by beta (notes section 2.4).
    """

    beta: float = 50.0
    nu: float = 0.0
    paper: ClassVar[dict[float, float]] = {30.0: 0.9, 40.0: 0.96}

    def domain(self) -> Box:
        return time_space(0.0, 1.0, interval(0.0, 2 * np.pi, "x"))

    @staticmethod
    def initial(x):
        """u0 = sin x."""
        return jnp.sin(x)

    def exact(self, p: Float[Array, " 2"]) -> Float[Array, ""]:
        """``sin(x - beta t)`` at p = (t, x) (nu = 0 only)."""
        if self.nu:
            raise ValueError(f"Convection.exact is known for nu = 0 only, got nu = {self.nu}")
        return jnp.sin(p[1] - self.beta * p[0])

    def problem(self, n_points: int, n_initial: int, n_boundary: int, window: tuple[float, float] = (0.0, 1.0),
                initial: Callable | None = None) -> tuple[Problem, None]:
        """The Eulerian problem: residual, soft initial condition ("initial") and periodic term ("periodic"), on the
        time `window` (a time-marching window), starting from `initial` ``(t0, x) -> u`` (default u0 = sin x)."""
        t0, t1 = window
        domain = time_space(t0, t1, interval(0.0, 2 * np.pi, "x"))
        beta, nu = self.beta, self.nu
        problem = Problem(
            domain,
            residual=lambda u: u.t + beta * u.x - nu * u.xx,
            interior=UniformPoints(domain, n_points),
            constraints={
                "initial": InitialCondition(FacePoints(UniformPoints(interval(0.0, 2 * np.pi), n_initial), 0, t0),
                                            initial or (lambda p: self.initial(p[1]))),
                "periodic": Periodic(UniformPoints(domain, n_boundary), axis=1, lower=0.0, upper=2 * np.pi),
            },
        )
        return problem, None

    def reference(self, nt: int = 101, nx: int = 256) -> xr.Dataset:
        """Analytic for nu = 0, else the Fourier solution (exact linear propagator), on `nt` x `nx` points."""
        t = np.linspace(0.0, 1.0, nt)
        x = np.arange(nx) * 2 * np.pi / nx
        if self.nu == 0.0:
            u = np.sin(x[None, :] - self.beta * t[:, None])
            source = "analytic: sin(x - beta t)"
        else:
            u = periodic_convection_diffusion(np.sin(x), 2 * np.pi, t, nu=self.nu, velocity=self.beta)
            source = "sciml.solvers.periodic_convection_diffusion (Fourier, exact linear propagator)"
        return grid_dataset({"t": t, "x": x}, u, equation="u_t + beta u_x = nu u_xx, u0 = sin x", beta=self.beta,
                            nu=self.nu, source=source)
