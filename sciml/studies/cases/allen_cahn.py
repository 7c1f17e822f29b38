"""Allen-Cahn u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0 on t in [0, 1], x in [-1, 1] (periodic), u0 = x^2 cos(pi x)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import xarray as xr

from sciml.data import load_reference
from sciml.pde import Box, Problem, UniformPoints, interval, time_space
from sciml.pinn import HardConstraint
from sciml.studies.cases._base import PDECase, grid_dataset


@dataclasses.dataclass(frozen=True)
class AllenCahn(PDECase):
    """Raissi's Allen-Cahn case, scored against raissi_AC.mat; papers: jaxpi 5.37e-5 (300k steps), PIG 1.04e-4."""

    paper: ClassVar[dict[str, float]] = {"jaxpi": 5.37e-5, "pig": 1.04e-4}

    def domain(self) -> Box:
        return time_space(0.0, 1.0, interval(-1.0, 1.0, "x"))

    @staticmethod
    def initial_value(x):
        """u0(x) = x^2 cos(pi x)."""
        return x**2 * jnp.cos(jnp.pi * x)

    def initial_rate(self, x):
        """u_t at t = 0 as the PDE gives it: ``1e-4 u0'' - 5 u0^3 + 5 u0``."""
        u0 = self.initial_value(x)
        return 1e-4 * jax.grad(jax.grad(self.initial_value))(x) - 5 * u0**3 + 5 * u0

    def problem(self, n_points: int) -> tuple[Problem, HardConstraint]:
        """The residual on `n_points` uniform points; u0 built in (``u = u0 + t N``); periodicity is the model's."""
        domain = self.domain()
        problem = Problem(domain, residual=lambda u: u.t - 1e-4 * u.xx + 5 * u.value**3 - 5 * u.value,
                          interior=UniformPoints(domain, n_points), constraints={})
        return problem, HardConstraint(lambda p: self.initial_value(p[1]), lambda p: p[0])

    def reference(self) -> xr.Dataset:
        ref = load_reference("allen-cahn")
        return grid_dataset({"t": ref.t.values, "x": ref.x.values}, ref.u.values, equation=ref.attrs["equation"],
                            source=ref.attrs["source"])
