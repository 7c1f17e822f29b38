"""Poisson -Laplace u = 1 on the L-shape [-1, 1]^2 minus [0, 1]^2, u = 0 on the boundary."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml.data import load_reference
from sciml.pde import BoundaryPoints, Box, Dirichlet, InteriorPoints, Polygon, Problem
from sciml.pinn import HardConstraint
from sciml.solvers import poisson_lshape_fem
from sciml.studies.cases._base import PDECase, unit_square

LSHAPE = Polygon(((-1.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (-1.0, 1.0)))
"""The L-shape: the square [-1, 1]^2 with the quadrant (0, 1]^2 cut out."""


@dataclasses.dataclass(frozen=True)
class PoissonLShape(PDECase):
    """DeepXDE's L-shape case, scored at the nodes of its file against our converged P2 finite-element solution."""

    def domain(self) -> Box:
        """The bounding square (the points are drawn on the L-shape)."""
        return unit_square()

    def problem(self, n_points: int, n_boundary: int, boundary: str = "soft") -> tuple[Problem, HardConstraint | None]:
        """Uniform points of the L-shape polygon; ``boundary="soft"`` a Dirichlet term ("boundary") on `n_boundary`
        points of its six edges, ``"hard"`` u = 0 built in with the polygon's smooth distance (no constraint)."""
        if boundary not in ("hard", "soft"):
            raise ValueError(f"boundary must be 'hard' or 'soft', got {boundary!r}")
        hard = boundary == "hard"
        transform = HardConstraint(lambda p: jnp.zeros(()), LSHAPE.distance) if hard else None
        constraints = {} if hard else {"boundary": Dirichlet(BoundaryPoints(LSHAPE, n_boundary),
                                                             lambda p: jnp.zeros(()))}
        problem = Problem(self.domain(), residual=lambda u: u.xx + u.yy + 1.0,
                          interior=InteriorPoints(LSHAPE, n_points), constraints=constraints)
        return problem, transform

    def reference(self, refinements: int = 5) -> xr.Dataset:
        """Our P2 finite-element solution at the nodes of DeepXDE's file, beside the file's own values.

        DeepXDE's `y_ref` departs from the converged solution by about 9% (relative L2; it is about 0.91 times it),
        so `reference` is the finite-element solution (`refinements` uniform refinements; 4 and 5 agree to 1e-3) and
        `deepxde_reference` keeps the file's values for comparison.
        """
        ref = load_reference("poisson-lshape")
        points = np.stack([ref.x.values, ref.y.values], axis=1)
        node = np.arange(ref.sizes["node"])
        fem = poisson_lshape_fem(points, refinements=refinements)
        return xr.Dataset(
            {"reference": ("node", fem),
             "deepxde_reference": ("node", ref.u.values, {"long_name": "DeepXDE's reference values u", "units": "1"})},
            coords={"node": node, "x": ("node", ref.x.values), "y": ("node", ref.y.values)},
            attrs={"equation": "-Laplace u = 1 on [-1, 1]^2 minus [0, 1]^2, u = 0 on the boundary",
                   "source": f"scikit-fem P2 finite elements, {refinements} uniform refinements of "
                             "MeshTri.init_lshaped, at the nodes of deepxde_Poisson_Lshape.npz",
                   "deepxde_source": ref.attrs.get("source", "deepxde")})
