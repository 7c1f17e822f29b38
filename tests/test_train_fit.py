"""The training engine: convergence against closed forms, exact resume, NaN guard, L-BFGS, host data, evaluations."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.train import LBFGS, AbstractSampler, Evaluation, NonFiniteLossError, fit, latest_checkpoint


class Linear(eqx.Module):
    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return x @ self.w + self.b


def _regression_data(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.01 * rng.normal(size=n)).astype(np.float32)
    return {"x": x, "y": y}


def mse(model, batch, key):
    residual = jax.vmap(model)(batch["x"]) - batch["y"]
    return jnp.mean(residual**2), {"mse": jnp.mean(residual**2)}


def _linear():
    return Linear(jnp.zeros(3), jnp.zeros(()))


class NoisyBatches(AbstractSampler):
    """Random minibatches of a fixed data set (drawn on device from the key and step)."""

    x: jax.Array
    y: jax.Array

    def __call__(self, key, step):
        idx = jax.random.choice(jax.random.fold_in(key, step), self.x.shape[0], (16,), replace=False)
        return {"x": self.x[idx], "y": self.y[idx]}


def test_fit_full_batch_matches_least_squares():
    data = _regression_data()
    result = fit(_linear(), mse, data, optax.adam(0.05), 1500, key=jax.random.key(0), chunk=500)
    design = np.c_[data["x"], np.ones(len(data["x"]))]
    exact, *_ = np.linalg.lstsq(design, data["y"], rcond=None)
    assert_close(result.model.w, exact[:3], rtol=0, atol=2e-3, what="weights vs least squares")
    assert_close(result.model.b, exact[3], rtol=0, atol=2e-3, what="bias vs least squares")
    assert result.history[-1]["step"] == 1500 and result.compile_time_s > 0


def test_lbfgs_stage_reaches_least_squares_in_float64_and_keeps_dtype():
    data = _regression_data()
    result = fit(_linear(), mse, data, optax.adam(1e-3), 10, key=jax.random.key(0), chunk=10,
                 lbfgs=LBFGS(60, dtype="float64"))
    design = np.c_[data["x"], np.ones(len(data["x"]))].astype(np.float64)
    exact, *_ = np.linalg.lstsq(design, data["y"].astype(np.float64), rcond=None)
    assert_close(result.model.w, exact[:3], rtol=0, atol=1e-5, what="L-BFGS weights")
    assert result.model.w.dtype == jnp.float32
    assert [h["phase"] for h in result.history] == ["adam"] + ["lbfgs"] * 6


def _params(model):
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))])


def test_resume_from_checkpoint_gives_the_uninterrupted_parameters(tmp_path):
    data = _regression_data()
    sampler = NoisyBatches(jnp.asarray(data["x"]), jnp.asarray(data["y"]))
    opt = optax.adam(optax.exponential_decay(0.05, 20, 0.5))
    kwargs = dict(key=jax.random.key(3), chunk=10, checkpoint_every=10)
    straight = fit(_linear(), mse, sampler, opt, 60, out_dir=tmp_path / "a", **kwargs)
    fit(_linear(), mse, sampler, opt, 30, out_dir=tmp_path / "b", **kwargs)  # "stopped" at step 30
    resumed = fit(_linear(), mse, sampler, opt, 60, out_dir=tmp_path / "b", **kwargs)
    assert resumed.resumed_from == 30
    np.testing.assert_array_equal(_params(resumed.model), _params(straight.model))
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40, 50, 60]
    meta = json.loads((latest_checkpoint(tmp_path / "b" / "checkpoints") / "meta.json").read_text())
    assert meta["step"] == 60 and "jax" in meta["versions"]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    data = _regression_data()
    kwargs = dict(key=jax.random.key(3), chunk=10, out_dir=tmp_path)
    fit(_linear(), mse, data, optax.adam(1e-2), 20, meta={"config": {"lr": 0.01, "width": 4}}, **kwargs)
    again = fit(_linear(), mse, data, optax.adam(1e-2), 30, meta={"config": {"lr": 0.01, "width": 4}}, **kwargs)
    assert again.resumed_from == 20
    with pytest.raises(ConfigError, match=r"lr: 0.01 -> 0.1.*resume=False"):
        fit(_linear(), mse, data, optax.adam(1e-1), 40, meta={"config": {"lr": 0.1, "width": 4}}, **kwargs)
    fresh = fit(_linear(), mse, data, optax.adam(1e-1), 10, meta={"config": {"lr": 0.1}}, resume=False, **kwargs)
    assert fresh.resumed_from is None


def test_resume_inside_the_lbfgs_stage(tmp_path):
    data = _regression_data()
    kwargs = dict(key=jax.random.key(1), chunk=5)
    straight = fit(_linear(), mse, data, optax.adam(0.01), 10, lbfgs=LBFGS(20), out_dir=tmp_path / "a", **kwargs)
    fit(_linear(), mse, data, optax.adam(0.01), 10, lbfgs=LBFGS(10), out_dir=tmp_path / "b", **kwargs)
    resumed = fit(_linear(), mse, data, optax.adam(0.01), 10, lbfgs=LBFGS(20), out_dir=tmp_path / "b", **kwargs)
    assert resumed.resumed_from == 20
    assert_close(_params(resumed.model), _params(straight.model), rtol=1e-6, what="resumed L-BFGS parameters")


def _least_squares(batch):
    design = np.c_[batch["x"], np.ones(len(batch["x"]))].astype(np.float64)
    return np.linalg.lstsq(design, np.asarray(batch["y"], np.float64), rcond=None)[0]


def test_lbfgs_resampling_fits_each_window_on_fresh_points_and_resumes(tmp_path):
    # L-BFGS solves a 4-parameter least-squares problem within a 10-iteration window, so after the stage the model is
    # the least-squares fit of the batch it ended on: the last window's with resampling, the first's without.
    data = _regression_data()
    data["y"] = data["y"] + np.random.default_rng(1).normal(0, 0.3, data["y"].shape).astype(np.float32)
    sampler = NoisyBatches(jnp.asarray(data["x"]), jnp.asarray(data["y"]))
    key = jax.random.key(5)
    window = {step: sampler(jax.random.fold_in(key, 0), jnp.asarray(step)) for step in (10, 30)}
    kwargs = dict(key=key, chunk=5)
    fixed = fit(_linear(), mse, sampler, optax.adam(0.01), 10, lbfgs=LBFGS(30, dtype="float64"), **kwargs)
    resampled = fit(_linear(), mse, sampler, optax.adam(0.01), 10, lbfgs=LBFGS(30, dtype="float64", resample_every=10),
                    out_dir=tmp_path / "a", **kwargs)
    for result, step in ((fixed, 10), (resampled, 30)):
        assert_close(_params(result.model), _least_squares(window[step]), rtol=0, atol=1e-4,
                     what=f"L-BFGS ends on the batch drawn at step {step}")
    assert np.abs(_least_squares(window[10]) - _least_squares(window[30])).max() > 3e-2  # the windows differ
    # Stopped at a window's end (step 30 = 10 + 20) and resumed: the same parameters as the straight run.
    fit(_linear(), mse, sampler, optax.adam(0.01), 10, lbfgs=LBFGS(20, dtype="float64", resample_every=10),
        out_dir=tmp_path / "b", **kwargs)
    resumed = fit(_linear(), mse, sampler, optax.adam(0.01), 10, lbfgs=LBFGS(30, dtype="float64", resample_every=10),
                  out_dir=tmp_path / "b", **kwargs)
    assert resumed.resumed_from == 30
    assert_close(_params(resumed.model), _params(resampled.model), rtol=1e-6, what="resumed resampled L-BFGS")


def test_lbfgs_resampling_refuses_a_fixed_batch_and_a_window_across_chunks():
    data = _regression_data()
    with pytest.raises(ConfigError, match="lbfgs_data is a fixed batch"):
        fit(_linear(), mse, data, optax.adam(0.01), 5, key=jax.random.key(0), chunk=5,
            lbfgs=LBFGS(10, resample_every=5), lbfgs_data=data)
    with pytest.raises(ConfigError, match="multiple of chunk=5"):
        fit(_linear(), mse, data, optax.adam(0.01), 5, key=jax.random.key(0), chunk=5,
            lbfgs=LBFGS(10, resample_every=7))


def test_time_budget_stops_adam_at_a_chunk_then_runs_lbfgs_and_resumes(tmp_path):
    data = _regression_data()
    kwargs = dict(key=jax.random.key(2), chunk=5, out_dir=tmp_path)
    # A budget of zero seconds: Adam stops after its first chunk, checkpoints there, and L-BFGS still runs.
    cut = fit(_linear(), mse, data, optax.adam(0.01), 40, lbfgs=LBFGS(10), time_budget_s=0.0, **kwargs)
    assert cut.step == 5 + 10
    assert [h["step"] for h in cut.history] == [5, 10, 15]
    assert [h["phase"] for h in cut.history] == ["adam", "lbfgs", "lbfgs"]
    # Resuming inside the L-BFGS stage of a budget-stopped run continues that stage, not a new one at step 40.
    more = fit(_linear(), mse, data, optax.adam(0.01), 40, lbfgs=LBFGS(15), time_budget_s=0.0, **kwargs)
    assert more.resumed_from == 15 and more.step == 20
    straight = fit(_linear(), mse, data, optax.adam(0.01), 5, lbfgs=LBFGS(15), key=jax.random.key(2), chunk=5)
    assert_close(_params(more.model), _params(straight.model), rtol=1e-6, what="budget-stopped then resumed run")


def test_unrolled_chunks_give_the_same_training():
    data = _regression_data()
    kwargs = dict(key=jax.random.key(4), chunk=5)
    looped = fit(_linear(), mse, data, optax.adam(0.05), 15, **kwargs)
    unrolled = fit(_linear(), mse, data, optax.adam(0.05), 15, unroll=True, **kwargs)
    assert_close(_params(unrolled.model), _params(looped.model), rtol=1e-6, what="unrolled vs looped chunks")


class Scale(eqx.Module):
    w: jax.Array


def log_loss(model, batch, key):
    term = jnp.log(model.w)
    return term + 0.0 * batch, {"log_term": term}


def test_nan_guard_keeps_last_good_state_and_names_the_term(tmp_path):
    # Gradient descent on log(w) with step 0.6 drives w negative: 1 -> 0.4 -> -1.1, where log(w) is NaN (step 2).
    with pytest.raises(NonFiniteLossError) as info:
        fit(Scale(jnp.asarray(1.0)), log_loss, jnp.zeros(()), optax.sgd(0.6), 50, key=jax.random.key(0),
            chunk=10, out_dir=tmp_path)
    err = info.value
    assert err.term == "log_term" and "log_term" in str(err)
    assert err.step == 2
    assert_close(err.model.w, -1.1, rtol=1e-5, what="state before the refused update")
    assert latest_checkpoint(tmp_path / "checkpoints") is not None


def test_host_batches_match_the_same_batches_on_device():
    data = _regression_data()
    on_device = fit(_linear(), mse, data, optax.adam(0.05), 40, key=jax.random.key(0), chunk=20)
    host = fit(_linear(), mse, lambda step: data, optax.adam(0.05), 40, key=jax.random.key(0), chunk=20)
    assert_close(_params(host.model), _params(on_device.model), rtol=1e-6, what="host vs device batches")


def test_evaluations_are_logged_at_their_interval(tmp_path):
    data = _regression_data()
    calls = []

    def evaluate(model):
        calls.append(1)
        return {"bias": float(model.b)}

    fit(_linear(), mse, data, optax.adam(0.05), 40, key=jax.random.key(0), chunk=10,
        evaluations=[Evaluation(evaluate, 20)], out_dir=tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [("bias" in r) for r in records] == [False, True, False, True] and len(calls) == 2


def test_intervals_must_be_multiples_of_the_chunk():
    with pytest.raises(ConfigError, match="multiple of chunk"):
        fit(_linear(), mse, _regression_data(), optax.adam(0.1), 10, key=jax.random.key(0), chunk=4,
            checkpoint_every=10)
