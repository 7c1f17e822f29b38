"""Triangle meshes for MMGP: validation (orientation, topology), the boundary loop, landmarks, ragged xarray storage."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import xarray as xr
from jaxtyping import Float, Int

from sciml._errors import DataError


@dataclasses.dataclass(frozen=True)
class TriangleMesh:
    """A linear triangle mesh with disk topology (one boundary loop), triangles counter-clockwise.

    Args:
        points: vertex coordinates, shape (n, 2).
        triangles: vertex indices, shape (m, 3), counter-clockwise.

    Raises `DataError` for an inverted (clockwise or flat) triangle, unused vertices, non-manifold edges and any
    topology other than a disk (an extra hole adds a boundary loop).
    """

    points: Float[np.ndarray, "n 2"]
    triangles: Int[np.ndarray, "m 3"]

    def __post_init__(self):
        points = np.asarray(self.points, dtype=np.float64)
        triangles = np.asarray(self.triangles)
        if points.ndim != 2 or points.shape[1] != 2:
            raise DataError(f"mesh points: expected shape (n, 2), got {points.shape}")
        if triangles.ndim != 2 or triangles.shape[1] != 3 or not np.issubdtype(triangles.dtype, np.integer):
            raise DataError(f"mesh triangles: expected integer shape (m, 3), got {triangles.dtype} {triangles.shape}")
        if not np.isfinite(points).all():
            raise DataError("mesh points contain NaN or Inf; check the mesher output")
        if triangles.min() < 0 or triangles.max() >= len(points):
            raise DataError(f"mesh triangles index vertices outside [0, {len(points)}): range [{triangles.min()}, "
                            f"{triangles.max()}]")
        unused = np.setdiff1d(np.arange(len(points)), triangles)
        if unused.size:
            raise DataError(f"mesh vertices {unused[:5].tolist()} (of {unused.size}) belong to no triangle; remove "
                            "them")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "triangles", triangles.astype(np.int64))
        area = self.signed_areas
        scale = np.ptp(points, axis=0).prod()
        inverted = np.flatnonzero(area <= 1e-14 * scale)
        if inverted.size:
            raise DataError(
                f"mesh has {inverted.size} inverted or degenerate triangle(s), first #{inverted[0]} with vertices "
                f"{self.triangles[inverted[0]].tolist()} and signed area {area[inverted[0]]:.3g}; expected every "
                "triangle counter-clockwise with positive area. Fix: swap two vertices of clockwise triangles, drop "
                "flat ones."
            )
        loops = self._boundary_loops()
        euler = len(points) - self._n_edges + len(self.triangles)
        if len(loops) != 1 or euler != 1:
            raise DataError(
                f"mesh topology is not a disk: {len(loops)} boundary loop(s) and Euler characteristic {euler}; "
                "expected 1 and 1 (a simply connected plate). An extra hole or a detached piece cannot be morphed "
                "onto the unit disk; mesh every sample with the same topology as the training meshes."
            )
        object.__setattr__(self, "_loop", loops[0])

    @property
    def signed_areas(self) -> Float[np.ndarray, " m"]:
        a, b, c = (self.points[self.triangles[:, k]] for k in range(3))
        return 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def boundary_loop(self) -> Int[np.ndarray, " b"]:
        """Boundary vertex indices in counter-clockwise order."""
        return self._loop

    def _directed_edges(self) -> Int[np.ndarray, "e 2"]:
        t = self.triangles
        return np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])

    def _boundary_loops(self) -> list[np.ndarray]:
        directed = self._directed_edges()
        n = len(self.points)
        keys = np.minimum(directed[:, 0], directed[:, 1]) * n + np.maximum(directed[:, 0], directed[:, 1])
        unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if counts.max() > 2:
            edge = unique[np.argmax(counts)]
            raise DataError(f"mesh edge {[edge // n, edge % n]} is shared by {counts.max()} triangles; expected at "
                            "most 2 (a manifold mesh)")
        object.__setattr__(self, "_n_edges", len(unique))
        boundary = directed[counts[inverse] == 1]
        if len(np.unique(boundary[:, 0])) < len(boundary):
            raise DataError("mesh boundary touches itself at a vertex; expected a simple boundary loop")
        following = dict(zip(boundary[:, 0].tolist(), boundary[:, 1].tolist(), strict=True))
        loops, seen = [], set()
        for start in following:
            if start in seen:
                continue
            loop, vertex = [], start
            while vertex not in seen:
                seen.add(vertex)
                loop.append(vertex)
                vertex = following[vertex]
            loops.append(np.array(loop, dtype=np.int64))
        return loops

    def landmark_positions(self, landmarks: Float[np.ndarray, "l 2"], *,
                           tolerance: float = 1e-6) -> Int[np.ndarray, " l"]:
        """Positions in `boundary_loop` of the boundary vertices at `landmarks`, in counter-clockwise order.

        Raises `DataError` when a landmark has no boundary vertex within `tolerance` or the landmarks are out of order.
        """
        landmarks = np.asarray(landmarks, dtype=np.float64)
        boundary = self.points[self.boundary_loop]
        distance = np.linalg.norm(boundary[None, :, :] - landmarks[:, None, :], axis=2)
        positions = distance.argmin(axis=1)
        for k, pos in enumerate(positions):
            if distance[k, pos] > tolerance:
                raise DataError(
                    f"landmark {k} at {landmarks[k].tolist()} has no boundary vertex within {tolerance:g} (closest at "
                    f"distance {distance[k, pos]:.3g}); mesh each sample so that its boundary passes through every "
                    "landmark"
                )
        shifted = (positions - positions[0]) % len(boundary)
        if np.any(np.diff(shifted) <= 0):
            raise DataError(
                "landmarks are not in counter-clockwise order along the boundary (loop positions "
                f"{positions.tolist()}); list them counter-clockwise"
            )
        return positions


def meshes_to_dataset(meshes: Sequence[TriangleMesh],
                      fields: dict[str, Sequence[np.ndarray]] | None = None) -> xr.Dataset:
    """Pack meshes (and nodal fields) into one dataset with flat `node` and `triangle` dims and per-sample offsets."""
    node_count = np.array([m.n_points for m in meshes])
    triangle_count = np.array([len(m.triangles) for m in meshes])
    data = {
        "x": ("node", np.concatenate([m.points[:, 0] for m in meshes])),
        "y": ("node", np.concatenate([m.points[:, 1] for m in meshes])),
        "triangles": (("triangle", "vertex"), np.concatenate([m.triangles for m in meshes]).astype(np.int32)),
        "node_start": ("sample", np.concatenate([[0], np.cumsum(node_count)[:-1]])),
        "node_count": ("sample", node_count),
        "triangle_start": ("sample", np.concatenate([[0], np.cumsum(triangle_count)[:-1]])),
        "triangle_count": ("sample", triangle_count),
    }
    for name, values in (fields or {}).items():
        data[name] = ("node", np.concatenate(values))
    ds = xr.Dataset(data, coords={"sample": np.arange(len(meshes))})
    ds.triangles.attrs["description"] = "vertex indices local to each sample's node block, counter-clockwise"
    long_names = {"x": "vertex x coordinate", "y": "vertex y coordinate", "triangles": "triangle vertex indices",
                  "node_start": "first node of the sample", "node_count": "nodes of the sample",
                  "triangle_start": "first triangle of the sample", "triangle_count": "triangles of the sample"}
    for name, long_name in long_names.items():
        ds[name].attrs.update(long_name=long_name, units="1")
    return ds


def meshes_from_dataset(ds: xr.Dataset) -> list[TriangleMesh]:
    """The meshes stored by `meshes_to_dataset` (one per `sample`)."""
    for name in ("x", "y", "triangles", "node_start", "node_count", "triangle_start", "triangle_count"):
        if name not in ds:
            raise DataError(f"mesh dataset lacks variable {name!r}; expected the layout written by meshes_to_dataset")
    x, y, triangles = ds.x.values, ds.y.values, ds.triangles.values
    meshes = []
    for ns, nc, ts, tc in zip(ds.node_start.values, ds.node_count.values, ds.triangle_start.values,
                              ds.triangle_count.values, strict=True):
        meshes.append(TriangleMesh(np.stack([x[ns : ns + nc], y[ns : ns + nc]], axis=1), triangles[ts : ts + tc]))
    return meshes


def nodal_values(ds: xr.Dataset, name: str) -> list[np.ndarray]:
    """Split the flat nodal variable `name` into one array per sample."""
    values = ds[name].values
    return [values[s : s + c] for s, c in zip(ds.node_start.values, ds.node_count.values, strict=True)]


def to_meshio(mesh: TriangleMesh, point_data: dict[str, np.ndarray] | None = None):
    """A `meshio.Mesh` (write it to VTU, XDMF, Gmsh ... with `meshio.write`)."""
    import meshio

    points = np.concatenate([mesh.points, np.zeros((mesh.n_points, 1))], axis=1)
    return meshio.Mesh(points, [("triangle", mesh.triangles)], point_data=dict(point_data or {}))
