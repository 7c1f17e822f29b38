"""Tutte/Floater morphing onto the unit disk, P1 transfer between morphed meshes, P1 mass matrix (scikit-fem)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from jaxtyping import Float
from scipy.spatial import cKDTree

from sciml._errors import DataError
from sciml.gp._mesh import TriangleMesh


def morph_to_disk(
    mesh: TriangleMesh,
    landmarks: Float[np.ndarray, "l 2"],
    *,
    landmark_angles: Float[np.ndarray, " l"] | None = None,
    weights: str = "mean_value",
    tolerance: float = 1e-6,
) -> Float[np.ndarray, "n 2"]:
    """Floater's parametrization of `mesh` onto the unit disk.

    The boundary loop goes onto the unit circle: landmark k onto angle `landmark_angles[k]` (default 2 pi k / l), the
    vertices between two landmarks at angles proportional to arc length. Each interior vertex is a convex combination
    of its neighbours (one sparse solve), with `weights` (see `neighbour_weights`): "mean_value" (Floater 2003; exact
    for affine maps, so the embedding approximates a harmonic map and hardly depends on the mesh) or "uniform"
    (Tutte: the plain average, which follows the mesh density). With positive weights and a convex target the
    embedding has no fold-over (Tutte's and Floater's theorems).

    Returns the morphed vertex coordinates, shape (n, 2).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 2 or landmarks.shape[1] != 2 or len(landmarks) < 1:
        raise DataError(f"landmarks: expected shape (l, 2) with l >= 1, got {landmarks.shape}")
    angles = (
        2 * np.pi * np.arange(len(landmarks)) / len(landmarks)
        if landmark_angles is None
        else np.asarray(landmark_angles, dtype=np.float64)
    )
    if angles.shape != (len(landmarks),) or np.any(np.diff(angles) <= 0) or angles[-1] - angles[0] >= 2 * np.pi:
        raise DataError(f"landmark_angles: expected {len(landmarks)} increasing angles spanning < 2 pi, got {angles}")
    positions = mesh.landmark_positions(landmarks, tolerance=tolerance)
    loop = np.roll(mesh.boundary_loop, -positions[0])
    positions = (positions - positions[0]) % len(loop)
    closed = mesh.points[np.append(loop, loop[0])]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    stops = np.append(positions, len(loop))
    stop_angles = np.append(angles, angles[0] + 2 * np.pi)
    theta = np.interp(arc[:-1], arc[stops], stop_angles)

    n = mesh.n_points
    weight_matrix = neighbour_weights(mesh, weights)
    laplacian = sp.diags(np.asarray(weight_matrix.sum(axis=1)).ravel()) - weight_matrix
    on_boundary = np.zeros(n, dtype=bool)
    on_boundary[loop] = True
    interior = np.flatnonzero(~on_boundary)
    morphed = np.zeros((n, 2))
    morphed[loop] = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    if interior.size:
        rhs = -laplacian[interior][:, loop] @ morphed[loop]
        solver = spla.factorized(laplacian[interior][:, interior].tocsc())
        morphed[interior] = np.stack([solver(rhs[:, k]) for k in range(2)], axis=1)
    return morphed


def neighbour_weights(mesh: TriangleMesh, kind: str = "mean_value") -> sp.csr_matrix:
    """Sparse (n, n) positive weights w_ij of the neighbours j of each vertex i (unnormalised rows).

    "uniform": w_ij = 1 for every edge. "mean_value": Floater's mean-value weights
    w_ij = (tan(a_ij / 2) + tan(b_ij / 2)) / |x_j - x_i|, with a_ij, b_ij the angles at vertex i of the triangles on
    both sides of edge ij; at an interior vertex they reproduce the vertex from its neighbours exactly,
    ``sum_j w_ij (x_j - x_i) = 0``, so an affine boundary map extends to the same affine map inside.
    """
    n, t = mesh.n_points, mesh.triangles
    if kind == "uniform":
        edges = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
        adjacency = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
        return ((adjacency + adjacency.T) > 0).astype(np.float64)
    if kind != "mean_value":
        raise ValueError(f"morphing weights: expected 'mean_value' or 'uniform', got {kind!r}")
    rows, columns, values = [], [], []
    for k in range(3):
        centre, first, second = t[:, k], t[:, (k + 1) % 3], t[:, (k + 2) % 3]
        to_first, to_second = mesh.points[first] - mesh.points[centre], mesh.points[second] - mesh.points[centre]
        length_first, length_second = np.linalg.norm(to_first, axis=1), np.linalg.norm(to_second, axis=1)
        cosine = np.sum(to_first * to_second, axis=1) / (length_first * length_second)
        half_tangent = np.tan(0.5 * np.arccos(np.clip(cosine, -1.0, 1.0)))
        rows += [centre, centre]
        columns += [first, second]
        values += [half_tangent / length_first, half_tangent / length_second]
    return sp.coo_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(n, n)
    ).tocsr()


def _clamp_into_polygon(points: Float[np.ndarray, "p 2"],
                        polygon: Float[np.ndarray, "b 2"]) -> Float[np.ndarray, "p 2"]:
    """Move points outside a convex polygon inscribed in the unit circle (vertices CCW) just inside its boundary."""
    vertex_angle = np.arctan2(polygon[:, 1], polygon[:, 0])
    start = np.argmin(vertex_angle)
    polygon = np.roll(polygon, -start, axis=0)
    vertex_angle = np.roll(vertex_angle, -start)
    point_angle = np.arctan2(points[:, 1], points[:, 0])
    edge = (np.searchsorted(vertex_angle, point_angle, side="right") - 1) % len(polygon)
    a, b = polygon[edge], polygon[(edge + 1) % len(polygon)]
    ab = b - a
    length2 = np.sum(ab**2, axis=1)
    outside = ab[:, 0] * (points - a)[:, 1] - ab[:, 1] * (points - a)[:, 0] <= 1e-12 * np.sqrt(length2)
    t = np.clip(np.sum((points - a) * ab, axis=1) / length2, 0.0, 1.0)
    clamped = points.copy()
    clamped[outside] = (a + t[:, None] * ab)[outside] * (1 - 1e-9)
    return clamped


def _barycentric(points: Float[np.ndarray, "p 2"], corners: Float[np.ndarray, "p 3 2"]) -> Float[np.ndarray, "p 3"]:
    """Barycentric coordinates of each point in its triangle (signed: negative outside)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    area = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    pa, pb, pc = a - points, b - points, c - points
    return np.stack(
        [
            pb[:, 0] * pc[:, 1] - pb[:, 1] * pc[:, 0],
            pc[:, 0] * pa[:, 1] - pc[:, 1] * pa[:, 0],
            pa[:, 0] * pb[:, 1] - pa[:, 1] * pb[:, 0],
        ],
        axis=1,
    ) / area[:, None]


def _locate(points: Float[np.ndarray, "p 2"], vertices: Float[np.ndarray, "n 2"], triangles,
            *, candidates: int = 16, tolerance: float = 1e-10) -> np.ndarray:
    """The index of a triangle holding each point (p,): among the triangles with the nearest centroids first, then
    among all; a point in none gets the triangle of the nearest centroid."""
    centroids = vertices[triangles].mean(axis=1)
    tree = cKDTree(centroids)
    _, near = tree.query(points, k=min(candidates, len(triangles)))
    near = near.reshape(len(points), -1)
    cells = np.full(len(points), -1)
    for column in near.T[::-1]:  # the nearest candidate that holds the point wins
        inside = _barycentric(points, vertices[triangles[column]]).min(axis=1) >= -tolerance
        cells[inside] = column[inside]
    for i in np.flatnonzero(cells < 0):
        inside = np.flatnonzero(_barycentric(np.broadcast_to(points[i], (len(triangles), 2)),
                                             vertices[triangles]).min(axis=1) >= -tolerance)
        cells[i] = inside[0] if inside.size else tree.query(points[i])[1]
    return cells


def interpolation_operator(
    source: TriangleMesh, source_morphed: Float[np.ndarray, "n 2"], target_morphed: Float[np.ndarray, "p 2"]
) -> sp.csr_matrix:
    """Sparse P1 interpolation (p, n): nodal values on `source` -> values at the morphed target points.

    Each target point is located in the morphed source mesh and gets the barycentric coordinates of its triangle,
    which are the P1 basis functions there. Target points outside the source's inscribed polygon (near the unit
    circle) are first clamped onto its boundary.
    """
    points = _clamp_into_polygon(target_morphed, source_morphed[source.boundary_loop])
    cells = _locate(points, source_morphed, source.triangles)
    weights = _barycentric(points, source_morphed[source.triangles[cells]])
    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(len(points)), 3)
    shape = (len(points), len(source_morphed))
    return sp.csr_matrix((weights.ravel(), (rows, source.triangles[cells].ravel())), shape=shape)


def mass_matrix(mesh: TriangleMesh, points: Float[np.ndarray, "n 2"] | None = None) -> sp.csr_matrix:
    """P1 mass matrix (n, n) of `mesh`, on its own or on other vertex coordinates `points` (e.g. morphed)."""
    from skfem import Basis, BilinearForm, ElementTriP1, MeshTri

    coordinates = mesh.points if points is None else points
    basis = Basis(MeshTri(coordinates.T.copy(), mesh.triangles.T.copy()), ElementTriP1())

    @BilinearForm
    def mass(u, v, _):
        return u * v

    return mass.assemble(basis).tocsr()
