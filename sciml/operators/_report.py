"""The experiment side of a neural-solver run: predictions file, figures, summary (shared by the `*-cape` files)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import metrics
from sciml.experiment import RunDir
from sciml.operators._training import NeuralSolverConfig, train_and_evaluate


def run_neural_solver_experiment(config: NeuralSolverConfig, run: RunDir) -> dict:
    """Train and evaluate `config`, write ``predictions.nc`` and figures into `run`, return the summary metrics."""
    summary, predictions = train_and_evaluate(config, out_dir=run.path)
    run.write_predictions(predictions)
    plot_error_by_parameter(predictions, config, run)
    plot_rollout(predictions, run)
    return summary


def error_by_parameter(predictions: xr.Dataset, parameter: str) -> dict[str, dict[float, float]]:
    """Rollout nRMSE per split and per value of `parameter`, recomputed from a predictions dataset."""
    ndim = predictions.prediction.ndim - 2
    table: dict[str, dict[float, float]] = {}
    for split in np.unique(predictions.split.values):
        part = predictions.where(predictions.split == split, drop=True)
        for value in np.unique(part[parameter].values):
            rows = part.where(part[parameter] == value, drop=True)
            table.setdefault(str(split), {})[float(value)] = metrics.nrmse(
                rows.prediction.values, rows.reference.values, spatial_ndim=ndim)
    return table


def plot_error_by_parameter(predictions: xr.Dataset, config: NeuralSolverConfig, run: RunDir) -> None:
    """nRMSE of the full rollout against the held-out parameter, seen and held-out values marked apart."""
    table = error_by_parameter(predictions, config.held_out_parameter)
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for split, marker in (("seen", "o"), ("held_out", "s")):
        if split in table:
            values = sorted(table[split])
            ax.plot(values, [table[split][v] for v in values], marker, label=split.replace("_", "-"))
    ax.set(xscale="log", yscale="log", xlabel=config.held_out_parameter, ylabel="rollout nRMSE",
           title=f"{config.base} + {config.conditioning}")
    ax.legend()
    run.save_figure(fig, "nrmse_by_parameter")


def plot_rollout(predictions: xr.Dataset, run: RunDir) -> None:
    """Reference, prediction and error of the first held-out trajectory (space-time for 1D, last frame for 2D)."""
    sample = predictions.isel(sample=int(np.flatnonzero(predictions.split.values == "held_out")[0]))
    fields = [("reference", sample.reference), ("prediction", sample.prediction),
              ("|error|", np.abs(sample.prediction - sample.reference))]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for ax, (title, field) in zip(axes, fields):
        if field.ndim == 2:
            mesh = ax.pcolormesh(field.x, field.t, field.values, shading="auto",
                                 cmap="magma" if title == "|error|" else "RdBu_r")
            ax.set(xlabel="x", ylabel="t", title=title)
        else:
            last = field.isel(t=-1)
            mesh = ax.pcolormesh(last.x, last.y, last.values.T, shading="auto",
                                 cmap="magma" if title == "|error|" else "RdBu_r")
            ax.set(xlabel="x", ylabel="y", title=f"{title}, t = {float(last.t):.2f}")
        fig.colorbar(mesh, ax=ax)
    run.save_figure(fig, "rollout_held_out")
