"""Plane-stress linear elasticity on notched plates whose notch boundaries are random smooth closed curves.

The plate is the unit square minus two notches, one centred on the middle of each vertical side. Each notch is the
inside of a star-shaped closed curve ``r(phi) = r0 (1 + a1 cos phi + b1 sin phi + a2 cos 2phi + b2 sin 2phi)`` around
its centre, so the domain stays simply connected (one boundary loop) while its shape has no fixed parameterization in
the mesh: every sample is meshed on its own by Shewchuk's Triangle, and node counts differ.

Loading (Tensile2d-like): a uniform traction ``load`` pulls the top side up, the bottom side slides (u2 = 0) and the
bottom-left corner is pinned (u1 = 0). Quadratic (P2) displacement elements; stresses are L2-projected onto the P1
nodal space, so every field lives on the mesh vertices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Float, Int

NOTCH_COEFFICIENTS = ("r0", "a1", "b1", "a2", "b2")
PLATE_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
FIELD_NAMES = ("u1", "u2", "sigma22", "von_mises")
SCALAR_OUTPUT_NAMES = ("max_von_mises", "compliance")
SCALAR_INPUT_NAMES = ("load", "young", "poisson")


@dataclasses.dataclass(frozen=True)
class NotchedPlate:
    """The geometry of one sample: the curve coefficients (r0, a1, b1, a2, b2) of the left and right notch."""

    left: Float[np.ndarray, " 5"]
    right: Float[np.ndarray, " 5"]

    def __post_init__(self):
        for side in ("left", "right"):
            coefficients = np.asarray(getattr(self, side), float)
            if coefficients.shape != (5,):
                raise ValueError(f"NotchedPlate.{side}: expected 5 coefficients {NOTCH_COEFFICIENTS}, got shape "
                                 f"{coefficients.shape}")
            phi = np.linspace(0.0, 2 * np.pi, 721)
            radius = notch_radius(phi, coefficients)
            if radius.min() <= 0.02 or radius.max() >= 0.4:
                raise ValueError(
                    f"NotchedPlate.{side}: the notch radius must stay in (0.02, 0.4) so the plate stays one connected "
                    f"piece; got range [{radius.min():.3f}, {radius.max():.3f}]. Use a smaller r0 or smaller harmonics."
                )

    @classmethod
    def random(cls, rng: np.random.Generator) -> NotchedPlate:
        """Draw a main notch (left, r0 ~ U[0.15, 0.19]) and a smaller one (right, r0 ~ U[0.09, 0.12]).

        Harmonics: first ~ U[-0.1, 0.1], second ~ U[-0.05, 0.05]. The main notch always carries the peak stress, so
        the largest von Mises stress is a smooth function of the shape.
        """

        def draw(low, high):
            return np.array([rng.uniform(low, high), *rng.uniform(-0.1, 0.1, 2), *rng.uniform(-0.05, 0.05, 2)])

        return cls(draw(0.15, 0.19), draw(0.09, 0.12))

    def boundary(self, h_edge: float, h_notch: float) -> Float[np.ndarray, "n 2"]:
        """The boundary polygon, counter-clockwise from the corner (0, 0), straight sides at spacing `h_edge`."""
        right_arc = _resampled_arc(np.array([1.0, 0.5]), self.right, 1.5 * np.pi, 0.5 * np.pi, h_notch)
        left_arc = _resampled_arc(np.array([0.0, 0.5]), self.left, 0.5 * np.pi, -0.5 * np.pi, h_notch)
        corners = PLATE_CORNERS
        pieces = [
            _segment(corners[0], corners[1], h_edge),
            _segment(corners[1], right_arc[0], h_edge),
            right_arc[:-1],
            _segment(right_arc[-1], corners[2], h_edge),
            _segment(corners[2], corners[3], h_edge),
            _segment(corners[3], left_arc[0], h_edge),
            left_arc[:-1],
            _segment(left_arc[-1], corners[0], h_edge),
        ]
        return np.concatenate(pieces)


def notch_radius(phi: Float[np.ndarray, " n"], coefficients: Float[np.ndarray, " 5"]) -> Float[np.ndarray, " n"]:
    """``r0 (1 + a1 cos phi + b1 sin phi + a2 cos 2 phi + b2 sin 2 phi)``."""
    r0, a1, b1, a2, b2 = coefficients
    return r0 * (1 + a1 * np.cos(phi) + b1 * np.sin(phi) + a2 * np.cos(2 * phi) + b2 * np.sin(2 * phi))


def _segment(start, end, h: float) -> Float[np.ndarray, "n 2"]:
    """Points from `start` (included) to `end` (excluded) at spacing close to `h`."""
    count = max(1, int(np.ceil(np.linalg.norm(np.subtract(end, start)) / h)))
    s = np.arange(count)[:, None] / count
    return (1 - s) * np.asarray(start) + s * np.asarray(end)


def _resampled_arc(centre, coefficients, phi_start: float, phi_end: float, h: float) -> Float[np.ndarray, "n 2"]:
    """The notch curve from `phi_start` to `phi_end`, resampled at equal arc length close to `h` (both ends
    included)."""
    phi = np.linspace(phi_start, phi_end, 2001)
    radius = notch_radius(phi, coefficients)
    points = centre + radius[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    points[[0, -1], 0] = centre[0]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    count = max(2, int(np.ceil(arc[-1] / h)))
    targets = np.linspace(0.0, arc[-1], count + 1)
    return np.stack([np.interp(targets, arc, points[:, k]) for k in range(2)], axis=1)


def mesh_plate(plate: NotchedPlate, *, h_edge: float = 0.05, h_notch: float = 0.012, max_area: float = 1.2e-3):
    """Triangulate `plate` with Triangle (quality 30 degrees); return vertices (n, 2) and triangles (m, 3), CCW."""
    import triangle

    boundary = plate.boundary(h_edge, h_notch)
    n = len(boundary)
    segments = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
    result = triangle.triangulate({"vertices": boundary, "segments": segments}, f"pq30a{max_area:.6f}Q")
    points, triangles = result["vertices"], result["triangles"].astype(np.int64)
    a, b, c = (points[triangles[:, k]] for k in range(3))
    clockwise = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0] < 0
    triangles[clockwise] = triangles[clockwise][:, [0, 2, 1]]
    return points, triangles


@dataclasses.dataclass(frozen=True)
class ElasticitySolution:
    """Nodal fields on the mesh vertices and the scalar outputs of one solve."""

    fields: dict[str, Float[np.ndarray, " n"]]
    max_von_mises: float
    compliance: float


def solve_plane_stress(
    points: Float[np.ndarray, "n 2"],
    triangles: Int[np.ndarray, "m 3"],
    *,
    load: float,
    young: float,
    poisson: float,
) -> ElasticitySolution:
    """Plane-stress elasticity with scikit-fem (P2): top traction `load`, bottom u2 = 0, corner (0, 0) pinned in u1.

    Returns displacement (u1, u2), sigma22 and von Mises stress at the vertices, the largest nodal von Mises stress and
    the compliance (work of the traction, ``integral over the top of load * u2``).
    """
    from skfem import (
        Basis,
        BilinearForm,
        ElementTriP1,
        ElementTriP2,
        ElementVector,
        FacetBasis,
        LinearForm,
        MeshTri,
        condense,
        solve,
    )
    from skfem.helpers import ddot, sym_grad, trace

    mesh = MeshTri(points.T.copy(), triangles.T.copy())
    basis = Basis(mesh, ElementVector(ElementTriP2()), intorder=4)
    mu = young / (2 * (1 + poisson))
    lam = young * poisson / (1 - poisson**2)

    def stress(strain):
        return 2 * mu * strain + lam * trace(strain) * np.eye(2)[:, :, None, None]

    @BilinearForm
    def stiffness(u, v, _):
        return ddot(stress(sym_grad(u)), sym_grad(v))

    @LinearForm
    def traction(v, _):
        return load * v[1]

    top = FacetBasis(mesh, basis.elem, facets=mesh.facets_satisfying(lambda x: x[1] > 1 - 1e-9), intorder=4)
    K = stiffness.assemble(basis)
    f = traction.assemble(top)
    bottom_dofs = basis.get_dofs(lambda x: x[1] < 1e-9).all("u^2")
    corner = int(np.argmin(np.linalg.norm(points - PLATE_CORNERS[0], axis=1)))
    fixed = np.concatenate([bottom_dofs, basis.nodal_dofs[0, [corner]]])
    u = solve(*condense(K, f, D=fixed))

    sigma = stress(sym_grad(basis.interpolate(u)))
    nodal = basis.with_element(ElementTriP1())
    s11, s22, s12 = (nodal.project(sigma[i, j]) for i, j in ((0, 0), (1, 1), (0, 1)))
    von_mises = np.sqrt(np.maximum(s11**2 - s11 * s22 + s22**2 + 3 * s12**2, 0.0))
    n = len(points)
    fields = {
        "u1": u[basis.nodal_dofs[0]][:n],
        "u2": u[basis.nodal_dofs[1]][:n],
        "sigma22": s22,
        "von_mises": von_mises,
    }
    return ElasticitySolution(fields, float(von_mises.max()), float(f @ u))


def _tensile2d_sample(args) -> dict:
    seed_sequence, small = args
    rng = np.random.default_rng(seed_sequence)
    plate = NotchedPlate.random(rng)
    load, young, poisson = rng.uniform(8.0, 12.0), rng.uniform(150.0, 250.0), rng.uniform(0.25, 0.35)
    resolution = (dict(h_edge=0.06, h_notch=0.015, max_area=2.5e-3) if small
                  else dict(h_edge=0.04, h_notch=0.008, max_area=6e-4))
    points, triangles = mesh_plate(plate, **resolution)
    solution = solve_plane_stress(points, triangles, load=load, young=young, poisson=poisson)
    return {
        "points": points,
        "triangles": triangles,
        "fields": solution.fields,
        "scalars": (load, young, poisson, solution.max_von_mises, solution.compliance),
        "notches": np.stack([plate.left, plate.right]),
    }


def tensile2d_dataset(n_train: int, n_test: int, *, seed: int = 0, small: bool = False, workers: int = 1):
    """Solve `n_train + n_test` random notched plates and pack them as one xarray dataset (see `datasets/tensile2d`).

    Flat `node` / `triangle` dims hold every sample's mesh and nodal fields, with per-sample offsets and counts;
    `split` says train or test. `small` uses coarser meshes (tests).
    """
    import multiprocessing

    from sciml.gp import TriangleMesh, meshes_to_dataset

    tasks = [(s, small) for s in np.random.SeedSequence(seed).spawn(n_train + n_test)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            samples = pool.map(_tensile2d_sample, tasks, chunksize=8)
    else:
        samples = [_tensile2d_sample(task) for task in tasks]
    meshes = [TriangleMesh(s["points"], s["triangles"]) for s in samples]
    ds = meshes_to_dataset(meshes, {name: [s["fields"][name] for s in samples] for name in FIELD_NAMES})
    scalars = np.array([s["scalars"] for s in samples])
    for k, name in enumerate(SCALAR_INPUT_NAMES + SCALAR_OUTPUT_NAMES):
        ds[name] = ("sample", scalars[:, k])
    ds["split"] = ("sample", np.array(["train"] * n_train + ["test"] * n_test))
    ds["notch_coefficients"] = (("sample", "side", "coefficient"), np.stack([s["notches"] for s in samples]))
    ds = ds.assign_coords(side=["left", "right"], coefficient=list(NOTCH_COEFFICIENTS))
    # The plate, loads and moduli are in one consistent set of units without a scale: all nondimensional ("1").
    long_names = {"u1": "displacement u1 (x)", "u2": "displacement u2 (y)", "sigma22": "normal stress sigma22 (yy)",
                  "von_mises": "von Mises stress", "load": "traction on the top side", "young": "Young's modulus",
                  "poisson": "Poisson's ratio", "max_von_mises": "largest nodal von Mises stress",
                  "compliance": "compliance (work of the traction per unit thickness)", "split": "data split",
                  "notch_coefficients": "notch curve coefficients", "side": "notch side",
                  "coefficient": "notch curve coefficient name"}
    for name, long_name in long_names.items():
        ds[name].attrs.update(long_name=long_name, **({"units": "1"} if ds[name].dtype.kind == "f" else {}))
    ds.notch_coefficients.attrs["description"] = "generator's curve coefficients; provenance only, not a model input"
    ds.attrs.update(
        title="tensile2d: plane-stress elasticity on plates with random smooth notches",
        landmarks="plate corners (0,0) (1,0) (1,1) (0,1), counter-clockwise",
        solver="scikit-fem P2 plane stress; stresses L2-projected to P1 nodes; meshes by Triangle",
        seed=seed,
        small=int(small),
    )
    return ds
