"""(2+1)D nonlinear diffusion u_t = alpha (|grad u|^2 + u Laplace u) on t in [0, 1], (x, y) in [-1, 1]^2, u = 0 on the
boundary, u0 three Gaussian bumps."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml.pde import Box, Dirichlet, Problem, UniformPoints, box_faces, time_space
from sciml.pinn import HardConstraint
from sciml.solvers import nonlinear_diffusion_2d
from sciml.studies.cases._base import PDECase, grid_dataset, unit_square


@dataclasses.dataclass(frozen=True)
class NonlinearDiffusion(PDECase):
    """PIG's nonlinear-diffusion case (alpha = 0.05); papers: PIG 2.69e-3, PINN 9.50e-3 (PIG Table 1)."""

    alpha: float = 0.05
    paper: ClassVar[dict[str, float]] = {"pig": 2.69e-3, "pinn": 9.50e-3}

    def domain(self) -> Box:
        return time_space(0.0, 1.0, unit_square())

    @staticmethod
    def initial(p: Float[Array, " 3 *grid"]) -> Float[Array, "*grid"]:
        """u0 at p = (t, x, y), one point or a stacked grid (three Gaussian bumps)."""
        x, y = p[1], p[2]
        return (0.25 * jnp.exp(-((x - 0.3) ** 2 + (y - 0.2) ** 2) / 0.1)
                + 0.4 * jnp.exp(-15 * ((x + 0.5) ** 2 + (y + 0.1) ** 2))
                + 0.3 * jnp.exp(-20 * (x**2 + (y + 0.5) ** 2)))

    def problem(self, n_points: int, n_condition: int, every: int = 1) -> tuple[Problem, HardConstraint]:
        """u0 built in (``u = u0 + t N``), soft zero Dirichlet faces in x and y."""
        domain = self.domain()
        alpha = self.alpha
        constraints = {name: Dirichlet(s, lambda p: jnp.zeros(()))
                       for name, s in box_faces(domain, n_condition, (1, 2), every).items()}
        problem = Problem(domain,
                          residual=lambda u: u.t - alpha * (u.x**2 + u.value * u.xx + u.y**2 + u.value * u.yy),
                          interior=UniformPoints(domain, n_points, every), constraints=constraints)
        return problem, HardConstraint(self.initial, lambda p: p[0])

    def reference(self, n_solver: int = 201, nt: int = 21, stride: int = 8) -> xr.Dataset:
        """Finite differences on `n_solver`^2 points (RK4, dt = 1e-3), kept on every `stride`-th point, at `nt`
        times."""
        fine = np.linspace(-1, 1, n_solver)
        x, y = np.meshgrid(fine, fine, indexing="ij")
        u0 = np.asarray(self.initial(jnp.stack([jnp.zeros_like(x), x, y])))
        t = np.linspace(0, 1, nt)
        h = fine[1] - fine[0]
        u = nonlinear_diffusion_2d(u0, (h, h), t, alpha=self.alpha, dt=1e-3)
        coords = {"t": t, "x": fine[::stride], "y": fine[::stride]}
        return grid_dataset(coords, u[:, ::stride, ::stride],
                            equation="u_t = alpha (|grad u|^2 + u Laplace u), u = 0 on the boundary",
                            alpha=self.alpha, source=f"sciml.solvers.nonlinear_diffusion_2d, {n_solver}^2 points")
