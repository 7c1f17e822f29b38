"""Li-ion SPM: a PINN surrogate over (anode i0 scale, cathode diffusivity scale) and NUTS calibration with it.

After Hassanaly et al. (NREL, J. Energy Storage 98, 2024): the single-particle model of an LG M50 cell (Chen et al.
2020 parameters) under a 1C discharge; a PINN takes (t, r, i0_scale, diffusivity_scale) and returns both particles'
stoichiometries (hard initial condition), the voltage follows from the surface values. It is trained on the
diffusion residual, the surface-flux condition and solver data at a few training diffusivities, scored on held-out
parameter pairs, then used (and the solver too) inside numpyro's NUTS to calibrate the two scales from a noisy
synthetic voltage curve.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml.battery import SPMSurrogate, SurrogateSetup, calibrate, solver_data
from sciml.solvers import SPM
from sciml.studies import RunDir, TrainConfig, fit_summary
from sciml.studies.battery import (
    CalibrationSettings,
    SurrogateConfig,
    plot_calibration,
    surrogate_like,
    train_surrogate,
)
from sciml.train import Evaluation

NAME = "battery-spm"
FAMILY = "battery"
REPRODUCES = "Hassanaly et al. (J. Energy Storage 98, 2024): SPM PINN surrogate (test error ~2 mV), NUTS calibration"
PUBLISHED_SPM_TEST_ERROR_MV = 2.0  # Hassanaly et al. 2024, Part II abstract: SPM surrogate test error ~2 mV
SMOKE = {"train.steps": 40, "train.lbfgs_steps": 0, "train.chunk": 20, "width": 16, "depth": 2, "n_residual": 128,
         "n_surface": 32, "n_shells": 10, "n_train_diffusivities": 2, "n_test": 2, "n_eval_times": 31,
         "calibrate": False}


@dataclasses.dataclass(frozen=True)
class Config(CalibrationSettings):
    train: TrainConfig = TrainConfig(steps=5000, learning_rate=2e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.6, lbfgs_steps=300, lbfgs_dtype="float64", chunk=250)
    current: float = 5.0
    """Discharge current in A (5 A is 1C for the LG M50 cell)."""
    t_end: float = 3000.0
    """Duration of the discharge in s."""
    n_shells: int = 40
    """Radial finite-volume shells per particle in the SPM solver (reference and training data)."""
    n_train_diffusivities: int = 6
    """Cathode diffusivity scales (log-spaced over the box) the solver data are computed at."""
    n_test: int = 8
    """Held-out (i0 scale, diffusivity scale) pairs the surrogate is scored on."""
    n_eval_times: int = 101
    """Times of each held-out voltage curve, uniform over [0, t_end]."""
    width: int = 32
    """Hidden units per layer of the surrogate's MLP."""
    depth: int = 3
    """Hidden layers of the surrogate's MLP."""
    n_residual: int = 1024
    """Sobol points per step for the particle diffusion residual."""
    n_surface: int = 256
    """Sobol points per step for the surface-flux condition."""
    data_weight: float = 1e4
    """Weight of the solver-data misfit in the loss."""

    def __post_init__(self):
        if self.n_train_diffusivities < 2:
            raise ValueError(f"n_train_diffusivities must be >= 2, got {self.n_train_diffusivities}")
        super().__post_init__()


def surrogate_config(config: Config) -> SurrogateConfig:
    """The surrogate's network and training knobs of `config`."""
    return SurrogateConfig(config.train, width=config.width, depth=config.depth, n_residual=config.n_residual,
                           n_surface=config.n_surface, data_weight=config.data_weight)


def model_like(config: Config) -> SPMSurrogate:
    """The trained surrogate's structure (network, its input scalings and the discharge setup) from the config."""
    return surrogate_like(SurrogateSetup(current=config.current, t_end=config.t_end), surrogate_config(config))


def predict(model: SPMSurrogate, config: Config, inputs: xr.Dataset) -> xr.Dataset:
    """Voltage curves [V] of the surrogate. `inputs`: a dataset with coordinate `t` [s] and the parameter pairs
    `i0_scale`, `diffusivity_scale` along `case`, such as predictions.nc. Returns `prediction` (case, t) on those
    coordinates; parameters outside the trained box raise `ConfigError`."""
    t = np.asarray(inputs["t"].values)
    i0 = np.atleast_1d(inputs["i0_scale"].values)
    diffusivity = np.atleast_1d(inputs["diffusivity_scale"].values)
    curves = np.stack([model.voltage(t, a, b) for a, b in zip(i0, diffusivity, strict=True)])
    return xr.Dataset({"prediction": (("case", "t"), curves, {"units": "V"})},
                      coords={"case": np.arange(len(i0)), "t": t, "i0_scale": ("case", i0),
                              "diffusivity_scale": ("case", diffusivity)})


def held_out_parameters(config: Config, setup: SurrogateSetup) -> np.ndarray:
    """Held-out (i0_scale, diffusivity_scale) pairs: uniform in i0, log-uniform in D, drawn from the seed."""
    rng = np.random.default_rng(10_000 + config.train.seed)
    i0 = rng.uniform(*setup.i0_range, config.n_test)
    log_d = rng.uniform(*np.log(setup.diffusivity_range), config.n_test)
    return np.stack([i0, np.exp(log_d)], axis=1)


def train_and_score(config: Config, run: RunDir | None):
    """Train the surrogate and score it on held-out parameters. Returns (surrogate, fit result, scores dict)."""
    setup = SurrogateSetup(current=config.current, t_end=config.t_end)
    solver = SPM(setup.parameters, n_shells=config.n_shells)
    train_scales = np.geomspace(*setup.diffusivity_range, config.n_train_diffusivities)
    data = solver_data(setup, train_scales, solver=solver, seed=config.train.seed)
    t = np.linspace(0.0, config.t_end, config.n_eval_times)
    cases = held_out_parameters(config, setup)
    with jax.enable_x64(True):
        reference = np.stack([solver.solve(config.current, t, i0, d).voltage for i0, d in cases])

    def evaluate(network):
        surrogate = SPMSurrogate(network, setup)
        predicted = np.stack([surrogate.voltage(t, i0, d) for i0, d in cases])
        rmse = np.sqrt(np.mean((predicted - reference) ** 2, axis=1)) * 1e3
        return {"test_rmse_mv": float(rmse.mean()), "test_rmse_mv_max": float(rmse.max())}

    training = surrogate_config(config)
    every = 1000  # held-out scores during training, where the steps and the chunk allow
    evaluations = [Evaluation(evaluate, every)] if config.train.steps % every == 0 == every % config.train.chunk else []
    surrogate, result = train_surrogate(setup, data, training, run, evaluations=evaluations)
    predicted = np.stack([surrogate.voltage(t, i0, d) for i0, d in cases])
    rmse = np.sqrt(np.mean((predicted - reference) ** 2, axis=1)) * 1e3
    scores = {"test_rmse_mv": float(rmse.mean()), "test_rmse_mv_max": float(rmse.max()), **fit_summary(result)}
    return surrogate, solver, (t, cases, predicted, reference, rmse, train_scales), scores


def calibrate_both(config: Config, surrogate: SPMSurrogate, solver: SPM, surrogate_rmse_mv: float):
    """NUTS on a noisy synthetic curve with the surrogate (float32) and, if asked, the solver (float64)."""
    truth = {"i0_scale": config.true_i0_scale, "diffusivity_scale": config.true_diffusivity_scale}
    setup = surrogate.setup
    t_obs = np.linspace(0.0, config.t_end, config.n_observations)
    noise = config.noise_mv * 1e-3
    with jax.enable_x64(True):
        clean = solver.solve(config.current, t_obs, truth["i0_scale"], truth["diffusivity_scale"]).voltage
    observed = clean + noise * np.random.default_rng(20_000 + config.train.seed).normal(size=clean.shape)
    key = jax.random.key(30_000 + config.train.seed)
    t32 = jnp.asarray(t_obs, jnp.float32)
    # the surrogate's own error (held-out RMSE) is added to the noise in the likelihood
    sigma_surrogate = float(np.hypot(noise, surrogate_rmse_mv * 1e-3))
    results = {"surrogate": calibrate(lambda a, b: surrogate.voltage_unchecked(t32, a, b),
                                      jnp.asarray(observed, jnp.float32), sigma_surrogate,
                                      i0_range=setup.i0_range, diffusivity_range=setup.diffusivity_range,
                                      num_warmup=config.num_warmup, num_samples=config.num_samples, key=key)}
    if config.calibrate_with_solver:
        with jax.enable_x64(True):
            t64 = jnp.asarray(t_obs)
            results["solver"] = calibrate(lambda a, b: solver.voltage(config.current, a, b, t64),
                                          jnp.asarray(observed), noise, i0_range=setup.i0_range,
                                          diffusivity_range=setup.diffusivity_range, num_warmup=config.num_warmup,
                                          num_samples=config.num_samples, key=key)
    return truth, t_obs, observed, results


def main(config: Config, run: RunDir) -> dict:
    surrogate, solver, (t, cases, predicted, reference, rmse, train_scales), scores = train_and_score(config, run)
    run.save_model(surrogate)
    volts, seconds, scale = {"units": "V"}, {"units": "s"}, {"units": "1"}
    data_vars = {
        "prediction": (("case", "t"), predicted, {"long_name": "cell voltage of the PINN surrogate", **volts}),
        "reference": (("case", "t"), reference, {"long_name": "cell voltage of the SPM solver", **volts}),
        "rmse_mv": (("case",), rmse, {"long_name": "RMS voltage error of the surrogate", "units": "mV"}),
    }
    coords = {"case": np.arange(len(cases)),
              "t": ("t", t, {"long_name": "time since the start of discharge", **seconds}),
              "i0_scale": ("case", cases[:, 0], {"long_name": "anode exchange-current density scale", **scale}),
              "diffusivity_scale": ("case", cases[:, 1], {"long_name": "cathode diffusivity scale", **scale}),
              "train_diffusivity_scale": ("train_diffusivity_scale", train_scales,
                                          {"long_name": "cathode diffusivity scales of the training data", **scale})}
    metrics = {**scores, "published_spm_test_error_mv": PUBLISHED_SPM_TEST_ERROR_MV}
    if config.calibrate:
        truth, t_obs, observed, results = calibrate_both(config, surrogate, solver, scores["test_rmse_mv"])
        samplers = list(results)
        coords.update({"t_obs": ("t_obs", t_obs, {"long_name": "observation time", **seconds}),
                       "sampler": ("sampler", samplers, {"long_name": "model the posterior was sampled with"}),
                       "draw": ("draw", np.arange(config.num_samples), {"long_name": "posterior draw", **scale})})
        data_vars["observed_voltage"] = (("t_obs",), observed, {"long_name": "observed (noisy) cell voltage", **volts})
        for name in ("i0_scale", "diffusivity_scale"):
            data_vars[f"posterior_{name}"] = (("sampler", "draw"),
                                              np.stack([results[s].samples[name] for s in samplers]),
                                              {"long_name": f"posterior draws of {name}", **scale})
        for sampler, result in results.items():
            for name in ("i0_scale", "diffusivity_scale"):
                low, high = result.interval(name)
                metrics[f"{sampler}_{name}_q025"], metrics[f"{sampler}_{name}_q975"] = low, high
                metrics[f"{sampler}_{name}_covered"] = float(low <= truth[name] <= high)
                metrics[f"{sampler}_{name}_ess"] = result.ess[name]
            metrics[f"{sampler}_nuts_wall_s"] = result.wall_time_s
            metrics[f"{sampler}_nuts_s_per_ess"] = result.seconds_per_effective_sample
            metrics[f"{sampler}_divergences"] = float(result.divergences)
        if "solver" in results:
            metrics["nuts_speedup_per_ess"] = (results["solver"].seconds_per_effective_sample
                                               / results["surrogate"].seconds_per_effective_sample)
    predictions = xr.Dataset(
        data_vars, coords=coords,
        attrs={"problem": "SPM 1C discharge, LG M50 (Chen et al. 2020)",
               "current_A": config.current, "noise_mv": config.noise_mv,
               "true_i0_scale": config.true_i0_scale, "true_diffusivity_scale": config.true_diffusivity_scale},
    )
    run.write_predictions(predictions)
    plot_calibration(predictions, run, solver="SPM", surrogate="PINN")
    return metrics
