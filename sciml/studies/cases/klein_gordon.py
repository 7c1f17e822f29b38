"""(2+1)D Klein-Gordon u_tt - u_xx - u_yy + u^2 = f on t in [0, 10], (x, y) in [-1, 1]^2,
exact u = (x + y) cos(k t) + x y sin(k t)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml.pde import (
    Box,
    DerivativeCondition,
    Dirichlet,
    FacePoints,
    InitialCondition,
    Problem,
    UniformPoints,
    box_faces,
    time_space,
)
from sciml.pinn import HardConstraint
from sciml.studies.cases._base import PDECase, grid_dataset, meshgrid, unit_square


@dataclasses.dataclass(frozen=True)
class KleinGordon(PDECase):
    """PIG's Klein-Gordon case (k = 2); papers: PIG 2.76e-3, PINN 3.43e-2 (PIG Table 1)."""

    k: float = 2.0
    paper: ClassVar[dict[str, float]] = {"pig": 2.76e-3, "pinn": 3.43e-2}

    def domain(self) -> Box:
        return time_space(0.0, 10.0, unit_square())

    def exact(self, p: Float[Array, " 3"]) -> Float[Array, ""]:
        """u = (x + y) cos(k t) + x y sin(k t) at p = (t, x, y)."""
        t, x, y = p[0], p[1], p[2]
        return (x + y) * jnp.cos(self.k * t) + x * y * jnp.sin(self.k * t)

    def problem(self, n_points: int, n_condition: int, every: int = 1, hard_initial: bool = False
                ) -> tuple[Problem, HardConstraint | None]:
        """Soft Dirichlet faces in x and y ("x_lower", ...), `n_condition` points each.

        hard_initial builds the initial value u0 and rate v0 in: ``u = u0 + v0 t e^-t + (1 - e^-t)^2 N`` (value and
        t-derivative of the last term vanish at t = 0, and every term stays O(1) over t in [0, 10]); otherwise both
        are soft constraints ("initial", "initial_rate") and the transform is None.
        """
        domain = self.domain()
        k = self.k

        def forcing(p):
            u = self.exact(p)
            return u * u - k * k * u

        def initial_value(p):
            return self.exact(p.at[0].set(0.0))

        def initial_rate(p):
            return k * p[1] * p[2]

        constraints = {}
        transform = None
        if hard_initial:
            transform = HardConstraint(lambda p: initial_value(p) + initial_rate(p) * p[0] * jnp.exp(-p[0]),
                                       lambda p: (1 - jnp.exp(-p[0])) ** 2)
        else:
            initial = FacePoints(UniformPoints(unit_square(), n_condition, every), 0, 0.0)
            constraints["initial"] = InitialCondition(initial, initial_value)
            constraints["initial_rate"] = DerivativeCondition(initial, 0, initial_rate)
        for name, sampler in box_faces(domain, n_condition, (1, 2), every).items():
            constraints[name] = Dirichlet(sampler, self.exact)
        problem = Problem(domain, residual=lambda u: u.tt - u.xx - u.yy + u.value**2 - forcing(u.point),
                          interior=UniformPoints(domain, n_points, every), constraints=constraints)
        return problem, transform

    def reference(self, n: int = 30) -> xr.Dataset:
        coords = {"t": np.linspace(0, 10, n), "x": np.linspace(-1, 1, n), "y": np.linspace(-1, 1, n)}
        t, x, y = meshgrid(coords)
        return grid_dataset(coords, (x + y) * np.cos(self.k * t) + x * y * np.sin(self.k * t),
                            equation="u_tt - u_xx - u_yy + u^2 = f", source="analytic")
