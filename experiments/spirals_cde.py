"""Neural CDE classifies clockwise vs anticlockwise spirals from irregular series (30% of the points dropped).

Each series is a noisy 2-D decaying spiral with random phase, radius and decay, turning one way or the other; 30% of
each series' time points are removed at random (NaN plus mask). The neural CDE reads `[t, x, y]` through diffrax's
backward Hermite cubic interpolation (which bridges the gaps) and predicts the direction from its final hidden state.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import xarray as xr

from sciml.data import MinibatchSampler, drop_observations, series_arrays, series_dataset, with_cf_attributes
from sciml.dynamics import NeuralCDE, cde_coefficients, with_failure_metric
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.train import Evaluation

NAME = "spirals-cde"
FAMILY = "neural-de"
REPRODUCES = "Neural CDE (Kidger et al., NeurIPS 2020), as diffrax's example: spiral direction from irregular series"
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_train": 32, "n_test": 16, "length": 32, "width": 16,
         "batch_size": 8}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=300, learning_rate=1e-2, schedule="constant", chunk=50)
    n_train: int = 256
    """Training series."""
    n_test: int = 256
    """Test series the accuracy is scored on."""
    length: int = 64
    """Time points per series over [0, 4 pi] (before dropping)."""
    noise: float = 0.05
    """Standard deviation of the Gaussian noise added to the spirals."""
    drop_fraction: float = 0.3
    """Share of each series' time points removed at random."""
    hidden_size: int = 8
    """Size of the CDE's hidden state."""
    width: int = 32
    """Hidden units per layer of the CDE's vector-field MLP."""
    depth: int = 2
    """Hidden layers of the CDE's vector-field MLP."""
    batch_size: int = 32
    """Series per training batch."""


def spirals(n: int, length: int, noise: float, rng: np.random.Generator):
    """`(t (length,), values (n, length, 2), labels (n,))`: label 1 for anticlockwise."""
    t = np.linspace(0.0, 4 * np.pi, length)
    labels = rng.integers(0, 2, n)
    direction = np.where(labels == 1, 1.0, -1.0)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    radius = rng.uniform(0.5, 1.5, (n, 1)) * np.exp(-rng.uniform(0.05, 0.2, (n, 1)) * t[None])
    angle = phase + direction * t[None]
    values = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    return t, values + noise * rng.standard_normal(values.shape), labels


def prepare(t, values, labels, config: Config, seed: int):
    data = drop_observations(series_dataset(t, values, ["x", "y"], label=(("sample",), labels)), config.drop_fraction,
                             seed=seed)
    arrays = series_arrays(data)
    ts = jnp.asarray(arrays["ts"])
    coeffs = jax.vmap(cde_coefficients, in_axes=(None, 0))(ts, jnp.asarray(arrays["values"]))
    return data, ts, coeffs


def bce_loss(model, batch, key=None):
    logits, failed = jax.vmap(model.output_and_failure, in_axes=(None, 0))(batch["ts"], batch["coeffs"])
    logits = jnp.where(failed, 0.0, logits[:, 0])  # a failed solve shows in `solver_failed` (and an inf loss)
    labels = batch["labels"]
    bce = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))
    accuracy = jnp.mean((logits > 0) == (labels > 0.5))
    loss, solver_failed = with_failure_metric(bce, failed)
    return loss, {"bce": bce, "accuracy": accuracy, "solver_failed": solver_failed}


def model_like(config: Config) -> NeuralCDE:
    """The untrained neural CDE of `config`: reads `[t, x, y]`, one logit out."""
    return NeuralCDE(3, config.hidden_size, 1, config.width, config.depth, key=config.train.key(0))


@eqx.filter_jit
def _logits(model: NeuralCDE, ts, coeffs):
    return jax.vmap(lambda one: model(ts, one)[0])(coeffs)


def predict(model: NeuralCDE, config: Config, inputs) -> xr.Dataset:
    """P(anticlockwise) of each series.

    `inputs`: a dataset with `observations` (sample, t, channel) of (x, y), NaN where not observed, on times `t`
    (e.g. the run's `predictions.nc`), or a time-series dataset (`sciml.data.series_dataset`, channels x and y).
    Returns `prediction` (sample,).
    """
    if "observations" in inputs:
        inputs = series_dataset(inputs["t"].values, inputs["observations"].values, ["x", "y"])
    arrays = series_arrays(inputs)
    ts = jnp.asarray(arrays["ts"])
    coeffs = jax.vmap(cde_coefficients, in_axes=(None, 0))(ts, jnp.asarray(arrays["values"]))
    probability = np.asarray(jax.nn.sigmoid(_logits(model, ts, coeffs)))
    return xr.Dataset({"prediction": (("sample",), probability)}, coords={"sample": np.arange(len(probability))})


def main(config: Config, run: RunDir) -> dict:
    seed = config.train.seed
    rng = np.random.default_rng(seed)
    t, train_values, train_labels = spirals(config.n_train, config.length, config.noise, rng)
    _, test_values, test_labels = spirals(config.n_test, config.length, config.noise, rng)
    _, ts, train_coeffs = prepare(t, train_values, train_labels, config, seed)
    test_data, _, test_coeffs = prepare(t, test_values, test_labels, config, seed + 1)
    model = model_like(config)
    sampler = MinibatchSampler({"ts": ts, "coeffs": train_coeffs, "labels": jnp.asarray(train_labels, jnp.float32)},
                               config.batch_size, shared=("ts",))

    def test_accuracy(model):
        logits = np.asarray(_logits(model, ts, test_coeffs))
        return {"test_accuracy": float(np.mean((logits > 0) == (test_labels == 1)))}

    result = train(model, bce_loss, sampler, config.train, run,
                   evaluations=[Evaluation(test_accuracy, config.train.steps)])
    run.save_model(result.model)
    probability = np.asarray(jax.nn.sigmoid(_logits(result.model, ts, test_coeffs)))
    predictions = xr.Dataset(
        {
            "prediction": (("sample",), probability),
            "reference": (("sample",), test_labels.astype(float)),
            "observations": (("sample", "t", "channel"), test_data["values"].values),
        },
        coords={"sample": np.arange(config.n_test), "t": t, "channel": ["x", "y"]},
        attrs={"prediction": "probability that the spiral turns anticlockwise (label 1)",
               "dropped_fraction": config.drop_fraction},
    )
    run.write_predictions(with_cf_attributes(predictions, {
        "prediction": {"long_name": "probability that the spiral turns anticlockwise", "units": "1"},
        "reference": {"long_name": "label (1: anticlockwise, 0: clockwise)", "units": "1"},
        "observations": {"long_name": "observed spiral coordinates (NaN: dropped)", "units": "1"}}))
    plot(predictions, result.history, run)
    return {
        "test_accuracy": float(np.mean((probability > 0.5) == (test_labels == 1))),
        "train_accuracy_last_batch": result.history[-1]["accuracy"],
        "dropped_fraction": config.drop_fraction,
        "published_accuracy_diffrax_example": 1.0,
        **fit_summary(result),
    }


def plot(predictions: xr.Dataset, history, run: RunDir) -> None:
    """Test spirals (observed points only) coloured by the predicted probability, and the training curve."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    for i in range(12):
        xy = predictions.observations[i].values
        p = float(predictions.prediction[i])
        axes[0].plot(xy[:, 0] + 3 * (i % 4), xy[:, 1] + 3 * (i // 4), ".-", ms=3, lw=0.6,
                     color=plt.cm.coolwarm(p))
        axes[0].text(3 * (i % 4), 3 * (i // 4) + 1.3, f"p={p:.2f} y={int(predictions.reference[i])}", ha="center",
                     fontsize=7)
    axes[0].set(title="test spirals, 30% points dropped (colour: P(anticlockwise))", aspect="equal")
    axes[0].axis("off")
    steps = [h["step"] for h in history]
    axes[1].plot(steps, [h["loss"] for h in history], label="BCE")
    axes[1].plot(steps, [h["accuracy"] for h in history], label="batch accuracy")
    axes[1].set(xlabel="step", title="training")
    axes[1].legend()
    run.save_figure(fig, "spirals")
