"""Damped pendulum learned by a neural ODE from noisy observations, then extrapolated past the training window.

theta'' = -omega^2 sin(theta) - c theta'. A neural ODE on the state (theta, theta') is trained on windows cut from
trajectories observed on [0, T] (windowed training keeps each rollout short while the model is untrained), then
rolled out from the initial states to 2T and compared with the exact solution on both halves.
`--set data.path=FILE` (and the roles `data.dims.*`, `data.variables.states`) trains the same neural ODE on
trajectories of your own instead (docs/tutorials/own-data.md).
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
from sciml.data import MinibatchSampler, SeriesData, series_arrays, series_dataset, windows, with_cf_attributes
from sciml.dynamics import MLPVectorField, NeuralODE, trajectory_mse
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.dynamics import fit_series, rollout

NAME = "pendulum-node"
FAMILY = "neural-de"
REPRODUCES = "-"
STATE = ("theta", "omega")
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_trajectories": 2, "n_observations": 21, "width": 16,
         "batch_size": 8}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=4000, learning_rate=3e-3, schedule="cosine", final_fraction=0.05, chunk=250)
    omega0: float = 2.0
    """Natural frequency omega of the true pendulum (rad per time unit)."""
    damping: float = 0.15
    """Damping coefficient c of the true pendulum."""
    n_trajectories: int = 8
    """Observed trajectories, from random initial states."""
    horizon: float = 10.0
    """Training window [0, T] of the observations; the rollout is scored up to 2T."""
    n_observations: int = 101
    """Observation times per trajectory, uniform over [0, T]."""
    noise: float = 0.01
    """Standard deviation of the Gaussian noise added to the observations."""
    window: int = 11
    """Observations per training window (windows overlap by half)."""
    width: int = 64
    """Hidden units per layer of the vector-field MLP."""
    depth: int = 2
    """Hidden layers of the vector-field MLP."""
    batch_size: int = 64
    """Windows per training batch."""
    data: SeriesData = SeriesData()
    """Trajectories of your own in place of the simulated pendulum (docs/tutorials/own-data.md; empty path: none)."""


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
    """The untrained neural ODE of `config` (the structure `sciml.load` fills with the saved weights): on the
    pendulum's 2 states, or on the state components of the file in `config.data`."""
    states = config.data.open().sizes["channel"] if config.data.path else len(STATE)
    return NeuralODE(MLPVectorField(states, config.width, config.depth, key=config.train.key(0)))


def predict(model: NeuralODE, config: Config, inputs) -> xr.Dataset:
    """Rollouts of `model` from initial states.

    `inputs`: a dataset with `initial_state` (sample, state) and times `t` (e.g. the run's `predictions.nc`), or an
    array of initial states (sample, 2) of (theta, omega), then rolled out on [0, 2 * horizon] as in `main` (with
    `config.data` set: states (sample, channel) rolled out on the file's times).
    Returns `prediction` (sample, t, state) and `initial_state`.
    """
    names = list(STATE)
    if isinstance(inputs, xr.Dataset):
        y0s, ts = inputs["initial_state"].values, inputs["t"].values
        names = list(inputs["state"].values) if "state" in inputs.coords else names
    elif config.data.path:
        series = config.data.open()
        ts, names = series["time"].values, list(series["channel"].values)
        y0s = np.asarray(inputs, dtype=np.float64).reshape(-1, len(names))
    else:
        y0s = np.asarray(inputs, dtype=np.float64).reshape(-1, 2)
        ts = np.linspace(0.0, 2 * config.horizon, 2 * (config.n_observations - 1) + 1)
    return xr.Dataset(
        {"prediction": (("sample", "t", "state"), rollout(model, ts, y0s)),
         "initial_state": (("sample", "state"), y0s)},
        coords={"sample": np.arange(len(y0s)), "t": ts, "state": names},
    )


def main(config: Config, run: RunDir) -> dict:
    if config.data.path:
        return fit_series(model_like(config), config.data, config.train, run, window=config.window,
                          batch_size=config.batch_size)
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
    state = {"units": "1"}  # angle in radians, angular velocity per unit of nondimensional time
    run.write_predictions(with_cf_attributes(predictions, {
        "prediction": {"long_name": "neural ODE rollout of the pendulum state", **state},
        "initial_state": {"long_name": "initial pendulum state", **state},
        "reference": {"long_name": "exact pendulum state", **state},
        "observations": {"long_name": "observed noisy pendulum state", **state},
        "t_obs": {"long_name": "observation time (nondimensional)", "units": "1"},
        "state": {"long_name": "state component (theta: angle, omega: angular velocity)"}}))
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
