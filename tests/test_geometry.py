"""Geometries beyond boxes: signed distances and normals against hand-computed values, sampling, areas, CSG, the
Neumann and Robin conditions and hard constraints from a distance, and the polygon finite-element solver."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml._errors import ConfigError, DataError
from sciml.pde import (
    BoundaryPoints,
    CSGDifference,
    CSGIntersection,
    CSGUnion,
    Disk,
    InteriorPoints,
    MeshGeometry,
    Neumann,
    PointCloud,
    Polygon,
    Robin,
    SpaceTime,
    annulus,
)
from sciml.pinn import HardConstraint
from sciml.solvers import poisson_polygon_fem

KEY = jax.random.PRNGKey(0)
LSHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]  # the notch (0, 1]^2 cut out
LENS_AREA = 2 * math.acos(0.5) - 0.5 * math.sqrt(3)  # two unit disks whose centres are 1 apart overlap this much


def _sdf(geometry, points):
    return np.asarray(jax.jit(jax.vmap(geometry.sdf))(jnp.asarray(points, jnp.float32)))


def _loss(constraint, u, points):
    return float(jax.jit(lambda p: constraint.loss(u, p))(points))


def _normals(geometry, points):
    return np.asarray(jax.jit(jax.vmap(geometry.normal))(jnp.asarray(points, jnp.float32)))


def test_disk_and_annulus_distances_and_normals_match_hand_values():
    disk = Disk((1.0, 2.0), 2.0)
    np.testing.assert_allclose(_sdf(disk, [(1, 2), (4, 2), (1, 0), (1 + 1.2, 2 + 1.6)]), [-2, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(_normals(disk, [(1, 0), (2.2, 3.6)]), [(0, -1), (0.6, 0.8)], atol=1e-6)
    assert float(disk.distance(jnp.asarray([1.0, 2.0]))) == pytest.approx(1.0)  # (r^2 - 0) / (2 r)
    ring = annulus((0.0, 0.0), 0.5, 1.0)
    assert isinstance(ring, CSGDifference)
    np.testing.assert_allclose(_sdf(ring, [(0.75, 0), (0.25, 0), (0, 0), (0, -1.5), (0.5, 0)]),
                               [-0.25, 0.25, 0.5, 0.5, 0], atol=1e-6)
    # On the hole the domain's outward normal points into the hole.
    np.testing.assert_allclose(_normals(ring, [(0.5, 0), (0, -0.55), (0, 0.95)]), [(-1, 0), (0, 1), (0, 1)], atol=1e-6)
    np.testing.assert_allclose(_normals(Disk((0.0, 0.0, 0.0), 1.0), [(0, 0, 2)]), [(0, 0, 1)], atol=1e-6)
    assert Disk((0.0, 0.0, 0.0), 1.0).boundary_measure == pytest.approx(4 * math.pi)


def test_polygon_exact_signed_distance_normals_and_validation():
    square = Polygon([(0, 0), (0, 1), (1, 1), (1, 0)])  # clockwise: stored counter-clockwise
    np.testing.assert_allclose(_sdf(square, [(0.5, 0.5), (0.5, 0.25), (2, 0.5), (2, 2), (1, 0.3)]),
                               [-0.5, -0.25, 1, math.sqrt(2), 0], atol=1e-6)
    np.testing.assert_allclose(_normals(square, [(1, 0.5), (0.5, 0), (0, 0.7), (0.2, 1)]),
                               [(1, 0), (0, -1), (-1, 0), (0, 1)], atol=1e-6)
    lshape = Polygon(LSHAPE)
    assert lshape.area == pytest.approx(3.0) and lshape.boundary_measure == pytest.approx(8.0)
    np.testing.assert_allclose(_sdf(lshape, [(0.5, 0.5), (-0.5, -0.5), (0.5, -0.25), (0.2, 0.6), (-0.5, 0.9)]),
                               [0.5, -0.5, -0.25, 0.2, -0.1], atol=1e-6)
    np.testing.assert_allclose(_normals(lshape, [(0.5, 0), (0, 0.5), (-1, 0.2)]), [(0, 1), (1, 0), (-1, 0)],
                               atol=1e-6)
    with pytest.raises(ConfigError, match="touch or cross"):
        Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # a bow tie
    with pytest.raises(ConfigError, match="k >= 3"):
        Polygon([(0, 0), (1, 1)])


@pytest.mark.parametrize("spacing", ["uniform", "cosine"])
def test_polygon_perimeter_points_cover_every_edge_and_vertex(spacing):
    lshape = Polygon(LSHAPE)
    points, normals = lshape.perimeter_points(80, spacing)
    assert 76 <= len(points) <= 84
    np.testing.assert_allclose(_sdf(lshape, points), 0.0, atol=1e-6)  # all on the boundary
    for vertex in LSHAPE:  # every corner exactly once
        assert np.sum(np.all(np.isclose(points, vertex), axis=1)) == 1
    corner = np.any(np.all(np.isclose(points[:, None], np.asarray(LSHAPE, float)[None]), axis=2), axis=1)
    np.testing.assert_allclose(_sdf(lshape, points[~corner] - 1e-3 * normals[~corner]), -1e-3, rtol=1e-3)  # outward
    # on the bottom edge (-1, -1) -> (1, -1), length 2 of 8: its share, spaced as asked
    bottom = np.sort(points[np.isclose(points[:, 1], -1.0)][:, 0])
    assert len(bottom) == 21  # 20 of its own plus the end vertex, the next edge's first point
    gaps = np.diff(bottom)
    if spacing == "uniform":
        np.testing.assert_allclose(gaps, 0.1, rtol=1e-9)
    else:  # Chebyshev-Lobatto: the gaps at the corners are about pi^2 / (2 k^2) of the edge, the middle's pi / 2k
        assert gaps[0] == pytest.approx(2 * 0.5 * (1 - math.cos(math.pi / 20)))
        assert gaps[0] < gaps[10] / 5 and gaps[-1] < gaps[10] / 5
    with pytest.raises(ConfigError, match="spacing must be"):
        lshape.perimeter_points(10, "random")


def test_polygon_smooth_distance_vanishes_on_edges_with_unit_inward_slope():
    lshape = Polygon(LSHAPE)
    corners = np.asarray(LSHAPE, np.float32)
    fraction = np.linspace(0.05, 0.95, 7, dtype=np.float32)[:, None, None]
    points = (corners + fraction * (np.roll(corners, -1, axis=0) - corners)).reshape(-1, 2)  # along every edge
    distance = jax.jit(jax.vmap(lshape.distance))
    assert np.abs(np.asarray(distance(jnp.asarray(points)))).max() < 1e-5
    inside = np.random.default_rng(0).uniform(-0.99, 0.99, (256, 2)).astype(np.float32)
    inside = inside[(inside[:, 0] < -0.01) | (inside[:, 1] < -0.01)]
    assert (np.asarray(distance(jnp.asarray(inside))) > 0).all()
    assert (np.asarray(distance(jnp.asarray([[0.5, 0.5], [2.0, 0.0], [0.3, 1.2]]))) < 0).all()
    # Slightly inside an edge's middle the gradient is the inward unit normal (first-order normalised).
    middles = jnp.asarray([[0.0, -1.0], [0.5, 0.0], [0.0, 0.5], [-1.0, 0.0]])
    inward = -_normals(lshape, middles)
    gradient = jax.jit(jax.vmap(jax.grad(lshape.distance)))(middles + 1e-3 * inward)
    np.testing.assert_allclose(gradient, inward, atol=2e-2)


def test_csg_signed_distances_normals_and_bounds():
    left, right = Disk((-0.5, 0.0), 1.0), Disk((0.5, 0.0), 1.0)
    union, both, crescent = left | right, left & right, left - right
    assert isinstance(union, CSGUnion) and isinstance(both, CSGIntersection) and isinstance(crescent, CSGDifference)
    points = [(0, 0), (-1.5, 0), (1.5, 0), (0, math.sqrt(0.75)), (-1, 0)]
    np.testing.assert_allclose(_sdf(union, points), [-0.5, 0, 0, 0, -0.5], atol=1e-6)
    np.testing.assert_allclose(_sdf(both, points), [-0.5, 1, 1, 0, 0.5], atol=1e-6)
    np.testing.assert_allclose(_sdf(crescent, points), [0.5, 0, 1, 0, -0.5], atol=1e-6)
    np.testing.assert_allclose(_normals(union, [(-1.5, 0), (1.5, 0)]), [(-1, 0), (1, 0)], atol=1e-6)
    np.testing.assert_allclose(_normals(both, [(0.5, 0)]), [(1, 0)], atol=1e-6)  # on the left disk's arc
    np.testing.assert_allclose(_normals(crescent, [(-0.5, 0)]), [(1, 0)], atol=1e-6)  # on the right disk's arc
    assert union.bounds == ((-1.5, -1.0), (1.5, 1.0)) and both.bounds == ((-0.5, -1.0), (0.5, 1.0))
    assert crescent.bounding_box.names == ("x", "y") and crescent.bounds == left.bounds
    with pytest.raises(ConfigError, match="do not overlap"):
        Disk((0.0, 0.0), 1.0) & Disk((5.0, 0.0), 1.0)
    with pytest.raises(ConfigError, match="coordinates differ"):
        Disk((0.0, 0.0), 1.0) | Disk((0.0, 0.0), 2.0, names=("r", "s"))


@pytest.mark.parametrize(("name", "geometry", "area"), [
    ("annulus", annulus((0.0, 0.0), 0.5, 1.0), 0.75 * math.pi),
    ("lshape", Polygon(LSHAPE), 3.0),
    ("union", Disk((-0.5, 0.0), 1.0) | Disk((0.5, 0.0), 1.0), 2 * math.pi - LENS_AREA),
    ("intersection", Disk((-0.5, 0.0), 1.0) & Disk((0.5, 0.0), 1.0), LENS_AREA),
    ("crescent", Disk((-0.5, 0.0), 1.0) - Disk((0.5, 0.0), 1.0), math.pi - LENS_AREA),
])
def test_sampled_points_lie_inside_and_on_the_boundary_and_give_the_area(name, geometry, area):
    interior = np.asarray(geometry.sample_interior(KEY, 512))
    assert np.isfinite(interior).all() and (_sdf(geometry, interior) < 0).all(), name
    points, normals = (np.asarray(a) for a in geometry.sample_boundary(jax.random.PRNGKey(1), 512))
    assert np.isfinite(points).all() and np.abs(_sdf(geometry, points)).max() <= geometry.tolerance, name
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    agree = np.abs(normals - _normals(geometry, points)).max(axis=1) < 1e-4
    assert agree.mean() > 0.99, f"{name}: sampled normals against normal(p) agree at {agree.mean():.3f}"
    box = geometry.bounding_box
    candidates = box.uniform(jax.random.PRNGKey(2), 40000)
    box_area = math.prod(hi - lo for lo, hi in zip(box.lower, box.upper, strict=True))
    estimate = box_area * float(jnp.mean(geometry.contains(candidates)))
    assert estimate == pytest.approx(area, rel=0.03), name


def test_samples_are_uniform_and_reproducible_per_step():
    ring = annulus((0.0, 0.0), 0.5, 1.0)
    radius = np.linalg.norm(np.asarray(ring.sample_interior(KEY, 4000)), axis=1)
    assert np.mean(radius < 0.75) == pytest.approx((0.75**2 - 0.25) / 0.75, abs=0.03)  # area fraction
    on_boundary = np.linalg.norm(np.asarray(ring.sample_boundary(KEY, 4000)[0]), axis=1)
    assert np.mean(on_boundary < 0.75) == pytest.approx(1 / 3, abs=0.03)  # inner circle: 0.5 / (0.5 + 1) of the length
    sampler = InteriorPoints(ring, 64, every=10)
    np.testing.assert_array_equal(sampler(KEY, 3), sampler(KEY, 7))
    assert not np.allclose(sampler(KEY, 3), sampler(KEY, 13))
    boundary = BoundaryPoints(ring, 64)
    np.testing.assert_array_equal(boundary(KEY, 5), boundary(KEY, 5))
    assert not np.allclose(boundary(KEY, 5), boundary(KEY, 6))


def test_union_drops_the_edge_two_parts_share():
    squares = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)]) | Polygon([(1, 0), (2, 0), (2, 1), (1, 1)])
    points, normals = (np.asarray(a) for a in squares.sample_boundary(KEY, 3000))
    shared = (np.abs(points[:, 0] - 1) < 1e-3) & (points[:, 1] > 0.01) & (points[:, 1] < 0.99)
    assert not shared.any()
    assert np.mean(np.abs(points[:, 1] - 1) < 1e-6) == pytest.approx(2 / 6, abs=0.03)  # the top is 2 of 6 long


def test_mesh_geometry_areas_boundary_and_interior():
    points = np.array([(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)], float)
    mesh = MeshGeometry(points, np.array([(0, 1, 4), (0, 4, 3), (1, 2, 5), (1, 5, 4)]))
    assert mesh.area == pytest.approx(2.0) and mesh.boundary_measure == pytest.approx(6.0)
    np.testing.assert_allclose(_sdf(mesh, [(1, 0.5), (1, 0.2), (3, 0.5)]), [-0.5, -0.2, 1], atol=1e-6)
    np.testing.assert_allclose(_normals(mesh, [(2, 0.5), (1.5, 0)]), [(1, 0), (0, -1)], atol=1e-6)
    inside = np.asarray(mesh.sample_interior(KEY, 4000))
    assert (inside >= -1e-6).all() and (inside[:, 0] <= 2 + 1e-6).all() and (inside[:, 1] <= 1 + 1e-6).all()
    np.testing.assert_allclose(inside.mean(axis=0), [1.0, 0.5], atol=0.03)
    assert np.mean(inside[:, 1] > inside[:, 0]) == pytest.approx(0.25, abs=0.03)  # the triangle (0,0),(1,1),(0,1)
    boundary, _ = mesh.sample_boundary(KEY, 256)
    assert mesh.on_boundary(boundary).all()
    with pytest.raises(DataError, match="inverted"):
        MeshGeometry(points, np.array([(0, 4, 1), (0, 4, 3), (1, 2, 5), (1, 5, 4)]))


def test_point_cloud_distance_normals_sampling_and_bad_input():
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    inner = np.random.default_rng(0).uniform(-0.7, 0.7, (300, 2))
    cloud = PointCloud(inner, circle, 3 * circle)
    np.testing.assert_allclose(_sdf(cloud, [(0, 0), (2, 0), (0.5, 0)]), [-1, 1, -0.5], atol=1e-3)
    np.testing.assert_allclose(_normals(cloud, [(1.1, 0.001)]), [(1, 0)], atol=1e-6)
    drawn = np.asarray(InteriorPoints(cloud, 50)(KEY, 0))
    assert len({tuple(p) for p in drawn.tolist()}) == 50  # distinct given points
    assert np.isin(drawn[:, 0], inner[:, 0].astype(np.float32)).all()
    points, normals = cloud.sample_boundary(KEY, 16)
    np.testing.assert_allclose(normals, points, atol=1e-6)  # unit circle: the normal is the point
    with pytest.raises(DataError, match="normal 3 is zero"):
        PointCloud(inner, circle[:5], np.where(np.arange(5)[:, None] == 3, 0.0, circle[:5]))
    with pytest.raises(ConfigError, match="no exact boundary"):
        Disk((0.0, 0.0), 1.0) - cloud


def test_space_time_samples_and_normals():
    cylinder = SpaceTime(Disk((0.0, 0.0), 1.0), 0.0, 2.0)
    assert cylinder.names == ("t", "x", "y") and cylinder.bounds == ((0.0, -1.0, -1.0), (2.0, 1.0, 1.0))
    inside = np.asarray(cylinder.sample_interior(KEY, 256))
    assert (inside[:, 0] >= 0).all() and (inside[:, 0] <= 2).all() and (np.linalg.norm(inside[:, 1:], axis=1) < 1).all()
    points, normals = cylinder.sample_boundary(KEY, 256)
    assert cylinder.on_boundary(points).all()
    np.testing.assert_allclose(normals, np.concatenate([np.zeros((256, 1)), np.asarray(points)[:, 1:]], 1), atol=1e-6)
    np.testing.assert_allclose(_normals(cylinder, [(0.5, 0.0, 1.0)]), [(0, 0, 1)], atol=1e-6)


def test_neumann_and_robin_losses_vanish_for_the_exact_solution():
    ring = annulus((0.0, 0.0), 0.5, 1.0)
    inner, outer = Disk((0.0, 0.0), 0.5), Disk((0.0, 0.0), 1.0)

    def u(p):  # r^2: du/dn = 2 r on the outer circle and -2 r on the hole (its normal points into the hole)
        return jnp.sum(p * p)

    points = {"inner": BoundaryPoints(inner, 64)(KEY, 0), "outer": BoundaryPoints(outer, 64)(KEY, 0)}
    assert _loss(Neumann(BoundaryPoints(inner, 64), ring, lambda p: -1.0), u, points["inner"]) < 1e-10
    assert _loss(Neumann(BoundaryPoints(outer, 64), ring, lambda p: 2.0), u, points["outer"]) < 1e-10
    assert _loss(Neumann(BoundaryPoints(inner, 64), ring, lambda p: -0.5), u, points["inner"]) == pytest.approx(
        0.25, rel=1e-5)
    robin = Robin(BoundaryPoints(outer, 64), ring, lambda p: 2 * 1.0 + 3 * 2.0, a=2.0, b=3.0)  # a u + b du/dn
    assert _loss(robin, u, points["outer"]) < 1e-10
    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    edges = square.sample_boundary(KEY, 128)[0]
    # u = x: du/dn = +1 on the edge x = 1, -1 on x = 0 and 0 on the other two.
    flux = Neumann(BoundaryPoints(square, 128), square, lambda p: (p[0] == 1.0) * 1.0 - (p[0] == 0.0) * 1.0)
    assert _loss(flux, lambda p: p[0], edges) < 1e-10


def test_hard_dirichlet_from_a_distance_meets_the_boundary_values():
    ring = annulus((0.0, 0.0), 0.5, 1.0)
    lshape = Polygon(LSHAPE)

    def g(p):
        return jnp.sin(p[0]) + p[1] ** 2

    for geometry in (ring, Disk((0.0, 0.0), 1.0) | lshape):  # the union joins a disk's and a polygon's
        transform = HardConstraint(g, geometry.distance)
        points = geometry.sample_boundary(KEY, 128)[0]
        values = jax.vmap(lambda p, transform=transform: transform(p, 3.0 + p[0]))(points)
        np.testing.assert_allclose(values, jax.vmap(g)(points), atol=2e-5)
        inside = geometry.sample_interior(KEY, 128)
        assert (np.asarray(jax.vmap(geometry.distance)(inside)) > 0).all()


def test_polygon_fem_matches_exact_solutions():
    chevron = np.array([(-1, -1), (0, -0.4), (1, -1), (1, 0.6), (0, 1), (-1, 0.6)])
    points = np.array([(0.0, 0.0), (0.5, 0.2), (-0.7, -0.5), (0.3, 0.8), (0.9, -0.8)])
    harmonic = np.exp(points[:, 0]) * np.sin(points[:, 1])
    fem = poisson_polygon_fem(chevron, points, lambda x, y: np.exp(x) * np.sin(y), max_area=1e-3)
    np.testing.assert_allclose(fem, harmonic, atol=1e-4)
    quadratic = poisson_polygon_fem(chevron, points, lambda x, y: x**2 + y**2, lambda x, y: -4.0 + 0 * x,
                                    max_area=0.05)  # -Laplace(x^2 + y^2) = -4, exact in P2
    np.testing.assert_allclose(quadratic, np.sum(points**2, axis=1), atol=1e-10)
