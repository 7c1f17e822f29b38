"""Shared steps of the neural-DE studies: rollouts of a trained ODE, long SDE ensembles and their bands, and a neural
ODE trained on trajectories of the user's own file (`fit_series`)."""

from __future__ import annotations

import dataclasses

import diffrax
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import metrics
from sciml._errors import ConfigError, DataError
from sciml.data import MinibatchSampler, SeriesData, series_arrays, windows
from sciml.dynamics import DiagonalDiffusion, MLPVectorField, NeuralODE, NeuralSDE, solve_failed, trajectory_mse
from sciml.studies._config import TrainConfig
from sciml.studies._run import RunDir
from sciml.studies._training import fit_summary, train


def published_sde_keys(seed: int) -> tuple[jax.Array, ...]:
    """`(drift, diffusion, fit, evaluation)` keys of the SDE studies: one split of the seed's key, as the published
    runs drew them (docs/results/nde_sde.md)."""
    return tuple(jax.random.split(jax.random.key(seed), 4))


def diagonal_sde(channels: int, width: int, depth: int, *, seed: int, dt0: float, max_steps: int) -> NeuralSDE:
    """The untrained neural SDE of the SDE studies: MLP drift and diagonal diffusion on `channels` states, Brownian
    increments on a grid, weights from `published_sde_keys(seed)`."""
    k_drift, k_diff, _, _ = published_sde_keys(seed)
    return NeuralSDE(MLPVectorField(channels, width, depth, key=k_drift),
                     DiagonalDiffusion(channels, width, depth, key=k_diff), dt0=dt0, brownian="grid",
                     max_steps=max_steps)


def _values_or_raise(solutions: diffrax.Solution, what: str, max_steps: int) -> np.ndarray:
    """The saved values of vmapped `solutions`; a `DataError` naming the first failed sample and diffrax's reason."""
    failed = np.asarray(solve_failed(solutions))
    if failed.any():
        i = int(np.argmax(failed))
        reason = diffrax.RESULTS[jax.tree_util.tree_map(lambda x: x[i], solutions.result)]
        raise DataError(f"{what}: the solve of sample {i} (and {int(failed.sum()) - 1} more) failed: {reason} "
                        f"(max_steps={max_steps}); expected a solve that reaches the last time. Shorten the "
                        "horizon or raise the model's max_steps (dataclasses.replace(model, max_steps=...))")
    return np.asarray(solutions.ys)


def rollout(model: NeuralODE, ts: np.ndarray, y0s: np.ndarray) -> np.ndarray:
    """`model` solved in float32 from each initial state in `y0s` (sample, state) on `ts` (time,).

    Returns (sample, time, state); a failed solve is a `DataError`.
    """
    solve = jax.vmap(model.solve, in_axes=(None, 0))
    return _values_or_raise(solve(jnp.asarray(ts, jnp.float32), jnp.asarray(y0s, jnp.float32)), "rollout",
                            model.max_steps)


def generate_paths(model: NeuralSDE, ts: jax.Array, starts: jax.Array, key: jax.Array, max_steps: int) -> np.ndarray:
    """One path of `model` from each start (sample, state) on `ts` (time,), allowing `max_steps` solver steps.

    Path `i` uses the `i`-th of ``jax.random.split(key, sample)``. Returns (sample, time, state); a failed solve is a
    `DataError`.
    """
    long_model = dataclasses.replace(model, max_steps=max_steps)
    generate = jax.jit(jax.vmap(lambda y0, k: long_model.solve(ts, y0, key=k)))
    return _values_or_raise(generate(starts, jax.random.split(key, starts.shape[0])), "generate_paths", max_steps)


def ensemble_band(paths: np.ndarray, dims: tuple[str, ...], quantiles: tuple[float, float] = (0.05, 0.95)
                  ) -> dict[str, tuple]:
    """Mean, std and the `quantiles` band over the first axis of `paths` (sample, *dims), as dataset variables."""
    return {
        "prediction_mean": (dims, paths.mean(0)),
        "prediction_std": (dims, paths.std(0)),
        "prediction_lower": (dims, np.quantile(paths, quantiles[0], axis=0)),
        "prediction_upper": (dims, np.quantile(paths, quantiles[1], axis=0)),
    }


def fit_series(model: NeuralODE, data: SeriesData, train_config: TrainConfig, run: RunDir, *, window: int,
               batch_size: int) -> dict:
    """Train `model` on the trajectories of the user's file `data` (docs/tutorials/own-data.md) and score rollouts.

    The first ``data.train_fraction`` of every trajectory's times are cut into half-overlapping windows of `window`
    points, `batch_size` windows per step (fewer when there are fewer), and fitted with `trajectory_mse`; the trained
    model is then rolled out from each trajectory's first state over all its times. Writes ``predictions.nc``
    (``prediction`` and ``reference`` on (sample, t, state), ``initial_state``) and ``figures/trajectories.png``;
    returns the rel. L2 error over the training times, the later times (when there are any) and all times.
    """
    series = data.open()
    arrays = series_arrays(series)
    n_train = data.training_times(arrays["ts"].size)
    if window > n_train:
        raise ConfigError(f"window={window} points, but data.train_fraction={data.train_fraction} leaves {n_train} "
                          f"training times per trajectory; lower it (--set window={n_train}) or raise "
                          "data.train_fraction")
    pieces = windows(arrays["ts"][:n_train], arrays["values"][:, :n_train], window, stride=max(1, (window - 1) // 2),
                     mask=arrays["mask"][:, :n_train])
    result = train(model, trajectory_mse, MinibatchSampler(pieces, min(batch_size, pieces["values"].shape[0])),
                   train_config, run)
    run.save_model(result.model)
    ts, truth = series["time"].values, series["values"].values
    forecast = rollout(result.model, ts, truth[:, 0])
    dims = ("sample", "t", "state")
    field = series["values"].attrs
    coords = {"sample": series["sample"].values, "t": ("t", ts, series["time"].attrs),
              "state": ("state", series["channel"].values, {"long_name": "state component"})}
    coords.update({name: c.variable for name, c in series.coords.items() if c.dims == ("sample",) and name != "sample"})
    predictions = xr.Dataset(
        {"prediction": (dims, forecast, {**field, "long_name": f"neural ODE rollout of the {field['long_name']}"}),
         "reference": (dims, truth, field),
         "initial_state": (("sample", "state"), truth[:, 0], {**field, "long_name": "first state of each trajectory"})},
        coords=coords,
        attrs={"source_file": series.attrs["source_file"], "training_times": n_train,
               "prediction": "neural ODE rollout from each trajectory's first state over all its times"})
    run.write_predictions(predictions)
    run.save_figure(plot_series(predictions), "trajectories")
    scores = {"train_window_rel_l2": metrics.relative_l2(forecast[:, :n_train], truth[:, :n_train])}
    if n_train < ts.size:
        scores["extrapolation_rel_l2"] = metrics.relative_l2(forecast[:, n_train:], truth[:, n_train:])
    scores["full_rel_l2"] = metrics.relative_l2(forecast, truth)
    return {**scores, **fit_summary(result)}


def plot_series(predictions: xr.Dataset, trajectories: int = 4):
    """Data and rollout of every state component of the first `trajectories` trajectories; a dotted line marks the
    end of the training times."""
    n = min(trajectories, predictions.sizes["sample"])
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.4 * n), constrained_layout=True, squeeze=False)
    end = predictions["t"].values[predictions.attrs["training_times"] - 1]
    for i, ax in enumerate(axes[:, 0]):
        for j, name in enumerate(predictions["state"].values):
            ax.plot(predictions["t"], predictions["reference"][i, :, j], ".", ms=3, color=f"C{j}", label=f"{name}")
            ax.plot(predictions["t"], predictions["prediction"][i, :, j], "-", lw=1, color=f"C{j}")
        ax.axvline(end, color="grey", ls=":")
        ax.set(xlabel=predictions["t"].attrs.get("long_name", "t"), title=f"trajectory {i}: data (dots), neural ODE")
    axes[0, 0].legend(loc="upper right")
    return fig
