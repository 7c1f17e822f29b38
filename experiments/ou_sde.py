"""Ornstein-Uhlenbeck process learned by a neural SDE (drift and diffusion MLPs) trained generatively (energy score).

dX = theta (mu - X) dt + sigma dW. Training data are short stationary paths, cut into windows one correlation time
long; the model generates several paths from each window's first value and is scored against the observed window
(energy score: a proper scoring rule for the transition law). The learned SDE is then run far past the training
window from stationary starts and its stationary mean, variance and autocorrelation at the stated lags are compared
with the exact values mu, sigma^2 / (2 theta) and exp(-theta * lag).
"""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml.data import MinibatchSampler, series_arrays, series_dataset, windows, with_cf_attributes
from sciml.dynamics import (
    NeuralSDE,
    sde_energy_loss,
    stationary_standard_errors,
    stationary_statistics,
)
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.dynamics import diagonal_sde, ensemble_band, generate_paths, published_sde_keys

NAME = "ou-sde"
FAMILY = "neural-de"
REPRODUCES = "-"
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_paths": 64, "width": 16, "batch_size": 16, "samples_per_window": 2,
         "eval_paths": 50, "eval_horizon": 8.0, "burn_in": 2.0}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=3000, learning_rate=3e-3, schedule="cosine", final_fraction=0.01, chunk=250)
    theta: float = 1.0
    """Mean-reversion rate theta of the true process."""
    mu: float = 1.0
    """Long-term mean mu of the true process."""
    sigma: float = 0.5
    """Noise amplitude sigma of the true process."""
    n_paths: int = 4096
    """Stationary training paths."""
    train_horizon: float = 3.0
    """Time span of each training path."""
    obs_dt: float = 0.1
    """Time between observations (training data and generated paths)."""
    window: float = 1.0
    """Length of each training window in time units (one correlation time by default)."""
    window_stride: int = 5
    """Observations between the starts of consecutive training windows."""
    dt0: float = 0.05
    """Step of the SDE solver."""
    width: int = 32
    """Hidden units per layer of the drift and diffusion MLPs."""
    depth: int = 2
    """Hidden layers of the drift and diffusion MLPs."""
    batch_size: int = 64
    """Windows per training batch."""
    samples_per_window: int = 8
    """Paths generated from each window's first value for its energy score."""
    eval_paths: int = 1000
    """Paths generated (and exact reference paths drawn) for the stationary statistics."""
    eval_horizon: float = 30.0
    """Time span of the evaluation paths, far past the training window."""
    burn_in: float = 5.0
    """Initial time of each evaluation path left out of the stationary statistics."""
    lags: tuple = (0.5, 1.0, 2.0)
    """Time lags at which the autocorrelation is compared with exp(-theta lag)."""


def exact_paths(config: Config, n: int, horizon: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary OU paths on a grid of step `obs_dt`, from the exact Gaussian transition: (n, time, 1)."""
    steps = int(round(horizon / config.obs_dt))
    decay = np.exp(-config.theta * config.obs_dt)
    stationary_std = config.sigma / np.sqrt(2 * config.theta)
    x = config.mu + stationary_std * rng.standard_normal(n)
    out = [x]
    for _ in range(steps):
        x = config.mu + (x - config.mu) * decay + stationary_std * np.sqrt(1 - decay**2) * rng.standard_normal(n)
        out.append(x)
    return np.stack(out, axis=1)[:, :, None]


def model_like(config: Config) -> NeuralSDE:
    """The untrained neural SDE of `config`, its step budget sized for one training window."""
    return diagonal_sde(1, config.width, config.depth, seed=config.train.seed, dt0=config.dt0,
                        max_steps=int(np.ceil(config.window / config.dt0 - 1e-9)))


def predict(model: NeuralSDE, config: Config, inputs) -> xr.Dataset:
    """One path of `model` per start, with `main`'s evaluation key (path `i` uses the `i`-th split of it).

    `inputs`: a dataset with `initial_state` (sample,) and times `t` starting at 0 (e.g. the run's `predictions.nc`),
    or an array of starts (sample,), then run on [0, eval_horizon] with step `obs_dt`. Returns `prediction`
    (sample, t), `initial_state` and the ensemble's mean, std and 90% band over samples.
    """
    if isinstance(inputs, xr.Dataset):
        starts, ts = inputs["initial_state"].values, inputs["t"].values
    else:
        starts = np.asarray(inputs, dtype=np.float32).reshape(-1)
        ts = config.obs_dt * np.arange(int(round(config.eval_horizon / config.obs_dt)) + 1)
    steps = int(np.ceil((ts[-1] - ts[0]) / config.dt0 - 1e-6))  # as main: eval_horizon / dt0 steps
    paths = generate_paths(model, jnp.asarray(ts, jnp.float32), jnp.asarray(starts, jnp.float32)[:, None],
                           published_sde_keys(config.train.seed)[3], steps)[:, :, 0]
    return xr.Dataset({"prediction": (("sample", "t"), paths), "initial_state": (("sample",), starts),
                       **ensemble_band(paths, ("t",))},
                      coords={"sample": np.arange(len(starts)), "t": ts}, attrs={"interval_level": 0.9})


def main(config: Config, run: RunDir) -> dict:
    rng = np.random.default_rng(config.train.seed)
    train_t = config.obs_dt * np.arange(int(round(config.train_horizon / config.obs_dt)) + 1)
    data = series_dataset(train_t, exact_paths(config, config.n_paths, config.train_horizon, rng), ["x"],
                          attrs={"process": "Ornstein-Uhlenbeck", "theta": config.theta, "mu": config.mu,
                                 "sigma": config.sigma})
    arrays = series_arrays(data)
    length = int(round(config.window / config.obs_dt)) + 1
    cut = windows(arrays["ts"], arrays["values"], length, config.window_stride)
    model = model_like(config)
    # The process is autonomous: every window is solved on the same relative times.
    sampler = MinibatchSampler({"ts": arrays["ts"][:length], "values": cut["values"]}, config.batch_size,
                               shared=("ts",))
    result = train(model, functools.partial(sde_energy_loss, samples=config.samples_per_window), sampler,
                   config.train, run, key=published_sde_keys(config.train.seed)[2])
    run.save_model(result.model)

    eval_t = config.obs_dt * np.arange(int(round(config.eval_horizon / config.obs_dt)) + 1)
    reference = exact_paths(config, config.eval_paths, config.eval_horizon, rng)
    starts = arrays["values"][rng.integers(0, config.n_paths, config.eval_paths), 0, 0]
    ensemble = predict(result.model, config, starts)
    generated = ensemble.prediction.values[:, :, None]
    kept = eval_t >= config.burn_in
    learned = stationary_statistics(generated[:, kept], config.obs_dt, config.lags)
    errors = stationary_standard_errors(generated[:, kept], config.obs_dt, config.lags)
    empirical = stationary_statistics(reference[:, kept], config.obs_dt, config.lags)
    exact = {"mean": config.mu, "variance": config.sigma**2 / (2 * config.theta),
             "autocorrelation": np.exp(-config.theta * np.asarray(config.lags))}
    predictions = ensemble.assign(reference=(("sample", "t"), reference[:, :, 0]))
    predictions.attrs.update({
        "process": "Ornstein-Uhlenbeck", "theta": config.theta, "mu": config.mu, "sigma": config.sigma,
        "burn_in": config.burn_in, "train_horizon": config.train_horizon,
        "reference": "independent exact OU paths (not the training paths)", "obs_dt": config.obs_dt,
        "lags": list(config.lags)})
    process = {"units": "1"}
    run.write_predictions(with_cf_attributes(predictions, {
        "prediction": {"long_name": "neural SDE sample path x", **process},
        "initial_state": {"long_name": "initial state x", **process},
        "reference": {"long_name": "exact Ornstein-Uhlenbeck path x", **process}}))
    plot(predictions, learned, empirical, exact, config, run)
    summary = {
        "stationary_mean": float(learned["mean"][0]),
        "stationary_variance": float(learned["variance"][0]),
        "mean_rel_error": float(abs(learned["mean"][0] - exact["mean"]) / abs(exact["mean"])),
        "variance_rel_error": float(abs(learned["variance"][0] - exact["variance"]) / exact["variance"]),
        "exact_mean": exact["mean"],
        "exact_variance": exact["variance"],
        "reference_sample_variance_rel_error": float(abs(empirical["variance"][0] - exact["variance"])
                                                     / exact["variance"]),
        "mean_standard_error": float(errors["mean"][0]),
        "variance_standard_error": float(errors["variance"][0]),
        "final_energy_score": result.history[-1]["energy_score"],
        **fit_summary(result),
    }
    for lag, value, truth in zip(config.lags, learned["autocorrelation"][:, 0], exact["autocorrelation"], strict=True):
        summary[f"autocorrelation_lag_{lag:g}"] = float(value)
        summary[f"autocorrelation_abs_error_lag_{lag:g}"] = float(abs(value - truth))
    summary["autocorrelation_standard_error_max"] = float(errors["autocorrelation"].max())
    return summary


def plot(predictions, learned, empirical, exact, config, run: RunDir) -> None:
    """Sample paths with the 90% band, and the autocorrelation function learned vs exact."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
    t = predictions.t.values
    ax = axes[0]
    for i in range(5):
        ax.plot(t, predictions.prediction[i], lw=0.7, color="tab:blue", alpha=0.7)
        ax.plot(t, predictions.reference[i], lw=0.7, color="k", alpha=0.5)
    ax.fill_between(t, predictions.prediction_lower, predictions.prediction_upper, color="tab:blue", alpha=0.15,
                    label="learned 90% band")
    ax.plot(t, predictions.prediction_mean, color="tab:blue", label="learned mean")
    std = config.sigma / np.sqrt(2 * config.theta)
    ax.axhline(config.mu, color="k", ls="--", label="exact mean")
    ax.axhspan(config.mu - 1.645 * std, config.mu + 1.645 * std, color="k", alpha=0.07, label="exact 90% band")
    ax.axvline(config.train_horizon, color="grey", ls=":")
    ax.set(xlabel="t", ylabel="x", title="paths: learned (blue), exact (black)")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    lags = np.arange(1, int(3 / config.obs_dt)) * config.obs_dt
    kept = predictions.t.values >= config.burn_in
    ax.plot(lags, stationary_statistics(predictions.prediction.values[:, kept, None], config.obs_dt, lags)
            ["autocorrelation"][:, 0], label="learned SDE")
    ax.plot(lags, np.exp(-config.theta * lags), "k--", label="exact exp(-theta lag)")
    ax.plot(config.lags, learned["autocorrelation"][:, 0], "o", color="tab:blue")
    ax.set(xlabel="lag", ylabel="autocorrelation", title="stationary autocorrelation")
    ax.legend()
    run.save_figure(fig, "paths_and_autocorrelation")
