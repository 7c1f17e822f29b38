"""Poisson by finite elements (scikit-fem): the L-shape of the PINN suite and any simple polygon, the ground truth of
the PINN geometry experiments."""

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


def polygon_mesh(vertices: np.ndarray, max_area: float) -> tuple[np.ndarray, np.ndarray]:
    """A quality Delaunay mesh (Triangle, angles >= 30 degrees, areas <= `max_area`) of the simple polygon with
    `vertices` ``(k, 2)`` in order along its boundary: points ``(n, 2)`` and counter-clockwise triangles ``(m, 3)``."""
    import triangle

    vertices = np.asarray(vertices, dtype=np.float64)
    k = len(vertices)
    segments = np.stack([np.arange(k), (np.arange(k) + 1) % k], axis=1)
    result = triangle.triangulate({"vertices": vertices, "segments": segments}, f"pq30a{max_area:.8f}Q")
    points, triangles = result["vertices"], result["triangles"].astype(np.int64)
    a, b, c = (points[triangles[:, i]] for i in range(3))
    clockwise = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0] < 0
    triangles[clockwise] = triangles[clockwise][:, [0, 2, 1]]
    return points, triangles


def poisson_polygon_fem(vertices: np.ndarray, points: np.ndarray, boundary, source=None,
                        max_area: float = 1e-4) -> np.ndarray:
    """-Laplace u = source in a simple polygon, u = boundary on its edges, by P2 elements; u at `points` ``(n, 2)``.

    Args:
        vertices: the polygon's corners ``(k, 2)`` in order along the boundary.
        points: where to evaluate the solution (inside or on the polygon).
        boundary: ``boundary(x, y)``, vectorised over NumPy arrays: the Dirichlet data, interpolated at the
            boundary nodes (vertices and edge midpoints).
        source: ``source(x, y)`` likewise (default 0: Laplace's equation).
        max_area: the largest triangle of the mesh (`polygon_mesh`).
    """
    from skfem import Basis, ElementTriP2, LinearForm, MeshTri, condense, solve
    from skfem.models.poisson import laplace

    mesh_points, triangles = polygon_mesh(vertices, max_area)
    basis = Basis(MeshTri(mesh_points.T.copy(), triangles.T.copy()), ElementTriP2(), intorder=4)
    if source is None:
        load = np.zeros(basis.N)
    else:
        load = LinearForm(lambda v, w: source(w.x[0], w.x[1]) * v).assemble(basis)
    fixed = basis.get_dofs().all()
    u = np.zeros(basis.N)
    u[fixed] = boundary(basis.doflocs[0, fixed], basis.doflocs[1, fixed])
    u = solve(*condense(laplace.assemble(basis), load, x=u, D=fixed))
    return basis.probes(np.asarray(points, dtype=np.float64).T.copy()) @ u
