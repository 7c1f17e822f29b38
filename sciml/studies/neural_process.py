"""Neural-process studies: the random-grid neural process (RGNP) and its baselines on a parametric PDE family, scored
forward (u given z, against a solver) and inverse (z given noisy sensor readings), with calibration.

Methods (a config's `method` names one):

- ``"rgnp"``: `sciml.rgnp.RGNP` trained on the random-grid ELBO (physics; solver data only if `use_data`);
- ``"data-np"``: the same networks trained on solver solutions only (`sciml.rgnp.DataELBO`);
- ``"pinn"``: a parametric PINN u(x, z) (`sciml.pinn`), deterministic; its inverse is the grid posterior of z under
  the uniform prior and the Gaussian noise model with the PINN as forward model.

The family here is the nonlinear Poisson problem ``-((1 + u^2) u')' = z pi^2 sin(pi x)`` on (0, 1), u(0) = u(1) = 0,
z in [0.5, 3] (reference: `sciml.solvers.nonlinear_poisson_family`). Experiments call `run_study`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy import stats

from sciml._errors import ConfigError, DataError
from sciml.nn import MLP
from sciml.pde import Box, Problem, UniformPoints, interval
from sciml.pinn import PINN, HardConstraint, PINNLoss
from sciml.rgnp import (
    RGNP,
    DataELBO,
    DiagonalCovariance,
    ForwardNetwork,
    InverseNetwork,
    LowRankCovariance,
    ParametricProblem,
    RandomGridELBO,
    RandomGridTasks,
    SensorData,
    noise_query,
)
from sciml.solvers import nonlinear_poisson_1d
from sciml.studies._run import RunDir
from sciml.studies._training import fit_summary, train
from sciml.uq import coverage, crps_gaussian

__all__ = ["METHODS", "POISSON", "Surrogate", "build", "evaluation_sets", "forward_prediction", "grid_posterior",
           "inverse_posterior", "model_like", "plot_study", "poisson_residual", "predict", "predictions_dataset",
           "run_study"]

METHODS = ("rgnp", "data-np", "pinn")
LEVEL = 0.9
_Z90 = float(stats.norm.ppf(0.5 + LEVEL / 2))


def poisson_residual(u, z):
    """``-((1 + u^2) u')' - z pi^2 sin(pi x)`` of a `sciml.pde.Field` u (elementwise in u's value), z ``(1,)``."""
    return -(1 + u.value**2) * u.xx - 2 * u.value * u.x**2 - z[0] * jnp.pi**2 * jnp.sin(jnp.pi * u.coords["x"])


POISSON = ParametricProblem(interval(0.0, 1.0, "x"), Box((0.5,), (3.0,), ("z",)), poisson_residual)
"""The nonlinear Poisson family: x in (0, 1), z in [0.5, 3]."""

_DIRICHLET = HardConstraint(lambda p: jnp.zeros((), p.dtype), lambda p: 4 * p[0] * (1 - p[0]))
_PINN_DOMAIN = Box((0.0, 0.5), (1.0, 3.0), ("x", "z"))


def _poisson_source(z: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda s: z * np.pi**2 * np.sin(np.pi * s)


def _solve(z: float, points: np.ndarray) -> np.ndarray:
    return nonlinear_poisson_1d(points, _poisson_source(float(z)))


class Surrogate(eqx.Module):
    """What a run saves: the trained model and the factor its predictive std is scaled by (1: not recalibrated)."""

    model: eqx.Module
    std_scale: jax.Array


def _covariance(config):
    if config.covariance == "diagonal":
        return DiagonalCovariance()
    if config.covariance == "low-rank":
        return LowRankCovariance(config.rank)
    raise ConfigError(f"covariance must be 'diagonal' or 'low-rank', got {config.covariance!r}")


def _check_method(config) -> None:
    if config.method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {config.method!r} (--set method=rgnp)")


def model_like(config) -> Surrogate:
    """The untrained surrogate (key ``config.train.key(0)``) of the config's method, for `sciml.load`."""
    _check_method(config)
    key = config.train.key(0)
    if config.method == "pinn":
        net = MLP(2, "scalar", config.width, config.depth, key=key)
        model = PINN(_PINN_DOMAIN, net, transform=HardConstraint(lambda p: jnp.zeros((), p.dtype),
                                                                   lambda p: 4 * p[0] * (1 - p[0])))
    else:
        k_forward, k_inverse = jax.random.split(key)
        forward = ForwardNetwork(POISSON.domain, POISSON.parameters, _DIRICHLET, _covariance(config), config.width,
                                 config.depth, config.n_frequencies, key=k_forward)
        inverse = InverseNetwork(POISSON.domain, POISSON.parameters, DiagonalCovariance(), query_size=1,
                                 key=k_inverse, channels=config.gic_channels, resolution=config.gic_resolution,
                                 conv_channels=config.conv_channels, conv_depth=config.conv_depth, basis=config.basis)
        model = RGNP(forward, inverse)
    return Surrogate(model, jnp.ones(()))


def _rng(config, purpose: int) -> np.random.Generator:
    """A NumPy generator from the run's key for `purpose` (data of the training seed)."""
    return np.random.default_rng(int(jax.random.randint(config.train.key(purpose), (), 0, 2**31 - 1)))


def _solver_data(config) -> SensorData:
    """`data_cases` solver solutions at `data_points` uniform points each."""
    rng = _rng(config, 2)
    z = rng.uniform(*POISSON.parameters.lower, *POISSON.parameters.upper, size=config.data_cases)
    points = rng.uniform(0.0, 1.0, size=(config.data_cases, config.data_points))
    values = np.stack([_solve(zi, p) for zi, p in zip(z, points, strict=True)])
    f32 = np.float32
    return SensorData(jnp.asarray(z[:, None], f32), jnp.asarray(points[:, :, None], f32), jnp.asarray(values, f32),
                      config.n_tasks, (config.min_sensors, config.max_sensors),
                      (config.noise_level, config.noise_level))


def build(config):
    """The untrained surrogate, its loss and its batch source for the config's method."""
    surrogate = model_like(config)
    if config.method == "pinn":
        interior = UniformPoints(_PINN_DOMAIN, config.n_tasks * config.n_points)

        def residual(u):
            return poisson_residual(u, u.point[1:])

        problem = Problem(_PINN_DOMAIN, residual=residual, interior=interior, constraints={})
        return surrogate, PINNLoss(problem), problem.sampler()
    if config.method == "data-np":
        if config.data_cases < 1:
            raise ConfigError(f"method 'data-np' trains on solver solutions: data_cases must be >= 1, got "
                              f"{config.data_cases}")
        return surrogate, DataELBO(config.sensor_slots, config.data_noise), _solver_data(config)
    data = _solver_data(config) if config.use_data else None
    tasks = RandomGridTasks(POISSON.domain, POISSON.parameters, config.n_tasks, config.n_points,
                            config.sensor_slots, (config.min_sensors, config.max_sensors),
                            (config.noise_level, config.noise_level), data)
    return surrogate, RandomGridELBO(POISSON, config.reference_std, config.max_residual_std, config.data_noise), tasks


def _trained_loss(loss):
    """The loss on the `Surrogate` (training moves its model only)."""
    return lambda surrogate, batch, key: loss(surrogate.model, batch, key)


def evaluation_sets(config) -> dict[str, np.ndarray]:
    """The held-out sets (seed `eval_seed`, not the training seed), with solver references.

    - forward: ``test_z`` values of z (sorted) and the ``n_x``-point grid of x: ``z, x, reference (z, x)``;
    - inverse: ``inverse_cases`` cases with ``inverse_sensors`` uniform sensors each: ``z_true, sensor_x,
      sensor_value`` (exact), ``sensor_reading`` (with noise of std noise_level x the case's peak |u|), ``noise_std``;
    - calibration: ``calibration_cases`` other values of z and their references on the grid.
    """
    rng = np.random.default_rng(config.eval_seed)
    low, high = POISSON.parameters.lower[0], POISSON.parameters.upper[0]
    x = np.linspace(0.0, 1.0, config.n_x)
    z = np.sort(rng.uniform(low, high, config.test_z))
    reference = np.stack([_solve(zi, x) for zi in z])
    z_true = rng.uniform(low, high, config.inverse_cases)
    sensor_x = rng.uniform(0.0, 1.0, (config.inverse_cases, config.inverse_sensors))
    fine = np.linspace(0.0, 1.0, 201)
    solved = [_solve(zi, np.concatenate([s, fine])) for zi, s in zip(z_true, sensor_x, strict=True)]
    sensor_value = np.stack([v[: config.inverse_sensors] for v in solved])
    noise_std = config.noise_level * np.array([np.max(np.abs(v[config.inverse_sensors:])) for v in solved])
    reading = sensor_value + noise_std[:, None] * rng.standard_normal(sensor_value.shape)
    z_cal = rng.uniform(low, high, config.calibration_cases)
    calibration = np.stack([_solve(zi, x) for zi in z_cal]) if config.calibration_cases else np.zeros((0, x.size))
    return {"z": z, "x": x, "reference": reference, "z_true": z_true, "sensor_x": sensor_x,
            "sensor_value": sensor_value, "sensor_reading": reading, "noise_std": noise_std, "z_calibration": z_cal,
            "calibration_reference": calibration}


@eqx.filter_jit
def _forward_moments(model, z, x):
    """Mean and std of u at the points x ``(n,)`` for one z ``(1,)`` (one query; compiled once per grid size)."""
    if isinstance(model, PINN):
        points = jnp.stack([x, jnp.broadcast_to(z, x.shape)], axis=-1)
        return jax.vmap(model)(points), jnp.zeros_like(x)
    distribution = model.forward.distribution(z, x[:, None])
    return distribution.mean, jnp.sqrt(distribution.marginal_variance())


def forward_prediction(surrogate: Surrogate, z, x) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and std of u on the grid ``(z, x)`` (std 0 for the PINN), the std scaled by `std_scale`."""
    f32 = jnp.float32
    x = jnp.asarray(x, f32)
    moments = [_forward_moments(surrogate.model, jnp.asarray([zi], f32), x) for zi in np.asarray(z).ravel()]
    mean = np.stack([np.asarray(m, np.float64) for m, _ in moments]).reshape(-1, x.shape[0])
    std = np.stack([np.asarray(s, np.float64) for _, s in moments]).reshape(-1, x.shape[0])
    return mean, std * float(surrogate.std_scale)


def grid_posterior(log_likelihood: np.ndarray, z_grid: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, std and central 90% interval of z from log-likelihoods on a uniform grid of z (a flat prior).

    Args:
        log_likelihood: ``(cases, n_grid)``; z_grid: ``(n_grid,)`` increasing.
    """
    weights = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    mean = weights @ z_grid
    std = np.sqrt(np.maximum(weights @ z_grid**2 - mean**2, 0.0))
    cdf = np.cumsum(weights, axis=1) - weights / 2  # at the nodes, each node's weight spread over its cell
    lower = np.array([np.interp((1 - LEVEL) / 2, c, z_grid) for c in cdf])
    upper = np.array([np.interp((1 + LEVEL) / 2, c, z_grid) for c in cdf])
    return {"mean": mean, "std": std, "lower": lower, "upper": upper}


@eqx.filter_jit
def _inverse_moments(model: RGNP, points, readings, query):
    """Posterior mean and std of z from one case's readings ``(sensors,)`` (one query)."""
    posterior = model.inverse(points[:, None], readings, None, query)
    return posterior.mean[0], jnp.sqrt(posterior.marginal_variance()[0])


@eqx.filter_jit
def _pinn_log_likelihood(model: PINN, z_grid, points, readings, noise_std):
    """The Gaussian log-likelihood of one case's readings at each z of the grid, the PINN as forward model."""
    grid = jnp.stack(jnp.broadcast_arrays(points[None, :], z_grid[:, None]), axis=-1)  # (n_grid, n_sensors, 2)
    u = jax.vmap(jax.vmap(model))(grid)
    return -0.5 * jnp.sum(jnp.square((u - readings[None, :]) / noise_std), axis=1)


def inverse_posterior(surrogate: Surrogate, config, sensor_x, readings, noise_std) -> dict[str, np.ndarray]:
    """Posterior mean, std and 90% interval of z per case from noisy readings at the sensors ``(cases, sensors)``."""
    f32 = jnp.float32
    cases = [(jnp.asarray(p, f32), jnp.asarray(r, f32), jnp.asarray(s, f32))
             for p, r, s in zip(np.atleast_2d(sensor_x), np.atleast_2d(readings), np.atleast_1d(noise_std),
                                strict=True)]
    if isinstance(surrogate.model, PINN):
        z_grid = np.linspace(POISSON.parameters.lower[0], POISSON.parameters.upper[0], config.pinn_z_grid)
        grid = jnp.asarray(z_grid, f32)
        log_likelihood = np.stack([np.asarray(_pinn_log_likelihood(surrogate.model, grid, *case), np.float64)
                                   for case in cases])
        return grid_posterior(log_likelihood, z_grid)
    query = noise_query(jnp.asarray(config.noise_level, f32))
    moments = [_inverse_moments(surrogate.model, p, r, query) for p, r, _ in cases]
    mean = np.array([float(m) for m, _ in moments])
    std = np.array([float(s) for _, s in moments])
    return {"mean": mean, "std": std, "lower": mean - _Z90 * std, "upper": mean + _Z90 * std}


def _std_scale(surrogate: Surrogate, sets) -> float:
    """The factor making the 90% intervals cover 90% of the calibration references' interior points (1: none)."""
    if isinstance(surrogate.model, PINN) or not sets["z_calibration"].size:
        return 1.0
    mean, std = forward_prediction(surrogate, sets["z_calibration"], sets["x"])
    ratio = (np.abs(mean - sets["calibration_reference"]) / std)[:, 1:-1]
    return float(np.quantile(ratio, LEVEL) / _Z90)


def _median_time(fn: Callable[[], object], repeats: int = 7) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _attrs(units: str, long_name: str, **extra) -> dict:
    return {"units": units, "long_name": long_name, **extra}


def predictions_dataset(sets, forward, inverse, config) -> xr.Dataset:
    """predictions.nc: the forward prediction on ``(z, x)`` beside the reference, and the inverse posteriors."""
    mean, std = forward
    fields = {
        "prediction": (("z", "x"), mean, _attrs("1", "predictive mean of u")),
        "reference": (("z", "x"), sets["reference"], _attrs("1", "u by scipy solve_bvp")),
        "z_true": ("case", sets["z_true"], _attrs("1", "true z of the inverse case")),
        "z_posterior_mean": ("case", inverse["mean"], _attrs("1", "posterior mean of z")),
        "z_posterior_std": ("case", inverse["std"], _attrs("1", "posterior standard deviation of z")),
        "z_posterior_lower": ("case", inverse["lower"], _attrs("1", "lower end of the central 90% interval of z",
                                                               level=LEVEL)),
        "z_posterior_upper": ("case", inverse["upper"], _attrs("1", "upper end of the central 90% interval of z",
                                                               level=LEVEL)),
        "sensor_x": (("case", "sensor"), sets["sensor_x"], _attrs("1", "sensor position")),
        "sensor_reading": (("case", "sensor"), sets["sensor_reading"], _attrs("1", "noisy reading of u")),
        "noise_std": ("case", sets["noise_std"], _attrs("1", "standard deviation of the reading noise")),
    }
    if config.method != "pinn":
        fields.update({
            "prediction_std": (("z", "x"), std, _attrs("1", "predictive standard deviation of u")),
            "prediction_lower": (("z", "x"), mean - _Z90 * std, _attrs("1", "lower end of the central 90% interval "
                                                                       "of u", level=LEVEL)),
            "prediction_upper": (("z", "x"), mean + _Z90 * std, _attrs("1", "upper end of the central 90% interval "
                                                                       "of u", level=LEVEL)),
        })
    coords = {
        "z": ("z", sets["z"], _attrs("1", "source amplitude z of the held-out forward case")),
        "x": ("x", sets["x"], _attrs("1", "position")),
        "case": ("case", np.arange(sets["z_true"].size), _attrs("1", "index of the inverse case")),
        "sensor": ("sensor", np.arange(sets["sensor_x"].shape[1]), _attrs("1", "index of the sensor")),
    }
    return xr.Dataset(fields, coords=coords, attrs={
        "pde": "-(d/dx)[(1 + u^2) du/dx] = z pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0", "method": config.method,
        "noise_level": config.noise_level})


def predict(surrogate: Surrogate, config, inputs) -> xr.Dataset:
    """The forward prediction on a grid: `inputs` is a dataset (or mapping) with coordinates ``z`` and ``x`` (as the
    run's predictions.nc); returns `prediction` on ``(z, x)``, and for the neural processes `prediction_std`."""
    try:
        z, x = np.asarray(inputs["z"], np.float64).ravel(), np.asarray(inputs["x"], np.float64).ravel()
    except (KeyError, TypeError):
        raise DataError(f"predict: expected a dataset or mapping with coordinates 'z' and 'x', got "
                        f"{type(inputs).__name__}") from None
    mean, std = forward_prediction(surrogate, z, x)
    out = xr.Dataset({"prediction": (("z", "x"), mean)}, coords={"z": z, "x": x})
    if not isinstance(surrogate.model, PINN):
        out["prediction_std"] = (("z", "x"), std)
    return out


def _scores(sets, forward, inverse, method: str) -> dict[str, float]:
    mean, std = forward
    reference = sets["reference"]
    rel = np.linalg.norm(mean - reference, axis=1) / np.linalg.norm(reference, axis=1)
    z_true = sets["z_true"]
    z_rel = np.abs(inverse["mean"] - z_true) / z_true
    scores = {
        "forward_rel_l2_mean": float(rel.mean()), "forward_rel_l2_median": float(np.median(rel)),
        "forward_rel_l2_max": float(rel.max()),
        "inverse_rel_error_mean": float(z_rel.mean()), "inverse_rel_error_median": float(np.median(z_rel)),
        "inverse_rel_error_max": float(z_rel.max()), "inverse_within_5pct": float(np.mean(z_rel <= 0.05)),
        "inverse_coverage90": coverage(inverse["lower"], inverse["upper"], z_true),
        "inverse_crps": float(np.mean(crps_gaussian(inverse["mean"], np.maximum(inverse["std"], 1e-12), z_true))),
    }
    if method != "pinn":
        interior = (slice(None), slice(1, -1))
        scores["forward_coverage90"] = coverage((mean - _Z90 * std)[interior], (mean + _Z90 * std)[interior],
                                                reference[interior])
        scores["forward_crps"] = float(np.mean(crps_gaussian(mean[interior], std[interior], reference[interior])))
    return scores


def run_study(config, run: RunDir) -> dict:
    """Train the config's method, recalibrate (neural processes, `calibration_cases` > 0), score forward and inverse
    on the held-out sets, write the model, predictions.nc and figures; returns the summary metrics."""
    surrogate, loss, data = build(config)
    result = train(surrogate, _trained_loss(loss), data, config.train, run)
    surrogate = result.model
    sets = evaluation_sets(config)
    raw = _scores(sets, forward_prediction(surrogate, sets["z"], sets["x"]),
                  inverse_posterior(surrogate, config, sets["sensor_x"], sets["sensor_reading"], sets["noise_std"]),
                  config.method)
    surrogate = eqx.tree_at(lambda s: s.std_scale, surrogate, jnp.asarray(_std_scale(surrogate, sets), jnp.float32))
    run.save_model(surrogate)
    forward = forward_prediction(surrogate, sets["z"], sets["x"])
    inverse = inverse_posterior(surrogate, config, sets["sensor_x"], sets["sensor_reading"], sets["noise_std"])
    predictions = predictions_dataset(sets, forward, inverse, config)
    run.write_predictions(predictions)
    run.save_figure(plot_study(predictions), "forward_inverse")
    scores = _scores(sets, forward, inverse, config.method)
    if "forward_coverage90" in raw:
        scores["forward_coverage90_uncalibrated"] = raw["forward_coverage90"]
        scores["forward_std_scale"] = float(surrogate.std_scale)
    one_z, one_case = sets["z"][:1], slice(0, 1)
    scores["forward_query_s"] = _median_time(lambda: forward_prediction(surrogate, one_z, sets["x"]))
    scores["inverse_query_s"] = _median_time(lambda: inverse_posterior(
        surrogate, config, sets["sensor_x"][one_case], sets["sensor_reading"][one_case], sets["noise_std"][one_case]))
    return {**scores, **fit_summary(result)}


def plot_study(predictions: xr.Dataset, n_curves: int = 3):
    """Left: u against x for a few held-out z (mean, 90% band, reference); middle: their errors against the band's
    half-width; right: the posterior of z against the truth."""
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4), constrained_layout=True)
    picks = np.unique(np.linspace(0, predictions.sizes["z"] - 1, n_curves).round().astype(int))
    for i, colour in zip(picks, plt.cm.viridis(np.linspace(0.1, 0.8, picks.size)), strict=True):
        row = predictions.isel(z=i)
        label = f"z = {float(row.z):.2f}"
        if "prediction_lower" in predictions:
            left.fill_between(row.x, row.prediction_lower, row.prediction_upper, color=colour, alpha=0.3)
            half = (row.prediction_upper - row.prediction_lower) / 2
            middle.fill_between(row.x, -half, half, color=colour, alpha=0.2)
        left.plot(row.x, row.reference, "k-", lw=1)
        left.plot(row.x, row.prediction, "--", color=colour, label=label)
        middle.plot(row.x, row.prediction - row.reference, color=colour, label=label)
    left.set(xlabel="x", ylabel="u", title="forward: mean, 90% interval, reference (black)")
    left.legend()
    middle.axhline(0.0, color="k", lw=0.5)
    middle.set(xlabel="x", ylabel="mean - reference", title="forward error and the 90% interval (band)")
    truth = predictions.z_true.values
    error = np.stack([predictions.z_posterior_mean - predictions.z_posterior_lower,
                      predictions.z_posterior_upper - predictions.z_posterior_mean])
    right.errorbar(truth, predictions.z_posterior_mean, yerr=error, fmt=".", ms=3, lw=0.7, alpha=0.8)
    right.plot([truth.min(), truth.max()], [truth.min(), truth.max()], "k-", lw=1)
    right.set(xlabel="true z", ylabel="posterior mean of z", title="inverse: posterior mean and 90% interval")
    return fig
