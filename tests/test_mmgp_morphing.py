"""Tutte/Floater morphing, P1 transfer operators, mass matrix and mass-weighted PCA, checked against exact
properties."""

import numpy as np
import scipy.linalg
from conftest import assert_close
from skfem import MeshTri

from sciml.gp import (
    MassWeightedPCA,
    TriangleMesh,
    interpolation_operator,
    mass_matrix,
    morph_to_disk,
    neighbour_weights,
)
from sciml.solvers import NotchedPlate, mesh_plate

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def square_mesh(n: int = 7) -> TriangleMesh:
    mesh = MeshTri.init_tensor(np.linspace(0, 1, n), np.linspace(0, 1, n))
    points, triangles = mesh.p.T, mesh.t.T.copy()
    a, b, c = (points[triangles[:, k]] for k in range(3))
    clockwise = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0] < 0
    triangles[clockwise] = triangles[clockwise][:, [0, 2, 1]]
    return TriangleMesh(points, triangles)


def test_morph_puts_boundary_on_circle_landmarks_at_their_angles_and_interior_at_neighbour_averages():
    mesh = square_mesh()
    disk = morph_to_disk(mesh, CORNERS, weights="uniform")
    loop = mesh.boundary_loop
    assert_close(np.linalg.norm(disk[loop], axis=1), 1.0, rtol=1e-12, what="boundary on the unit circle")
    for k, corner in enumerate(CORNERS):
        index = np.argmin(np.linalg.norm(mesh.points - corner, axis=1))
        assert_close(disk[index], [np.cos(k * np.pi / 2), np.sin(k * np.pi / 2)], rtol=0, atol=1e-12,
                     what=f"landmark {k}")
    edges = {tuple(sorted(e)) for t in mesh.triangles for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    neighbours = {i: [] for i in range(mesh.n_points)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    for i in np.setdiff1d(np.arange(mesh.n_points), loop):
        assert_close(disk[i], disk[neighbours[i]].mean(axis=0), rtol=0, atol=1e-12, what=f"Tutte average at {i}")
    TriangleMesh(disk, mesh.triangles)  # no fold-over: every morphed triangle is still counter-clockwise


def test_mean_value_weights_have_linear_precision_and_give_a_valid_embedding():
    """Floater's mean-value weights on an irregular Triangle mesh: every interior vertex is the weighted average of
    its neighbours (linear precision), the weights are positive on exactly the mesh edges, and the morph has no
    fold-over."""
    plate = NotchedPlate.random(np.random.default_rng(3))
    mesh = TriangleMesh(*mesh_plate(plate, h_edge=0.08, h_notch=0.02, max_area=4e-3))
    weights = neighbour_weights(mesh)
    interior = np.setdiff1d(np.arange(mesh.n_points), mesh.boundary_loop)
    averaged = (weights @ mesh.points) / np.asarray(weights.sum(axis=1))
    assert_close(averaged[interior], mesh.points[interior], rtol=0, atol=1e-12, what="mean-value linear precision")
    uniform = neighbour_weights(mesh, "uniform")
    assert (weights.data > 0).all() and ((weights > 0) != (uniform > 0)).nnz == 0
    disk = morph_to_disk(mesh, CORNERS)
    TriangleMesh(disk, mesh.triangles)  # every morphed triangle still counter-clockwise


def test_uniform_square_morph_is_symmetric():
    """On a symmetric square mesh with symmetric landmarks, the centre maps to the disk centre."""
    mesh = square_mesh(9)
    disk = morph_to_disk(mesh, CORNERS)
    centre = np.argmin(np.linalg.norm(mesh.points - 0.5, axis=1))
    assert_close(disk[centre], [0.0, 0.0], rtol=0, atol=1e-12, what="centre")


def test_interpolation_reproduces_linear_functions_and_mass_integrates_area():
    fine, coarse = square_mesh(9), square_mesh(5)
    fine_disk, coarse_disk = morph_to_disk(fine, CORNERS), morph_to_disk(coarse, CORNERS)
    operator = interpolation_operator(coarse, coarse_disk, fine_disk)
    assert operator.shape == (fine.n_points, coarse.n_points)
    assert_close(operator.sum(axis=1), 1.0, rtol=1e-12, what="partition of unity")
    linear = 0.3 + 2.0 * coarse_disk[:, 0] - 1.5 * coarse_disk[:, 1]
    inside = np.linalg.norm(fine_disk, axis=1) < 0.9
    expected = 0.3 + 2.0 * fine_disk[:, 0] - 1.5 * fine_disk[:, 1]
    assert_close((operator @ linear)[inside], expected[inside], rtol=1e-10,
                 what="P1 interpolation of a linear function")
    mass = mass_matrix(fine)
    assert_close(mass.sum(), 1.0, rtol=1e-12, what="mass matrix integrates the unit square's area")


def test_mass_weighted_pca_matches_weighted_svd():
    """Snapshot PCA in the M inner product = SVD of X L with M = L L^T (an independent route)."""
    mesh = square_mesh(6)
    mass = mass_matrix(mesh)
    rng = np.random.default_rng(0)
    snapshots = rng.normal(size=(12, mesh.n_points, 1))
    pca = MassWeightedPCA(4, mass).fit(snapshots)
    gram = np.einsum("knc,nm,jmc->kj", pca.modes_, mass.toarray(), pca.modes_)
    assert_close(gram, np.eye(4), rtol=0, atol=1e-10, what="M-orthonormal modes")
    cholesky = scipy.linalg.cholesky(mass.toarray(), lower=True)
    centred = snapshots[:, :, 0] - snapshots[:, :, 0].mean(axis=0)
    singular = np.linalg.svd(centred @ cholesky, compute_uv=False)
    coefficients = pca.transform(snapshots)
    assert_close(np.linalg.norm(coefficients, axis=0), singular[:4], rtol=1e-10,
                 what="coefficient norms = singular values")
    full = MassWeightedPCA(11, mass).fit(snapshots)
    assert_close(full.inverse_transform(full.transform(snapshots)), snapshots, rtol=0, atol=1e-10,
                 what="full-rank round trip")


def test_reconstruction_noise_vanishes_for_an_exact_pipeline_and_widens_intervals_otherwise():
    """Identical meshes and a full-rank field PCA reconstruct the training fields exactly (zero extra variance); with
    one mode the extra variance is the training PCA residual and the predictive std grows accordingly."""
    from sciml.gp import MeshMorphingGP

    mesh = square_mesh(6)
    rng = np.random.default_rng(0)
    scalars = rng.uniform(size=(6, 1))
    fields = [np.sin(3 * mesh.points[:, 0] * (1 + s)) + s * mesh.points[:, 1] ** 2 for s in scalars[:, 0]]

    def model(modes: int, noise: bool = True):
        settings = dict(n_shape_modes=1, n_field_modes=modes, restarts=1, max_iter=5, n_samples=4000,
                        reconstruction_noise=noise)
        return MeshMorphingGP(CORNERS, **settings).fit([mesh] * 6, scalars, {"f": fields})

    exact = model(5)
    assert_close(exact.reconstruction_variance_["f"], 0.0, rtol=0, atol=1e-14, what="exact pipeline")
    truncated = model(1)
    snapshots = np.stack(fields)[:, :, None]
    residual = snapshots - truncated.field_pca_["f"].inverse_transform(truncated.field_pca_["f"].transform(snapshots))
    assert_close(truncated.reconstruction_variance_["f"], np.mean(residual[:, :, 0] ** 2, axis=0), rtol=1e-6,
                 atol=1e-14, what="variance")
    with_noise = truncated.predict([mesh], scalars[:1])["f"].std[0]
    without = model(1, noise=False).predict([mesh], scalars[:1])["f"].std[0]
    expected = np.sqrt(without**2 + truncated.reconstruction_variance_["f"])
    assert_close(with_noise, expected, rtol=0.08, atol=1e-3, what="predictive std with reconstruction noise")
