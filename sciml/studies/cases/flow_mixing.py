"""(2+1)D flow mixing u_t + a u_x + b u_y = 0 (a rotating vortex) on t in [0, 4], (x, y) in [-4, 4]^2, exact solution
known."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml.pde import Box, Dirichlet, Problem, UniformPoints, box_faces, rectangle, time_space
from sciml.pinn import HardConstraint
from sciml.studies.cases._base import PDECase, grid_dataset, meshgrid

_V_MAX = 0.385


def _flow_speed(x, y):
    r = jnp.sqrt(x**2 + y**2)
    return r, jnp.tanh(r) / jnp.cosh(r) ** 2


@dataclasses.dataclass(frozen=True)
class FlowMixing(PDECase):
    """PIG's flow-mixing case; paper: PIG 4.51e-4 (PIG Table 1)."""

    paper: ClassVar[dict[str, float]] = {"pig": 4.51e-4}

    def domain(self) -> Box:
        return time_space(0.0, 4.0, rectangle((-4.0, -4.0), (4.0, 4.0)))

    @staticmethod
    def velocity(p: Float[Array, " 3"]) -> tuple[Array, Array]:
        """(a, b) at p = (t, x, y): a rotating vortex with tangential speed sech^2(r) tanh(r) / v_max."""
        x, y = p[1], p[2]
        r, vt = _flow_speed(x, y)
        safe = jnp.maximum(r, 1e-8)
        return -(vt / _V_MAX) * y / safe, (vt / _V_MAX) * x / safe

    @staticmethod
    def exact(p: Float[Array, " 3"]) -> Float[Array, ""]:
        """u at p = (t, x, y): the initial profile rotated by the local angular speed."""
        t, x, y = p[0], p[1], p[2]
        r, vt = _flow_speed(x, y)
        omega = jnp.where(r > 1e-8, vt / (jnp.maximum(r, 1e-8) * _V_MAX), 1.0 / _V_MAX)
        return -jnp.tanh(0.5 * y * jnp.cos(omega * t) - 0.5 * x * jnp.sin(omega * t))

    def problem(self, n_points: int, n_condition: int, every: int = 1) -> tuple[Problem, HardConstraint]:
        """Initial value built in (``u = u0 + (t / 4) N``), soft Dirichlet faces in x and y."""
        domain = self.domain()

        def residual(u):
            a, b = self.velocity(u.point)
            return u.t + a * u.x + b * u.y

        faces = box_faces(domain, n_condition, (1, 2), every)
        constraints = {name: Dirichlet(sampler, self.exact) for name, sampler in faces.items()}
        problem = Problem(domain, residual=residual, interior=UniformPoints(domain, n_points, every),
                          constraints=constraints)
        return problem, HardConstraint(lambda p: self.exact(p.at[0].set(0.0)), lambda p: p[0] / 4.0)

    def reference(self, n: int = 30) -> xr.Dataset:
        coords = {"t": np.linspace(0, 4, n), "x": np.linspace(-4, 4, n), "y": np.linspace(-4, 4, n)}
        points = np.stack([a.ravel() for a in meshgrid(coords)], axis=1)
        values = np.asarray(jax.vmap(self.exact)(jnp.asarray(points))).reshape(n, n, n)
        return grid_dataset(coords, values, equation="u_t + a u_x + b u_y = 0", source="analytic")
