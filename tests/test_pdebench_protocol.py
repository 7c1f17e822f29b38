"""The PDEBench baseline protocol of `benchmarks/pdebench_fno.py`: case names, the training losses, and a run's
predictions.nc against an independent solution."""

import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from pdebench_fno import PUBLISHED, case_label, one_step_mse, parse_case, record_case, rollout_mse, run  # noqa: E402

from sciml import metrics  # noqa: E402
from sciml.operators import FrameHistory  # noqa: E402


class _Scale(eqx.Module):
    """A base network whose next frame is `a` times the last frame: k steps from frame u give a^k u."""

    a: jax.Array

    def __call__(self, state):
        return self.a * state[-1:]


def test_cases_parse_to_the_published_keys_and_bad_cases_say_the_format():
    assert parse_case("diffreact:nu=0.5,rho=1") == ("diffreact", {"nu": 0.5, "rho": 1.0})
    assert case_label(*parse_case("burgers:nu=0.10")) == "burgers:nu=0.1" and "burgers:nu=0.1" in PUBLISHED
    assert record_case({"beta": 0.4}) == "advection:beta=0.4" in PUBLISHED  # runs from before other PDEs
    with pytest.raises(SystemExit, match="PDE:NAME=VALUE"):
        parse_case("heat:k=1")
    with pytest.raises(SystemExit, match="nu must be a number"):
        parse_case("burgers:nu=small")
    with pytest.raises(SystemExit, match=r"takes the parameters \['nu', 'rho'\]"):
        parse_case("diffreact:nu=0.5")


def test_full_rollout_and_push_forward_losses_against_their_closed_forms():
    """With next = a * last frame, step j predicts a^j u9 (u9: the last given frame). The FNO's loss sums the MSE of
    all 31 steps with gradients through each; the U-Net's push-forward loss holds the state after the first 11
    steps fixed (a0^11 u9) and sums the last 20 steps' MSE, so its gradient carries j a^(j-1) a0^11, not
    (j + 11) a^(j + 10)."""
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=(3, 41, 1, 8)), jnp.float32)
    batch = {"u": u, "params": jnp.zeros((3, 1))}
    a0 = 0.9
    solver = FrameHistory(_Scale(jnp.asarray(a0)), channels=1)
    last, targets = np.asarray(u[:, 9, 0]), np.asarray(u[:, 10:, 0])
    j = np.arange(1, 32)[:, None, None]

    def closed_form(a, offset, steps, power_fixed):
        predicted = a ** (j[:steps] + 0.0) * a0**power_fixed * last[None]
        return np.sum(np.mean((predicted - targets.transpose(1, 0, 2)[offset:]) ** 2, axis=(1, 2)))

    full, _ = rollout_mse(None)(solver, batch, None)
    assert float(full) == pytest.approx(closed_form(a0, 0, 31, 0), rel=1e-5)
    pushed, _ = rollout_mse(20)(solver, batch, None)
    assert float(pushed) == pytest.approx(closed_form(a0, 11, 20, 11), rel=1e-5)

    def grad(unroll):
        return float(eqx.filter_grad(lambda s: rollout_mse(unroll)(s, batch, None)[0])(solver).base.a)

    h = 1e-3
    expected_push = (closed_form(a0 + h, 11, 20, 11) - closed_form(a0 - h, 11, 20, 11)) / (2 * h)
    expected_full = (closed_form(a0 + h, 0, 31, 0) - closed_form(a0 - h, 0, 31, 0)) / (2 * h)
    assert grad(20) == pytest.approx(expected_push, rel=1e-3)
    assert grad(None) == pytest.approx(expected_full, rel=1e-3)
    assert abs(grad(20) - grad(None)) > 0.1 * abs(grad(None))


def test_one_step_loss_is_the_mse_of_the_next_frame_from_the_true_frames():
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.normal(size=(4, 11, 1, 8)), jnp.float32)
    solver = FrameHistory(_Scale(jnp.asarray(0.7)), channels=1)
    loss, _ = one_step_mse()(solver, {"u": u, "params": jnp.zeros((4, 1))}, None)
    expected = np.mean((0.7 * np.asarray(u[:, 9, 0]) - np.asarray(u[:, 10, 0])) ** 2)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # with input noise: the inputs (sample, frame, x) carry the key's normal draws times sigma, the target is clean
    key = jax.random.key(3)
    noisy, _ = one_step_mse(0.1)(solver, {"u": u, "params": jnp.zeros((4, 1))}, key)
    draws = np.asarray(jax.random.normal(key, (4, 10, 8)))
    expected = np.mean((0.7 * (np.asarray(u[:, 9, 0]) + 0.1 * draws[:, 9]) - np.asarray(u[:, 10, 0])) ** 2)
    assert float(noisy) == pytest.approx(expected, rel=1e-5) and abs(float(noisy) - float(loss)) > 1e-3


def test_a_run_writes_predictions_whose_reference_is_the_exact_advection_and_whose_scores_recompute(tmp_path):
    """A seconds-long run: its predictions.nc gives back the record's nRMSE (training and zero-shot resolutions), and
    its references are the exact solution of advection (the given frame 0 shifted by beta t, a Fourier phase shift
    on the solver's grid), computed here without the project's solvers."""
    import xarray as xr

    record = run("advection:beta=0.4", "fno", 0, samples=20, epochs=1, distribution="pdebench",
                 training_mode="one-step", runs=tmp_path)
    ds = xr.open_dataset(record["predictions"])
    assert ds.prediction.dims == ("sample", "t", "x") and ds.sizes == {"sample": 2, "t": 31, "x": 256, "t_input": 10,
                                                                       "x_solver": 1024, "x_512": 512, "x_1024": 1024}
    assert metrics.nrmse(ds.prediction.values, ds.reference.values) == pytest.approx(record["nrmse"], rel=1e-5)
    assert metrics.nrmse(ds.prediction_512.values, ds.reference_512.values) == pytest.approx(record["nrmse_512"],
                                                                                             rel=1e-5)
    u0 = ds.initial.isel(t_input=0).values  # (sample, 1024)
    k = np.fft.rfftfreq(1024, d=1 / 1024)
    shift = np.exp(-2j * np.pi * k[None, :] * 0.4 * ds.t.values[:, None])  # (t, k)
    exact = np.fft.irfft(np.fft.rfft(u0)[:, None, :] * shift[None], n=1024)
    np.testing.assert_allclose(ds.reference_1024.values, exact, atol=1e-4)
    np.testing.assert_allclose(ds.reference.values, exact[..., ::4], atol=1e-4)
