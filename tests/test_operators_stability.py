"""Frame histories in training and in the neural-solver study: the rollout loss over `FrameHistory` states, and the
stability of autoregressive rollouts of an unconditioned FNO on advection at mixed speeds (issue 19: one input frame
cannot tell the speeds apart; the plain FNO of the CAPE study sat at the error of predicting zero or blew up)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError, metrics
from sciml.data import WindowSampler
from sciml.nn import FNO
from sciml.operators import (
    Autoregressive,
    FrameHistory,
    RolloutLoss,
    TeacherForcing,
    frame_states,
    rollout,
    stack_frames,
)
from sciml.solvers import pdebench_initial_conditions
from sciml.train import fit


def test_frame_states_slide_a_stack_of_frames_along_the_window():
    window = jnp.arange(5 * 2 * 3, dtype=jnp.float32).reshape(5, 2, 3)  # (t, c, x)
    states = frame_states(window, 3)
    assert states.shape == (3, 6, 3)
    for j in range(3):
        assert_close(states[j], stack_frames(window[None, j:j + 3], 3)[0], rtol=0, what=f"state {j}")
    assert_close(frame_states(window, 1), window, rtol=0, what="one frame: the window itself")
    with pytest.raises(ConfigError, match="frames"):
        frame_states(window, 6)


def test_rollout_loss_with_frames_scores_the_newest_frame_of_each_state():
    # Frames u_n = 2^n on 4 points, 3 input frames, 4 predicted steps. Doubling the newest frame is exact (loss 0);
    # keeping it (a zero residual) errs by |2^(n-1) - 2^n| / 2^n = 1/2 per teacher-forced step, and rolled out from
    # frame 2 by 1 - 2^-j at step j.
    u = jnp.stack([jnp.full((1, 4), 2.0**n) for n in range(7)])[None]  # (batch, frames + T, c, x)
    batch = {"u": u, "params": jnp.zeros((1, 1))}
    doubling = FrameHistory(lambda s: s[-1:], channels=1, residual=True)
    keeping = FrameHistory(lambda s: jnp.zeros_like(s[-1:]), channels=1, residual=True)
    rolled_out = sum(1 - 2.0**-j for j in (1, 2, 3, 4))
    for curriculum, expected in ((TeacherForcing(), 4 * 0.5), (Autoregressive(), rolled_out)):
        loss = RolloutLoss(steps_per_epoch=1, epochs=1, curriculum=curriculum, frames=3)
        assert_close(loss(doubling, batch, jax.random.key(0))[0], 0.0, rtol=0, atol=1e-6, what="exact solver")
        assert_close(loss(keeping, batch, jax.random.key(0))[0], expected, rtol=1e-6, what=f"{curriculum}")
    with pytest.raises(ConfigError, match="frames"):
        RolloutLoss(steps_per_epoch=1, epochs=1, frames=0)


def _advection_at_two_speeds(n_per_speed: int, seed: int) -> np.ndarray:
    """Trajectories (sample, 21, 1, 32) at beta 0.5 (the first half) and 2 on t in [0, 1] from PDEBench-like initial
    states, scaled to unit RMS: each Fourier mode k turns by exp(-2 pi i k beta t) (advection's exact solution)."""
    u0 = np.asarray(pdebench_initial_conditions(jax.random.key(seed), 2 * n_per_speed, 32))
    beta = np.repeat([0.5, 2.0], n_per_speed)[:, None, None]
    turn = np.exp(-2j * np.pi * np.arange(17) * beta * np.linspace(0.0, 1.0, 21)[:, None])
    u = np.fft.irfft(np.fft.rfft(u0)[:, None] * turn, n=32)[:, :, None].astype(np.float32)
    return u / np.sqrt(np.mean(u**2))


def _train_and_roll_out(frames: int, train: np.ndarray, test: np.ndarray, steps: int = 120, batch: int = 16
                        ) -> float:
    """nRMSE of the full rollout (from the first `frames` frames to the last) of a residual FNO with a history of
    `frames` frames, trained `steps` steps on windows of 4 steps (teacher forcing, then rollout)."""
    key = jax.random.key(0)
    solver = FrameHistory(FNO(frames, 1, width=12, modes=6, depth=2, projection=32, key=key), channels=1,
                          residual=True)
    sampler = WindowSampler(train, np.zeros((len(train), 1)), batch_size=batch, horizon=4 + frames - 1)
    loss = RolloutLoss(steps_per_epoch=steps // 10, epochs=10, frames=frames)
    model = fit(solver, loss, sampler, optax.adam(optax.cosine_decay_schedule(3e-3, steps)), steps, key=key,
                chunk=steps // 10).model
    n = test.shape[1] - frames
    prediction = jax.vmap(lambda s: rollout(model, s, jnp.zeros(1), n))(stack_frames(jnp.asarray(test), frames))
    return metrics.nrmse(np.asarray(prediction)[:, :, -1], test[:, frames:, 0])


def test_a_frame_history_makes_the_unconditioned_fno_roll_out_advection_at_mixed_speeds():
    # The blow-ups of the CAPE study's plain FNO (rollout nRMSE up to 1e6, docs/results/cape.md) come from its input:
    # one frame does not say how fast the field moves, so the model learns an average of the speeds (training loss
    # ~10x that of the same FNO told beta), whose rollouts leave the training states. Ten frames carry the speed.
    u = _advection_at_two_speeds(20, seed=0)
    test = np.r_[0:4, 20:24]
    train = np.delete(u, test, axis=0)
    one, ten = (_train_and_roll_out(frames, train, u[test]) for frames in (1, 10))
    # Predicting zero scores nRMSE 1: one frame does little better than that (0.86 when written), ten do (0.13).
    assert one > 0.75, f"one input frame: rollout nRMSE {one:.3g}; expected about that of predicting zero (1)"
    assert ten < 0.3, f"ten input frames: rollout nRMSE {ten:.3g}; expected < 0.3 (far below predicting zero)"


def test_study_with_a_frame_history_trains_rolls_out_and_predicts_from_its_predictions(tmp_path):
    import equinox as eqx

    from sciml.data import ensure_dataset, open_dataset
    from sciml.studies import RunDir, TrainConfig
    from sciml.studies.neural_solvers import NeuralSolverConfig, model_like, predict, train_and_evaluate

    # PDEBench's per-parameter protocol in the study: one speed (the others excluded), no conditioning, 3 frames.
    config = NeuralSolverConfig(small=True, conditioning="none", match_parameters=False, frames=3, size=4, modes=2,
                                depth=1, epochs=1, max_eval_samples=2, held_out_values=(),
                                excluded_values=(0.1, 0.2, 0.7, 1.0, 2.0, 4.0, 7.0),
                                train=TrainConfig(steps=4, chunk=4))
    run = RunDir(tmp_path)
    summary, predictions = train_and_evaluate(config, run)
    assert np.isfinite(summary["seen_nrmse"])
    assert predictions.prediction.shape[1:] == (41 - 3, 32) and (predictions.beta.values == 0.4).all()
    assert predictions.initial.dims == ("sample", "t_input", "x") and predictions.t_input.size == 3
    assert_close(predictions.t.values[0], 3 * 0.05, rtol=1e-6, what="first predicted time")
    # The saved model rolls out the same frames from the stored input frames and from the trajectory file.
    loaded = eqx.tree_deserialise_leaves(run.model, model_like(config))
    again = predict(loaded, config, predictions)
    np.testing.assert_allclose(again.prediction.values, predictions.prediction.values, rtol=1e-5, atol=1e-6)
    with open_dataset(ensure_dataset(config.dataset, small=True)) as ds:
        trajectories = ds.isel(sample=predictions.sample.values).load()
    from_file = predict(loaded, config, trajectories)
    np.testing.assert_allclose(from_file.prediction.values, predictions.prediction.values, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="frames must be >= 1"):
        dataclasses.replace(config, frames=0)
    # CAPE on the frame history: trained and rolled out through the same study path.
    cape_summary, cape_predictions = train_and_evaluate(dataclasses.replace(config, conditioning="cape"),
                                                        RunDir(tmp_path / "cape"))
    assert np.isfinite(cape_summary["seen_nrmse"]) and cape_predictions.prediction.shape[1:] == (41 - 3, 32)


def test_conditioned_solvers_advance_a_stack_of_frames(key):
    """With a stack of frames, each conditioning adds its change to the newest frame and drops the oldest: the
    unconditioned one is exactly the residual `FrameHistory` of its base; CAPE's guess reads the newest frame only."""
    from sciml.nn import CAPEConditioning, FNOBase, NoConditioning, ParameterChannelConditioning

    frames, state, params = 3, jax.random.normal(key, (3, 32)), jnp.asarray([0.5])
    plain = NoConditioning()(FNOBase(size=8, modes=4, depth=1), channels=1, n_params=1, ndim=1, key=key,
                             frames=frames)
    history = FrameHistory(plain.base, channels=1, residual=True)
    assert_close(plain(state, params)[0], history(state, params)[0], rtol=1e-6, what="unconditioned vs history")
    for conditioning in (ParameterChannelConditioning(), CAPEConditioning(width=8, modes=4, pool=2)):
        solver = conditioning(FNOBase(size=8, modes=4, depth=1), channels=1, n_params=1, ndim=1, key=key,
                              frames=frames)
        nxt, guess = solver(state, params)
        assert nxt.shape == state.shape
        np.testing.assert_array_equal(nxt[:-1], state[1:])
        if guess is not None:
            older = state.at[:-1].set(0.0)
            assert_close(solver(older, params)[1], guess, rtol=1e-6, what="CAPE guess from the newest frame")
