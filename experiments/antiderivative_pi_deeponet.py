"""The antiderivative operator f -> s, s' = f on [0, 1], s(0) = 0, learned by a physics-informed DeepONet from the
equation alone (no solution data), for input functions f drawn from a Gaussian process.

Each f is a Gaussian-process sample (squared-exponential kernel, length scale 0.2, unit variance) on the m sensors,
continued between them by a cubic spline; the DeepONet's branch reads f at the sensors. The loss is the residual
s_x - f at fixed collocation points and s(0) = 0, for a random subset of the training functions at every step. The
reference is the spline's exact antiderivative (scipy) for held-out functions, scored on a fine grid.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy.interpolate import CubicSpline

from sciml import metrics
from sciml._errors import DataError
from sciml.nn import DeepONet
from sciml.pinn import PhysicsInformedDeepONetLoss
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.train import AbstractSampler, Evaluation

NAME = "antiderivative-pi-deeponet"
FAMILY = "pinn"
REPRODUCES = ("Wang, Wang & Perdikaris (Sci. Adv. 2021), physics-informed DeepONet: the antiderivative operator "
              "learned without solution data")
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_train_functions": 32, "n_test_functions": 4,
         "functions_per_step": 8, "n_sensors": 20, "n_residual": 20, "width": 16, "depth": 2, "features": 16}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=10000, learning_rate=1e-3, schedule="exponential", decay_steps=2000,
                                     decay_rate=0.8, chunk=500)
    n_sensors: int = 100
    """m: points of [0, 1] (uniform, ends included) where the branch reads the input function."""
    length_scale: float = 0.2
    """Length scale of the input functions' squared-exponential Gaussian-process kernel."""
    n_train_functions: int = 2000
    """Input functions to train on."""
    n_test_functions: int = 200
    """Held-out input functions to score."""
    functions_per_step: int = 100
    """Functions in each step's batch (a random subset of the training functions)."""
    n_residual: int = 100
    """Collocation points of the residual s_x = f (uniform on [0, 1], shared by the functions)."""
    n_eval: int = 501
    """Points of the grid the held-out functions are scored on."""
    features: int = 64
    """p: basis functions shared by branch and trunk."""
    width: int = 64
    """Hidden units per layer of branch and trunk."""
    depth: int = 3
    """Hidden layers of branch and trunk."""


def input_functions(config: Config, n: int, key: jax.Array) -> CubicSpline:
    """`n` Gaussian-process samples on the sensors as one vector-valued cubic spline (values ``(m, n)``)."""
    sensors = np.linspace(0.0, 1.0, config.n_sensors)
    covariance = np.exp(-0.5 * (sensors[:, None] - sensors[None, :]) ** 2 / config.length_scale**2)
    factor = np.linalg.cholesky(covariance + 1e-8 * np.eye(config.n_sensors))
    draws = np.asarray(jax.random.normal(key, (config.n_sensors, n)), np.float64)
    return CubicSpline(sensors, factor @ draws, axis=0)


def sensor_values(functions: CubicSpline, config: Config) -> np.ndarray:
    """The functions at the sensors, ``(n, m)``."""
    return functions(np.linspace(0.0, 1.0, config.n_sensors)).T


class FunctionBatches(AbstractSampler):
    """A random subset of the training functions per step with the shared collocation and initial points."""

    sensors: jax.Array  # (N, m)
    source: jax.Array  # (N, n): f at the collocation points
    residual_points: jax.Array  # (n, 1)
    per_step: int = eqx.field(static=True)

    def __call__(self, key, step):
        chosen = jax.random.choice(jax.random.fold_in(key, step), self.sensors.shape[0], (self.per_step,),
                                   replace=False)
        sensors = self.sensors[chosen]
        return {"sensors": sensors, "residual_points": self.residual_points, "source": self.source[chosen],
                "constraints": {"initial": {"points": jnp.zeros((1, 1)), "values": jnp.zeros((self.per_step, 1))}}}


def build(config: Config, key: jax.Array) -> DeepONet:
    return DeepONet(config.n_sensors, 1, config.features, config.width, config.depth, key=key)


def model_like(config: Config) -> DeepONet:
    """The untrained model (key ``config.train.key(0)``) that `main` trains."""
    return build(config, config.train.key(0))


def predict(model: DeepONet, config: Config, inputs) -> xr.Dataset:
    """`prediction` s(x) for input functions given by their values at the config's sensors: `inputs` is an array
    ``(functions, n_sensors)`` (scored on the config's evaluation grid) or a dataset with `sensor_input`
    ``(function, sensor)`` and coordinate `x` (as the run's predictions.nc)."""
    if isinstance(inputs, xr.Dataset):
        if "sensor_input" not in inputs or "x" not in inputs.coords:
            raise DataError("predict: expected a dataset with `sensor_input` (function, sensor) and coordinate x; got "
                            f"{list(inputs.variables)}")
        values, x = inputs["sensor_input"].values, inputs.x.values
        if values.shape[1] != config.n_sensors:
            raise DataError(f"predict: the dataset has {values.shape[1]} sensors, the model reads {config.n_sensors}")
    else:
        values, x = np.asarray(inputs, np.float64), np.linspace(0.0, 1.0, config.n_eval)
        if values.ndim != 2 or values.shape[1] != config.n_sensors:
            raise DataError(f"predict: expected input values (functions, {config.n_sensors}) at the sensors, got "
                            f"shape {values.shape}")
    prediction = _evaluate(model, values, x)
    return xr.Dataset({"prediction": (("function", "x"), prediction)},
                      coords={"function": np.arange(values.shape[0]), "x": x})


def _evaluate(model: DeepONet, sensors: np.ndarray, x: np.ndarray) -> np.ndarray:
    points = jnp.asarray(x[:, None], jnp.float32)
    apply = jax.jit(lambda s: jax.vmap(lambda f: jax.vmap(lambda p: model(f, p))(points))(s))
    return np.asarray(apply(jnp.asarray(sensors, jnp.float32)), np.float64)


def main(config: Config, run: RunDir) -> dict:
    train_functions = input_functions(config, config.n_train_functions, config.train.key(2))
    test_functions = input_functions(config, config.n_test_functions, config.train.key(3))
    collocation = np.linspace(0.0, 1.0, config.n_residual)
    data = FunctionBatches(jnp.asarray(sensor_values(train_functions, config), jnp.float32),
                           jnp.asarray(train_functions(collocation).T, jnp.float32),
                           jnp.asarray(collocation[:, None], jnp.float32), config.functions_per_step)
    x = np.linspace(0.0, 1.0, config.n_eval)
    test_sensors = sensor_values(test_functions, config)
    reference = test_functions.antiderivative()(x).T  # (functions, x), s(0) = 0

    def evaluate(m):
        return {"rel_l2": float(np.mean([metrics.relative_l2(p, r) for p, r in
                                         zip(_evaluate(m, test_sensors, x), reference, strict=True)]))}

    loss = PhysicsInformedDeepONetLoss(lambda u, f: u.x - f, ("x",))
    steps, chunk = config.train.steps, config.train.chunk
    result = train(build(config, config.train.key(0)), loss, data, config.train, run,
                   evaluations=[Evaluation(evaluate, chunk * max(1, steps // (10 * chunk)))])
    run.save_model(result.model)
    prediction = _evaluate(result.model, test_sensors, x)
    errors = np.asarray([metrics.relative_l2(p, r) for p, r in zip(prediction, reference, strict=True)])
    ds = xr.Dataset(
        {"prediction": (("function", "x"), prediction, {"long_name": "DeepONet antiderivative s", "units": "1"}),
         "reference": (("function", "x"), reference,
                       {"long_name": "exact antiderivative of the input's cubic spline (scipy)", "units": "1"}),
         "input": (("function", "x"), test_functions(x).T, {"long_name": "input function f", "units": "1"}),
         "sensor_input": (("function", "sensor"), test_sensors,
                          {"long_name": "input function f at the sensors (what the branch reads)", "units": "1"})},
        coords={"function": ("function", np.arange(config.n_test_functions), {"long_name": "held-out input function",
                                                                               "units": "1"}),
                "x": ("x", x, {"long_name": "coordinate x", "units": "1"}),
                "sensor": ("sensor", np.linspace(0.0, 1.0, config.n_sensors),
                           {"long_name": "sensor position x", "units": "1"})},
        attrs={"equation": "s_x = f on [0, 1], s(0) = 0", "sensors": f"{config.n_sensors} uniform points of [0, 1]"})
    run.write_predictions(ds)
    _plot(ds, errors, run)
    return {"rel_l2_mean": float(errors.mean()), "rel_l2_median": float(np.median(errors)),
            "rel_l2_max": float(errors.max()), **fit_summary(result)}


def _plot(ds: xr.Dataset, errors: np.ndarray, run: RunDir) -> None:
    """Three held-out functions (median, best and worst error): input, prediction and exact antiderivative."""
    order = np.argsort(errors)
    chosen = [order[0], order[len(order) // 2], order[-1]]
    fig, axes = plt.subplots(1, len(chosen), figsize=(4 * len(chosen), 3), sharex=True)
    for ax, k in zip(np.atleast_1d(axes), chosen, strict=True):
        ax.plot(ds.x, ds["input"][k], color="0.6", label="f")
        ax.plot(ds.x, ds["reference"][k], "k", label="s exact")
        ax.plot(ds.x, ds["prediction"][k], "C1--", label="s DeepONet")
        ax.set_title(f"function {int(k)}: rel. L2 {errors[k]:.1e}")
        ax.set_xlabel("x")
    np.atleast_1d(axes)[0].legend()
    run.save_figure(fig, "antiderivatives")
