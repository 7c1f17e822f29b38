"""Laplace's equation on a non-convex polygon (a chevron) with Dirichlet data, with a PINN, against our P2 finite
elements.

The chevron has corners (-1, -1), (0, -0.4), (1, -1), (1, 0.6), (0, 1), (-1, 0.6); at (0, -0.4) its interior angle is
242 degrees. There, data without symmetry excite the singular mode r^0.74 sin(0.74 theta) of a re-entrant corner (its
gradient is unbounded), which a smooth network fits only slowly; the data here, u = sin(2x) e^y on the boundary, are
odd in x, as the solution then is, which removes that mode and leaves r^1.49 (bounded gradient). The data are not
harmonic, so the solution is not u = g: it comes from scikit-fem P2 elements on a fine Triangle mesh
(`sciml.solvers.poisson_polygon_fem`, tested against exact harmonic functions). The condition is penalised (`boundary=
"soft"`, the default) or built in (`"hard"`: u = g + phi N with the polygon's smooth approximate distance phi, whose
Laplacian is singular at the vertices: it trained far worse in our runs). Adam on points
redrawn every step, then full-batch L-BFGS in float64; scored at the nodes of a coarser mesh of the polygon.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml import metrics
from sciml._errors import ConfigError
from sciml.nn import MLP
from sciml.pde import BoundaryPoints, Dirichlet, FixedPoints, InteriorPoints, PointSets, Polygon, Problem
from sciml.pinn import PINN, HardConstraint, PINNLoss
from sciml.solvers import poisson_polygon_fem, polygon_mesh
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.pinn import plot_fields, predict_points
from sciml.studies.pinn import predict as predict  # re-exported for sciml.load
from sciml.train import Evaluation

NAME = "laplace-polygon-pinn"
FAMILY = "pinn"
REPRODUCES = "-"
SMOKE = {"train.steps": 20, "train.chunk": 10, "train.lbfgs_steps": 10, "n_points": 128, "n_boundary": 32,
         "n_points_lbfgs": 128, "width": 8, "depth": 2, "fem_max_area": 0.02, "eval_max_area": 0.05}

VERTICES = ((-1.0, -1.0), (0.0, -0.4), (1.0, -1.0), (1.0, 0.6), (0.0, 1.0), (-1.0, 0.6))
CHEVRON = Polygon(VERTICES)


def boundary_data(x, y):
    """g = sin(2x) e^y (NumPy or JAX arrays)."""
    return np.sin(2 * x) * np.exp(y) if isinstance(x, np.ndarray) else jnp.sin(2 * x) * jnp.exp(y)


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=2000, learning_rate=2e-3, schedule="exponential", decay_steps=500,
                                     decay_rate=0.7, lbfgs_steps=6000, chunk=100)
    width: int = 48
    """Hidden units per layer of the MLP."""
    depth: int = 4
    """Hidden layers of the MLP."""
    n_points: int = 1024
    """Residual points per step, uniform in the polygon (rejection from its bounding box)."""
    n_boundary: int = 512
    """Points per step on the boundary (boundary "soft" only)."""
    n_points_lbfgs: int = 4096
    """Residual points of the full-batch L-BFGS stage (the boundary term keeps 4x its per-step count)."""
    lbfgs_boundary: str = "cosine"
    """The L-BFGS stage's boundary points: "random" (uniform by arc length), or every vertex plus points spaced
    "uniform" or "cosine" (crowding towards the corners, `Polygon.perimeter_points`) along each edge."""
    boundary: str = "soft"
    """u = g on the boundary: "soft" (a penalty) or "hard" (u = g + phi N, phi the polygon's smooth distance)."""
    boundary_weight: float = 1000.0
    """Weight of the soft boundary term in the loss."""
    fem_max_area: float = 1e-4
    """Largest triangle of the finite-element reference's mesh."""
    eval_max_area: float = 2e-3
    """Largest triangle of the mesh whose nodes are scored."""

    def __post_init__(self):
        if self.boundary not in ("hard", "soft"):
            raise ConfigError(f"boundary must be 'hard' or 'soft', got {self.boundary!r}")
        if self.lbfgs_boundary not in ("random", "uniform", "cosine"):
            raise ConfigError(f"lbfgs_boundary must be 'random', 'uniform' or 'cosine', got {self.lbfgs_boundary!r}")


def build(config: Config, key: jax.Array) -> tuple[PINN, Problem]:
    """The PINN (g built in when ``boundary="hard"``) and the problem."""
    constraints, transform = {}, None
    if config.boundary == "hard":
        transform = HardConstraint(lambda p: boundary_data(p[0], p[1]), CHEVRON.distance)
    else:
        constraints["boundary"] = Dirichlet(BoundaryPoints(CHEVRON, config.n_boundary),
                                            lambda p: boundary_data(p[0], p[1]))
    problem = Problem(CHEVRON.bounding_box, residual=lambda u: u.xx + u.yy,
                      interior=InteriorPoints(CHEVRON, config.n_points), constraints=constraints)
    net = MLP(2, "scalar", config.width, config.depth, key=key)
    return PINN(CHEVRON.bounding_box, net, transform=transform), problem


def model_like(config: Config) -> PINN:
    """The untrained model (key ``config.train.key(0)``) that `main` trains."""
    return build(config, config.train.key(0))[0]


def main(config: Config, run: RunDir) -> dict:
    model, problem = build(config, config.train.key(0))
    loss = PINNLoss(problem, weights={name: config.boundary_weight for name in problem.constraints})
    points, triangles = polygon_mesh(np.asarray(VERTICES), config.eval_max_area)
    reference = poisson_polygon_fem(np.asarray(VERTICES), points, boundary_data, max_area=config.fem_max_area)

    def evaluate(m):
        return {"rel_l2": metrics.relative_l2(predict_points(m, jnp.asarray(points, jnp.float32)), reference)}

    fixed_key = config.train.key(3)
    fixed = {"residual": FixedPoints(CHEVRON.sample_interior(fixed_key, config.n_points_lbfgs))}
    if "boundary" in problem.constraints:
        if config.lbfgs_boundary == "random":
            edge_points = CHEVRON.sample_boundary(jax.random.fold_in(fixed_key, 1), 4 * config.n_boundary)[0]
        else:
            edge_points = CHEVRON.perimeter_points(4 * config.n_boundary, config.lbfgs_boundary)[0]
        fixed["boundary"] = FixedPoints(jnp.asarray(edge_points, jnp.float32))
    steps, chunk = config.train.steps, config.train.chunk
    result = train(model, loss, problem.sampler(), config.train, run, lbfgs_data=PointSets(fixed),
                   evaluations=[Evaluation(evaluate, chunk * max(1, steps // (10 * chunk)))])
    run.save_model(result.model)
    prediction = predict_points(result.model, jnp.asarray(points, jnp.float32)).astype(np.float64)
    ds = xr.Dataset(
        {"prediction": ("node", prediction, {"long_name": "PINN solution u", "units": "1"}),
         "reference": ("node", reference, {"long_name": "P2 finite-element solution u", "units": "1"}),
         "error": ("node", prediction - reference, {"long_name": "PINN minus finite-element solution u",
                                                    "units": "1"}),
         "triangles": (("triangle", "vertex"), triangles.astype(np.int32),
                       {"long_name": "node indices of the evaluation mesh's triangles", "units": "1"})},
        coords={"node": np.arange(len(points)), "x": ("node", points[:, 0]), "y": ("node", points[:, 1])},
        attrs={"equation": "Laplace u = 0 in the chevron polygon, u = sin(2x) exp(y) on its boundary",
               "vertices": str(VERTICES),
               "reference_source": f"scikit-fem P2 elements, Triangle mesh, triangles <= {config.fem_max_area}"})
    run.write_predictions(ds)
    plot_fields(ds, run)
    return {"rel_l2": metrics.relative_l2(prediction, reference),
            "max_abs_error": metrics.max_abs_error(prediction, reference), **fit_summary(result)}
