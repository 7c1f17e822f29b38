"""2D Helmholtz u_xx + u_yy + k^2 u = q on [-1, 1]^2, u = 0 on the boundary, exact u = sin(a1 pi y) sin(a2 pi x)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml.pde import Box, Problem, UniformPoints
from sciml.pinn import HardConstraint
from sciml.studies.cases._base import PDECase, grid_dataset, meshgrid, unit_square


@dataclasses.dataclass(frozen=True)
class Helmholtz(PDECase):
    """PIG's Helmholtz case (k = 1, a1 = 4, a2 = 1); papers: PIG 4.13e-5, PINN 4.02e-1 (PIG Table 1)."""

    k: float = 1.0
    a1: float = 4.0
    a2: float = 1.0
    paper: ClassVar[dict[str, float]] = {"pig": 4.13e-5, "pinn": 4.02e-1}

    def domain(self) -> Box:
        return unit_square()

    def exact(self, p: Float[Array, " 2"]) -> Float[Array, ""]:
        """u = sin(a1 pi y) sin(a2 pi x) at p = (x, y)."""
        return jnp.sin(self.a1 * jnp.pi * p[1]) * jnp.sin(self.a2 * jnp.pi * p[0])

    def source(self, p: Float[Array, " 2"]) -> Float[Array, ""]:
        """q = u_xx + u_yy + k^2 u for the exact u."""
        return (self.k**2 - (self.a1 * jnp.pi) ** 2 - (self.a2 * jnp.pi) ** 2) * self.exact(p)

    def problem(self, n_points: int, every: int = 1) -> tuple[Problem, HardConstraint]:
        """The residual on `n_points` uniform points (redrawn every `every` steps); u = 0 built in by
        ``u = (1 - x^2)(1 - y^2) N``."""
        domain = self.domain()
        k2 = self.k**2
        problem = Problem(domain, residual=lambda u: u.xx + u.yy + k2 * u.value - self.source(u.point),
                          interior=UniformPoints(domain, n_points, every), constraints={})
        transform = HardConstraint(lambda p: jnp.zeros(()), lambda p: (1 - p[0] ** 2) * (1 - p[1] ** 2))
        return problem, transform

    def reference(self, n: int = 101) -> xr.Dataset:
        coords = {"x": np.linspace(-1, 1, n), "y": np.linspace(-1, 1, n)}
        x, y = meshgrid(coords)
        return grid_dataset(coords, np.sin(self.a1 * np.pi * y) * np.sin(self.a2 * np.pi * x),
                            equation="u_xx + u_yy + k^2 u = q on [-1, 1]^2, u = 0 on the boundary", source="analytic")
