"""Bad meshes get clear errors: inverted element, a different topology (extra hole), a missing landmark."""

import numpy as np
import pytest
import triangle

from sciml import DataError
from sciml.gp import MeshMorphingGP, TriangleMesh, morph_to_disk
from sciml.solvers import NotchedPlate, mesh_plate

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


@pytest.fixture(scope="module")
def plate_mesh():
    points, triangles = mesh_plate(NotchedPlate.random(np.random.default_rng(0)), h_edge=0.1, h_notch=0.03,
                                   max_area=1e-2)
    return points, triangles


def test_inverted_element(plate_mesh):
    points, triangles = plate_mesh
    flipped = triangles.copy()
    flipped[5] = flipped[5, [0, 2, 1]]
    with pytest.raises(DataError, match=r"1 inverted or degenerate triangle\(s\), first #5.*counter-clockwise"):
        TriangleMesh(points, flipped)


def test_extra_hole_is_a_different_topology():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    angles = np.linspace(0, 2 * np.pi, 13)[:-1]
    hole = 0.5 + 0.15 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    vertices = np.concatenate([square, hole])
    ring = lambda start, n: np.stack([start + np.arange(n), start + (np.arange(n) + 1) % n], axis=1)  # noqa: E731
    result = triangle.triangulate(
        {"vertices": vertices, "segments": np.concatenate([ring(0, 4), ring(4, 12)]), "holes": [[0.5, 0.5]]},
        "pq30a0.01Q",
    )
    with pytest.raises(DataError, match="2 boundary loop.*extra hole"):
        TriangleMesh(result["vertices"], result["triangles"])


def test_missing_landmark(plate_mesh):
    points, triangles = plate_mesh
    mesh = TriangleMesh(points, triangles)
    moved = CORNERS.copy()
    moved[2] = [1.0, 1.3]
    with pytest.raises(DataError, match="landmark 2 at \\[1.0, 1.3\\] has no boundary vertex"):
        morph_to_disk(mesh, moved)
    with pytest.raises(DataError, match="counter-clockwise order"):
        morph_to_disk(mesh, CORNERS[[0, 2, 1, 3]])


def test_model_rejects_mismatched_fields(plate_mesh):
    mesh = TriangleMesh(*plate_mesh)
    model = MeshMorphingGP(CORNERS, n_shape_modes=1, n_field_modes=1)
    with pytest.raises(DataError, match=r"field 'f' of sample 1: expected \(\d+,\) nodal values"):
        model.fit([mesh, mesh, mesh], np.zeros((3, 1)),
                  {"f": [np.zeros(mesh.n_points), np.zeros(3), np.zeros(mesh.n_points)]})
