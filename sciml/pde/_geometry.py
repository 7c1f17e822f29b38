"""Geometries beyond boxes: disks, polygons, their CSG combinations, triangle meshes and point clouds.

Every geometry gives, for one point ``p`` of shape ``(d,)``: a signed distance ``sdf(p)`` (negative inside, zero on
the boundary, positive outside), the outward unit ``normal(p)`` of the nearest boundary piece, and a smooth
``distance(p)`` that vanishes on the boundary and is positive inside (for hard Dirichlet conditions,
``HardConstraint(g, geometry.distance)``). It samples its interior and its boundary (with outward normals) on device
with static shapes, and its `bounding_box` is the `Box` that a `Problem` and a `PINN` take as their domain.

Shapes (`Disk`, `Polygon`, `MeshGeometry` and CSG combinations of them) combine by ``a | b`` (union), ``a & b``
(intersection) and ``a - b`` (difference). Interior points are drawn by rejection from the bounding box; boundary
points are drawn uniformly along the union of the primitives' boundaries and kept where they lie on the combined
boundary, which keeps them uniform along it. A CSG signed distance is the usual min/max combination: exact in sign
and on the boundary, a lower bound of the true distance elsewhere; its smooth `distance` combines the parts' by
Rvachev's R-functions (Shapiro 1999; Sukumar & Srivastava, CMAME 389, 2022).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from sciml._errors import ConfigError, DataError
from sciml.gp._mesh import TriangleMesh
from sciml.pde._domain import Box
from sciml.train import AbstractSampler

PointsLike = np.ndarray | Array | Sequence  # an (n, d) array or a list of points
_MAX_ROUNDS = 4096  # rejection rounds before giving up (points left NaN): only an empty geometry gets there
_TINY = 1e-30  # keeps square roots differentiable where their argument vanishes


def _safe_norm(v: Array, axis: int = -1) -> Array:
    return jnp.sqrt(jnp.sum(v * v, axis=axis) + _TINY)


def _default_names(d: int, names: Sequence[str] | None) -> tuple[str, ...]:
    if names is not None:
        names = tuple(names)
        if len(names) != d or len(set(names)) != d:
            raise ConfigError(f"expected {d} distinct coordinate names, got {names}")
        return names
    if d in (2, 3):
        return ("x", "y", "z")[:d]
    raise ConfigError(f"a {d}-dimensional geometry needs its coordinate names, e.g. names=('x1', ..., 'x{d}')")


def _fill(key: jax.Array, n: int, draw: Callable, accept: Callable) -> tuple[Array, ...]:
    """`n` accepted candidates: ``draw(key) -> (arrays (m, .), ...)`` is called on fresh keys until ``accept(arrays)
    -> (m,) bool`` has passed `n` of them (kept in order of drawing). Rows still empty after `_MAX_ROUNDS` are NaN."""
    shapes = jax.eval_shape(draw, key)

    def body(state):
        round_, count, out = state
        candidates = draw(jax.random.fold_in(key, round_))
        ok = accept(candidates)
        # Rejected and surplus rows go past the end, where the scatter drops them.
        slot = jnp.where(ok, count + jnp.cumsum(ok, dtype=jnp.int32) - 1, n)
        out = tuple(o.at[slot].set(c, mode="drop") for o, c in zip(out, candidates, strict=True))
        return round_ + 1, count + jnp.sum(ok, dtype=jnp.int32), out

    empty = tuple(jnp.full((n, *s.shape[1:]), jnp.nan, s.dtype) for s in shapes)
    init = (jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32), empty)
    _, _, out = jax.lax.while_loop(lambda s: (s[1] < n) & (s[0] < _MAX_ROUNDS), body, init)
    return out


class AbstractGeometry(eqx.Module):
    """A domain with a signed distance, outward normals, interior and boundary sampling (see the module docstring).

    Every geometry has `names`, its coordinate names (a field or a property).
    """

    @property
    @abc.abstractmethod
    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(lower, upper)`` corners of a box that holds the geometry."""

    @abc.abstractmethod
    def sdf(self, p: Float[Array, " d"]) -> Float[Array, ""]:
        """Signed distance: negative inside, zero on the boundary, positive outside."""

    @abc.abstractmethod
    def normal(self, p: Float[Array, " d"]) -> Float[Array, " d"]:
        """The outward unit normal of the boundary piece nearest to `p` (exact for points on the boundary)."""

    @abc.abstractmethod
    def sample_interior(self, key: jax.Array, n: int) -> Float[Array, "n d"]:
        """`n` points of the interior."""

    @abc.abstractmethod
    def sample_boundary(self, key: jax.Array, n: int) -> tuple[Float[Array, "n d"], Float[Array, "n d"]]:
        """`n` boundary points and their outward unit normals."""

    def distance(self, p: Float[Array, " d"]) -> Float[Array, ""]:
        """A function that vanishes on the boundary and is positive inside, with unit slope at the boundary (here
        ``-sdf``; shapes override it with a smooth one): the ``d`` of a hard constraint ``u = g + d N``."""
        return -self.sdf(p)

    @property
    def ndim(self) -> int:
        return len(self.names)

    @property
    def bounding_box(self) -> Box:
        """The bounding box with the coordinate names: the domain a `Problem` and a `PINN` take."""
        lower, upper = self.bounds
        return Box(lower, upper, self.names)

    @property
    def tolerance(self) -> float:
        """Distance within which a point counts as on the boundary (float32 round-off of the geometry's size)."""
        lower, upper = self.bounds
        extent = max(h - lo for lo, h in zip(lower, upper, strict=True))
        return 1e-5 * max(max(abs(v) for v in (*lower, *upper)), extent)

    def contains(self, points: Float[ArrayLike, "n d"]) -> Bool[Array, " n"]:
        """Whether each point lies in the closed geometry (boundary included, within `tolerance`)."""
        return jax.jit(jax.vmap(self.sdf))(jnp.asarray(points)) <= self.tolerance

    def on_boundary(self, points: Float[ArrayLike, "n d"]) -> Bool[Array, " n"]:
        """Whether each point lies on the boundary (within `tolerance`)."""
        return jnp.abs(jax.jit(jax.vmap(self.sdf))(jnp.asarray(points))) <= self.tolerance


class AbstractShape(AbstractGeometry):
    """A geometry with an exact boundary, composable by CSG: ``a | b``, ``a & b``, ``a - b``.

    Its boundary lies on the union of its primitives' boundaries (total length `boundary_measure`), from which
    `boundary_candidates` draws uniformly; `sample_boundary` keeps the candidates on the shape's own boundary.
    """

    @property
    @abc.abstractmethod
    def boundary_measure(self) -> float:
        """Total length (area in 3D) of the primitives' boundaries that `boundary_candidates` draws from."""

    @abc.abstractmethod
    def boundary_candidates(self, key: jax.Array, n: int) -> tuple[Float[Array, "n d"], Float[Array, "n d"]]:
        """`n` points uniform on the primitives' boundaries with the normals they would have on this shape."""

    def sample_interior(self, key, n):
        """`n` uniform interior points, by rejection from the bounding box."""
        box = self.bounding_box
        return _fill(key, n, lambda k: (box.uniform(k, n),), lambda c: jax.vmap(self.sdf)(c[0]) < 0)[0]

    def sample_boundary(self, key, n):
        """`n` boundary points uniform along the boundary, with outward unit normals.

        A candidate is kept when it lies on the boundary and steps of `tolerance` along its normal lead out of the
        shape and back in: this drops pieces of a primitive that fall inside the shape (e.g. an edge two parts of a
        union share).
        """
        step = 10 * self.tolerance

        def accept(candidates):
            points, normals = candidates
            sdf = jax.vmap(self.sdf)
            return (jnp.abs(sdf(points)) <= self.tolerance) & (sdf(points + step * normals) > 0) & (
                sdf(points - step * normals) < 0)

        return _fill(key, n, lambda k: self.boundary_candidates(k, n), accept)

    def __or__(self, other: AbstractShape) -> CSGUnion:
        return CSGUnion(self, other)

    def __and__(self, other: AbstractShape) -> CSGIntersection:
        return CSGIntersection(self, other)

    def __sub__(self, other: AbstractShape) -> CSGDifference:
        return CSGDifference(self, other)


class Disk(AbstractShape):
    """The disk (a ball in d dimensions) ``|p - center| <= radius``.

    Args:
        center: its centre ``(d,)`` (d = 2 for a disk).
        radius: its radius (> 0).
        names: coordinate names (default x, y (, z)).
    """

    center: tuple[float, ...] = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, center: Sequence[float], radius: float, names: Sequence[str] | None = None):
        self.center = tuple(float(c) for c in center)
        self.radius = float(radius)
        self.names = _default_names(len(self.center), names)
        if not self.radius > 0:
            raise ConfigError(f"Disk: expected a positive radius, got {radius}")

    @property
    def bounds(self):
        return tuple(c - self.radius for c in self.center), tuple(c + self.radius for c in self.center)

    def sdf(self, p):
        return _safe_norm(p - jnp.asarray(self.center, p.dtype)) - self.radius

    def normal(self, p):
        q = p - jnp.asarray(self.center, p.dtype)
        return q / _safe_norm(q)

    def distance(self, p):
        """``(radius^2 - |p - center|^2) / (2 radius)``: smooth, unit slope on the circle."""
        q = p - jnp.asarray(self.center, p.dtype)
        return (self.radius**2 - jnp.sum(q * q)) / (2 * self.radius)

    @property
    def boundary_measure(self):
        d = len(self.center)
        return 2 * math.pi ** (d / 2) / math.gamma(d / 2) * self.radius ** (d - 1)

    def boundary_candidates(self, key, n):
        direction = jax.random.normal(key, (n, len(self.center)))
        direction = direction / jnp.linalg.norm(direction, axis=1, keepdims=True)
        return jnp.asarray(self.center)[None, :] + self.radius * direction, direction


def annulus(center: Sequence[float], inner: float, outer: float, names: Sequence[str] | None = None) -> CSGDifference:
    """The annulus ``inner <= |p - center| <= outer``: a disk minus a disk."""
    if not 0 < inner < outer:
        raise ConfigError(f"annulus: expected 0 < inner < outer radius, got inner {inner}, outer {outer}")
    return Disk(center, outer, names) - Disk(center, inner, names)


def _segments_sdf(p: Float[Array, " 2"], starts: Array, ends: Array) -> tuple[Array, Array]:
    """Unsigned distance from `p` to the nearest of the segments ``starts[i] -> ends[i]``, and that segment's index."""
    edge = ends - starts
    t = jnp.clip(jnp.sum((p[None, :] - starts) * edge, axis=1) / jnp.sum(edge * edge, axis=1), 0.0, 1.0)
    squared = jnp.sum(jnp.square(p[None, :] - starts - t[:, None] * edge), axis=1)
    nearest = jnp.argmin(squared)
    return jnp.sqrt(squared[nearest] + _TINY), nearest


def _inside_polygon(p: Float[Array, " 2"], starts: Array, ends: Array) -> Array:
    """Even-odd rule: whether a ray from `p` along +x crosses the edges an odd number of times."""
    straddles = (starts[:, 1] > p[1]) != (ends[:, 1] > p[1])
    dy = jnp.where(straddles, ends[:, 1] - starts[:, 1], 1.0)
    crossing_x = starts[:, 0] + (p[1] - starts[:, 1]) * (ends[:, 0] - starts[:, 0]) / dy
    return jnp.sum(straddles & (p[0] < crossing_x)) % 2 == 1


def _check_simple(vertices: np.ndarray) -> None:
    """Raise `ConfigError` when two non-adjacent edges of the closed polygon touch or cross."""
    k = len(vertices)
    a, b = vertices, np.roll(vertices, -1, axis=0)

    def orient(p, q, r):
        u, w = q - p, r - p
        return np.sign(u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0])

    i, j = np.triu_indices(k, 1)
    keep = (j != i + 1) & ~((i == 0) & (j == k - 1))  # adjacent edges share a vertex by construction
    i, j = i[keep], j[keep]
    o1, o2 = orient(a[i], b[i], a[j]), orient(a[i], b[i], b[j])
    o3, o4 = orient(a[j], b[j], a[i]), orient(a[j], b[j], b[i])
    crossing = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    collinear = (o1 == 0) & (o2 == 0)  # collinear edges touch only if their extents overlap
    overlap = np.maximum(np.minimum(a[i], b[i]), np.minimum(a[j], b[j])) <= np.minimum(np.maximum(a[i], b[i]),
                                                                                       np.maximum(a[j], b[j]))
    crossing &= ~collinear | overlap.all(axis=1)
    if crossing.any():
        first = int(np.argmax(crossing))
        raise ConfigError(
            f"Polygon: edges {i[first]} and {j[first]} (from vertices {a[i[first]].tolist()} and "
            f"{a[j[first]].tolist()}) touch or cross; expected a simple polygon, its vertices listed in order along "
            "the boundary"
        )


class Polygon(AbstractShape):
    """A simple polygon (convex or not) given by its vertices in order along the boundary (either orientation).

    The signed distance is exact (distance to the nearest edge, the sign by the even-odd rule); `distance` is the
    smooth approximate distance function of Sukumar & Srivastava (2022): per edge, the line distance trimmed to the
    segment, joined by R-equivalence ``(sum_i phi_i^-1)^-1``; it is smooth except at the vertices.

    Args:
        vertices: the corners ``(k, 2)``, k >= 3, without repeating the first at the end.
        names: the two coordinate names.
    """

    vertices: tuple[tuple[float, float], ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, vertices: PointsLike, names: Sequence[str] = ("x", "y")):
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ConfigError(f"Polygon: expected vertices of shape (k, 2) with k >= 3, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ConfigError("Polygon: vertices contain NaN or Inf")
        if np.all(v[0] == v[-1]):
            v = v[:-1]
        if (np.linalg.norm(v - np.roll(v, -1, axis=0), axis=1) == 0).any():
            raise ConfigError("Polygon: two consecutive vertices coincide; list each corner once")
        _check_simple(v)
        twice_area = np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1])
        if twice_area < 0:
            v = v[::-1]  # counter-clockwise: the outward normal of edge (ex, ey) is (ey, -ex) / |e|
        self.vertices = tuple((float(x), float(y)) for x, y in v)
        self.names = _default_names(2, names)

    def _edges(self, dtype=None) -> tuple[Array, Array]:
        starts = jnp.asarray(self.vertices, dtype)
        return starts, jnp.roll(starts, -1, axis=0)

    @property
    def bounds(self):
        v = np.asarray(self.vertices)
        return tuple(v.min(axis=0).tolist()), tuple(v.max(axis=0).tolist())

    @property
    def area(self) -> float:
        """The enclosed area (shoelace formula)."""
        v = np.asarray(self.vertices)
        return float(0.5 * np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))

    def sdf(self, p):
        starts, ends = self._edges(p.dtype)
        unsigned, _ = _segments_sdf(p, starts, ends)
        return jnp.where(_inside_polygon(p, starts, ends), -unsigned, unsigned)

    def _edge_normals(self, dtype=None) -> Array:
        starts, ends = self._edges(dtype)
        edge = ends - starts
        return jnp.stack([edge[:, 1], -edge[:, 0]], axis=1) / jnp.linalg.norm(edge, axis=1, keepdims=True)

    def normal(self, p):
        starts, ends = self._edges(p.dtype)
        return self._edge_normals(p.dtype)[_segments_sdf(p, starts, ends)[1]]

    def distance(self, p):
        """Sukumar & Srivastava's approximate distance: positive inside, negative outside, unit slope on the edges."""
        starts, ends = self._edges(p.dtype)
        edge = ends - starts
        length = jnp.linalg.norm(edge, axis=1)
        q = p[None, :] - starts
        line = (edge[:, 0] * q[:, 1] - edge[:, 1] * q[:, 0]) / length  # signed distance to each edge's line
        middle = p[None, :] - (starts + ends) / 2
        trim = ((length / 2) ** 2 - jnp.sum(middle * middle, axis=1)) / length  # > 0 inside the edge's circle
        phi = jnp.sqrt(line**2 + ((jnp.sqrt(trim**2 + line**4 + _TINY) - trim) / 2) ** 2 + _TINY)
        unsigned = 1 / jnp.sum(1 / phi)
        return jnp.where(_inside_polygon(p, starts, ends), unsigned, -unsigned)

    @property
    def boundary_measure(self):
        v = np.asarray(self.vertices)
        return float(np.linalg.norm(np.roll(v, -1, axis=0) - v, axis=1).sum())

    def perimeter_points(self, n: int, spacing: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
        """About `n` deterministic points along the boundary ``(m, 2)`` and the outward normals of their edges:
        every vertex once, then each edge's share (by length, at least one more point) spaced uniformly or, with
        ``spacing="cosine"``, at Chebyshev-Lobatto positions that crowd towards the corners, where a penalised
        Dirichlet condition is hardest to fit (a fixed set for a full-batch stage such as L-BFGS)."""
        if spacing not in ("uniform", "cosine"):
            raise ConfigError(f"Polygon.perimeter_points: spacing must be 'uniform' or 'cosine', got {spacing!r}")
        _check_count(n, "Polygon.perimeter_points")
        v = np.asarray(self.vertices)
        edges = np.roll(v, -1, axis=0) - v
        lengths = np.linalg.norm(edges, axis=1)
        normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / lengths[:, None]
        points, point_normals = [], []
        for start, edge, length, normal in zip(v, edges, lengths, normals, strict=True):
            k = max(2, round(n * length / lengths.sum()))  # positions 0 .. k-1 of k: the end vertex is the next edge's
            u = np.arange(k) / k if spacing == "uniform" else 0.5 * (1 - np.cos(np.pi * np.arange(k) / k))
            points.append(start + u[:, None] * edge)
            point_normals.append(np.broadcast_to(normal, (k, 2)))
        return np.concatenate(points), np.concatenate(point_normals)

    def boundary_candidates(self, key, n):
        starts, ends = self._edges()
        lengths = jnp.linalg.norm(ends - starts, axis=1)
        cumulative = jnp.cumsum(lengths)
        s = jax.random.uniform(key, (n,)) * cumulative[-1]
        index = jnp.clip(jnp.searchsorted(cumulative, s, side="right"), 0, len(self.vertices) - 1)
        fraction = jnp.clip((s - (cumulative[index] - lengths[index])) / lengths[index], 0.0, 1.0)
        points = starts[index] + fraction[:, None] * (ends[index] - starts[index])
        return points, self._edge_normals()[index]


def _r_conjunction(a: Array, b: Array) -> Array:
    """R-function of "inside both" for functions positive inside: ``a + b - sqrt(a^2 + b^2)``."""
    return a + b - jnp.sqrt(a * a + b * b + _TINY)


def _r_disjunction(a: Array, b: Array) -> Array:
    """R-function of "inside either": ``a + b + sqrt(a^2 + b^2)``."""
    return a + b + jnp.sqrt(a * a + b * b + _TINY)


class _CSG(AbstractShape):
    a: AbstractGeometry
    b: AbstractGeometry

    def __check_init__(self):
        for part in (self.a, self.b):
            if not isinstance(part, AbstractShape):
                raise ConfigError(
                    f"{type(self).__name__}: CSG combines shapes (Disk, Polygon, MeshGeometry or their combinations), "
                    f"got {type(part).__name__}; a point cloud or a space-time domain has no exact boundary to cut"
                )
        if self.a.names != self.b.names:
            raise ConfigError(f"{type(self).__name__}: the parts' coordinates differ, {self.a.names} and "
                              f"{self.b.names}; give both the same names")

    @property
    def names(self) -> tuple[str, ...]:
        return self.a.names

    @property
    def boundary_measure(self):
        return self.a.boundary_measure + self.b.boundary_measure

    def _flip_b(self) -> float:
        return 1.0

    def boundary_candidates(self, key, n):
        key_a, key_b, key_pick = jax.random.split(key, 3)
        points_a, normals_a = self.a.boundary_candidates(key_a, n)
        points_b, normals_b = self.b.boundary_candidates(key_b, n)
        from_a = jax.random.uniform(key_pick, (n, 1)) < self.a.boundary_measure / self.boundary_measure
        return (jnp.where(from_a, points_a, points_b),
                jnp.where(from_a, normals_a, self._flip_b() * normals_b))


class CSGUnion(_CSG):
    """Points in `a` or in `b` (``a | b``)."""

    @property
    def bounds(self):
        (la, ua), (lb, ub) = self.a.bounds, self.b.bounds
        return tuple(map(min, la, lb)), tuple(map(max, ua, ub))

    def sdf(self, p):
        return jnp.minimum(self.a.sdf(p), self.b.sdf(p))

    def normal(self, p):
        return jnp.where(self.a.sdf(p) <= self.b.sdf(p), self.a.normal(p), self.b.normal(p))

    def distance(self, p):
        return _r_disjunction(self.a.distance(p), self.b.distance(p))


class CSGIntersection(_CSG):
    """Points in both `a` and `b` (``a & b``)."""

    def __check_init__(self):
        lower, upper = self.bounds
        if any(lo >= hi for lo, hi in zip(lower, upper, strict=True)):
            raise ConfigError(f"CSGIntersection: the parts' bounding boxes do not overlap ({self.a.bounds} and "
                              f"{self.b.bounds}); the intersection is empty")

    @property
    def bounds(self):
        (la, ua), (lb, ub) = self.a.bounds, self.b.bounds
        return tuple(map(max, la, lb)), tuple(map(min, ua, ub))

    def sdf(self, p):
        return jnp.maximum(self.a.sdf(p), self.b.sdf(p))

    def normal(self, p):
        return jnp.where(self.a.sdf(p) >= self.b.sdf(p), self.a.normal(p), self.b.normal(p))

    def distance(self, p):
        return _r_conjunction(self.a.distance(p), self.b.distance(p))


class CSGDifference(_CSG):
    """Points in `a` and not in `b` (``a - b``); on the part of b's boundary that remains, the normal points into b."""

    @property
    def bounds(self):
        return self.a.bounds

    def _flip_b(self) -> float:
        return -1.0

    def sdf(self, p):
        return jnp.maximum(self.a.sdf(p), -self.b.sdf(p))

    def normal(self, p):
        return jnp.where(self.a.sdf(p) >= -self.b.sdf(p), self.a.normal(p), -self.b.normal(p))

    def distance(self, p):
        return _r_conjunction(self.a.distance(p), -self.b.distance(p))


class MeshGeometry(AbstractShape):
    """The region a triangle mesh covers (one boundary loop: see `sciml.gp.TriangleMesh`).

    Its boundary is the mesh's boundary loop (a `Polygon`: exact signed distance and edge normals); interior points
    are drawn by choosing triangles in proportion to their area, then a uniform point in the triangle.

    Args:
        points: vertices ``(n, 2)``.
        triangles: vertex indices ``(m, 3)``, counter-clockwise.
        names: the two coordinate names.
    """

    outline: Polygon
    corners: tuple[tuple[tuple[float, float], ...], ...] = eqx.field(static=True)  # per triangle, its three vertices
    areas: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, points: PointsLike, triangles: PointsLike, names: Sequence[str] = ("x", "y")):
        mesh = TriangleMesh(np.asarray(points), np.asarray(triangles))
        self.outline = Polygon(mesh.points[mesh.boundary_loop], names)
        self.corners = tuple(tuple(map(tuple, mesh.points[t].tolist())) for t in mesh.triangles)
        self.areas = tuple(mesh.signed_areas.tolist())

    @property
    def names(self) -> tuple[str, ...]:
        return self.outline.names

    @property
    def area(self) -> float:
        """The total area of the triangles."""
        return float(sum(self.areas))

    @property
    def bounds(self):
        return self.outline.bounds

    def sdf(self, p):
        return self.outline.sdf(p)

    def normal(self, p):
        return self.outline.normal(p)

    def distance(self, p):
        return self.outline.distance(p)

    @property
    def boundary_measure(self):
        return self.outline.boundary_measure

    def boundary_candidates(self, key, n):
        return self.outline.boundary_candidates(key, n)

    def sample_interior(self, key, n):
        """`n` uniform points: a triangle by area, then uniform barycentric coordinates (folded into the triangle)."""
        pick_key, point_key = jax.random.split(key)
        corners = jnp.asarray(self.corners)
        index = jax.random.choice(pick_key, len(self.areas), (n,), p=jnp.asarray(self.areas) / self.area)
        u = jax.random.uniform(point_key, (n, 2))
        u = jnp.where(jnp.sum(u, axis=1, keepdims=True) > 1, 1 - u, u)
        a, b, c = corners[index, 0], corners[index, 1], corners[index, 2]
        return a + u[:, :1] * (b - a) + u[:, 1:] * (c - a)


class PointCloud(AbstractGeometry):
    """A domain known only by points: interior points, boundary points and the boundary's outward normals.

    Sampling draws from the given points (without replacement while they suffice). The signed distance is
    approximate: the distance to the nearest boundary point, negative where `p` lies behind that point's normal;
    `normal(p)` is the nearest boundary point's normal.

    Args:
        interior: interior points ``(n, d)``.
        boundary: boundary points ``(b, d)``.
        normals: outward normals ``(b, d)`` (normalised here).
        names: coordinate names (default x, y (, z)).
    """

    interior: Float[Array, "n d"]
    boundary: Float[Array, "b d"]
    normals: Float[Array, "b d"]
    names: tuple[str, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, interior: PointsLike, boundary: PointsLike,
                 normals: PointsLike, names: Sequence[str] | None = None):
        interior, boundary, normals = (np.asarray(a, np.float64) for a in (interior, boundary, normals))
        if interior.ndim != 2 or boundary.ndim != 2 or normals.shape != boundary.shape or (
                interior.shape[1] != boundary.shape[1]):
            raise DataError(f"PointCloud: expected interior (n, d), boundary (b, d) and normals (b, d), got shapes "
                            f"{interior.shape}, {boundary.shape} and {normals.shape}")
        for what, a in (("interior", interior), ("boundary", boundary), ("normals", normals)):
            if len(a) == 0 or not np.isfinite(a).all():
                raise DataError(f"PointCloud: {what} is empty or holds NaN/Inf; expected finite points")
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        if (length == 0).any():
            raise DataError(f"PointCloud: normal {int(np.argmin(length))} is zero; give every boundary point its "
                            "outward normal")
        every = np.concatenate([interior, boundary])
        self.interior = jnp.asarray(interior, jnp.float32)
        self.boundary = jnp.asarray(boundary, jnp.float32)
        self.normals = jnp.asarray(normals / length, jnp.float32)
        self.names = _default_names(interior.shape[1], names)
        self.lower, self.upper = tuple(every.min(axis=0).tolist()), tuple(every.max(axis=0).tolist())

    @property
    def bounds(self):
        return self.lower, self.upper

    def _nearest(self, p):
        return jnp.argmin(jnp.sum(jnp.square(self.boundary.astype(p.dtype) - p[None, :]), axis=1))

    def sdf(self, p):
        i = self._nearest(p)
        offset = p - self.boundary[i].astype(p.dtype)
        return jnp.sign(jnp.dot(offset, self.normals[i].astype(p.dtype))) * _safe_norm(offset)

    def normal(self, p):
        return self.normals[self._nearest(p)].astype(p.dtype)

    def sample_interior(self, key, n):
        count = self.interior.shape[0]
        return self.interior[jax.random.choice(key, count, (n,), replace=n > count)]

    def sample_boundary(self, key, n):
        index = jax.random.choice(key, self.boundary.shape[0], (n,), replace=n > self.boundary.shape[0])
        return self.boundary[index], self.normals[index]


class SpaceTime(AbstractGeometry):
    """The space-time cylinder ``[t0, t1] x space``, time first; its boundary here is the lateral one
    (``[t0, t1] x boundary of space``); draw the initial face with `FacePoints` on the space's interior.

    Args:
        space: the spatial geometry.
        t0, t1: the time interval.
        name: the time coordinate's name.
    """

    space: AbstractGeometry
    t0: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)
    time_name: str = eqx.field(static=True)

    def __init__(self, space: AbstractGeometry, t0: float, t1: float, name: str = "t"):
        if not t0 < t1:
            raise ConfigError(f"SpaceTime: expected t0 < t1, got [{t0}, {t1}]")
        if name in space.names:
            raise ConfigError(f"SpaceTime: the time name {name!r} is already a space coordinate {space.names}")
        self.space, self.t0, self.t1, self.time_name = space, float(t0), float(t1), name

    @property
    def names(self) -> tuple[str, ...]:
        return (self.time_name, *self.space.names)

    @property
    def bounds(self):
        lower, upper = self.space.bounds
        return (self.t0, *lower), (self.t1, *upper)

    def sdf(self, p):
        """The spatial signed distance, or the distance to the time interval where that is larger."""
        outside_time = jnp.maximum(self.t0 - p[0], p[0] - self.t1)
        return jnp.maximum(self.space.sdf(p[1:]), outside_time)

    def normal(self, p):
        return jnp.concatenate([jnp.zeros(1, p.dtype), self.space.normal(p[1:])])

    def distance(self, p):
        """The spatial `distance` (it vanishes on the lateral boundary only)."""
        return self.space.distance(p[1:])

    def on_boundary(self, points):
        """Whether each point lies on the lateral boundary within the time interval."""
        points = jnp.asarray(points)
        in_time = (points[:, 0] >= self.t0 - self.tolerance) & (points[:, 0] <= self.t1 + self.tolerance)
        return in_time & self.space.on_boundary(points[:, 1:])

    def _times(self, key, n):
        return self.t0 + (self.t1 - self.t0) * jax.random.uniform(key, (n, 1))

    def sample_interior(self, key, n):
        time_key, space_key = jax.random.split(key)
        return jnp.concatenate([self._times(time_key, n), self.space.sample_interior(space_key, n)], axis=1)

    def sample_boundary(self, key, n):
        time_key, space_key = jax.random.split(key)
        points, normals = self.space.sample_boundary(space_key, n)
        return (jnp.concatenate([self._times(time_key, n), points], axis=1),
                jnp.concatenate([jnp.zeros((n, 1), normals.dtype), normals], axis=1))


def _check_count(n: int, what: str) -> None:
    if n < 1:
        raise ConfigError(f"{what}: expected a positive number of points, got {n}")


class InteriorPoints(AbstractSampler):
    """`n` interior points of `geometry` ``(n, d)``, redrawn every `every` steps (as the box samplers)."""

    geometry: AbstractGeometry
    n: int = eqx.field(static=True)
    every: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        _check_count(self.n, "InteriorPoints")

    def __call__(self, key, step) -> Float[Array, "n d"]:
        return self.geometry.sample_interior(jax.random.fold_in(key, step // self.every), self.n)


class BoundaryPoints(AbstractSampler):
    """`n` boundary points of `geometry` ``(n, d)``, redrawn every `every` steps; a `Neumann` or `Robin` condition
    reads their normals from the domain's geometry."""

    geometry: AbstractGeometry
    n: int = eqx.field(static=True)
    every: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        _check_count(self.n, "BoundaryPoints")

    def __call__(self, key, step) -> Float[Array, "n d"]:
        return self.geometry.sample_boundary(jax.random.fold_in(key, step // self.every), self.n)[0]
