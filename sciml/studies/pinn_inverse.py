"""Inverse PINN studies: recover unknown PDE coefficients from noisy sensor data with a deep ensemble, and report
them with an interval.

An experiment's `Config` subclasses `InverseConfig` and defines `setup()`, its `InverseSetup` (domain, residual
``(u, p)``, hard constraint, the coefficients' true values and initial guesses, the reference field and how sensors
are placed). `train_inverse` draws the sensors, their noise and each member's bootstrap weights, trains the
ensemble (`EnsembleLoss` over `WithCoefficients` members) through `sciml.studies.train`, and writes predictions.nc
(the ensemble-mean field and its spread beside the reference, every member's coefficients, the sensors), the field
figure and the coefficients' trajectories (read back from metrics.jsonl, where the loss logs them every chunk).
`model_like` and `predict` are the experiments' own.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml import metrics
from sciml._errors import ConfigError, DataError
from sciml.data import with_cf_attributes
from sciml.nn import MLP
from sciml.pde import (
    Box,
    Coefficient,
    DataConstraint,
    FixedPoints,
    LogPositive,
    PointSets,
    Problem,
    SobolPoints,
    SoftplusPositive,
    Unconstrained,
    WithCoefficients,
)
from sciml.pinn import PINN, EnsembleLoss, HardConstraint, PINNLoss, bootstrap_counts, ensemble_estimate
from sciml.studies import RunDir, TrainConfig, fit_summary, read_metrics, train
from sciml.studies.pinn import plot_fields, query_points
from sciml.train import Evaluation
from sciml.uq import make_ensemble

__all__ = ["PARAMETRISATIONS", "InverseConfig", "InverseSetup", "ensemble_model", "model_like", "observations",
           "plot_coefficients", "predict", "train_inverse"]

# Config names of the coefficients' parametrisations.
PARAMETRISATIONS = {"log": LogPositive, "softplus": SoftplusPositive, "none": Unconstrained}


@dataclasses.dataclass(frozen=True)
class InverseSetup:
    """What an inverse experiment is about.

    Attributes:
        domain: the space-time box; its axis names are the reference grid's coordinates.
        residual: ``residual(u, p)``, p the coefficients by name (e.g. ``u.t - p["kappa"] * u.xx``).
        transform: the `HardConstraint` carrying the known initial and boundary values (or None).
        truth: ``{name: true value}``, for scoring only.
        initial: ``{name: initial guess}``.
        long_names: ``{name: what the coefficient is}``, for predictions.nc and figures.
        reference: a dataset with ``reference`` on a grid whose coordinates are the domain's axes.
        sensors: ``sensors(rng, n) -> (points (n, d), clean values (n,))``, the observation sites and the true field
            there.
    """

    domain: Box
    residual: Callable
    transform: HardConstraint | None
    truth: dict[str, float]
    initial: dict[str, float]
    long_names: dict[str, str]
    reference: xr.Dataset
    sensors: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class InverseConfig(abc.ABC):
    """The knobs of the inverse PINN experiments; each experiment's `Config` subclasses it with its own defaults and
    defines `setup()`."""

    train: TrainConfig = TrainConfig(steps=4000, learning_rate=2e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.7, lbfgs_steps=500, lbfgs_dtype="float64", chunk=100)
    """Training of the whole ensemble: Adam with exponential decay, then L-BFGS on the sum of the member losses."""
    width: int = 32
    """Hidden units per layer of each member's MLP."""
    depth: int = 3
    """Hidden layers of each member's MLP."""
    n_residual: int = 2048
    """Sobol residual (collocation) points per Adam step, shared by the members."""
    resample_every: int = 100
    """Adam steps between shifts of the residual points."""
    n_residual_lbfgs: int = 4096
    """Sobol residual points of the full-batch L-BFGS stage."""
    n_sensors: int = 200
    """Observation sites (sensors) of the field."""
    noise: float = 0.0
    """Observation noise: Gaussian, standard deviation `noise` x the standard deviation of the clean sensor values."""
    data_weight: float = 1.0
    """Weight of the data (sensor) term against the mean-square residual."""
    members: int = 5
    """Ensemble members, each its own network initialisation (and bootstrap of the sensors)."""
    bootstrap: bool = True
    """Train each member on its own bootstrap resample of the sensors (weights), so the spread includes the noise's."""
    parametrisation: str = "log"
    """Coefficients' parametrisation: "log" (exp of the trained number), "softplus" or "none" (unconstrained)."""
    level: float = 0.95
    """Level of the coefficients' central interval."""

    def __post_init__(self):
        if self.parametrisation not in PARAMETRISATIONS:
            raise ConfigError(f"parametrisation must be one of {tuple(PARAMETRISATIONS)}, got "
                              f"{self.parametrisation!r}")
        if self.members < 2:
            raise ConfigError(f"members must be >= 2 for an interval, got {self.members}")
        if self.noise < 0 or self.n_sensors < 1:
            raise ConfigError(f"expected noise >= 0 and n_sensors >= 1, got noise={self.noise}, "
                              f"n_sensors={self.n_sensors}")
        if not 0 < self.level < 1:
            raise ConfigError(f"level must lie in (0, 1), got {self.level}")

    @abc.abstractmethod
    def setup(self) -> InverseSetup:
        """The experiment's `InverseSetup`."""


def _member(setup: InverseSetup, config: InverseConfig, key: jax.Array) -> WithCoefficients:
    field = PINN(setup.domain, MLP(setup.domain.ndim, "scalar", config.width, config.depth, key=key),
                 transform=setup.transform)
    parametrisation = PARAMETRISATIONS[config.parametrisation]()
    return WithCoefficients(field, {name: Coefficient(value, parametrisation) for name, value in setup.initial.items()})


def ensemble_model(setup: InverseSetup, config: InverseConfig) -> WithCoefficients:
    """The untrained ensemble: `config.members` `WithCoefficients` PINNs stacked (key ``config.train.key(0)``),
    every member's coefficients at the initial guesses."""
    return make_ensemble(lambda key: _member(setup, config, key), config.members, key=config.train.key(0))


def model_like(config: InverseConfig) -> WithCoefficients:
    """The untrained ensemble of an `InverseConfig` experiment: what `train_inverse` trains."""
    return ensemble_model(config.setup(), config)


def observations(setup: InverseSetup, config: InverseConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(points (n, d), clean (n,), observed (n,), noise std)``: the sensors and their noisy values, drawn from
    the run's seed (another seed, other sites and noise)."""
    rng = np.random.default_rng([config.train.seed, 1])
    points, clean = setup.sensors(rng, config.n_sensors)
    points, clean = np.asarray(points, np.float64), np.asarray(clean, np.float64)
    if points.shape != (config.n_sensors, setup.domain.ndim) or clean.shape != (config.n_sensors,):
        raise DataError(f"sensors: expected points ({config.n_sensors}, {setup.domain.ndim}) and values "
                        f"({config.n_sensors},), got {points.shape} and {clean.shape}")
    sigma = float(config.noise * np.std(clean))
    return points, clean, clean + sigma * rng.standard_normal(clean.shape), sigma


@eqx.filter_jit
def _fields_at(ensemble, points: Float[Array, "n d"]) -> Float[Array, "m n"]:
    return eqx.filter_vmap(lambda m: jax.vmap(m)(points))(ensemble)


def _member_fields(model, points: Float[Array, "n d"], batch_size: int = 16384) -> np.ndarray:
    """Every member's field at the points, ``(M, n)`` on the host."""
    return np.concatenate([np.asarray(_fields_at(model, points[i : i + batch_size]))
                           for i in range(0, points.shape[0], batch_size)], axis=1)


def predict(model: WithCoefficients, config: InverseConfig, inputs) -> xr.Dataset:
    """The ensemble's field, `prediction` (the member mean) and `prediction_std` (their spread), at `inputs`: a
    dataset with the domain's axes (e.g. t, x) as coordinates of a grid (as the run's predictions.nc), or points
    ``(n, d)`` (on dim ``point``)."""
    points, dims, shape, coords = query_points(model.field.domain.names, inputs)
    fields = _member_fields(model, jnp.asarray(points, jnp.float32)).astype(np.float64)
    return xr.Dataset({"prediction": (dims, fields.mean(axis=0).reshape(shape)),
                       "prediction_std": (dims, fields.std(axis=0, ddof=1).reshape(shape))}, coords=coords)


def train_inverse(config: InverseConfig, run: RunDir) -> dict:
    """Draw the sensors, train the ensemble as ``config.train`` says, and write predictions.nc, the field and the
    coefficient figures; the summary holds, per coefficient, the ensemble mean, spread, interval, whether it covers
    the truth and the relative error, beside the field's relative L2 error.

    Keys: model ``config.train.key(0)``, training ``key(1)``; sensors, noise and bootstrap from ``config.train.seed``.
    """
    setup = config.setup()
    points, clean, observed, sigma = observations(setup, config)
    rng = np.random.default_rng([config.train.seed, 2])
    counts = (bootstrap_counts(len(points), config.members, rng) if config.bootstrap
              else np.ones((config.members, len(points))))
    interior = SobolPoints(setup.domain, config.n_residual, every=config.resample_every, seed=config.train.seed)
    losses = [PINNLoss(Problem(setup.domain, setup.residual, interior,
                               {"data": DataConstraint(points, observed, weights)}),
                       weights={"data": config.data_weight}) for weights in counts]
    loss = EnsembleLoss(losses)
    lbfgs_points = PointSets({"residual": SobolPoints(setup.domain, config.n_residual_lbfgs,
                                                      seed=config.train.seed + 1),
                              "data": FixedPoints(jnp.asarray(points))})
    reference = setup.reference
    exact = reference.reference.values

    def evaluate(model):
        return {"rel_l2": metrics.relative_l2(predict(model, config, reference).prediction.values, exact)}

    chunk = config.train.chunk
    result = train(ensemble_model(setup, config), loss, losses[0].problem.sampler(), config.train, run,
                   lbfgs_data=lbfgs_points,
                   evaluations=[Evaluation(evaluate, chunk * max(1, config.train.steps // (4 * chunk)))])
    run.save_model(result.model)
    values = {name: np.asarray(value, np.float64) for name, value in result.model.values().items()}
    estimates = {name: ensemble_estimate(value, config.level) for name, value in values.items()}
    ds = predict(result.model, config, reference)
    ds["reference"] = reference.reference
    ds.attrs.update(reference.attrs)
    ds = _with_coefficients(ds, setup, estimates, points, observed, sigma, config)
    run.write_predictions(ds)
    plot_fields(ds, run)
    plot_coefficients(run, read_metrics(run.metrics), estimates, setup.truth)
    summary = {"rel_l2": metrics.relative_l2(ds.prediction.values, exact), "noise_std": sigma,
               "sensor_rel_rmse_clean": float(np.sqrt(np.mean((observed - clean) ** 2)) / np.std(clean))}
    for name, estimate in estimates.items():
        truth = setup.truth[name]
        summary.update({name: estimate.mean, f"{name}_std": estimate.std, f"{name}_lower": estimate.lower,
                        f"{name}_upper": estimate.upper, f"{name}_true": truth,
                        f"{name}_rel_error": estimate.relative_error(truth),
                        f"{name}_rel_error_median_member": float(np.median(np.abs(values[name] - truth)) / abs(truth)),
                        f"{name}_covered": estimate.covers(truth), f"{name}_members": list(estimate.members)})
    return {**summary, **fit_summary(result)}


def _with_coefficients(ds: xr.Dataset, setup: InverseSetup, estimates: dict, points: np.ndarray,
                       observed: np.ndarray, sigma: float, config: InverseConfig) -> xr.Dataset:
    """`ds` with each coefficient (per member, its mean, interval and truth) and the sensors, CF-described."""
    attrs = {"prediction": {"long_name": "PINN ensemble-mean solution u", "units": "1"},
             "prediction_std": {"long_name": "standard deviation of the PINN ensemble's solution u", "units": "1"},
             "reference": {"long_name": "reference solution u", "units": "1"},
             "sensor": {"long_name": "sensor index", "units": "1"},
             "observation": {"long_name": "observed u at the sensors (with noise)", "units": "1"}}
    ds = ds.assign_coords(member=np.arange(config.members), sensor=np.arange(len(points)))
    for i, axis in enumerate(setup.domain.names):
        ds = ds.assign_coords({f"sensor_{axis}": ("sensor", points[:, i])})
        attrs[f"sensor_{axis}"] = {"long_name": f"{axis} of the sensor", "units": "1"}
    ds["observation"] = ("sensor", observed)
    for name, estimate in estimates.items():
        what = setup.long_names.get(name, name)
        ds[name] = ("member", np.asarray(estimate.members))
        ds[f"{name}_mean"] = estimate.mean
        ds[f"{name}_lower"] = estimate.lower
        ds[f"{name}_upper"] = estimate.upper
        ds[f"{name}_true"] = setup.truth[name]
        level = f"{config.level:.0%}"
        attrs[name] = {"long_name": f"recovered {what} per ensemble member", "units": "1"}
        attrs[f"{name}_mean"] = {"long_name": f"ensemble mean of the recovered {what}", "units": "1"}
        attrs[f"{name}_lower"] = {"long_name": f"lower bound of the {level} interval of {what}", "units": "1"}
        attrs[f"{name}_upper"] = {"long_name": f"upper bound of the {level} interval of {what}", "units": "1"}
        attrs[f"{name}_true"] = {"long_name": f"true {what}", "units": "1"}
    ds.attrs.update({"interval_level": config.level, "noise": config.noise, "noise_std": sigma,
                     "interval": "mean +- t_{M-1} std sqrt(1 + 1/M) over the members (sciml.pinn.ensemble_estimate)",
                     "bootstrap": int(config.bootstrap)})
    return with_cf_attributes(ds, attrs)


def plot_coefficients(run: RunDir, records: list[dict], estimates: dict, truth: dict[str, float]) -> None:
    """Per coefficient: every member's trajectory against the step (from the metrics records, Adam then L-BFGS) with
    the truth, and the final members with the ensemble mean and its interval."""
    names = list(estimates)
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.6 * len(names)), squeeze=False, constrained_layout=True,
                             gridspec_kw={"width_ratios": (3, 1)})
    for row, name in zip(axes, names, strict=True):
        estimate = estimates[name]
        left, right = row
        for m in range(len(estimate.members)):
            steps = [r["step"] for r in records if f"{name}_{m}" in r]
            left.plot(steps, [r[f"{name}_{m}"] for r in records if f"{name}_{m}" in r], lw=1, label=f"member {m}")
        left.axhline(truth[name], color="k", ls="--", lw=1.2, label="truth")
        adam = [r["step"] for r in records if r.get("phase") == "adam"]
        if adam and any(r.get("phase") == "lbfgs" for r in records):
            left.axvline(max(adam), color="0.6", ls=":", lw=1)  # where L-BFGS starts
        left.set(xlabel="step", ylabel=name, title=f"{name}: members during training")
        left.legend(fontsize=7, ncol=2)
        right.plot(np.zeros(len(estimate.members)), estimate.members, "o", ms=4, alpha=0.6, label="members")
        bar = [[estimate.mean - estimate.lower], [estimate.upper - estimate.mean]]
        right.errorbar([0.3], [estimate.mean], yerr=bar, fmt="s", color="C3", capsize=4,
                       label=f"mean, {estimate.level:.0%} interval")
        right.axhline(truth[name], color="k", ls="--", lw=1.2, label="truth")
        right.set(xlim=(-0.5, 0.8), xticks=[], title=f"{name} = {estimate.mean:.4g} +- {estimate.std:.2g}")
        right.legend(fontsize=7)
    run.save_figure(fig, "coefficients")
