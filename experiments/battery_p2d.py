"""Li-ion P2D: a physics-informed surrogate of the DFN model over (anode i0 scale, cathode diffusivity scale), NUTS
calibration with it and with the solver.

Hassanaly et al. (NREL, J. Energy Storage 98, 2024, Part II) with the pseudo-two-dimensional (Doyle-Fuller-Newman)
model of an LG M50 cell (Chen et al. 2020) under a 1C discharge. The surrogate (`sciml.battery.P2DSurrogate`) returns
the whole P2D state on the BDF solver's mesh (`sciml.solvers.P2D`) from (sqrt(t / t_end), i0 scale, log diffusivity
scale) and is trained on the solver's own DAE residual plus the lithium inventories (`P2DSurrogateLoss`), with the
papers' regularisations as options: Butler-Volmer's exponential limiter, gradual time expansion, and an SPM surrogate
(trained first, as in `battery-spm`) as the low-fidelity level. With `data_weight > 0` (the default, the papers'
"low-data" setting) solver states and voltages on a coarse grid of the two scales join the loss; `data_weight=0
voltage_weight=0` is the physics-only variant. Scored on held-out pairs against the solver, then used, and the
solver itself too, inside numpyro's NUTS to calibrate the two scales from a noisy synthetic voltage curve.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml import ConfigError
from sciml.battery import (
    ExpandingTimeSampler,
    P2DSurrogate,
    P2DSurrogateLoss,
    SurrogateSetup,
    calibrate,
    solver_data,
    solver_states,
)
from sciml.solvers import P2D
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.battery import (
    CalibrationSettings,
    SurrogateConfig,
    plot_calibration,
    surrogate_like,
    train_surrogate,
)
from sciml.train import Evaluation

NAME = "battery-p2d"
FAMILY = "battery"
REPRODUCES = ("Hassanaly et al. (J. Energy Storage 98, 2024, Part II): physics-informed P2D voltage surrogate over "
              "the two scales (test error ~10 mV) and NUTS calibration")
PUBLISHED_P2D_TEST_ERROR_MV = 10.0  # Hassanaly et al. 2024, Part II abstract: P2D surrogate test error ~10 mV
I0_RANGE = (0.5, 4.0)  # anode exchange-current scale, as in the papers
DIFFUSIVITY_RANGE = (1.0, 10.0)  # cathode solid-diffusivity scale, as in the papers
SMOKE = {"train.steps": 40, "train.lbfgs_steps": 0, "train.chunk": 20, "width": 16, "depth": 2, "n_electrode": 3,
         "n_separator": 3, "n_shells": 3, "n_train_i0": 2, "n_train_diffusivities": 2, "n_times": 11, "n_test": 2,
         "n_eval_times": 11, "n_residual": 16, "expansion_steps": 20, "calibrate": False, "low_fidelity": False}


@dataclasses.dataclass(frozen=True)
class Config(CalibrationSettings):
    train: TrainConfig = TrainConfig(steps=6000, learning_rate=2e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.6, lbfgs_steps=500, lbfgs_dtype="float64", chunk=250)
    """Training of the P2D surrogate: Adam, learning rate x 0.6 every 1000 steps, then float64 L-BFGS."""
    current: float = 5.0
    """Discharge current in A (5 A is 1C for the LG M50 cell)."""
    t_end: float = 3000.0
    """Duration of the discharge in s (before the 2.5 V cut-off over the whole parameter box)."""
    n_electrode: int = 8
    """Finite-volume cells across each electrode in the P2D solver."""
    n_separator: int = 5
    """Finite-volume cells across the separator."""
    n_shells: int = 8
    """Radial shells per particle."""
    n_train_i0: int = 6
    """Anode exchange-current scales of the training grid (uniform over the box)."""
    n_train_diffusivities: int = 6
    """Cathode diffusivity scales of the training grid (log-uniform over the box)."""
    n_times: int = 31
    """Times of each training curve, uniform in sqrt(t / t_end)."""
    n_test: int = 8
    """Held-out (i0 scale, diffusivity scale) pairs the surrogate is scored on."""
    n_eval_times: int = 101
    """Times of each held-out voltage curve, uniform over [0, t_end]."""
    width: int = 32
    """Hidden units per layer of the surrogate's MLP (64 x 3 on an SPM level of 48 x 4 reached 0.7 mV against 1.4 mV
    with 4.7 times the arithmetic per voltage curve)."""
    depth: int = 3
    """Hidden layers of the surrogate's MLP."""
    n_residual: int = 256
    """Residual points per step, uniform in (sqrt(t / t_end), i0 scale, log diffusivity scale)."""
    physics_weight: float = 1.0
    """Weight of the DAE residual (electrolyte, particle and charge-balance terms); 0 drops it (data only)."""
    inventory_weight: float = 1.0
    """Weight of the integral (lithium-inventory) losses; 0 drops them."""
    data_weight: float = 1.0
    """Weight of the solver-state misfit at the training grid; 0 (with voltage_weight 0) is the physics-only
    variant."""
    voltage_weight: float = 100.0
    """Weight of the terminal-voltage misfit at the training grid (the observable: at weight 1, beside the 186 state
    errors, the held-out voltage error stalled at ~5 mV)."""
    overpotential_limit: float | None = 10.0
    """Butler-Volmer's exponential limiter in the physics loss (F eta / 2RT enters as L tanh(./L)); none: exact."""
    s_start: float = 0.2
    """Gradual time expansion: the residual points start at sqrt(t / t_end) <= s_start ..."""
    expansion_steps: int = 2000
    """... and cover the whole discharge after this many steps (0: no expansion)."""
    low_fidelity: bool = True
    """Build the surrogate on an SPM surrogate (trained first with `spm`) as the low-fidelity level."""
    spm: SurrogateConfig = SurrogateConfig(train=TrainConfig(steps=3000, learning_rate=2e-3, schedule="exponential",
                                                             decay_steps=1000, decay_rate=0.6, lbfgs_steps=300,
                                                             lbfgs_dtype="float64", chunk=250), width=24, depth=3)
    """The low-fidelity SPM surrogate's network (smaller than `battery-spm`'s: it is evaluated at two shells of every
    time of every voltage curve) and training (as `battery-spm`, shorter)."""

    def __post_init__(self):
        if self.n_train_i0 < 2 or self.n_train_diffusivities < 2:
            raise ConfigError(f"need at least 2 training values per scale, got n_train_i0={self.n_train_i0}, "
                              f"n_train_diffusivities={self.n_train_diffusivities}")
        if self.physics_weight <= 0 and self.data_weight <= 0 and self.voltage_weight <= 0:
            raise ConfigError("physics_weight, data_weight and voltage_weight are all 0: the surrogate would learn "
                              "nothing; set one > 0")
        super().__post_init__()

    @property
    def setup(self) -> SurrogateSetup:
        """The discharge and the box of the two scales."""
        return SurrogateSetup(self.current, self.t_end, I0_RANGE, DIFFUSIVITY_RANGE)


def model_like(config: Config) -> P2DSurrogate:
    """The surrogate's structure (network, mesh, box and low-fidelity level) from the config."""
    low_fidelity = surrogate_like(config.setup, config.spm) if config.low_fidelity else None
    return P2DSurrogate(solver(config), config.setup, config.width, config.depth, key=config.train.key(0),
                        low_fidelity=low_fidelity)


def predict(model: P2DSurrogate, config: Config, inputs: xr.Dataset) -> xr.Dataset:
    """Voltage curves [V] of the surrogate. `inputs`: a dataset with coordinate `t` [s] and the parameter pairs
    `i0_scale`, `diffusivity_scale` along `case`, such as predictions.nc. Returns `prediction` (case, t)."""
    t = np.asarray(inputs["t"].values)
    i0 = np.atleast_1d(inputs["i0_scale"].values)
    diffusivity = np.atleast_1d(inputs["diffusivity_scale"].values)
    curves = np.stack([model.voltage(t, a, b) for a, b in zip(i0, diffusivity, strict=True)])
    return xr.Dataset({"prediction": (("case", "t"), curves, {"units": "V", "long_name": "cell voltage"})},
                      coords={"case": np.arange(len(i0)), "t": t, "i0_scale": ("case", i0),
                              "diffusivity_scale": ("case", diffusivity)})


def solver(config: Config) -> P2D:
    return P2D(n_negative=config.n_electrode, n_separator=config.n_separator, n_positive=config.n_electrode,
               n_shells=config.n_shells)


def parameter_pairs(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Training grid (n_train_i0 * n_train_diffusivities, 2) and held-out pairs (n_test, 2) drawn from the seed
    (uniform in i0, log-uniform in D)."""
    i0, d = np.meshgrid(np.linspace(*I0_RANGE, config.n_train_i0),
                        np.geomspace(*DIFFUSIVITY_RANGE, config.n_train_diffusivities), indexing="ij")
    rng = np.random.default_rng(10_000 + config.train.seed)
    test = np.stack([rng.uniform(*I0_RANGE, config.n_test),
                     np.exp(rng.uniform(*np.log(DIFFUSIVITY_RANGE), config.n_test))], axis=1)
    return np.stack([i0.ravel(), d.ravel()], axis=1), test


def solver_curves(config: Config, model: P2D, pairs: np.ndarray, times: dict[str, np.ndarray]) -> dict:
    """P2D voltages of all `pairs` on the union of the time grids in one compiled call; {name: (n_pairs, n_t)}."""
    union = np.unique(np.concatenate(list(times.values())))
    with jax.enable_x64(True):
        curves = np.asarray(model.voltages(config.current, jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1]),
                                           jnp.asarray(union)))
    if not np.all(np.isfinite(curves)):
        raise ConfigError(f"battery-p2d: the P2D discharge ends before t_end = {config.t_end:g} s for some parameter "
                          "pairs (electrolyte depleted or a particle saturated); lower t_end or the current")
    return {name: curves[:, np.searchsorted(union, t)] for name, t in times.items()}


def main(config: Config, run: RunDir) -> dict:
    p2d, setup = solver(config), config.setup
    train_pairs, test_pairs = parameter_pairs(config)
    truth = np.array([[config.true_i0_scale, config.true_diffusivity_scale]])
    t = np.linspace(0.0, config.t_end, config.n_eval_times)
    t_obs = np.linspace(0.0, config.t_end, config.n_observations)
    curves = solver_curves(config, p2d, np.concatenate([test_pairs, truth]), {"eval": t, "obs": t_obs})
    n_train, n_test = len(train_pairs), len(test_pairs)
    reference = curves["eval"][:n_test]

    low_fidelity, metrics = None, {}
    if config.low_fidelity:
        spm_data = solver_data(setup, np.geomspace(*DIFFUSIVITY_RANGE, config.n_train_diffusivities),
                               seed=config.spm.train.seed)
        low_fidelity, spm_fit = train_surrogate(setup, spm_data, config.spm)
        metrics["low_fidelity_train_s"] = spm_fit.train_time_s
    surrogate = P2DSurrogate(p2d, setup, config.width, config.depth, key=config.train.key(0),
                             low_fidelity=low_fidelity)
    data_points = data_states = None
    if config.data_weight > 0 or config.voltage_weight > 0:
        s_train = np.linspace(0.0, 1.0, config.n_times)
        data_states = solver_states(p2d, setup, train_pairs, s_train).reshape(-1, p2d.mass().size)
        grid = np.broadcast_to(s_train[None, :, None], (n_train, config.n_times, 1))
        pairs = np.broadcast_to(train_pairs[:, None, :], (n_train, config.n_times, 2))
        data_points = np.concatenate([grid, pairs], axis=2).reshape(-1, 3)
    loss = P2DSurrogateLoss(p2d.with_overpotential_limit(config.overpotential_limit),
                            {"physics": config.physics_weight, "inventory": config.inventory_weight,
                             "data": config.data_weight, "voltage": config.voltage_weight}, data_points, data_states)
    sampler = ExpandingTimeSampler(config.n_residual, setup, config.s_start, config.expansion_steps)

    def scores(model):
        predicted = model.voltages(t, test_pairs[:, 0], test_pairs[:, 1])
        rmse = np.sqrt(np.mean((predicted - reference) ** 2, axis=1)) * 1e3
        return predicted, rmse

    def evaluate(model):
        _, rmse = scores(model)
        return {"test_rmse_mv": float(rmse.mean()), "test_rmse_mv_max": float(rmse.max())}

    every = 1000
    evaluations = [Evaluation(evaluate, every)] if config.train.steps % every == 0 == every % config.train.chunk else []
    result = train(surrogate, loss, sampler, config.train, run, evaluations=evaluations)
    surrogate = result.model
    run.save_model(surrogate)
    predicted, rmse = scores(surrogate)
    metrics.update({"test_rmse_mv": float(rmse.mean()), "test_rmse_mv_max": float(rmse.max()),
                    **fit_summary(result), "published_p2d_test_error_mv": PUBLISHED_P2D_TEST_ERROR_MV})

    volts, seconds, scale = {"units": "V"}, {"units": "s"}, {"units": "1"}
    data_vars = {
        "prediction": (("case", "t"), predicted, {"long_name": "cell voltage of the neural surrogate", **volts}),
        "reference": (("case", "t"), reference, {"long_name": "cell voltage of the P2D solver", **volts}),
        "rmse_mv": (("case",), rmse, {"long_name": "RMS voltage error of the surrogate", "units": "mV"}),
    }
    coords = {"case": ("case", np.arange(n_test), {"long_name": "held-out parameter pair", **scale}),
              "t": ("t", t, {"long_name": "time since the start of discharge", **seconds}),
              "i0_scale": ("case", test_pairs[:, 0], {"long_name": "anode exchange-current density scale", **scale}),
              "diffusivity_scale": ("case", test_pairs[:, 1], {"long_name": "cathode diffusivity scale", **scale}),
              "train_pair": ("train_pair", np.arange(n_train), {"long_name": "training parameter pair", **scale}),
              "train_i0_scale": ("train_pair", train_pairs[:, 0],
                                 {"long_name": "anode exchange-current scales of the training data", **scale}),
              "train_diffusivity_scale": ("train_pair", train_pairs[:, 1],
                                          {"long_name": "cathode diffusivity scales of the training data", **scale})}
    if config.calibrate:
        clean = curves["obs"][n_test]
        observed = clean + config.noise_mv * 1e-3 * np.random.default_rng(20_000 + config.train.seed).normal(
            size=clean.shape)
        results = calibrate_both(config, surrogate, p2d, t_obs, observed, metrics["test_rmse_mv"])
        samplers = list(results)
        coords.update({"t_obs": ("t_obs", t_obs, {"long_name": "observation time", **seconds}),
                       "sampler": ("sampler", samplers, {"long_name": "model the posterior was sampled with"}),
                       "draw": ("draw", np.arange(config.num_samples), {"long_name": "posterior draw", **scale})})
        data_vars["observed_voltage"] = (("t_obs",), observed, {"long_name": "observed (noisy) cell voltage", **volts})
        for name in ("i0_scale", "diffusivity_scale"):
            data_vars[f"posterior_{name}"] = (("sampler", "draw"),
                                              np.stack([results[s].samples[name] for s in samplers]),
                                              {"long_name": f"posterior draws of {name}", **scale})
        truth_values = {"i0_scale": config.true_i0_scale, "diffusivity_scale": config.true_diffusivity_scale}
        for sampler, outcome in results.items():
            for name, value in truth_values.items():
                low, high = outcome.interval(name)
                metrics[f"{sampler}_{name}_q025"], metrics[f"{sampler}_{name}_q975"] = low, high
                metrics[f"{sampler}_{name}_covered"] = float(low <= value <= high)
                metrics[f"{sampler}_{name}_ess"] = outcome.ess[name]
            metrics[f"{sampler}_nuts_wall_s"] = outcome.wall_time_s
            metrics[f"{sampler}_nuts_s_per_ess"] = outcome.seconds_per_effective_sample
            metrics[f"{sampler}_nuts_gradients_per_ess"] = outcome.gradients_per_effective_sample
            metrics[f"{sampler}_divergences"] = float(outcome.divergences)
        if "solver" in results:
            metrics["nuts_speedup_per_ess"] = (results["solver"].seconds_per_effective_sample
                                               / results["surrogate"].seconds_per_effective_sample)
    predictions = xr.Dataset(data_vars, coords=coords, attrs={
        "problem": "P2D (DFN) 1C discharge, LG M50 (Chen et al. 2020)", "current_A": config.current,
        "mesh": str(p2d.var_pts), "noise_mv": config.noise_mv, "true_i0_scale": config.true_i0_scale,
        "true_diffusivity_scale": config.true_diffusivity_scale})
    run.write_predictions(predictions)
    plot_calibration(predictions, run, solver="P2D", surrogate="surrogate")
    return metrics


def calibrate_both(config: Config, surrogate: P2DSurrogate, p2d: P2D, t_obs, observed, surrogate_rmse_mv: float):
    """NUTS with the surrogate (float32; its held-out error added to the noise) and, if asked, the P2D solver
    (float64, forward sensitivities through the BDF). Returns {sampler: CalibrationResult}."""
    noise = config.noise_mv * 1e-3
    key = jax.random.key(30_000 + config.train.seed)
    t32 = jnp.asarray(t_obs, jnp.float32)
    common = {"i0_range": I0_RANGE, "diffusivity_range": DIFFUSIVITY_RANGE, "num_warmup": config.num_warmup,
              "num_samples": config.num_samples, "key": key}
    results = {"surrogate": calibrate(lambda a, b: surrogate.voltage_unchecked(t32, a, b),
                                      jnp.asarray(observed, jnp.float32), float(np.hypot(noise,
                                                                                         surrogate_rmse_mv * 1e-3)),
                                      **common)}
    if config.calibrate_with_solver:
        with jax.enable_x64(True):
            t64 = jnp.asarray(t_obs)
            results["solver"] = calibrate(lambda a, b: p2d.voltage(config.current, a, b, t64), jnp.asarray(observed),
                                          noise, **common)
    return results
