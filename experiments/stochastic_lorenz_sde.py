"""Stochastic Lorenz attractor learned by a neural SDE trained generatively (energy score of the transition law).

dX = (s (y - x), x (r - z) - y, x y - b z) dt + (0.1 x, 0.28 y, 0.3 z) dW (Ito; Li et al. 2020, section 7.2).
Training data are long paths on the attractor cut into short windows (state normalised by the data's mean and standard
deviation, time measured in units of `time_scale`); the model generates several paths from each window's first value
and is scored against the observed window. The learned SDE is then run far past the window length from attractor
states, and its stationary mean, variance and autocorrelation at the stated lags are compared with an independent
Euler-Maruyama ensemble of the true system.
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
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

NAME = "stochastic-lorenz-sde"
FAMILY = "neural-de"
REPRODUCES = "Li et al. (AISTATS 2020) section 7.2: the stochastic Lorenz attractor learned by a neural SDE"
CHANNELS = ("x", "y", "z")
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_paths": 16, "train_horizon": 2.0, "width": 16, "batch_size": 16,
         "samples_per_window": 2, "eval_paths": 20, "eval_horizon": 3.0, "burn_in": 1.0}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=3000, learning_rate=3e-3, schedule="cosine", final_fraction=0.1, chunk=250)
    s: float = 10.0
    """Lorenz parameter sigma (here s) of the true drift."""
    r: float = 28.0
    """Lorenz parameter rho (here r) of the true drift."""
    b: float = 8.0 / 3.0
    """Lorenz parameter beta (here b) of the true drift."""
    noise: tuple = (0.1, 0.28, 0.3)
    """Multiplicative noise per component (x, y, z) of the true system: diffusion = noise * state."""
    n_paths: int = 256
    """Training paths started on the attractor."""
    train_horizon: float = 20.0
    """Time span of each training path."""
    window: float = 0.5
    """Length of each training window in time units."""
    window_stride: int = 2
    """Observations between the starts of consecutive training windows."""
    obs_dt: float = 0.05
    """Time between observations (training data and generated paths)."""
    sim_dt: float = 0.001
    """Euler-Maruyama step of the true system's simulations."""
    time_scale: float = 0.1
    """Time unit of the model: model time = physical time / time_scale."""
    dt0: float = 0.025
    """Step of the SDE solver in physical time units."""
    width: int = 64
    """Hidden units per layer of the drift and diffusion MLPs."""
    depth: int = 2
    """Hidden layers of the drift and diffusion MLPs."""
    batch_size: int = 64
    """Windows per training batch."""
    samples_per_window: int = 4
    """Paths generated from each window's first value for its energy score."""
    eval_paths: int = 1024
    """Paths generated (and reference paths simulated) for the stationary statistics."""
    eval_horizon: float = 20.0
    """Time span of the evaluation paths."""
    burn_in: float = 2.0
    """Initial time of each evaluation path left out of the stationary statistics."""
    lags: tuple = (0.1, 0.2, 0.5)
    """Time lags at which the autocorrelations are compared."""


def simulate(config: Config, starts: np.ndarray, horizon: float, rng: np.random.Generator) -> np.ndarray:
    """Euler-Maruyama paths of the true system with step `sim_dt`, saved every `obs_dt`: (n, time, 3)."""
    per_obs = int(round(config.obs_dt / config.sim_dt))
    noise = np.asarray(config.noise)
    state = np.array(starts, dtype=np.float64)
    out = [state.copy()]
    for _ in range(int(round(horizon / config.obs_dt))):
        for _ in range(per_obs):
            x, y, z = state[:, 0], state[:, 1], state[:, 2]
            drift = np.stack([config.s * (y - x), x * (config.r - z) - y, x * y - config.b * z], axis=1)
            state = state + drift * config.sim_dt + noise * state * np.sqrt(config.sim_dt) * rng.standard_normal(
                state.shape)
        out.append(state.copy())
    return np.stack(out, axis=1)


def attractor_states(config: Config, n: int, rng: np.random.Generator) -> np.ndarray:
    """States on the attractor: random starts run through a burn-in of 5 time units."""
    starts = rng.normal([0.0, 0.0, 25.0], [8.0, 8.0, 8.0], size=(n, 3))
    return simulate(config, starts, 5.0, rng)[:, -1]


class NormalisedSDE(eqx.Module):
    """The trained SDE with the data's normalisation: the state in physical units is `model_state * scale + shift`."""

    model: NeuralSDE
    shift: np.ndarray  # (3,)
    scale: np.ndarray  # (3,)


def _sde(config: Config) -> NeuralSDE:
    return diagonal_sde(3, config.width, config.depth, seed=config.train.seed, dt0=config.dt0 / config.time_scale,
                        max_steps=int(np.ceil(config.window / config.dt0 - 1e-9)))


def model_like(config: Config) -> NormalisedSDE:
    """The untrained SDE (model time = physical time / time_scale) with identity normalisation (shift 0, scale 1):
    the structure that `sciml.load` fills with the saved weights and statistics."""
    return NormalisedSDE(_sde(config), np.zeros(3), np.ones(3))


def predict(model: NormalisedSDE, config: Config, inputs) -> xr.Dataset:
    """One path of the learned SDE per start, with `main`'s evaluation key (path `i` uses the `i`-th split of it).

    `inputs`: a dataset with `initial_state` (sample, channel) in physical units and times `t` starting at 0 (e.g. the
    run's `predictions.nc`), or an array of starts (sample, 3), then run on [0, eval_horizon] with step `obs_dt`.
    Returns `prediction` (sample, t, channel), `initial_state` and the ensemble's mean, std and 90% band.
    """
    if isinstance(inputs, xr.Dataset):
        starts, ts = inputs["initial_state"].values, inputs["t"].values
    else:
        starts = np.asarray(inputs, dtype=np.float64).reshape(-1, 3)
        ts = config.obs_dt * np.arange(int(round(config.eval_horizon / config.obs_dt)) + 1)
    steps = int(np.ceil((ts[-1] - ts[0]) / config.dt0 - 1e-6))  # as main: eval_horizon / dt0 steps
    normalised = jnp.asarray((starts - model.shift) / model.scale, jnp.float32)
    paths = generate_paths(model.model, jnp.asarray(ts / config.time_scale, jnp.float32), normalised,
                           published_sde_keys(config.train.seed)[3], steps) * model.scale + model.shift
    return xr.Dataset({"prediction": (("sample", "t", "channel"), paths),
                       "initial_state": (("sample", "channel"), starts), **ensemble_band(paths, ("t", "channel"))},
                      coords={"sample": np.arange(len(starts)), "t": ts, "channel": list(CHANNELS)},
                      attrs={"interval_level": 0.9})


def main(config: Config, run: RunDir) -> dict:
    rng = np.random.default_rng(config.train.seed)
    paths = simulate(config, attractor_states(config, config.n_paths, rng), config.train_horizon, rng)
    shift, scale = paths.mean(axis=(0, 1)), paths.std(axis=(0, 1))
    path_t = config.obs_dt * np.arange(paths.shape[1])
    data = series_dataset(path_t, (paths - shift) / scale, CHANNELS,
                          attrs={"system": "stochastic Lorenz", "normalisation_shift": shift.tolist(),
                                 "normalisation_scale": scale.tolist(), "time_scale": config.time_scale})
    arrays = series_arrays(data)
    length = int(round(config.window / config.obs_dt)) + 1
    cut = windows(arrays["ts"], arrays["values"], length, config.window_stride)
    model = _sde(config)  # model time = physical time / time_scale
    # Autonomous system: every window is solved on the same relative (model) times.
    sampler = MinibatchSampler({"ts": arrays["ts"][:length] / config.time_scale, "values": cut["values"]},
                               config.batch_size, shared=("ts",))
    result = train(model, functools.partial(sde_energy_loss, samples=config.samples_per_window), sampler,
                   config.train, run, key=published_sde_keys(config.train.seed)[2])
    trained = NormalisedSDE(result.model, shift, scale)
    run.save_model(trained)

    eval_t = config.obs_dt * np.arange(int(round(config.eval_horizon / config.obs_dt)) + 1)
    starts = attractor_states(config, config.eval_paths, rng)
    reference = simulate(config, starts, config.eval_horizon, rng)
    ensemble = predict(trained, config, starts)
    generated = ensemble.prediction.values
    kept = eval_t >= config.burn_in
    learned = stationary_statistics(generated[:, kept], config.obs_dt, config.lags)
    truth = stationary_statistics(reference[:, kept], config.obs_dt, config.lags)
    learned_se = stationary_standard_errors(generated[:, kept], config.obs_dt, config.lags)
    truth_se = stationary_standard_errors(reference[:, kept], config.obs_dt, config.lags)
    predictions = ensemble.assign(reference=(("sample", "t", "channel"), reference))
    predictions.attrs.update({
        "system": "stochastic Lorenz", "burn_in": config.burn_in, "train_window": config.window,
        "obs_dt": config.obs_dt, "lags": list(config.lags),
        "reference": "independent Euler-Maruyama ensemble of the true SDE from the same attractor states"})
    state = {"units": "1"}
    run.write_predictions(with_cf_attributes(predictions, {
        "prediction": {"long_name": "neural SDE sample path", **state},
        "initial_state": {"long_name": "initial state", **state},
        "reference": {"long_name": "stochastic Lorenz path (Euler-Maruyama)", **state}}))
    plot(predictions, learned, truth, config, run)
    summary = {"final_energy_score": result.history[-1]["energy_score"], **fit_summary(result)}
    std = np.sqrt(truth["variance"])
    for c, name in enumerate(CHANNELS):
        summary[f"mean_{name}"] = float(learned["mean"][c])
        summary[f"reference_mean_{name}"] = float(truth["mean"][c])
        summary[f"mean_error_over_std_{name}"] = float(abs(learned["mean"][c] - truth["mean"][c]) / std[c])
        summary[f"variance_rel_error_{name}"] = float(abs(learned["variance"][c] - truth["variance"][c])
                                                      / truth["variance"][c])
        # Noise of the comparison itself: both ensembles' standard errors, combined.
        summary[f"variance_rel_standard_error_{name}"] = float(
            np.hypot(learned_se["variance"][c], truth_se["variance"][c]) / truth["variance"][c])
        for i, lag in enumerate(config.lags):
            summary[f"autocorrelation_abs_error_{name}_lag_{lag:g}"] = float(
                abs(learned["autocorrelation"][i, c] - truth["autocorrelation"][i, c]))
    summary["mean_rel_error_z"] = float(abs(learned["mean"][2] - truth["mean"][2]) / abs(truth["mean"][2]))
    summary["autocorrelation_standard_error_max"] = float(
        np.hypot(learned_se["autocorrelation"], truth_se["autocorrelation"]).max())
    return summary


def plot(predictions, learned, truth, config, run: RunDir) -> None:
    """Attractor projections (learned vs true), a coordinate's band over time, and autocorrelations."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), constrained_layout=True)
    kept = predictions.t.values >= config.burn_in
    for name, data, color in (("true", predictions.reference, "k"), ("learned", predictions.prediction, "tab:red")):
        axes[0].plot(data.values[:3, kept, 0].T, data.values[:3, kept, 2].T, lw=0.4, color=color, alpha=0.7)
        axes[0].plot([], [], color=color, label=name)
    axes[0].set(xlabel="x", ylabel="z", title="attractor (x, z)")
    axes[0].legend()
    t = predictions.t.values
    axes[1].fill_between(t, predictions.prediction_lower[:, 2], predictions.prediction_upper[:, 2], alpha=0.2,
                         color="tab:red", label="learned 90% band")
    axes[1].plot(t, np.quantile(predictions.reference[:, :, 2], 0.05, axis=0), "k--", lw=0.8, label="true 5-95%")
    axes[1].plot(t, np.quantile(predictions.reference[:, :, 2], 0.95, axis=0), "k--", lw=0.8)
    axes[1].set(xlabel="t", ylabel="z", title="z: ensemble band")
    axes[1].legend(fontsize=8)
    lags = np.arange(1, 21) * config.obs_dt
    learned_acf = stationary_statistics(predictions.prediction.values[:, kept], config.obs_dt, lags)["autocorrelation"]
    true_acf = stationary_statistics(predictions.reference.values[:, kept], config.obs_dt, lags)["autocorrelation"]
    for c, (name, color) in enumerate(zip(CHANNELS, ("tab:blue", "tab:green", "tab:orange"), strict=True)):
        axes[2].plot(lags, learned_acf[:, c], color=color, label=f"{name} learned")
        axes[2].plot(lags, true_acf[:, c], "--", color=color, label=f"{name} true")
    axes[2].set(xlabel="lag", ylabel="autocorrelation", title="stationary autocorrelation")
    axes[2].legend(fontsize=7, ncol=2)
    run.save_figure(fig, "attractor_and_statistics")
