"""Mixed precision: bfloat16 compute with float32 master weights trains a PINN and an FNO as well as float32 (within
2x of its error at the same small budget), the step really computes in bfloat16, and summaries record the precision."""

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import ConfigError, metrics
from sciml.data import load_reference
from sciml.nn import FNO
from sciml.studies import TrainConfig, load_experiment, resolve_config, run_experiment
from sciml.train import FullPrecision, MixedPrecision, fit

TOY = Path(__file__).resolve().parent / "experiments_for_tests"


def _float_dtypes(tree) -> set[str]:
    return {x.dtype.name for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))}


def test_bfloat16_trains_the_burgers_pinn_within_twice_the_float32_error():
    experiment = load_experiment("burgers-pinn")
    config = resolve_config(experiment.config_type, {"width": 16, "depth": 2, "n_residual": 256})
    reference = load_reference("burgers")
    tt, xx = np.meshgrid(reference.t.values, reference.x.values, indexing="ij")
    grid = jnp.asarray(np.stack([tt.ravel(), xx.ravel()], axis=1))
    model, loss = experiment.module.build(config, jax.random.key(0))
    first_batch = loss.problem.sampler()(jax.random.fold_in(jax.random.key(1), 0), jnp.asarray(0))
    initial_loss = float(loss(model, first_batch, jax.random.key(0))[0])
    errors, losses = {}, {}
    for name, precision in [("float32", FullPrecision()), ("bfloat16", MixedPrecision())]:
        result = fit(model, loss, loss.problem.sampler(), optax.adam(1e-2), 300, key=jax.random.key(1), chunk=50,
                     precision=precision)
        assert _float_dtypes(result.model) == {"float32"}, name
        prediction = np.asarray(result.model.on_grid(grid)).reshape(reference.u.shape)
        errors[name] = metrics.relative_l2(prediction, reference.u.values)
        losses[name] = result.history[-1]["loss"]
    print(f"Burgers PINN, 300 Adam steps: rel. L2 {errors}, loss {losses} (initial {initial_loss:.3f})")
    assert losses["bfloat16"] < 0.5 * initial_loss, "bfloat16 did not train"
    assert errors["bfloat16"] <= 2 * errors["float32"]


def _fourier_fields(key, count: int, n: int) -> jax.Array:
    """`count` random periodic fields on `n` points (four Fourier modes, decaying amplitudes), shape (count, 1, n)."""
    amplitudes = jax.random.normal(key, (count, 2, 4)) / jnp.arange(1, 5)[None, None, :]
    phase = 2 * jnp.pi * jnp.arange(1, 5)[:, None] * (jnp.arange(n) / n)[None, :]
    return (amplitudes[:, 0] @ jnp.sin(phase) + amplitudes[:, 1] @ jnp.cos(phase))[:, None, :]


def test_bfloat16_trains_an_fno_within_twice_the_float32_error():
    # The advection operator over a fixed time: a periodic shift by two grid cells, exact on any input.
    n, shift = 32, 2
    train_u, test_u = _fourier_fields(jax.random.key(1), 64, n), _fourier_fields(jax.random.key(2), 64, n)
    batch = {"u": train_u, "target": jnp.roll(train_u, shift, axis=-1)}

    def loss(model, batch, key):
        mse = jnp.mean((jax.vmap(model)(batch["u"]) - batch["target"]) ** 2)
        return mse, {"mse": mse}

    def error(model):
        return metrics.relative_l2(np.asarray(jax.vmap(model)(test_u)), np.roll(np.asarray(test_u), shift, axis=-1))

    model = FNO(1, 1, width=8, modes=6, depth=2, ndim=1, projection=16, key=jax.random.key(0))
    errors = {}
    for name, precision in [("float32", FullPrecision()), ("bfloat16", MixedPrecision())]:
        result = fit(model, loss, batch, optax.adam(1e-2), 200, key=jax.random.key(3), chunk=50, precision=precision)
        assert _float_dtypes(result.model) == {"float32"}, name
        errors[name] = error(result.model)
    print(f"FNO on the advection shift, 200 Adam steps: rel. L2 {errors} (untrained {error(model):.2f})")
    assert errors["bfloat16"] < 0.1 * error(model), "bfloat16 did not train"
    assert errors["bfloat16"] <= 2 * errors["float32"]


def test_the_step_computes_in_bfloat16_and_updates_in_float32():
    seen = {}

    def loss(params, batch, key):
        seen["params"], seen["batch"] = params.dtype.name, batch["x"].dtype.name  # at trace time
        misfit = jnp.mean((params[0] * batch["x"] + params[1] - batch["y"]) ** 2)
        return misfit, {"misfit": misfit}

    def record_gradients():
        def update(grads, state, params=None):
            seen["gradients"] = grads.dtype.name
            return grads, state

        return optax.GradientTransformation(lambda params: optax.EmptyState(), update)

    x = np.linspace(-1.0, 1.0, 16, dtype=np.float32)
    optimizer = optax.chain(record_gradients(), optax.adam(0.05))
    result = fit(jnp.zeros(2), loss, {"x": x, "y": 2 * x + 0.5}, optimizer, 20, key=jax.random.key(0), chunk=10,
                 precision=MixedPrecision())
    assert seen == {"params": "bfloat16", "batch": "bfloat16", "gradients": "float32"}
    assert result.model.dtype == jnp.float32
    assert result.precision["compute_dtype"] == "bfloat16" and result.precision["parameter_dtype"] == "float32"
    assert isinstance(result.history[-1]["loss"], float)


def test_precision_in_the_config_and_the_summary(tmp_path):
    assert isinstance(TrainConfig(precision="bfloat16").precision_strategy(), MixedPrecision)
    assert isinstance(TrainConfig().precision_strategy(), FullPrecision)
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="float16")
    with pytest.raises(ConfigError, match="loss scaling"):
        MixedPrecision("float16")
    out = run_experiment("linear-fit", {"train.steps": 20, "train.precision": "bfloat16"}, directory=TOY,
                         out=tmp_path / "run")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["precision"] == {"compute_dtype": "bfloat16", "parameter_dtype": "float32",
                                    "matmul_precision": "default (cpu: float32)"}
