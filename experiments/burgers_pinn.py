"""Viscous Burgers (nu = 0.01/pi) with a PINN, scored against Raissi's published reference solution.

u_t + u u_x = nu u_xx on x in [-1, 1], t in [0, 1], u(0, x) = -sin(pi x), u(t, +-1) = 0.
The initial and boundary conditions are built into the output (hard constraint), so the loss is the residual alone;
Adam on resampled Sobol points is followed by full-batch L-BFGS in float64.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optax
import xarray as xr

from sciml import metrics
from sciml.data import load_reference
from sciml.experiment import RunDir
from sciml.pde import PointSets, Problem, SobolPoints, interval, time_space
from sciml.pinn import PINN, HardConstraint, PINNLoss
from sciml.train import LBFGS, Evaluation, fit

NAME = "burgers-pinn"
PUBLISHED_REL_L2 = 6.7e-4  # Raissi et al., J. Comput. Phys. 378 (2019), continuous-time Burgers


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    width: int = 20
    depth: int = 8
    n_residual: int = 4096
    resample_every: int = 100
    adam_steps: int = 2000
    learning_rate: float = 1e-3
    decay_rate: float = 0.9
    decay_steps: int = 1000
    lbfgs_steps: int = 4000
    n_residual_lbfgs: int = 8192
    lbfgs_precision: str = "float64"
    nu: float = 0.01 / np.pi
    chunk: int = 250
    checkpoint_every: int = 1000

    def __post_init__(self):
        if self.lbfgs_precision not in ("float32", "float64"):
            raise ValueError(f"lbfgs_precision must be 'float32' or 'float64', got {self.lbfgs_precision!r}")


def build(config: Config, key: jax.Array):
    """The Burgers PINN model and its loss."""
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0, "x"))
    transform = HardConstraint(
        particular=lambda p: -jnp.sin(jnp.pi * p[1]),
        distance=lambda p: p[0] * (1 - p[1] ** 2),
    )
    model = PINN(domain, "scalar", config.width, config.depth, transform=transform, key=key)
    nu = config.nu
    problem = Problem(
        domain,
        residual=lambda u: u.t + u.value * u.x - nu * u.xx,
        interior=SobolPoints(domain, config.n_residual, every=config.resample_every, seed=config.seed),
        constraints={},
    )
    return model, PINNLoss(problem)


def main(config: Config, run: RunDir) -> dict:
    reference = load_reference("burgers")
    tt, xx = np.meshgrid(reference.t.values, reference.x.values, indexing="ij")
    grid = jnp.asarray(np.stack([tt.ravel(), xx.ravel()], axis=1))
    exact = reference.u.values

    def evaluate(model):
        return {"rel_l2": metrics.relative_l2(np.asarray(model.on_grid(grid)).reshape(exact.shape), exact)}

    key = jax.random.key(config.seed)
    model, loss = build(config, jax.random.fold_in(key, 0))
    lbfgs_points = SobolPoints(loss.problem.domain, config.n_residual_lbfgs, seed=config.seed + 1)
    schedule = optax.exponential_decay(config.learning_rate, config.decay_steps, config.decay_rate)
    result = fit(
        model, loss, loss.problem.sampler(), optax.adam(schedule), config.adam_steps,
        key=jax.random.fold_in(key, 1),
        lbfgs=LBFGS(config.lbfgs_steps, dtype=config.lbfgs_precision) if config.lbfgs_steps else None,
        lbfgs_data=PointSets({"residual": lbfgs_points}),
        chunk=config.chunk,
        evaluations=[Evaluation(evaluate, config.checkpoint_every)],
        out_dir=run.path,
        checkpoint_every=config.checkpoint_every,
        meta={"config": dataclasses.asdict(config)},
    )
    prediction = np.asarray(result.model.on_grid(grid)).reshape(exact.shape)
    predictions = xr.Dataset(
        {"prediction": (("t", "x"), prediction), "reference": (("t", "x"), exact)},
        coords={"t": reference.t.values, "x": reference.x.values},
        attrs={"pde": reference.attrs["equation"], "nu": config.nu, "reference_source": reference.attrs["source"]},
    )
    run.write_predictions(predictions)
    plot(predictions, run)
    return {
        "rel_l2": metrics.relative_l2(prediction, exact),
        "max_abs_error": metrics.max_abs_error(prediction, exact),
        "published_rel_l2": PUBLISHED_REL_L2,
        "final_loss": result.history[-1]["loss"],
        "steps": result.step,
        "train_time_s": result.train_time_s,
        "compile_time_s": result.compile_time_s,
        "adam_steps_per_s": result.steps_per_s,
    }


def plot(predictions: xr.Dataset, run: RunDir) -> None:
    """Prediction, reference and error maps, plus slices at three times."""
    error = np.abs(predictions.prediction - predictions.reference)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for ax, (title, field, cmap) in zip(
        axes, [("prediction", predictions.prediction, "RdBu_r"), ("reference", predictions.reference, "RdBu_r"),
               ("|error|", error, "magma")]
    ):
        mesh = ax.pcolormesh(predictions.t, predictions.x, np.asarray(field).T, cmap=cmap, shading="auto")
        ax.set(title=title, xlabel="t", ylabel="x")
        fig.colorbar(mesh, ax=ax)
    run.save_figure(fig, "fields")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5), constrained_layout=True)
    for ax, t in zip(axes, (0.25, 0.5, 0.75)):
        ax.plot(predictions.x, predictions.reference.sel(t=t, method="nearest"), "k-", label="reference")
        ax.plot(predictions.x, predictions.prediction.sel(t=t, method="nearest"), "r--", label="PINN")
        ax.set(title=f"t = {t}", xlabel="x", ylabel="u")
    axes[0].legend()
    run.save_figure(fig, "slices")
