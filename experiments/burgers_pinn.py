"""Viscous Burgers (nu = 0.01/pi) with a PINN, scored against Raissi's published reference solution.

u_t + u u_x = nu u_xx on x in [-1, 1], t in [0, 1], u(0, x) = -sin(pi x), u(t, +-1) = 0.
The initial and boundary conditions are built into the output (hard constraint), so the loss is the residual alone;
Adam on resampled Sobol points is followed by full-batch L-BFGS in float64.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import metrics
from sciml.data import load_reference
from sciml.nn import MLP
from sciml.pde import PointSets, Problem, SobolPoints, interval, time_space
from sciml.pinn import PINN, HardConstraint, PINNLoss
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.pinn import predict as predict  # re-exported for sciml.load
from sciml.train import Evaluation

NAME = "burgers-pinn"
FAMILY = "pinn"
REPRODUCES = "Raissi, Perdikaris & Karniadakis (JCP 2019): viscous Burgers against their reference solution"
PUBLISHED_REL_L2 = 6.7e-4  # Raissi et al., J. Comput. Phys. 378 (2019), continuous-time Burgers
SMOKE = {"train.steps": 40, "train.lbfgs_steps": 10, "n_residual": 256, "n_residual_lbfgs": 256, "width": 16,
         "depth": 2, "train.chunk": 10, "train.checkpoint_every": 20}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=2000, learning_rate=1e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.9, lbfgs_steps=4000, lbfgs_dtype="float64", chunk=250,
                                     checkpoint_every=1000)
    width: int = 20
    """Hidden units per layer of the MLP."""
    depth: int = 8
    """Hidden layers of the MLP."""
    n_residual: int = 4096
    """Sobol residual points of the Adam stage."""
    resample_every: int = 100
    """Adam steps between redraws of the residual points."""
    n_residual_lbfgs: int = 8192
    """Sobol residual points of the full-batch L-BFGS stage."""
    nu: float = 0.01 / np.pi
    """Viscosity nu (0.01/pi is Raissi's case, the one the reference solves)."""


def build(config: Config, key: jax.Array):
    """The Burgers PINN model and its loss."""
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0, "x"))
    transform = HardConstraint(
        particular=lambda p: -jnp.sin(jnp.pi * p[1]),
        distance=lambda p: p[0] * (1 - p[1] ** 2),
    )
    model = PINN(domain, MLP(domain.ndim, "scalar", config.width, config.depth, key=key), transform=transform)
    nu = config.nu
    problem = Problem(
        domain,
        residual=lambda u: u.t + u.value * u.x - nu * u.xx,
        interior=SobolPoints(domain, config.n_residual, every=config.resample_every, seed=config.train.seed),
        constraints={},
    )
    return model, PINNLoss(problem)


def model_like(config: Config) -> PINN:
    """The untrained model (key ``config.train.key(0)``) that `main` trains."""
    return build(config, config.train.key(0))[0]


def main(config: Config, run: RunDir) -> dict:
    reference = load_reference("burgers")
    tt, xx = np.meshgrid(reference.t.values, reference.x.values, indexing="ij")
    grid = jnp.asarray(np.stack([tt.ravel(), xx.ravel()], axis=1))
    exact = reference.u.values

    def evaluate(model):
        return {"rel_l2": metrics.relative_l2(np.asarray(model.on_grid(grid)).reshape(exact.shape), exact)}

    model, loss = build(config, config.train.key(0))
    lbfgs_points = SobolPoints(loss.problem.domain, config.n_residual_lbfgs, seed=config.train.seed + 1)
    result = train(model, loss, loss.problem.sampler(), config.train, run,
                   lbfgs_data=PointSets({"residual": lbfgs_points}),
                   evaluations=[Evaluation(evaluate, config.train.checkpoint_every or config.train.chunk)])
    run.save_model(result.model)
    prediction = predict(result.model, config, reference).prediction.values
    predictions = xr.Dataset(
        {"prediction": (("t", "x"), prediction, {"long_name": "PINN velocity u", "units": "1"}),
         "reference": (("t", "x"), exact, {"long_name": "reference velocity u", "units": "1"})},
        coords={"t": reference.t.values, "x": reference.x.values},
        attrs={"pde": reference.attrs["equation"], "nu": config.nu, "reference_source": reference.attrs["source"]},
    )
    run.write_predictions(predictions)
    plot(predictions, run)
    return {
        "rel_l2": metrics.relative_l2(prediction, exact),
        "max_abs_error": metrics.max_abs_error(prediction, exact),
        "published_rel_l2": PUBLISHED_REL_L2,
        **fit_summary(result),
    }


def plot(predictions: xr.Dataset, run: RunDir) -> None:
    """Prediction, reference and error maps, plus slices at three times."""
    error = np.abs(predictions.prediction - predictions.reference)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for ax, (title, field, cmap) in zip(
        axes, [("prediction", predictions.prediction, "RdBu_r"), ("reference", predictions.reference, "RdBu_r"),
               ("|error|", error, "magma")]
    , strict=True):
        mesh = ax.pcolormesh(predictions.t, predictions.x, np.asarray(field).T, cmap=cmap, shading="auto")
        ax.set(title=title, xlabel="t", ylabel="x")
        fig.colorbar(mesh, ax=ax)
    run.save_figure(fig, "fields")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5), constrained_layout=True)
    for ax, t in zip(axes, (0.25, 0.5, 0.75), strict=True):
        ax.plot(predictions.x, predictions.reference.sel(t=t, method="nearest"), "k-", label="reference")
        ax.plot(predictions.x, predictions.prediction.sel(t=t, method="nearest"), "r--", label="PINN")
        ax.set(title=f"t = {t}", xlabel="x", ylabel="u")
    axes[0].legend()
    run.save_figure(fig, "slices")
