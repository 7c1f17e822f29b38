"""Poisson on the L-shape by finite elements (scikit-fem): the ground truth of the PINN suite's L-shape case."""

from __future__ import annotations

import numpy as np


def poisson_lshape_fem(points: np.ndarray, refinements: int = 5) -> np.ndarray:
    """-Laplace u = 1 on [-1, 1]^2 minus (0, 1]^2, u = 0 on the boundary, by P2 elements, evaluated at (n, 2) points.

    The mesh is scikit-fem's L-shape (`MeshTri.init_lshaped`, the same three quadrants) refined `refinements` times.
    """
    from skfem import Basis, ElementTriP2, MeshTri, condense, solve
    from skfem.models.poisson import laplace, unit_load

    basis = Basis(MeshTri.init_lshaped().refined(refinements), ElementTriP2())
    u = solve(*condense(laplace.assemble(basis), unit_load.assemble(basis), D=basis.get_dofs()))
    return basis.probes(np.asarray(points, dtype=np.float64).T.copy()) @ u
