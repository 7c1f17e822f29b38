"""Plane-stress elasticity solver and tensile2d generator: analytic uniform tension, mesh properties, layout."""

import numpy as np
import pytest
from conftest import assert_close
from skfem import MeshTri

from sciml.gp import TriangleMesh, meshes_from_dataset, nodal_values, to_meshio
from sciml.solvers import NotchedPlate, mesh_plate, solve_plane_stress, tensile2d_dataset


def test_uniform_tension_matches_the_analytic_solution():
    """Without notches the plate is in uniform tension: sigma22 = P, u2 = P y / E, u1 = -nu P x / E."""
    mesh = MeshTri.init_tensor(np.linspace(0, 1, 5), np.linspace(0, 1, 4))
    load, young, poisson = 7.0, 150.0, 0.27
    solution = solve_plane_stress(mesh.p.T, mesh.t.T, load=load, young=young, poisson=poisson)
    x, y = mesh.p
    assert_close(solution.fields["sigma22"], load, rtol=1e-10, what="sigma22")
    assert_close(solution.fields["u2"], load * y / young, rtol=0, atol=1e-12, what="u2")
    assert_close(solution.fields["u1"], -poisson * load * x / young, rtol=0, atol=1e-12, what="u1")
    assert_close(solution.fields["von_mises"], load, rtol=1e-10, what="von Mises")
    assert_close(solution.compliance, load**2 / young, rtol=1e-10, what="compliance = P^2 |top| H / E")


def test_notched_plate_mesh_is_valid_and_converges():
    """Triangle meshes are disk-like and CCW; max von Mises and compliance agree between two resolutions."""
    plate = NotchedPlate.random(np.random.default_rng(3))
    results = []
    for resolution in (dict(h_edge=0.06, h_notch=0.012, max_area=1.5e-3),
                       dict(h_edge=0.03, h_notch=0.006, max_area=4e-4)):
        points, triangles = mesh_plate(plate, **resolution)
        mesh = TriangleMesh(points, triangles)
        assert len(mesh.boundary_loop) < mesh.n_points
        results.append(solve_plane_stress(points, triangles, load=10.0, young=200.0, poisson=0.3))
    assert_close(results[0].compliance, results[1].compliance, rtol=2e-3, what="compliance under refinement")
    assert_close(results[0].max_von_mises, results[1].max_von_mises, rtol=2e-2, what="max von Mises under refinement")
    assert results[1].max_von_mises > 10.0 * 1.5, "a notch concentrates stress above the nominal traction"


def test_notch_radius_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="notch radius"):
        NotchedPlate(np.array([0.45, 0, 0, 0, 0]), np.array([0.15, 0, 0, 0, 0]))


def test_tensile2d_layout_round_trips(tmp_path):
    ds = tensile2d_dataset(3, 2, seed=1, small=True)
    assert list(ds.split.values) == ["train"] * 3 + ["test"] * 2
    meshes = meshes_from_dataset(ds)
    assert len({m.n_points for m in meshes}) > 1, "every sample has its own mesh"
    sigma = nodal_values(ds, "sigma22")
    for _mesh, values, peak in zip(meshes, nodal_values(ds, "von_mises"), ds.max_von_mises.values, strict=True):
        assert_close(values.max(), peak, rtol=1e-12, what="max_von_mises is the nodal maximum")
    import meshio

    path = tmp_path / "sample.vtu"
    meshio.write(path, to_meshio(meshes[0], {"sigma22": sigma[0]}))
    assert_close(meshio.read(path).point_data["sigma22"], sigma[0], rtol=1e-12, what="meshio round trip")
