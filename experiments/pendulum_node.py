"""Damped pendulum learned by a neural ODE from noisy observations, then extrapolated past the training window.

theta'' = -omega^2 sin(theta) - c theta'. A neural ODE on the state (theta, theta') is trained on windows cut from
trajectories observed on [0, T] (windowed training keeps each rollout short while the model is untrained), then
rolled out from the initial states to 2T and compared with the exact solution on both halves.
"""

from __future__ import annotations

import dataclasses

import diffrax
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import metrics
from sciml.data import MinibatchSampler, series_arrays, series_dataset, windows
from sciml.dynamics import MLPVectorField, NeuralODE, trajectory_mse
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.dynamics import rollout

NAME = "pendulum-node"
STATE = ("theta", "omega")
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_trajectories": 2, "n_observations": 21, "width": 16,
         "batch_size": 8}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=4000, learning_rate=3e-3, schedule="cosine", final_fraction=0.05, chunk=250)
    omega0: float = 2.0
    damping: float = 0.15
    n_trajectories: int = 8
    horizon: float = 10.0
    n_observations: int = 101
    noise: float = 0.01
    window: int = 11
    width: int = 64
    depth: int = 2
    batch_size: int = 64


def exact(config: Config, ts: np.ndarray, y0s: np.ndarray) -> np.ndarray:
    """The true pendulum solved to 1e-9 tolerances in float64: (trajectory, time, 2)."""

    def field(t, y, args):
        return jnp.stack([y[1], -config.omega0**2 * jnp.sin(y[0]) - config.damping * y[1]])

    with jax.enable_x64(True):
        def solve(y0):
            return diffrax.diffeqsolve(
                diffrax.ODETerm(field), diffrax.Tsit5(), ts[0], ts[-1], None, y0, saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-9), max_steps=100_000).ys

        return np.asarray(jax.vmap(solve)(jnp.asarray(y0s, jnp.float64)))


def model_like(config: Config) -> NeuralODE:
    """The untrained neural ODE of `config` (the structure `sciml.load` fills with the saved weights)."""
    return NeuralODE(MLPVectorField(2, config.width, config.depth, key=config.train.key(0)))


def predict(model: NeuralODE, config: Config, inputs) -> xr.Dataset:
    """Rollouts of `model` from initial states.

    `inputs`: a dataset with `initial_state` (sample, state) and times `t` (e.g. the run's `predictions.nc`), or an
    array of initial states (sample, 2) of (theta, omega), then rolled out on [0, 2 * horizon] as in `main`.
    Returns `prediction` (sample, t, state) and `initial_state`.
    """
    if isinstance(inputs, xr.Dataset):
        y0s, ts = inputs["initial_state"].values, inputs["t"].values
    else:
        y0s = np.asarray(inputs, dtype=np.float64).reshape(-1, 2)
        ts = np.linspace(0.0, 2 * config.horizon, 2 * (config.n_observations - 1) + 1)
    return xr.Dataset(
        {"prediction": (("sample", "t", "state"), rollout(model, ts, y0s)),
         "initial_state": (("sample", "state"), y0s)},
        coords={"sample": np.arange(len(y0s)), "t": ts, "state": list(STATE)},
    )


def main(config: Config, run: RunDir) -> dict:
    rng = np.random.default_rng(config.train.seed)
    y0s = np.stack([rng.uniform(-2.0, 2.0, config.n_trajectories), rng.uniform(-1.0, 1.0, config.n_trajectories)], 1)
    dense_t = np.linspace(0.0, 2 * config.horizon, 2 * (config.n_observations - 1) + 1)
    truth = exact(config, dense_t, y0s)
    obs_t = dense_t[: config.n_observations]
    noisy = truth[:, : config.n_observations] + config.noise * rng.standard_normal((config.n_trajectories,
                                                                                   config.n_observations, 2))
    arrays = series_arrays(series_dataset(obs_t, noisy, STATE, attrs={"system": "damped pendulum"}))
    pieces = windows(arrays["ts"], arrays["values"], config.window, stride=(config.window - 1) // 2,
                     mask=arrays["mask"])
    sampler = MinibatchSampler(pieces, min(config.batch_size, pieces["values"].shape[0]))
    result = train(model_like(config), trajectory_mse, sampler, config.train, run)
    run.save_model(result.model)
    predictions = predict(result.model, config, y0s)
    prediction = predictions.prediction.values
    seen = dense_t <= config.horizon
    predictions = predictions.assign(
        reference=(("sample", "t", "state"), truth), observations=(("sample", "t_obs", "state"), noisy),
    ).assign_coords(t_obs=obs_t)
    predictions.attrs = {"system": "damped pendulum", "omega0": config.omega0, "damping": config.damping,
                         "training_horizon": config.horizon,
                         "prediction": "neural ODE rollout from the true initial states (initial_state)"}
    run.write_predictions(predictions)
    plot(predictions, run)
    return {
        "train_window_rel_l2": metrics.relative_l2(prediction[:, seen], truth[:, seen]),
        "extrapolation_rel_l2": metrics.relative_l2(prediction[:, ~seen], truth[:, ~seen]),
        "full_rel_l2": metrics.relative_l2(prediction, truth),
        **fit_summary(result),
    }


def plot(predictions: xr.Dataset, run: RunDir) -> None:
    """Angle over time (truth, data, rollout) for four trajectories, and the phase portrait."""
    horizon = predictions.attrs["training_horizon"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 6), constrained_layout=True)
    for i, ax in zip(range(predictions.sizes["sample"]), axes.ravel(), strict=False):
        ax.plot(predictions.t, predictions.reference[i, :, 0], "k", lw=1, label="exact")
        ax.plot(predictions.t_obs, predictions.observations[i, :, 0], ".", ms=2, color="grey", label="data")
        ax.plot(predictions.t, predictions.prediction[i, :, 0], "--", color="tab:red", lw=1, label="neural ODE")
        ax.axvline(horizon, color="grey", ls=":")
        ax.set(xlabel="t", ylabel="theta", title=f"trajectory {i} (dotted line: end of training data)")
    axes[0, 0].legend()
    run.save_figure(fig, "trajectories")
    fig, ax = plt.subplots(figsize=(5, 5), constrained_layout=True)
    for i in range(predictions.sizes["sample"]):
        ax.plot(predictions.reference[i, :, 0], predictions.reference[i, :, 1], "k", lw=0.6)
        ax.plot(predictions.prediction[i, :, 0], predictions.prediction[i, :, 1], "--", color="tab:red", lw=0.6)
    ax.set(xlabel="theta", ylabel="omega", title="phase portrait: exact (black), neural ODE (red)")
    run.save_figure(fig, "phase_portrait")
