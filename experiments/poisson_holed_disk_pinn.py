"""Poisson -Laplace u = f on a disk with an off-centre hole, against a manufactured exact solution, with a PINN.

The domain is the unit disk minus the disk of radius 0.3 about (0.3, 0.2), built by CSG (``Disk - Disk``). The exact
solution u = (1 - x^2 - y^2) sin(pi x) sin(pi y) sets f, the Dirichlet data on the outer circle (u = 0) and the data
of the condition on the hole: Robin ``a u + b du/dn = g`` (default) or Neumann ``du/dn = g``, n the domain's outward
normal (it points into the hole). The outer condition is built in (`boundary="hard"`: u = (1 - r^2)/2 N(x), the
outer disk's smooth distance) or penalised (`"soft"`); the hole's condition is a penalty term. Adam on points redrawn
every step, then full-batch L-BFGS in float64; scored on a 101 x 101 grid's points inside the domain.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import metrics
from sciml._errors import ConfigError
from sciml.nn import MLP
from sciml.pde import BoundaryPoints, Dirichlet, Disk, FixedPoints, InteriorPoints, Neumann, PointSets, Problem, Robin
from sciml.pinn import PINN, HardConstraint, PINNLoss
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.pinn import plot_fields, predict_points
from sciml.studies.pinn import predict as predict  # re-exported for sciml.load
from sciml.train import Evaluation

NAME = "poisson-holed-disk-pinn"
FAMILY = "pinn"
REPRODUCES = "-"
SMOKE = {"train.steps": 20, "train.chunk": 10, "train.lbfgs_steps": 10, "n_points": 128, "n_inner": 32,
         "n_outer": 32, "n_points_lbfgs": 128, "width": 8, "depth": 2, "grid": 21}

OUTER = Disk((0.0, 0.0), 1.0)
HOLE = Disk((0.3, 0.2), 0.3)
DOMAIN = OUTER - HOLE


def exact(p):
    """u = (1 - x^2 - y^2) sin(pi x) sin(pi y)."""
    x, y = p[0], p[1]
    return (1 - x * x - y * y) * jnp.sin(jnp.pi * x) * jnp.sin(jnp.pi * y)


def source(p):
    """f = -Laplace u, by hand: with w = 1 - r^2 and s = sin(pi x) sin(pi y), -Laplace(w s) = 2 pi^2 w s + 4 s
    + 4 pi (x cos(pi x) sin(pi y) + y sin(pi x) cos(pi y))."""
    x, y = p[0], p[1]
    sx, cx, sy, cy = jnp.sin(jnp.pi * x), jnp.cos(jnp.pi * x), jnp.sin(jnp.pi * y), jnp.cos(jnp.pi * y)
    w, s = 1 - x * x - y * y, sx * sy
    return 2 * jnp.pi**2 * w * s + 4 * s + 4 * jnp.pi * (x * cx * sy + y * sx * cy)


def normal_derivative(p):
    """du/dn of the exact solution along the domain's outward normal at p."""
    return jnp.dot(jax.grad(exact)(p), DOMAIN.normal(p))


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=2000, learning_rate=2e-3, schedule="exponential", decay_steps=500,
                                     decay_rate=0.7, lbfgs_steps=2000, chunk=100)
    width: int = 32
    """Hidden units per layer of the MLP."""
    depth: int = 3
    """Hidden layers of the MLP."""
    n_points: int = 1024
    """Residual points per step, uniform in the domain (rejection from its bounding box)."""
    n_inner: int = 256
    """Points per step on the hole's circle, for its Robin or Neumann term."""
    n_outer: int = 256
    """Points per step on the outer circle (boundary "soft" only)."""
    n_points_lbfgs: int = 4096
    """Residual points of the full-batch L-BFGS stage (the boundary terms keep 4x their per-step counts)."""
    boundary: str = "hard"
    """The outer condition u = 0: "hard" (built in with the disk's distance) or "soft" (a penalty term "outer")."""
    inner: str = "robin"
    """The hole's condition: "robin" (a u + b du/dn = g) or "neumann" (du/dn = g)."""
    robin_a: float = 1.0
    """Robin coefficient a of u."""
    robin_b: float = 1.0
    """Robin coefficient b of du/dn."""
    boundary_weight: float = 1.0
    """Weight of the boundary penalty terms in the loss."""
    grid: int = 101
    """Evaluation grid points per axis on [-1, 1]^2; those inside the domain are scored."""

    def __post_init__(self):
        if self.boundary not in ("hard", "soft"):
            raise ConfigError(f"boundary must be 'hard' or 'soft', got {self.boundary!r}")
        if self.inner not in ("robin", "neumann"):
            raise ConfigError(f"inner must be 'robin' or 'neumann', got {self.inner!r}")


def build(config: Config, key: jax.Array) -> tuple[PINN, Problem]:
    """The PINN (outer condition built in when ``boundary="hard"``) and the problem."""
    if config.inner == "robin":
        a, b = config.robin_a, config.robin_b
        inner = Robin(BoundaryPoints(HOLE, config.n_inner), DOMAIN, lambda p: a * exact(p) + b * normal_derivative(p),
                      a=a, b=b)
    else:
        inner = Neumann(BoundaryPoints(HOLE, config.n_inner), DOMAIN, normal_derivative)
    constraints = {"inner": inner}
    transform = None
    if config.boundary == "hard":
        transform = HardConstraint(lambda p: jnp.zeros((), p.dtype), OUTER.distance)
    else:
        constraints["outer"] = Dirichlet(BoundaryPoints(OUTER, config.n_outer), lambda p: jnp.zeros((), p.dtype))
    problem = Problem(DOMAIN.bounding_box, residual=lambda u: u.xx + u.yy + source(u.point),
                      interior=InteriorPoints(DOMAIN, config.n_points), constraints=constraints)
    net = MLP(2, "scalar", config.width, config.depth, key=key)
    return PINN(DOMAIN.bounding_box, net, transform=transform), problem


def model_like(config: Config) -> PINN:
    """The untrained model (key ``config.train.key(0)``) that `main` trains."""
    return build(config, config.train.key(0))[0]


def evaluation_points(config: Config) -> np.ndarray:
    """The points of a ``grid x grid`` grid on [-1, 1]^2 that lie in the domain, ``(n, 2)``."""
    axis = np.linspace(-1.0, 1.0, config.grid)
    points = np.stack([a.ravel() for a in np.meshgrid(axis, axis, indexing="ij")], axis=1)
    return points[np.asarray(DOMAIN.contains(jnp.asarray(points, jnp.float32)))]


def main(config: Config, run: RunDir) -> dict:
    model, problem = build(config, config.train.key(0))
    loss = PINNLoss(problem, weights={name: config.boundary_weight for name in problem.constraints})
    points = evaluation_points(config)
    reference = np.asarray(jax.vmap(exact)(jnp.asarray(points)), np.float64)

    def evaluate(m):
        return {"rel_l2": metrics.relative_l2(predict_points(m, jnp.asarray(points, jnp.float32)), reference)}

    fixed_key = config.train.key(3)
    fixed = {"residual": FixedPoints(DOMAIN.sample_interior(fixed_key, config.n_points_lbfgs))}
    for i, (name, constraint) in enumerate(problem.constraints.items()):
        part = constraint.sampler.geometry
        drawn = part.sample_boundary(jax.random.fold_in(fixed_key, i + 1), 4 * constraint.sampler.n)[0]
        fixed[name] = FixedPoints(drawn)
    steps, chunk = config.train.steps, config.train.chunk
    result = train(model, loss, problem.sampler(), config.train, run, lbfgs_data=PointSets(fixed),
                   evaluations=[Evaluation(evaluate, chunk * max(1, steps // (10 * chunk)))])
    run.save_model(result.model)
    prediction = predict_points(result.model, jnp.asarray(points, jnp.float32)).astype(np.float64)
    ds = xr.Dataset(
        {"prediction": ("node", prediction, {"long_name": "PINN solution u", "units": "1"}),
         "reference": ("node", reference, {"long_name": "exact solution u", "units": "1"}),
         "error": ("node", prediction - reference, {"long_name": "PINN minus exact solution u", "units": "1"})},
        coords={"node": np.arange(len(points)), "x": ("node", points[:, 0]), "y": ("node", points[:, 1])},
        attrs={"equation": "-Laplace u = f on the unit disk minus the disk of radius 0.3 about (0.3, 0.2); u = 0 on "
                           f"the outer circle; {config.inner} condition on the hole",
               "exact_solution": "u = (1 - x^2 - y^2) sin(pi x) sin(pi y)"})
    run.write_predictions(ds)
    plot_fields(ds, run)
    plot_geometry(result.model, points, reference, run)
    return {"rel_l2": metrics.relative_l2(prediction, reference),
            "max_abs_error": metrics.max_abs_error(prediction, reference), **fit_summary(result)}


def plot_geometry(model: PINN, points: np.ndarray, reference: np.ndarray, run: RunDir) -> None:
    """The domain's sampled points with outward normals, and the PINN's error on the evaluation points."""
    key = jax.random.PRNGKey(0)
    interior = np.asarray(DOMAIN.sample_interior(key, 600))
    boundary, normals = (np.asarray(a) for a in DOMAIN.sample_boundary(key, 90))
    error = predict_points(model, jnp.asarray(points, jnp.float32)) - reference
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    axes[0].scatter(*interior.T, s=2, c="0.6", label="interior samples")
    axes[0].quiver(*boundary.T, *normals.T, color="C3", scale=14, width=0.004, label="boundary samples, normals")
    axes[0].legend(loc="lower left", fontsize=8)
    axes[0].set(title="Disk((0, 0), 1) - Disk((0.3, 0.2), 0.3)", xlabel="x", ylabel="y", aspect="equal")
    image = axes[1].scatter(*points.T, c=error, s=4, cmap="RdBu_r")
    axes[1].set(title="PINN - exact", xlabel="x", ylabel="y", aspect="equal")
    fig.colorbar(image, ax=axes[1])
    run.save_figure(fig, "geometry")
