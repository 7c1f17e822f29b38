"""Hybrid Lotka-Volterra: known prey growth and predator death, the interaction terms learned from noisy sparse data.

dx/dt = alpha x - beta x y,  dy/dt = delta x y - gamma y.  The model keeps `alpha x` and `-gamma y` exactly and learns
the interaction `(-beta x y, delta x y)` with an MLP (a universal differential equation). Training is windowed
(multiple shooting with each window started from its first observation): short windows keep the untrained model,
whose prey grows exponentially, from blowing up over the full horizon; L-BFGS in float64 polishes the fit. Scored on
the learned interaction against the truth over the states the data visit, and on a forecast to twice the training
horizon.
"""

from __future__ import annotations

import dataclasses

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import metrics
from sciml.data import series_arrays, series_dataset, windows, with_cf_attributes
from sciml.dynamics import HybridVectorField, MLPVectorField, NeuralODE, trajectory_mse
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.dynamics import rollout

NAME = "lotka-volterra-hybrid"
FAMILY = "neural-de"
REPRODUCES = "Universal differential equations (Rackauckas et al., 2020): Lotka-Volterra interaction learned"
SPECIES = ("prey", "predator")
SMOKE = {"train.steps": 20, "train.lbfgs_steps": 0, "train.chunk": 10, "width": 16}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=2000, learning_rate=3e-3, schedule="cosine", final_fraction=0.05,
                                     lbfgs_steps=300, lbfgs_dtype="float64", chunk=250)
    alpha: float = 1.3
    """Prey growth rate alpha (known to the model)."""
    beta: float = 0.9
    """Predation rate beta of the true system (learned through the interaction MLP)."""
    delta: float = 0.8
    """Predator growth per prey delta of the true system (learned through the interaction MLP)."""
    gamma: float = 1.8
    """Predator death rate gamma (known to the model)."""
    initial_states: tuple = (2.0, 1.0, 1.0, 2.0, 3.0, 0.5)
    """Initial (prey, predator) pairs of the training trajectories, flattened: (x0, y0, x1, y1, ...)."""
    horizon: float = 6.0
    """Time span of the training observations; the forecast is scored up to twice it."""
    n_observations: int = 31
    """Observation times per trajectory, uniform over [0, horizon]."""
    noise: float = 0.02
    """Relative multiplicative noise of the observations (0.02: 2 %)."""
    width: int = 32
    """Hidden units per layer of the interaction MLP."""
    depth: int = 2
    """Hidden layers of the interaction MLP."""
    window: int = 6
    """Observations per training window (multiple shooting; windows share their end points)."""


class KnownTerms(eqx.Module):
    """The mechanistic part kept exactly: prey growth `alpha x`, predator death `-gamma y`."""

    alpha: float
    gamma: float

    def __call__(self, t, y, args=None):
        return jnp.stack([self.alpha * y[0], -self.gamma * y[1]])


def true_field(config: Config):
    def field(t, y, args=None):
        x, p = y[0], y[1]
        return jnp.stack([config.alpha * x - config.beta * x * p, config.delta * x * p - config.gamma * p])

    return field


def simulate(field, ts, y0):
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), ts[0], ts[-1], None, y0, saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-8), max_steps=100_000,
    )
    return solution.ys


def true_interaction(config: Config, states):
    x, p = states[..., 0], states[..., 1]
    return np.stack([-config.beta * x * p, config.delta * x * p], axis=-1)


def model_like(config: Config) -> NeuralODE:
    """The hybrid model before training: known terms plus an MLP correction whose last layer starts 100x smaller."""
    correction = MLPVectorField(2, config.width, config.depth, jax.nn.gelu, key=config.train.key(0))
    correction = eqx.tree_at(lambda c: c.mlp.layers[-1].weight, correction,
                             correction.mlp.layers[-1].weight * 0.01)
    return NeuralODE(HybridVectorField(KnownTerms(config.alpha, config.gamma), correction))


def predict(model: NeuralODE, config: Config, inputs) -> xr.Dataset:
    """Forecasts of `model` from initial (prey, predator) states.

    `inputs`: a dataset with `initial_state` (sample, species) and times `t` (e.g. the run's `predictions.nc`), or an
    array of initial states (sample, 2), then forecast on the 401 times of [0, 2 * horizon] as in `main`.
    Returns `prediction` (sample, t, species) and `initial_state`.
    """
    if isinstance(inputs, xr.Dataset):
        y0s, ts = inputs["initial_state"].values, inputs["t"].values
    else:
        y0s = np.asarray(inputs, dtype=np.float64).reshape(-1, 2)
        ts = np.linspace(0.0, 2 * config.horizon, 401)
    return xr.Dataset(
        {"prediction": (("sample", "t", "species"), rollout(model, ts, y0s)),
         "initial_state": (("sample", "species"), y0s)},
        coords={"sample": np.arange(len(y0s)), "t": ts, "species": list(SPECIES)},
    )


def main(config: Config, run: RunDir) -> dict:
    rng = np.random.default_rng(config.train.seed)
    y0s = np.asarray(config.initial_states, dtype=np.float64).reshape(-1, 2)
    with jax.enable_x64(True):
        dense_t = np.linspace(0.0, 2 * config.horizon, 401)
        truth = np.stack([np.asarray(simulate(true_field(config), jnp.asarray(dense_t), jnp.asarray(y0)))
                          for y0 in y0s])
    obs_t = np.linspace(0.0, config.horizon, config.n_observations)
    obs_index = np.searchsorted(dense_t, obs_t)
    clean = truth[:, obs_index]
    noisy = clean * (1 + config.noise * rng.standard_normal(clean.shape))
    data = series_dataset(obs_t, noisy, SPECIES, attrs={"system": "Lotka-Volterra", "noise": config.noise})
    arrays = series_arrays(data)

    batch = {k: jnp.asarray(v) for k, v in
             windows(arrays["ts"], arrays["values"], config.window, mask=arrays["mask"]).items()}
    result = train(model_like(config), trajectory_mse, batch, config.train, run)
    run.save_model(result.model)
    learned_field = result.model.vector_field

    train_window = dense_t <= config.horizon
    visited = truth[:, train_window].reshape(-1, 2)
    learned_interaction = np.asarray(jax.vmap(lambda y: learned_field.correction(0.0, y))(jnp.asarray(visited,
                                                                                                       jnp.float32)))
    interaction_error = metrics.relative_l2(learned_interaction, true_interaction(config, visited))

    forecast = rollout(result.model, dense_t, y0s)
    extrapolation = dense_t > config.horizon
    predictions = xr.Dataset(
        {
            "prediction": (("sample", "t", "species"), forecast),
            "initial_state": (("sample", "species"), y0s),
            "reference": (("sample", "t", "species"), truth),
            "observations": (("sample", "t_obs", "species"), noisy),
            "interaction_prediction": (("state", "species"), learned_interaction),
            "interaction_reference": (("state", "species"), true_interaction(config, visited)),
            "state_prey": (("state",), visited[:, 0]),
            "state_predator": (("state",), visited[:, 1]),
        },
        coords={"sample": np.arange(len(y0s)), "t": dense_t, "t_obs": obs_t, "species": list(SPECIES),
                "state": np.arange(len(visited))},
        attrs={"system": "Lotka-Volterra", "alpha": config.alpha, "beta": config.beta, "delta": config.delta,
               "gamma": config.gamma, "training_horizon": config.horizon,
               "prediction": "hybrid model forecast from the true initial states"},
    )
    population = {"units": "1"}  # nondimensional populations and time
    run.write_predictions(with_cf_attributes(predictions, {
        "prediction": {"long_name": "hybrid-model forecast of the populations", **population},
        "initial_state": {"long_name": "initial populations", **population},
        "reference": {"long_name": "true populations", **population},
        "observations": {"long_name": "observed noisy populations", **population},
        "interaction_prediction": {"long_name": "learned interaction term of the vector field", **population},
        "interaction_reference": {"long_name": "true interaction term of the vector field", **population},
        "state_prey": {"long_name": "prey population of the visited state", **population},
        "state_predator": {"long_name": "predator population of the visited state", **population},
        "t_obs": {"long_name": "observation time (nondimensional)", "units": "1"},
        "species": {"long_name": "species"},
        "state": {"long_name": "visited state index", "units": "1"}}))
    plot(predictions, run)
    return {
        "interaction_rel_l2": interaction_error,
        "forecast_rel_l2_2x_horizon": metrics.relative_l2(forecast, truth),
        "extrapolation_rel_l2": metrics.relative_l2(forecast[:, extrapolation], truth[:, extrapolation]),
        **fit_summary(result),
    }


def plot(predictions: xr.Dataset, run: RunDir) -> None:
    """Forecast vs truth per trajectory, and learned vs true interaction terms over the visited states."""
    n = predictions.sizes["sample"]
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.6 * n), constrained_layout=True, squeeze=False)
    horizon = predictions.attrs["training_horizon"]
    for i, ax in enumerate(axes[:, 0]):
        for j, (name, color) in enumerate(zip(SPECIES, ("tab:blue", "tab:red"), strict=True)):
            ax.plot(predictions.t, predictions.reference[i, :, j], color=color, lw=1, label=f"{name} truth")
            ax.plot(predictions.t, predictions.prediction[i, :, j], "--", color="k", lw=1)
            ax.plot(predictions.t_obs, predictions.observations[i, :, j], "o", ms=3, color=color)
        ax.axvline(horizon, color="grey", ls=":")
        ax.set(xlabel="t", ylabel="population", title=f"trajectory {i}: data (dots), truth, hybrid forecast (dashed)")
    axes[0, 0].legend(loc="upper right")
    run.save_figure(fig, "trajectories")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for j, (ax, label) in enumerate(zip(axes, ("-beta x y (prey)", "delta x y (predator)"), strict=True)):
        ax.scatter(predictions.interaction_reference[:, j], predictions.interaction_prediction[:, j], s=4)
        lo = float(predictions.interaction_reference[:, j].min())
        hi = float(predictions.interaction_reference[:, j].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(xlabel=f"true {label}", ylabel="learned", title=f"interaction term {label}")
    run.save_figure(fig, "interaction")
