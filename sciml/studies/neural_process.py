"""Neural-process studies: the random-grid neural process (RGNP) and its baselines on a parametric PDE family, scored
forward (u given z, against a solver) and inverse (z given noisy sensor readings), with calibration.

Methods (a config's `method` names one):

- ``"rgnp"``: `sciml.rgnp.RGNP` trained on the random-grid ELBO (physics; solver data only if `use_data`);
- ``"data-np"``: the same networks trained on solver solutions only (`sciml.rgnp.DataELBO`);
- ``"pinn"``: a parametric PINN u(x, z) (`sciml.pinn`), deterministic; its inverse is the grid posterior of z under
  the uniform prior and the Gaussian noise model with the PINN as forward model.

The PDE family is a strategy (`NeuralProcessFamily`): the problem, the hard constraint of its initial and boundary
data, its reference solver and the labels of its outputs. Two are defined:

- `NONLINEAR_POISSON`: ``-((1 + u^2) u')' = z pi^2 sin(pi x)`` on (0, 1), u(0) = u(1) = 0, z in [0.5, 3] (reference:
  scipy's solve_bvp, `sciml.solvers.nonlinear_poisson_1d`);
- `VISCOUS_BURGERS`: ``u_t + u u_x = nu u_xx`` on (-1, 1) x (0, 1], u(x, 0) = -sin(pi x), u(+-1, t) = 0, nu in
  [0.02, 0.1] (reference: the Cole-Hopf formula, `sciml.solvers.burgers_cole_hopf`).

Experiments call `run_study(config, run, family)`; a config names the evaluation grid's size per coordinate in the
fields the family's `grid_sizes` name (``n_x``; ``n_t`` and ``n_x``).
"""

from __future__ import annotations

import dataclasses
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
from sciml.pde import Box, Problem, UniformPoints, interval, time_space
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
from sciml.solvers import burgers_cole_hopf, nonlinear_poisson_1d
from sciml.studies._config import TrainConfig
from sciml.studies._run import RunDir
from sciml.studies._training import fit_summary, train
from sciml.uq import coverage, crps_gaussian

__all__ = ["BURGERS", "METHODS", "NONLINEAR_POISSON", "POISSON", "VISCOUS_BURGERS", "NeuralProcessFamily", "Surrogate",
           "build", "burgers_residual", "evaluation_sets", "forward_prediction", "grid_points", "grid_posterior",
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


def burgers_residual(u, z):
    """``u_t + u u_x - nu u_xx`` of a `sciml.pde.Field` u over ``(t, x)`` (elementwise in u's value), z = ``(nu,)``."""
    viscous = z[0] * u.xx  # first: u.x comes out of the same pass
    return u.t + u.value * u.x - viscous


BURGERS = ParametricProblem(time_space(0.0, 1.0, interval(-1.0, 1.0, "x")), Box((0.02,), (0.1,), ("nu",)),
                            burgers_residual)
"""The viscous Burgers family: t in (0, 1], x in (-1, 1), nu in [0.02, 0.1]."""

_INITIAL_BOUNDARY = HardConstraint(lambda p: -jnp.sin(jnp.pi * p[1]), lambda p: p[0] * (1 - p[1] ** 2))


def _poisson_reference(z: float, points: np.ndarray) -> np.ndarray:
    return nonlinear_poisson_1d(points[:, 0], lambda s: z * np.pi**2 * np.sin(np.pi * s))


def _burgers_reference(nu: float, points: np.ndarray) -> np.ndarray:
    return burgers_cole_hopf(nu, points[:, 0], points[:, 1])


@dataclasses.dataclass(frozen=True)
class NeuralProcessConfig:
    """The settings every neural-process experiment shares (`poisson-rgnp`'s defaults); a family's experiment
    subclasses it and changes defaults or adds its own fields."""

    train: TrainConfig = TrainConfig(steps=8000, learning_rate=3e-3, schedule="cosine", final_fraction=0.01,
                                     chunk=250)
    """Training: Adam on a cosine schedule."""
    method: str = "rgnp"
    """The surrogate: "rgnp" (random-grid ELBO), "data-np" (same networks, reference solutions only) or "pinn"."""
    covariance: str = "diagonal"
    """Covariance of u over points: "diagonal" or "low-rank" (the paper's diag and lr variants)."""
    rank: int = 2
    """Columns of the low-rank covariance factor."""
    width: int = 48
    """Hidden units of the forward network (and of the PINN)."""
    depth: int = 3
    """Hidden layers of the forward network (and of the PINN)."""
    n_frequencies: int = 16
    """Trainable Fourier frequencies per coordinate in the forward network."""
    gic_channels: int = 16
    """Lifted channels of the GICNet (one kernel length-scale each)."""
    gic_resolution: int = 32
    """Nodes per axis of the GICNet's latent grid."""
    conv_channels: int = 16
    """Channels of the GICNet's CNN."""
    conv_depth: int = 3
    """Convolution layers of the GICNet."""
    basis: int = 32
    """Width of the GICNet's DeepONet-style branch/trunk product."""
    n_tasks: int = 32
    """Parameter values per step (and solver cases per step for data-np)."""
    n_points: int = 16
    """Random collocation points per parameter value and step (the PINN gets n_tasks x n_points points per step)."""
    sensor_slots: int = 50
    """Sensor positions drawn per task for the inverse network (at most this many are read)."""
    min_sensors: int = 10
    """Fewest sensors the inverse network is trained on."""
    max_sensors: int = 50
    """Most sensors the inverse network is trained on."""
    noise_level: float = 0.01
    """Reading noise std as a fraction of the case's peak |u| (training and test)."""
    reference_std: float = 10.0
    """Std of the broad Gaussian reference measure of u in the ELBO's KL."""
    max_residual_std: float = 1.0
    """Cap on the residual noise std eps_r (learned from the mean field's residual)."""
    use_data: bool = False
    """Add the reference-data likelihood to the RGNP's ELBO."""
    data_cases: int = 256
    """Reference solutions of the data likelihood (data-np, or the RGNP with use_data)."""
    data_points: int = 64
    """Uniform random points per reference solution."""
    data_noise: float = 0.0
    """Std of the noise on the reference data's values in the data likelihood."""
    calibration_cases: int = 32
    """Reference solutions (parameters disjoint from the test set) that rescale the forward std to 90% coverage;
    0: none."""
    test_z: int = 20
    """Held-out parameter values of the forward check."""
    n_x: int = 101
    """Points of the forward check's x grid."""
    inverse_cases: int = 100
    """Held-out inverse cases."""
    inverse_sensors: int = 20
    """Sensors per inverse case."""
    eval_seed: int = 1234
    """Seed of the held-out sets (fixed across training seeds)."""
    pinn_z_grid: int = 1001
    """Parameter values in the PINN's grid posterior."""


class NeuralProcessFamily(eqx.Module):
    """The parametric PDE family a neural-process study runs on (a strategy of the study).

    Args:
        problem: the PDE family (its domain, the box of z = the uniform prior, the residual).
        constraint: the `HardConstraint` (g, d) of the forward network and of the PINN; d = 0 where u is given.
        reference: ``reference(z: float, points: (n, d)) -> (n,)`` the solver's u for one parameter value (float64).
        grid_sizes: per coordinate of the domain, the config field giving its number of evaluation grid points.
        pde: the family in one line (predictions.nc's ``pde`` attribute).
        reference_name: the long name of the reference field (which solver).
        parameter_long_name: the long name of z.
        coordinate_long_names: the long name of each coordinate.
        frequency_range: initial range of the forward network's Fourier frequencies (cycles per unit of the input
            scaled to [-1, 1]).
        peak_points: points per axis of the grid on which a case's peak |u| (the scale of the reading noise) is taken.
    """

    problem: ParametricProblem
    constraint: HardConstraint
    reference: Callable = eqx.field(static=True)
    grid_sizes: tuple[str, ...] = eqx.field(static=True)
    pde: str = eqx.field(static=True)
    reference_name: str = eqx.field(static=True)
    parameter_long_name: str = eqx.field(static=True)
    coordinate_long_names: tuple[str, ...] = eqx.field(static=True)
    frequency_range: tuple[float, float] = eqx.field(static=True, default=(1e-3, 2.0))
    peak_points: int = eqx.field(static=True, default=201)

    def __check_init__(self):
        n = self.problem.domain.ndim
        if self.problem.parameters.ndim != 1 or len(self.grid_sizes) != n or len(self.coordinate_long_names) != n:
            raise ConfigError(f"NeuralProcessFamily: expected one parameter and a grid size and long name per "
                              f"coordinate {self.problem.domain.names}, got parameters {self.problem.parameters.names}"
                              f", grid_sizes {self.grid_sizes} and coordinate_long_names {self.coordinate_long_names}")

    @property
    def parameter(self) -> str:
        """The name of z (the first dimension of the forward outputs)."""
        return self.problem.parameters.names[0]

    def axes(self, config, points: dict[str, int] | None = None) -> dict[str, np.ndarray]:
        """Each coordinate's evaluation points, equispaced over the domain: as many as the config's `grid_sizes`
        fields say, or as `points` says per coordinate name."""
        box = self.problem.domain
        sizes = points or {name: getattr(config, size) for name, size in zip(box.names, self.grid_sizes, strict=True)}
        return {name: np.linspace(lo, hi, sizes[name]) for name, lo, hi in zip(box.names, box.lower, box.upper,
                                                                                strict=True)}

    def interior(self, points: np.ndarray) -> np.ndarray:
        """True at the points ``(n, d)`` where u is not fixed by the constraint (d != 0)."""
        return np.asarray(jax.vmap(self.constraint.distance)(jnp.asarray(points, jnp.float32))) != 0


NONLINEAR_POISSON = NeuralProcessFamily(
    POISSON, _DIRICHLET, _poisson_reference, ("n_x",),
    "-(d/dx)[(1 + u^2) du/dx] = z pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0", "u by scipy solve_bvp",
    "source amplitude z", ("position",))
"""The nonlinear Poisson family with its hard constraint ``u = 4 x (1 - x) N`` and solve_bvp reference."""

VISCOUS_BURGERS = NeuralProcessFamily(
    BURGERS, _INITIAL_BOUNDARY, _burgers_reference, ("n_t", "n_x"),
    "u_t + u u_x = nu u_xx on (-1, 1) x (0, 1], u(x, 0) = -sin(pi x), u(-1, t) = u(1, t) = 0",
    "u by the Cole-Hopf formula (Gauss-Hermite quadrature)", "viscosity nu", ("time", "position"),
    frequency_range=(0.1, 8.0), peak_points=41)
"""The viscous Burgers family with its hard constraint ``u = -sin(pi x) + t (1 - x^2) N`` and Cole-Hopf reference.
"""


def grid_points(axes: dict[str, np.ndarray]) -> np.ndarray:
    """The tensor grid of the coordinate axes ``(n_1 * ... * n_d, d)``, the last axis fastest."""
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _with_parameters(constraint: HardConstraint, d: int) -> HardConstraint:
    """The constraint on points ``(x_1..x_d, z)`` (the PINN's inputs) acting on x only."""
    return HardConstraint(lambda p: constraint.particular(p[:d]), lambda p: constraint.distance(p[:d]))


def _pinn_domain(family: NeuralProcessFamily) -> Box:
    domain, parameters = family.problem.domain, family.problem.parameters
    return Box(domain.lower + parameters.lower, domain.upper + parameters.upper, domain.names + parameters.names)


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


def model_like(config, family: NeuralProcessFamily = NONLINEAR_POISSON) -> Surrogate:
    """The untrained surrogate (key ``config.train.key(0)``) of the config's method, for `sciml.load`."""
    _check_method(config)
    key = config.train.key(0)
    domain, parameters = family.problem.domain, family.problem.parameters
    if config.method == "pinn":
        pinn_domain = _pinn_domain(family)
        net = MLP(pinn_domain.ndim, "scalar", config.width, config.depth, key=key)
        model = PINN(pinn_domain, net, transform=_with_parameters(family.constraint, domain.ndim))
    else:
        k_forward, k_inverse = jax.random.split(key)
        forward = ForwardNetwork(domain, parameters, family.constraint, _covariance(config), config.width,
                                 config.depth, config.n_frequencies, family.frequency_range, key=k_forward)
        inverse = InverseNetwork(domain, parameters, DiagonalCovariance(), query_size=1, key=k_inverse,
                                 channels=config.gic_channels, resolution=config.gic_resolution,
                                 conv_channels=config.conv_channels, conv_depth=config.conv_depth, basis=config.basis)
        model = RGNP(forward, inverse)
    return Surrogate(model, jnp.ones(()))


def _rng(config, purpose: int) -> np.random.Generator:
    """A NumPy generator from the run's key for `purpose` (data of the training seed)."""
    return np.random.default_rng(int(jax.random.randint(config.train.key(purpose), (), 0, 2**31 - 1)))


def _solver_data(config, family: NeuralProcessFamily) -> SensorData:
    """`data_cases` solver solutions at `data_points` uniform points each."""
    rng = _rng(config, 2)
    domain, parameters = family.problem.domain, family.problem.parameters
    z = rng.uniform(*parameters.lower, *parameters.upper, size=config.data_cases)
    points = rng.uniform(domain.lower, domain.upper, size=(config.data_cases, config.data_points, domain.ndim))
    values = np.stack([family.reference(zi, p) for zi, p in zip(z, points, strict=True)])
    f32 = np.float32
    return SensorData(jnp.asarray(z[:, None], f32), jnp.asarray(points, f32), jnp.asarray(values, f32),
                      config.n_tasks, (config.min_sensors, config.max_sensors),
                      (config.noise_level, config.noise_level))


def build(config, family: NeuralProcessFamily = NONLINEAR_POISSON):
    """The untrained surrogate, its loss and its batch source for the config's method."""
    surrogate = model_like(config, family)
    problem = family.problem
    if config.method == "pinn":
        pinn_domain = _pinn_domain(family)
        interior = UniformPoints(pinn_domain, config.n_tasks * config.n_points)
        d = problem.domain.ndim

        def residual(u):
            return problem.residual(u, u.point[d:])

        pinn_problem = Problem(pinn_domain, residual=residual, interior=interior, constraints={})
        return surrogate, PINNLoss(pinn_problem), pinn_problem.sampler()
    if config.method == "data-np":
        if config.data_cases < 1:
            raise ConfigError(f"method 'data-np' trains on solver solutions: data_cases must be >= 1, got "
                              f"{config.data_cases}")
        return surrogate, DataELBO(config.sensor_slots, config.data_noise), _solver_data(config, family)
    data = _solver_data(config, family) if config.use_data else None
    tasks = RandomGridTasks(problem.domain, problem.parameters, config.n_tasks, config.n_points,
                            config.sensor_slots, (config.min_sensors, config.max_sensors),
                            (config.noise_level, config.noise_level), data)
    return surrogate, RandomGridELBO(problem, config.reference_std, config.max_residual_std, config.data_noise), tasks


def _trained_loss(loss):
    """The loss on the `Surrogate` (training moves its model only)."""
    return lambda surrogate, batch, key: loss(surrogate.model, batch, key)


def evaluation_sets(config, family: NeuralProcessFamily = NONLINEAR_POISSON) -> dict[str, np.ndarray]:
    """The held-out sets (seed `eval_seed`, not the training seed), with solver references.

    - forward: ``test_z`` values of z (sorted) and the tensor grid of the family's axes: ``z, axes`` (name ->
      ``(n_i,)``), ``points (P, d)``, ``reference (z, P)``;
    - inverse: ``inverse_cases`` cases with ``inverse_sensors`` uniform sensors each: ``z_true, sensor_points (cases,
      sensors, d), sensor_value`` (exact), ``sensor_reading`` (with noise of std noise_level x the case's peak |u|),
      ``noise_std``;
    - calibration: ``calibration_cases`` other values of z and their references on the grid.
    """
    rng = np.random.default_rng(config.eval_seed)
    domain, parameters = family.problem.domain, family.problem.parameters
    low, high = parameters.lower[0], parameters.upper[0]
    axes = family.axes(config)
    points = grid_points(axes)
    z = np.sort(rng.uniform(low, high, config.test_z))
    reference = np.stack([family.reference(zi, points) for zi in z])
    z_true = rng.uniform(low, high, config.inverse_cases)
    sensors = rng.uniform(domain.lower, domain.upper, (config.inverse_cases, config.inverse_sensors, domain.ndim))
    fine = grid_points(family.axes(config, dict.fromkeys(domain.names, family.peak_points)))
    solved = [family.reference(zi, np.concatenate([s, fine])) for zi, s in zip(z_true, sensors, strict=True)]
    sensor_value = np.stack([v[: config.inverse_sensors] for v in solved])
    noise_std = config.noise_level * np.array([np.max(np.abs(v[config.inverse_sensors:])) for v in solved])
    reading = sensor_value + noise_std[:, None] * rng.standard_normal(sensor_value.shape)
    z_cal = rng.uniform(low, high, config.calibration_cases)
    calibration = (np.stack([family.reference(zi, points) for zi in z_cal]) if config.calibration_cases
                   else np.zeros((0, len(points))))
    return {"z": z, "axes": axes, "points": points, "reference": reference, "z_true": z_true,
            "sensor_points": sensors, "sensor_value": sensor_value, "sensor_reading": reading, "noise_std": noise_std,
            "z_calibration": z_cal, "calibration_reference": calibration}


@eqx.filter_jit
def _forward_moments(model, z, points):
    """Mean and std of u at the points ``(n, d)`` for one z ``(1,)`` (one query; compiled once per grid size)."""
    if isinstance(model, PINN):
        inputs = jnp.concatenate([points, jnp.broadcast_to(z, (points.shape[0], 1))], axis=-1)
        return jax.vmap(model)(inputs), jnp.zeros(points.shape[:1], points.dtype)
    distribution = model.forward.distribution(z, points)
    return distribution.mean, jnp.sqrt(distribution.marginal_variance())


def forward_prediction(surrogate: Surrogate, z, points) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and std ``(n_z, n)`` of u for each z at the points ``(n, d)`` (or ``(n,)`` for d = 1), std 0 for
    the PINN, the std scaled by `std_scale`."""
    f32 = jnp.float32
    points = jnp.asarray(points, f32)
    points = points[:, None] if points.ndim == 1 else points
    moments = [_forward_moments(surrogate.model, jnp.asarray([zi], f32), points) for zi in np.asarray(z).ravel()]
    mean = np.stack([np.asarray(m, np.float64) for m, _ in moments]).reshape(-1, points.shape[0])
    std = np.stack([np.asarray(s, np.float64) for _, s in moments]).reshape(-1, points.shape[0])
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
    """Posterior mean and std of z from one case's readings ``(sensors,)`` at ``(sensors, d)`` (one query)."""
    posterior = model.inverse(points, readings, None, query)
    return posterior.mean[0], jnp.sqrt(posterior.marginal_variance()[0])


@eqx.filter_jit
def _pinn_log_likelihood(model: PINN, z_grid, points, readings, noise_std):
    """The Gaussian log-likelihood of one case's readings at each z of the grid, the PINN as forward model."""
    n_grid, (n_sensors, d) = z_grid.shape[0], points.shape
    grid = jnp.concatenate([jnp.broadcast_to(points, (n_grid, n_sensors, d)),
                            jnp.broadcast_to(z_grid[:, None, None], (n_grid, n_sensors, 1))], axis=-1)
    u = jax.vmap(jax.vmap(model))(grid)
    return -0.5 * jnp.sum(jnp.square((u - readings[None, :]) / noise_std), axis=1)


def inverse_posterior(surrogate: Surrogate, config, sensor_points, readings, noise_std,
                      family: NeuralProcessFamily = NONLINEAR_POISSON) -> dict[str, np.ndarray]:
    """Posterior mean, std and 90% interval of z per case from noisy readings ``(cases, sensors)`` at the sensors
    ``(cases, sensors, d)``."""
    f32 = jnp.float32
    cases = [(jnp.asarray(p, f32), jnp.asarray(r, f32), jnp.asarray(s, f32))
             for p, r, s in zip(sensor_points, np.atleast_2d(readings), np.atleast_1d(noise_std), strict=True)]
    if isinstance(surrogate.model, PINN):
        parameters = family.problem.parameters
        z_grid = np.linspace(parameters.lower[0], parameters.upper[0], config.pinn_z_grid)
        grid = jnp.asarray(z_grid, f32)
        log_likelihood = np.stack([np.asarray(_pinn_log_likelihood(surrogate.model, grid, *case), np.float64)
                                   for case in cases])
        return grid_posterior(log_likelihood, z_grid)
    query = noise_query(jnp.asarray(config.noise_level, f32))
    moments = [_inverse_moments(surrogate.model, p, r, query) for p, r, _ in cases]
    mean = np.array([float(m) for m, _ in moments])
    std = np.array([float(s) for _, s in moments])
    return {"mean": mean, "std": std, "lower": mean - _Z90 * std, "upper": mean + _Z90 * std}


def _std_scale(surrogate: Surrogate, sets, family: NeuralProcessFamily) -> float:
    """The factor making the 90% intervals cover 90% of the calibration references' interior points (1: none)."""
    if isinstance(surrogate.model, PINN) or not sets["z_calibration"].size:
        return 1.0
    mean, std = forward_prediction(surrogate, sets["z_calibration"], sets["points"])
    ratio = (np.abs(mean - sets["calibration_reference"]) / std)[:, family.interior(sets["points"])]
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


def predictions_dataset(sets, forward, inverse, config,
                        family: NeuralProcessFamily = NONLINEAR_POISSON) -> xr.Dataset:
    """predictions.nc: the forward prediction on ``(z, *coordinates)`` beside the reference, and the inverse
    posteriors (the parameter's name in place of z: ``nu``, ``nu_true``, ... for Burgers)."""
    name, coordinates = family.parameter, family.problem.domain.names
    dims = (name, *coordinates)
    shape = (-1, *(sets["axes"][c].size for c in coordinates))
    mean, std = (np.reshape(a, shape) for a in forward)
    fields = {
        "prediction": (dims, mean, _attrs("1", "predictive mean of u")),
        "reference": (dims, np.reshape(sets["reference"], shape), _attrs("1", family.reference_name)),
        f"{name}_true": ("case", sets["z_true"], _attrs("1", f"true {name} of the inverse case")),
        f"{name}_posterior_mean": ("case", inverse["mean"], _attrs("1", f"posterior mean of {name}")),
        f"{name}_posterior_std": ("case", inverse["std"], _attrs("1", f"posterior standard deviation of {name}")),
        f"{name}_posterior_lower": ("case", inverse["lower"], _attrs(
            "1", f"lower end of the central 90% interval of {name}", level=LEVEL)),
        f"{name}_posterior_upper": ("case", inverse["upper"], _attrs(
            "1", f"upper end of the central 90% interval of {name}", level=LEVEL)),
        "sensor_reading": (("case", "sensor"), sets["sensor_reading"], _attrs("1", "noisy reading of u")),
        "noise_std": ("case", sets["noise_std"], _attrs("1", "standard deviation of the reading noise")),
    }
    for i, (coordinate, long_name) in enumerate(zip(coordinates, family.coordinate_long_names, strict=True)):
        fields[f"sensor_{coordinate}"] = (("case", "sensor"), sets["sensor_points"][..., i],
                                          _attrs("1", f"sensor {long_name}"))
    if config.method != "pinn":
        fields.update({
            "prediction_std": (dims, std, _attrs("1", "predictive standard deviation of u")),
            "prediction_lower": (dims, mean - _Z90 * std, _attrs("1", "lower end of the central 90% interval of u",
                                                                 level=LEVEL)),
            "prediction_upper": (dims, mean + _Z90 * std, _attrs("1", "upper end of the central 90% interval of u",
                                                                 level=LEVEL)),
        })
    coords = {
        name: (name, sets["z"], _attrs("1", f"{family.parameter_long_name} of the held-out forward case")),
        **{c: (c, sets["axes"][c], _attrs("1", long_name))
           for c, long_name in zip(coordinates, family.coordinate_long_names, strict=True)},
        "case": ("case", np.arange(sets["z_true"].size), _attrs("1", "index of the inverse case")),
        "sensor": ("sensor", np.arange(sets["sensor_points"].shape[1]), _attrs("1", "index of the sensor")),
    }
    return xr.Dataset(fields, coords=coords, attrs={"pde": family.pde, "method": config.method,
                                                    "noise_level": config.noise_level})


def predict(surrogate: Surrogate, config, inputs, family: NeuralProcessFamily = NONLINEAR_POISSON) -> xr.Dataset:
    """The forward prediction on a grid: `inputs` is a dataset (or mapping) with the parameter and every coordinate
    (``z, x`` for Poisson, ``nu, t, x`` for Burgers, as the run's predictions.nc); returns `prediction` on
    ``(z, *coordinates)``, and for the neural processes `prediction_std`."""
    dims = (family.parameter, *family.problem.domain.names)
    try:
        values = {d: np.asarray(inputs[d], np.float64).ravel() for d in dims}
    except (KeyError, TypeError):
        raise DataError(f"predict: expected a dataset or mapping with coordinates {dims}, got "
                        f"{type(inputs).__name__}") from None
    axes = {d: values[d] for d in dims[1:]}
    mean, std = forward_prediction(surrogate, values[dims[0]], grid_points(axes))
    shape = (-1, *(a.size for a in axes.values()))
    out = xr.Dataset({"prediction": (dims, mean.reshape(shape))}, coords=values)
    if not isinstance(surrogate.model, PINN):
        out["prediction_std"] = (dims, std.reshape(shape))
    return out


def _scores(sets, forward, inverse, method: str, family: NeuralProcessFamily) -> dict[str, float]:
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
        interior = (slice(None), family.interior(sets["points"]))
        scores["forward_coverage90"] = coverage((mean - _Z90 * std)[interior], (mean + _Z90 * std)[interior],
                                                reference[interior])
        scores["forward_crps"] = float(np.mean(crps_gaussian(mean[interior], std[interior], reference[interior])))
    return scores


def run_study(config, run: RunDir, family: NeuralProcessFamily = NONLINEAR_POISSON) -> dict:
    """Train the config's method on the family, recalibrate (neural processes, `calibration_cases` > 0), score forward
    and inverse on the held-out sets, write the model, predictions.nc and figures; returns the summary metrics."""
    surrogate, loss, data = build(config, family)
    result = train(surrogate, _trained_loss(loss), data, config.train, run)
    surrogate = result.model
    sets = evaluation_sets(config, family)

    def inverse_of(model, cases=slice(None)):
        return inverse_posterior(model, config, sets["sensor_points"][cases], sets["sensor_reading"][cases],
                                 sets["noise_std"][cases], family)

    raw = _scores(sets, forward_prediction(surrogate, sets["z"], sets["points"]), inverse_of(surrogate),
                  config.method, family)
    scale = _std_scale(surrogate, sets, family)
    surrogate = eqx.tree_at(lambda s: s.std_scale, surrogate, jnp.asarray(scale, jnp.float32))
    run.save_model(surrogate)
    forward = forward_prediction(surrogate, sets["z"], sets["points"])
    inverse = inverse_of(surrogate)
    predictions = predictions_dataset(sets, forward, inverse, config, family)
    run.write_predictions(predictions)
    run.save_figure(plot_study(predictions), "forward_inverse")
    scores = _scores(sets, forward, inverse, config.method, family)
    if "forward_coverage90" in raw:
        scores["forward_coverage90_uncalibrated"] = raw["forward_coverage90"]
        scores["forward_std_scale"] = float(surrogate.std_scale)
    scores["forward_query_s"] = _median_time(lambda: forward_prediction(surrogate, sets["z"][:1], sets["points"]))
    scores["inverse_query_s"] = _median_time(lambda: inverse_of(surrogate, slice(0, 1)))
    return {**scores, **fit_summary(result)}


def plot_study(predictions: xr.Dataset, n_curves: int = 3):
    """Left: u against x for a few held-out z (mean, 90% band, reference; at the last value of any other coordinate,
    e.g. t = 1); middle: their errors against the band's half-width; right: the posterior of z against the truth.
    z is the first dimension of `prediction` (``z``, ``nu``, ...), x the last."""
    name, *leading, _ = predictions.prediction.dims
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4), constrained_layout=True)
    picks = np.unique(np.linspace(0, predictions.sizes[name] - 1, n_curves).round().astype(int))
    at = "".join(f", {c} = {float(predictions[c][-1]):.3g}" for c in leading)
    for i, colour in zip(picks, plt.cm.viridis(np.linspace(0.1, 0.8, picks.size)), strict=True):
        row = predictions.isel({name: i, **dict.fromkeys(leading, -1)})
        label = f"{name} = {float(row[name]):.3g}"
        if "prediction_lower" in predictions:
            left.fill_between(row.x, row.prediction_lower, row.prediction_upper, color=colour, alpha=0.3)
            half = (row.prediction_upper - row.prediction_lower) / 2
            middle.fill_between(row.x, -half, half, color=colour, alpha=0.2)
        left.plot(row.x, row.reference, "k-", lw=1)
        left.plot(row.x, row.prediction, "--", color=colour, label=label)
        middle.plot(row.x, row.prediction - row.reference, color=colour, label=label)
    left.set(xlabel="x", ylabel="u", title=f"forward{at}: mean, 90% interval, reference (black)")
    left.legend()
    middle.axhline(0.0, color="k", lw=0.5)
    middle.set(xlabel="x", ylabel="mean - reference", title="forward error and the 90% interval (band)")
    truth = predictions[f"{name}_true"].values
    mean = predictions[f"{name}_posterior_mean"]
    error = np.stack([mean - predictions[f"{name}_posterior_lower"], predictions[f"{name}_posterior_upper"] - mean])
    right.errorbar(truth, mean, yerr=error, fmt=".", ms=3, lw=0.7, alpha=0.8)
    right.plot([truth.min(), truth.max()], [truth.min(), truth.max()], "k-", lw=1)
    right.set(xlabel=f"true {name}", ylabel=f"posterior mean of {name}",
              title="inverse: posterior mean and 90% interval")
    return fig
