"""Latent ODE interpolates irregularly sampled 2-D decaying oscillators (30% of each series' points observed).

Each series solves y' = [[-a, w], [-w, -a]] y with random decay a, frequency w and start; 70% of the time points
(after the first) are hidden at random and 2% noise is added to the rest. A latent ODE (GRU-dt encoder, latent neural
ODE, linear decoder; ELBO) reads the observed points and reconstructs the whole series; scored by the error on the
hidden points of test series, next to linear interpolation between observed points.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml.data import MinibatchSampler, drop_observations, series_arrays, series_dataset, with_cf_attributes
from sciml.dynamics import LatentODE, elbo_loss
from sciml.studies import RunDir, TrainConfig, fit_summary, train

NAME = "latent-ode-interp"
FAMILY = "neural-de"
REPRODUCES = "Latent ODE (Rubanova et al., NeurIPS 2019), as diffrax's example: irregular decaying oscillators"
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_train": 64, "n_test": 8, "latent_size": 2, "hidden_size": 8,
         "width": 16, "batch_size": 16, "posterior_samples": 4}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=5000, learning_rate=3e-3, schedule="cosine", final_fraction=0.05, chunk=500)
    n_train: int = 2048
    """Training series."""
    n_test: int = 64
    """Test series the interpolation is scored on."""
    length: int = 40
    """Time points per series, uniform over [0, t1]."""
    t1: float = 5.0
    """End time of every series."""
    observed_fraction: float = 0.3
    """Share of each series' points (after the first) that the model sees; the rest are scored."""
    noise: float = 0.02
    """Standard deviation of the Gaussian noise added to the observed values."""
    latent_size: int = 4
    """Size of the latent state z."""
    hidden_size: int = 32
    """Size of the GRU-dt encoder's hidden state."""
    width: int = 32
    """Hidden units per layer of the latent vector-field MLP."""
    depth: int = 2
    """Hidden layers of the latent vector-field MLP."""
    obs_std: float = 0.05
    """Observation noise standard deviation of the ELBO's Gaussian likelihood."""
    batch_size: int = 64
    """Series per training batch."""
    posterior_samples: int = 32
    """Draws of z0 from the encoder's posterior for the prediction and its interval."""


def oscillators(n: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact solutions of decaying linear oscillators: (n, time, 2)."""
    a = rng.uniform(0.1, 0.5, (n, 1))
    w = rng.uniform(1.0, 2.0, (n, 1))
    radius = rng.uniform(0.5, 1.5, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    angle = phase - w * t[None]
    return np.stack([radius * np.exp(-a * t[None]) * np.cos(angle), radius * np.exp(-a * t[None]) * np.sin(angle)],
                    axis=-1)


def linear_interpolation(t, values, mask):
    """Per series and channel, linear interpolation between observed points (the baseline)."""
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        for c in range(values.shape[2]):
            seen = mask[i, :, c]
            out[i, :, c] = np.interp(t, t[seen], values[i, seen, c])
    return out


def model_like(config: Config) -> LatentODE:
    """The untrained latent ODE of `config`."""
    return LatentODE(2, config.latent_size, config.hidden_size, config.width, config.depth, config.obs_std,
                     key=config.train.key(0))


@eqx.filter_jit
def _posterior(model: LatentODE, ts, values, mask, keys):
    """Decoded paths for each series (sample, time, channel): one per key of `keys` (posterior samples of z0), and
    the one of the posterior mean."""
    one = lambda v, m: jax.vmap(lambda k: model(ts, v, m, ts, key=k))(keys)  # noqa: E731
    return jax.vmap(one)(values, mask), jax.vmap(lambda v, m: model(ts, v, m, ts))(values, mask)


def predict(model: LatentODE, config: Config, inputs) -> xr.Dataset:
    """The series reconstructed from their observed points on their own times.

    `inputs`: a dataset with `observations` (sample, t, channel), NaN where not observed (e.g. the run's
    `predictions.nc`), or a time-series dataset (`sciml.data.series_dataset`, channels y1 and y2); the first time
    of each series must be observed. Returns `prediction` (sample, t, channel), the decoded posterior-mean path,
    and the spread over `posterior_samples` samples of z0 (`prediction_std`, 90% `prediction_lower`/`_upper`) drawn
    with `main`'s key.
    """
    if "observations" in inputs:
        inputs = series_dataset(inputs["t"].values, inputs["observations"].values, ["y1", "y2"])
    arrays = series_arrays(inputs)
    keys = jax.random.split(config.train.key(2), config.posterior_samples)
    samples, mean_path = (np.asarray(x) for x in _posterior(model, jnp.asarray(arrays["ts"]),
                                                            jnp.asarray(np.nan_to_num(arrays["values"])),
                                                            jnp.asarray(arrays["mask"]), keys))
    dims = ("sample", "t", "channel")
    return xr.Dataset(
        {"prediction": (dims, mean_path), "prediction_std": (dims, samples.std(axis=1)),
         "prediction_lower": (dims, np.quantile(samples, 0.05, axis=1)),
         "prediction_upper": (dims, np.quantile(samples, 0.95, axis=1)),
         "observations": (dims, arrays["values"])},
        coords={"sample": np.arange(mean_path.shape[0]), "t": inputs["time"].values, "channel": ["y1", "y2"]},
        attrs={"interval_level": 0.9},
    )


def main(config: Config, run: RunDir) -> dict:
    seed = config.train.seed
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, config.t1, config.length)
    clean_train, clean_test = oscillators(config.n_train, t, rng), oscillators(config.n_test, t, rng)

    def observed(clean, seed):
        noisy = clean + config.noise * rng.standard_normal(clean.shape)
        return series_arrays(drop_observations(series_dataset(t, noisy, ["y1", "y2"]), 1 - config.observed_fraction,
                                               seed=seed))

    observed_train, test = observed(clean_train, seed), observed(clean_test, seed + 1)
    model = model_like(config)
    sampler = MinibatchSampler({"ts": observed_train["ts"], "values": np.nan_to_num(observed_train["values"]),
                                "mask": observed_train["mask"]},
                               config.batch_size, shared=("ts",))
    result = train(model, elbo_loss, sampler, config.train, run)
    run.save_model(result.model)

    ts = jnp.asarray(t, jnp.float32)
    values, mask = jnp.asarray(np.nan_to_num(test["values"])), jnp.asarray(test["mask"])
    keys = jax.random.split(config.train.key(2), config.posterior_samples)
    samples, mean_path = (np.asarray(x) for x in _posterior(result.model, ts, values, mask, keys))
    hidden = ~test["mask"]
    baseline = linear_interpolation(t, test["values"], test["mask"])
    mse_hidden = float(np.mean((mean_path - clean_test)[hidden] ** 2))
    baseline_mse = float(np.mean((baseline - clean_test)[hidden] ** 2))
    lower, upper = np.quantile(samples, 0.05, axis=1), np.quantile(samples, 0.95, axis=1)
    predictions = xr.Dataset(
        {
            "prediction": (("sample", "t", "channel"), mean_path),
            "reference": (("sample", "t", "channel"), clean_test),
            "prediction_std": (("sample", "t", "channel"), samples.std(axis=1)),
            "prediction_lower": (("sample", "t", "channel"), lower),
            "prediction_upper": (("sample", "t", "channel"), upper),
            "observations": (("sample", "t", "channel"), test["values"]),
            "linear_interpolation": (("sample", "t", "channel"), baseline),
        },
        coords={"sample": np.arange(config.n_test), "t": t, "channel": ["y1", "y2"]},
        attrs={"interval_level": 0.9, "observed_fraction": config.observed_fraction,
               "prediction": "decoded posterior-mean latent path given the observed points",
               "interval": "quantiles over posterior samples of z0 (latent-state uncertainty only)"},
    )
    nondimensional = {"units": "1"}
    run.write_predictions(with_cf_attributes(predictions, {
        "prediction": {"long_name": "decoded posterior-mean path y", **nondimensional},
        "reference": {"long_name": "noise-free oscillator path y", **nondimensional},
        "observations": {"long_name": "observed noisy y (NaN: hidden)", **nondimensional},
        "linear_interpolation": {"long_name": "linear interpolation of the observed y", **nondimensional}}))
    plot(predictions, run)
    return {
        "hidden_points_mse": mse_hidden,
        "linear_interpolation_mse": baseline_mse,
        "observed_points_mse": float(np.mean((mean_path - clean_test)[~hidden] ** 2)),
        "band_coverage_hidden": float(np.mean(((clean_test >= lower) & (clean_test <= upper))[hidden])),
        **fit_summary(result),
    }


def plot(predictions: xr.Dataset, run: RunDir) -> None:
    """Four test series: observed points, truth, latent-ODE interpolation with its band, linear interpolation."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 6), constrained_layout=True)
    t = predictions.t.values
    for i, ax in enumerate(axes.ravel()):
        for c, color in enumerate(("tab:blue", "tab:orange")):
            ax.plot(t, predictions.reference[i, :, c], color="k", lw=0.8)
            ax.fill_between(t, predictions.prediction_lower[i, :, c], predictions.prediction_upper[i, :, c],
                            color=color, alpha=0.2)
            ax.plot(t, predictions.prediction[i, :, c], color=color, lw=1.2)
            ax.plot(t, predictions.linear_interpolation[i, :, c], ":", color=color, lw=0.8)
            ax.plot(t, predictions.observations[i, :, c], "o", ms=3, color=color)
        ax.set(xlabel="t", title=f"test series {i}: truth (black), latent ODE (band 90%), linear (dotted)")
    run.save_figure(fig, "interpolation")
