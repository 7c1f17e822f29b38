"""Rollout, curricula (traced: no recompilation across epochs), trajectory loaders, the PDE families and their solvers,
and the neural-solver study."""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr
from conftest import assert_close

from sciml import ConfigError, DataError
from sciml.data import Normalization, WindowLoader, WindowSampler, split_by_parameter, write_dataset
from sciml.nn import CAPEConditioning, FNOBase, NoConditioning
from sciml.operators import (
    Autoregressive,
    Curriculum,
    FrameHistory,
    ParameterGradientPenalty,
    RolloutLoss,
    TanhCurriculum,
    TeacherForcing,
    curriculum_rollout,
    rollout,
    stack_frames,
)
from sciml.solvers import (
    FAMILIES,
    AdvectionFamily,
    PDEFamily,
    advection_trajectories,
    burgers_trajectories,
    family_dataset,
    fisher_kpp_trajectories,
    navier_stokes_vorticity_trajectories,
    pdebench_initial_conditions,
)
from sciml.train import fit


class _Scale(eqx.Module):
    """A linear 'solver' u -> a u, so rollouts have closed forms."""

    a: float

    def __call__(self, u, params):
        return self.a * u, None


def test_tanh_curriculum_matches_the_worked_schedule():
    # 100 epochs, 3 warm-up epochs, 41 steps: the autoregressive steps at epochs 0..90 (CAPE's schedule by hand).
    epochs = jnp.array([0, 20, 30, 40, 50, 60, 70, 80, 90, 99])
    n_ar = jax.vmap(lambda e: TanhCurriculum()(e, epochs=100, horizon=41, warmup=3))(epochs)
    np.testing.assert_array_equal(np.asarray(n_ar), [1, 1, 4, 9, 18, 28, 35, 38, 40, 40])


def test_curriculum_rollout_feeds_back_only_the_first_steps():
    window = jnp.arange(1.0, 6.0)[:, None, None] * jnp.ones((5, 1, 3))  # frames 1, 2, 3, 4, 5
    solver = _Scale(2.0)
    predictions, guesses = curriculum_rollout(solver, window, jnp.zeros(1), jnp.asarray(3))
    # steps 0..3: inputs truth(1), own 2, own 4, truth(4) -> outputs 2, 4, 8, 8
    assert_close(predictions[:, 0, 0], [2.0, 4.0, 8.0, 8.0], rtol=0, what="curriculum rollout")
    assert guesses is None
    teacher, _ = curriculum_rollout(solver, window, jnp.zeros(1), jnp.asarray(1))
    assert_close(teacher[:, 0, 0], [2.0, 4.0, 6.0, 8.0], rtol=0, what="teacher forcing")
    assert_close(rollout(solver, window[0], jnp.zeros(1), 4)[:, 0, 0], [2.0, 4.0, 8.0, 16.0], rtol=0, what="rollout")


def test_frame_history_rolls_a_window_of_frames_forward():
    # base: the sum of the 3 frames of the state, so frames follow a tribonacci recurrence (2 channels, 4 points).
    u = jnp.stack([jnp.full((2, 4), v) for v in (1.0, 1.0, 2.0)])[None]  # (sample, t, c, x)
    state = stack_frames(u, 3)[0]
    assert state.shape == (6, 4)
    solver = FrameHistory(lambda s: s.reshape(3, 2, 4).sum(axis=0), channels=2)
    frames = rollout(solver, state, jnp.zeros(1), 4)[:, -2:]  # the newest frame of each state
    assert_close(frames[:, :, 0], [[4.0, 4.0], [7.0, 7.0], [13.0, 13.0], [24.0, 24.0]], rtol=0, what="frames")
    residual = FrameHistory(lambda s: s[-2:], channels=2, residual=True)  # next = 2 x newest
    assert_close(rollout(residual, state, jnp.zeros(1), 2)[:, -1, 0], [4.0, 8.0], rtol=0, what="residual")
    with pytest.raises(ConfigError, match="frames"):
        stack_frames(u, 4)


@pytest.mark.parametrize("unroll", [1, True])
def test_curriculum_never_recompiles_across_epochs(key, monkeypatch, unroll):
    traces = []
    original = RolloutLoss.__call__

    def counted(self, model, batch, k):
        traces.append(1)
        return original(self, model, batch, k)

    monkeypatch.setattr(RolloutLoss, "__call__", counted)
    u = jax.random.normal(key, (6, 9, 1, 16))
    sampler = WindowSampler(u, jnp.ones((6, 1)), batch_size=4, horizon=8)
    model = NoConditioning()(FNOBase(size=4, modes=2, depth=1), channels=1, n_params=1, ndim=1, key=key)
    loss = RolloutLoss(steps_per_epoch=5, epochs=6, curriculum=TanhCurriculum())
    result = fit(model, loss, sampler, optax.adam(1e-3), 30, key=key, chunk=5, unroll=unroll)
    schedule = [record["n_autoregressive"] for record in result.history]
    # One chunk per epoch: the autoregressive steps follow the schedule (1 -> 7 of 8) while the loss was traced once.
    expected = [int(TanhCurriculum()(jnp.asarray(e), epochs=6, horizon=8)) for e in range(6)]
    assert schedule == expected and expected[0] == 1 and expected[-1] == 7 and len(set(expected)) >= 4
    assert len(traces) == 1


def test_rollout_loss_is_relative_l2_floored_at_an_rms(key):
    """Per step: ||pred - true|| / max(||true||, floor sqrt(n)), summed over the window, averaged over the batch."""
    true = jax.random.normal(key, (3, 3, 1, 16))
    true = true.at[:, 2].set(0.0)  # a state that decayed to zero
    model = _Scale(1.5)
    loss = RolloutLoss(steps_per_epoch=1, epochs=1, curriculum=TeacherForcing(), rms_floor=0.1)
    value, _ = loss(model, {"u": true, "params": jnp.zeros((3, 1))}, key)
    pred = 1.5 * np.asarray(true[:, :2])
    target = np.asarray(true[:, 1:])
    norms = np.maximum(np.linalg.norm(target.reshape(3, 2, -1), axis=-1), 0.1 * 4.0)
    expected = (np.linalg.norm((pred - target).reshape(3, 2, -1), axis=-1) / norms).mean(axis=0).sum()
    assert_close(value, expected, rtol=1e-5, what="floored relative L2 rollout loss")
    assert norms[0, 1] == pytest.approx(0.4)


@pytest.fixture
def family(tmp_path):
    rng = np.random.default_rng(0)
    beta = np.repeat([0.1, 0.4, 1.0, 7.0], 3)
    u = rng.normal(size=(12, 6, 8)).astype(np.float32) + np.arange(6)[None, :, None]
    ds = xr.Dataset({"u": (("sample", "t", "x"), u)},
                    coords={"t": np.arange(6) * 0.1, "x": np.arange(8) / 8, "beta": ("sample", beta)})
    write_dataset(ds, tmp_path / "family.zarr")
    write_dataset(ds, tmp_path / "family.nc")
    return ds, tmp_path


def test_held_out_split_and_missing_parameters(family):
    ds, _ = family
    seen, held = split_by_parameter(ds, {"beta": [0.1, 7.0]})
    assert sorted(set(seen.beta.values)) == [0.4, 1.0] and sorted(set(held.beta.values)) == [0.1, 7.0]
    with pytest.raises(DataError, match=r"parameter\(s\) \['nu'\] not in the dataset"):
        split_by_parameter(ds, {"nu": [0.1]})
    with pytest.raises(DataError, match="held-out beta=2.0 does not occur"):
        split_by_parameter(ds, {"beta": [2.0]})


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_streaming_loader_reads_consecutive_windows_deterministically(family, suffix):
    ds, directory = family
    u = ds.u.values[:, :, None]
    params = ds.beta.values[:, None]
    norm = Normalization.fit(u, params)
    def make():
        return WindowLoader(directory / f"family{suffix}", parameters=("beta",), normalization=norm, batch_size=5,
                            horizon=3, seed=1, trajectories_per_read=4, windows_per_trajectory=3)

    loader = make()
    assert loader.batches_per_read == 2
    batch = loader(7)
    assert batch["u"].shape == (5, 4, 1, 8) and batch["params"].shape == (5, 1)
    assert not np.array_equal(loader(8)["u"], batch["u"])
    loader(40)  # another read replaces the buffer
    np.testing.assert_array_equal(loader(7)["u"], batch["u"])
    np.testing.assert_array_equal(make()(7)["u"], batch["u"])  # a resumed run sees the same batch
    physical = norm.fields_inverse(batch["u"])[:, :, 0]
    for window, p in zip(physical, batch["params"][:, 0], strict=True):
        match = [i for i in range(12) for s in range(3) if np.allclose(u[i, s : s + 4, 0], window, atol=1e-5)]
        assert match, "every window is 4 consecutive frames of one trajectory"
        assert_close(norm.params(ds.beta.values[match[0]][None])[0], p, rtol=1e-6, what="parameter of the window")


def test_device_sampler_windows_are_consecutive_frames(key):
    u = jnp.arange(3 * 7, dtype=jnp.float32).reshape(3, 7, 1, 1) * jnp.ones((1, 1, 1, 4))
    batch = WindowSampler(u, jnp.arange(3.0)[:, None], batch_size=8, horizon=2)(key, jnp.asarray(0))
    frames = np.asarray(batch["u"][:, :, 0, 0])
    np.testing.assert_array_equal(np.diff(frames, axis=1), 1.0)
    np.testing.assert_array_equal(frames[:, 0] // 7, np.asarray(batch["params"][:, 0]))


def test_advection_is_an_exact_shift():
    x = jnp.arange(64) / 64
    u0 = jnp.sin(2 * jnp.pi * x)[None] + 0.5 * jnp.cos(6 * jnp.pi * x)[None]
    u = advection_trajectories(0.5, u0, t_end=1.0, n_frames=3)
    exact = np.sin(2 * np.pi * (x - 0.5)) + 0.5 * np.cos(6 * np.pi * (x - 0.5))
    assert_close(u[0, -1], exact, rtol=0, atol=1e-4, what="advection after t=1")


def test_fisher_kpp_of_a_uniform_state_is_the_logistic_curve():
    u = fisher_kpp_trajectories(1.0, 5.0, jnp.full((1, 16), 0.1), t_end=1.0, n_frames=5)
    t = np.linspace(0, 1, 5)
    logistic = 1 / (1 + 9 * np.exp(-5 * t))
    assert_close(u[0, :, 3], logistic, rtol=1e-4, what="logistic growth")


def test_burgers_small_amplitude_decays_with_viscosity_nu_over_pi():
    x = jnp.arange(64) / 64
    u = burgers_trajectories(0.1, 1e-4 * jnp.sin(2 * jnp.pi * x)[None], t_end=0.5, n_frames=2)
    decay = math.exp(-(0.1 / math.pi) * (2 * math.pi) ** 2 * 0.5)
    assert_close(u[0, -1], 1e-4 * decay * np.sin(2 * np.pi * np.asarray(x)), rtol=0, atol=1e-8, what="heat decay")


def test_taylor_green_vorticity_decays_exactly():
    x = jnp.arange(32) / 32
    w0 = (jnp.sin(2 * jnp.pi * x)[:, None] * jnp.sin(2 * jnp.pi * x)[None, :])[None]
    w = navier_stokes_vorticity_trajectories(0.01, w0, t_end=0.5, n_frames=2)
    assert_close(w[0, -1], np.exp(-0.01 * 8 * np.pi**2 * 0.5) * np.asarray(w0[0]), rtol=0, atol=1e-5,
                 what="Taylor-Green decay")


def test_experiment_outputs_recompute_the_error_table(tmp_path):
    from sciml.studies import RunDir
    from sciml.studies.neural_solvers import (
        NeuralSolverConfig,
        error_by_parameter,
        plot_error_by_parameter,
        plot_rollout,
    )

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(4, 3, 8))
    prediction = reference.copy()
    prediction[2:] *= 1.5  # held-out samples: error exactly half the reference norm
    predictions = xr.Dataset(
        {"prediction": (("sample", "t", "x"), prediction, {"long_name": "rollout of u", "units": "1"}),
         "reference": (("sample", "t", "x"), reference, {"long_name": "reference u", "units": "1"})},
        coords={"sample": np.arange(4), "t": [0.1, 0.2, 0.3], "x": np.arange(8) / 8,
                "beta": ("sample", [0.4, 0.4, 7.0, 7.0]),
                "split": ("sample", ["seen", "seen", "held_out", "held_out"])})
    run = RunDir(tmp_path)
    run.write_predictions(predictions)
    table = error_by_parameter(xr.open_dataset(run.predictions, engine="h5netcdf"), "beta")
    assert_close(table["held_out"][7.0], 0.5, rtol=1e-12, what="held-out nRMSE")
    assert table["seen"][0.4] == 0.0
    plot_error_by_parameter(predictions, NeuralSolverConfig(), run)
    plot_rollout(predictions, run)
    assert {p.name for p in run.figures.iterdir()} == {"nrmse_by_parameter.png", "rollout_held_out.png"}


def test_normalization_parameter_scales_and_clipping():
    u = np.ones((5, 2, 1, 4), dtype=np.float32)
    beta = np.array([[0.2], [0.4], [0.7], [2.0], [4.0]])
    linear = Normalization.fit(u, beta, parameter_scale="linear")
    assert_close(linear.params(beta)[:, 0], (beta[:, 0] - beta.mean()) / beta.std(), rtol=1e-6, what="linear")
    log = Normalization.fit(u, beta)  # auto: log of positive parameters
    logs = np.log(beta[:, 0])
    assert_close(log.params(np.array([[1.0]]))[0, 0], (0 - logs.mean()) / logs.std(), rtol=1e-6, what="log")
    clipped = Normalization.fit(u, beta, parameter_scale="linear", clip=0.0)
    assert_close(clipped.params(np.array([[0.1], [7.0]]))[:, 0], linear.params(np.array([[0.2], [4.0]]))[:, 0],
                 rtol=1e-6, what="clipped to the trained extremes")
    widened = Normalization.fit(u, beta, parameter_scale="linear", clip=0.05)  # range 3.8: bounds 0.01, 4.19
    assert_close(widened.params(np.array([[0.1], [7.0]]))[:, 0], linear.params(np.array([[0.1], [4.19]]))[:, 0],
                 rtol=1e-6, what="clipped 5% of the range past its ends")
    with pytest.raises(ConfigError, match="parameter_scale must be"):
        Normalization.fit(u, beta, parameter_scale="sqrt")
    with pytest.raises(DataError, match="needs positive parameters"):
        Normalization.fit(u, -beta, parameter_scale="log")
    with pytest.raises(ConfigError, match="clip must be a fraction >= 0"):
        Normalization.fit(u, beta, clip=-1.0)


def test_a_normalization_fitted_without_clipping_clips_afterwards_as_fit_would():
    u = np.ones((4, 2, 1, 4), dtype=np.float32)
    nu = np.array([[0.002], [0.02], [0.2], [2.0]])
    after = Normalization.fit(u, nu).clipped_to(nu)  # log scale: bounds log 0.002, log 2
    assert_close(after.params(np.array([[0.001], [0.01], [4.0]]))[:, 0],
                 Normalization.fit(u, nu).params(np.array([[0.002], [0.01], [2.0]]))[:, 0], rtol=1e-6,
                 what="clipped afterwards")
    assert_close(after.param_bounds, Normalization.fit(u, nu, clip=0.0).param_bounds, rtol=1e-12, what="bounds")
    assert_close(after.params(nu), Normalization.fit(u, nu).params(nu), rtol=0, what="training values unchanged")
    with pytest.raises(DataError, match=r"params must be \(sample, 1\)"):
        after.clipped_to(np.ones((3, 2)))


def test_initial_window_fraction_starts_windows_at_the_initial_condition(key, family):
    u = jnp.arange(3 * 7, dtype=jnp.float32).reshape(3, 7, 1, 1) * jnp.ones((1, 1, 1, 4))
    first = lambda batch: np.asarray(batch["u"][:, 0, 0, 0]) % 7  # noqa: E731
    all_initial = WindowSampler(u, jnp.zeros((3, 1)), batch_size=64, horizon=2, initial_fraction=1.0)
    assert (first(all_initial(key, jnp.asarray(0))) == 0).all()
    half = first(WindowSampler(u, jnp.zeros((3, 1)), batch_size=512, horizon=2,
                               initial_fraction=0.5)(key, jnp.asarray(0)))
    uniform = first(WindowSampler(u, jnp.zeros((3, 1)), batch_size=512, horizon=2)(key, jnp.asarray(0)))
    # P(start = 0) = 0.5 + 0.5 / 5 = 0.6 with the fraction, 1 / 5 without (5 possible starts).
    assert abs((half == 0).mean() - 0.6) < 0.07 and abs((uniform == 0).mean() - 0.2) < 0.06
    ds, directory = family
    norm = Normalization.fit(ds.u.values[:, :, None], ds.beta.values[:, None])
    loader = WindowLoader(directory / "family.nc", parameters=("beta",), normalization=norm, batch_size=6, horizon=2,
                          initial_fraction=1.0)
    batch = norm.fields_inverse(loader(3)["u"])[:, :, 0]
    starts = [i for window in batch for i in range(12) if np.allclose(ds.u.values[i, :3], window, atol=1e-5)]
    assert len(starts) == 6, "every window is the first three frames of a trajectory"
    with pytest.raises(ConfigError, match=r"initial_fraction must be in \[0, 1\]"):
        WindowSampler(u, jnp.zeros((3, 1)), batch_size=4, horizon=2, initial_fraction=1.5)


def test_cape_warmup_trains_the_cape_module_alone(key):
    model = CAPEConditioning(width=8, modes=2, pool=1)(FNOBase(size=4, modes=2, depth=1), channels=1, n_params=1,
                                                       ndim=1, key=key)
    batch = {"u": jax.random.normal(key, (2, 3, 1, 16)), "params": jnp.zeros((2, 1))}
    at = lambda loss, epoch: eqx.tree_at(lambda obj: obj.epoch, loss, jnp.asarray(epoch, jnp.int32))  # noqa: E731
    evaluate = eqx.filter_jit(lambda loss, m: loss(m, batch, key))
    loss = RolloutLoss(steps_per_epoch=1, epochs=4, warmup=2, cape_weight=0.5)
    main_only, _ = evaluate(at(RolloutLoss(steps_per_epoch=1, epochs=4, warmup=2, cape_weight=0.0), 2), model)
    for epoch, with_main in ((0, False), (1, False), (2, True)):
        value, metrics = evaluate(at(loss, epoch), model)
        expected = 0.5 * metrics["cape_aux"] + (main_only if with_main else 0.0)
        assert_close(value, expected, rtol=1e-5, what=f"loss at epoch {epoch}")
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: loss(m, batch, key)[0]))(model)  # epoch -1: warm-up
    assert float(jnp.abs(grads.base.lift.weight).max()) == 0.0 and float(jnp.abs(grads.cape.head.weight).max()) > 0


def test_a_detached_cape_module_is_trained_by_its_auxiliary_loss_alone(key):
    """With `detach_guess` the solver's step is unchanged, the solver's loss gives the CAPE module no gradient and
    the base the same as without it, and the auxiliary loss trains the module."""
    make = lambda detach: CAPEConditioning(width=8, modes=2, pool=1, normalize=False, detach_guess=detach)(  # noqa: E731
        FNOBase(size=4, modes=2, depth=1), channels=1, n_params=1, ndim=1, key=key)
    joint, detached = make(False), make(True)
    batch = {"u": jax.random.normal(key, (2, 3, 1, 16)), "params": jnp.ones((2, 1))}
    grad = lambda loss, m: eqx.filter_jit(eqx.filter_grad(lambda m: loss(m, batch, key)[0]))(m)  # noqa: E731
    first_epoch = lambda loss: eqx.tree_at(lambda obj: obj.epoch, loss, jnp.asarray(0, jnp.int32))  # noqa: E731
    main_only = first_epoch(RolloutLoss(steps_per_epoch=1, epochs=2, cape_weight=0.0))
    u, p = batch["u"][0, 0], batch["params"][0]
    assert_close(detached(u, p)[0], joint(u, p)[0], rtol=1e-6, what="step")
    g_joint, g_detached = grad(main_only, joint), grad(main_only, detached)
    assert float(jnp.abs(g_detached.cape.head.weight).max()) == 0.0 < float(jnp.abs(g_joint.cape.head.weight).max())
    assert_close(g_detached.base.lift.weight, g_joint.base.lift.weight, rtol=1e-5, what="base gradient")
    aux = grad(first_epoch(RolloutLoss(steps_per_epoch=1, epochs=2, cape_weight=1.0)), detached)
    assert float(jnp.abs(aux.cape.head.weight).max()) > 0


class _ParameterSquared(eqx.Module):
    """A 'solver' u -> u + p0^2 g(x) + p1 h(x): d/dp0 = 2 p0 g and d/dp1 = h, so the penalty has a closed form."""

    g: jax.Array
    h: jax.Array

    def __call__(self, u, params):
        return u + params[0] ** 2 * self.g + params[1] * self.h, None


class _LinearInParameter(eqx.Module):
    """A trainable 'solver' u -> u + a p0 g(x), whose sensitivity to p0 is |a| rms(g) at every parameter."""

    a: jax.Array
    g: jax.Array

    def __call__(self, u, params):
        return u + self.a * params[0] * jax.lax.stop_gradient(self.g), None


def test_gradient_penalty_pulls_the_parameter_sensitivity_to_its_target_over_a_widened_range(key):
    """At p0 drawn uniformly on [-0.5, 1.5] (the batch's [0, 1] widened by half its width each side) the RMS sensitivity
    is sqrt(4 p0^2 rms(g)^2 + rms(h)^2); its mean squared distance to the target matches the integral over p0."""
    x = jnp.linspace(0, 2 * jnp.pi, 32, endpoint=False)
    g, h = jnp.sin(x)[None], 0.5 * jnp.ones((1, 32))  # rms(g)^2 = 1/2, rms(h)^2 = 1/4
    solver, n = _ParameterSquared(g, h), 40_000
    params = jnp.zeros((n, 2)).at[0, 0].set(1.0).at[:, 1].set(jnp.linspace(-3, 3, n))
    penalty = ParameterGradientPenalty(weight=2.0, target=0.3, widen=0.5)
    value = penalty(solver, jnp.zeros((n, 1, 32)), params, 1, key)
    p0 = np.linspace(-0.5, 1.5, 200_001)
    expected = 2.0 * np.mean((np.sqrt(2 * p0**2 + 0.25) - 0.3) ** 2)
    assert_close(value, expected, rtol=0.02, what="gradient penalty against its integral over the drawn range")
    # trained on the penalty alone, a solver u + a p0 g reaches the target sensitivity |a| rms(g) = 0.3
    scaled = _LinearInParameter(jnp.asarray(0.05), g)
    params, states = jnp.linspace(0, 1, 16)[:, None], jnp.zeros((16, 1, 32))
    optimizer = optax.adam(1e-2)

    @eqx.filter_jit
    def step(model, state, step_key):
        grads = eqx.filter_grad(lambda m: penalty(m, states, params, 1, step_key))(model)
        updates, state = optimizer.update(grads, state)
        return eqx.apply_updates(model, updates), state

    state = optimizer.init(scaled)
    for step_key in jax.random.split(key, 300):
        scaled, state = step(scaled, state, step_key)
    assert float(jnp.abs(scaled.a)) * 0.5**0.5 == pytest.approx(0.3, rel=0.01)
    with pytest.raises(ConfigError, match="weight, target and widen"):
        ParameterGradientPenalty(widen=-1.0)


def test_rollout_loss_adds_the_gradient_penalty_which_trains_the_parameter_path(key):
    model = CAPEConditioning(width=8, modes=2, pool=1)(FNOBase(size=4, modes=2, depth=1), channels=1, n_params=1,
                                                       ndim=1, key=key)
    batch = {"u": jax.random.normal(key, (4, 3, 1, 16)), "params": jnp.linspace(-1, 1, 4)[:, None]}
    plain = RolloutLoss(steps_per_epoch=1, epochs=1, cape_weight=0.5, input_noise=0.0)
    penalty = ParameterGradientPenalty(weight=3.0, target=0.2)
    penalised = RolloutLoss(steps_per_epoch=1, epochs=1, cape_weight=0.5, input_noise=0.0, gradient_penalty=penalty)
    base, _ = eqx.filter_jit(plain)(model, batch, key)
    value, metrics = eqx.filter_jit(penalised)(model, batch, key)
    _, penalty_key = jax.random.split(key)
    alone = eqx.filter_jit(penalty)(model, batch["u"][:, 0], batch["params"], 1, penalty_key)
    assert float(alone) > 0 and float(metrics["gradient_penalty"]) == pytest.approx(float(alone), rel=1e-6)
    assert_close(value, base + alone, rtol=1e-6, what="rollout loss with the gradient penalty")
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: penalised(m, batch, key)[0] - plain(m, batch, key)[0]))(model)
    assert float(jnp.abs(grads.cape.gains[0].layers[0].weight).max()) > 0  # the penalty trains the parameter path
    with pytest.raises((ConfigError, TypeError), match="gradient_penalty"):
        RolloutLoss(steps_per_epoch=1, epochs=1, gradient_penalty=5e-4)


@dataclasses.dataclass(frozen=True)
class _EveryOtherEpoch(Curriculum):
    """A user's curriculum: full rollouts on odd epochs, teacher forcing on even ones."""

    def __call__(self, epoch, *, epochs, horizon, warmup=0):
        return jnp.where(epoch % 2 == 1, horizon, 1).astype(jnp.int32)


def test_a_user_defined_curriculum_drives_the_rollout_loss(key):
    u = jax.random.normal(key, (6, 5, 1, 16))
    sampler = WindowSampler(u, jnp.ones((6, 1)), batch_size=4, horizon=4)
    model = NoConditioning()(FNOBase(size=4, modes=2, depth=1), channels=1, n_params=1, ndim=1, key=key)
    loss = RolloutLoss(steps_per_epoch=2, epochs=4, curriculum=_EveryOtherEpoch())
    result = fit(model, loss, sampler, optax.adam(1e-3), 8, key=key, chunk=2)
    assert [record["n_autoregressive"] for record in result.history] == [1, 4, 1, 4]
    full = RolloutLoss(steps_per_epoch=1, epochs=1, curriculum=Autoregressive())
    assert int(full.n_autoregressive(7)) == 7 and int(TeacherForcing()(jnp.asarray(3), epochs=4, horizon=7)) == 1
    with pytest.raises((ConfigError, TypeError), match="curriculum"):  # TypeError: the runtime type checker's
        RolloutLoss(steps_per_epoch=1, epochs=1, curriculum="teacher_forcing")


def test_family_registry_builds_the_trajectories_of_its_solver_calls():
    """`family_dataset` = the family's initial conditions from fold_in(key(seed), i) and its solver, per parameter."""
    ds = family_dataset("advection", n_per_value=2, num_points=16, seed=5)
    betas = FAMILIES["advection"].parameters["beta"]
    assert ds.sizes == {"sample": 2 * len(betas), "t": 41, "x": 16} and ds.attrs["family"] == "advection"
    for index in (0, 3):
        u0 = pdebench_initial_conditions(jax.random.fold_in(jax.random.key(5), index), 2, 16)
        expected = advection_trajectories(betas[index], u0, t_end=2.0, n_frames=41)
        np.testing.assert_array_equal(ds.u.values[2 * index : 2 * index + 2], expected)
        assert (ds.beta.values[2 * index : 2 * index + 2] == betas[index]).all()
    fine = family_dataset(AdvectionFamily(parameters={"beta": (0.5,)}), n_per_value=1, num_points=8,
                          solver_points=16, seed=5)
    u0 = pdebench_initial_conditions(jax.random.fold_in(jax.random.key(5), 0), 1, 16)
    np.testing.assert_array_equal(fine.u.values, advection_trajectories(0.5, u0, t_end=2.0, n_frames=41)[:, :, ::2])
    assert fine.sizes["x"] == 8 and fine.attrs["family"] == "AdvectionFamily"
    full = family_dataset(AdvectionFamily(parameters={"beta": (0.5,)}), n_per_value=1, num_points=16,
                          solver_points=16, seed=5)  # the same trajectories at every resolution (zero-shot transfer)
    np.testing.assert_array_equal(full.u.values[:, :, ::2], fine.u.values)
    with pytest.raises(ConfigError, match="unknown PDE family 'heat'"):
        family_dataset("heat", n_per_value=1, num_points=8)
    # some rows only: the same trajectories and parameters as those rows of the whole dataset, whether the family
    # solves each row alone (advection) or with a step size set by the batch (Burgers: its CFL bound takes the
    # largest |u0| of the parameter value's states)
    rows = np.array([2, 5, 8, 11])  # one state per value: solved alone, Burgers would take other steps (3e-3 off)
    for name in ("advection", "burgers"):
        some = family_dataset(name, n_per_value=3, num_points=64, seed=5, rows=rows)
        whole = family_dataset(name, n_per_value=3, num_points=64, seed=5).isel(sample=rows)
        np.testing.assert_allclose(some.u.values, whole.u.values, rtol=1e-6, atol=1e-7)
        parameter = next(iter(FAMILIES[name].parameters))
        np.testing.assert_array_equal(some[parameter].values, whole[parameter].values)
    with pytest.raises(ConfigError, match=r"rows must be sorted distinct indices in \[0, "):
        family_dataset("burgers", n_per_value=3, num_points=16, rows=np.array([6, 1]))


@dataclasses.dataclass(frozen=True)
class _Decay(PDEFamily):
    """A user's family: u_t = -k u from constant states (exact)."""

    parameters: dict = dataclasses.field(default_factory=lambda: {"k": (1.0, 2.0)})
    t_end: float = 1.0
    n_frames: int = 3
    equation = "u_t = -k u"

    def initial_conditions(self, key, n, num_points):
        return jnp.ones((n, num_points)) * jax.random.uniform(key, (n, 1))

    def solve(self, values, u0):
        t = np.linspace(0.0, self.t_end, self.n_frames)
        return np.asarray(u0)[:, None] * np.exp(-values["k"] * t)[None, :, None]


def _pdebench_generator_by_numpy(n: int, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """An independent numpy sampler of PDEBench's 1D generator distribution: four modes with U(0, 1) amplitudes and
    U(0, 2pi) phases, two picks (with replacement) set each mode's wavenumber to k times its picks, |.| with p 0.1,
    a random sign, a tanh window [l, l + 0.45], l ~ U(0.1, 0.45), with p 0.1."""
    x = np.arange(num_points) / num_points
    times_picked = np.zeros((n, 4))
    for column in rng.integers(0, 4, (2, n)):
        times_picked[np.arange(n), column] += 1
    k = np.arange(1, 5) * times_picked
    u = np.sum(rng.uniform(size=(n, 4, 1)) * np.sin(2 * np.pi * k[:, :, None] * x + rng.uniform(0, 2 * np.pi,
                                                                                                 (n, 4, 1))), axis=1)
    u = np.where(rng.uniform(size=(n, 1)) < 0.1, np.abs(u), u) * rng.choice([-1.0, 1.0], (n, 1))
    left = rng.uniform(0.1, 0.45, (n, 1))
    window = 0.5 * (np.tanh((x - left) / 0.01) - np.tanh((x - left - 0.45) / 0.01))
    return np.where(rng.uniform(size=(n, 1)) < 0.1, u * window, u)


def test_pdebench_initial_distribution_matches_an_independent_sampler_of_its_description():
    """The "pdebench" distribution against a numpy sampler of the same description: the RMS quantiles (what the mean
    nRMSE is sensitive to) and the spread of the mean (the offsets of the modes not picked, variance 1/6 each)
    agree to Monte Carlo error; "two-sines" has no offsets and more states of small norm."""
    n = 40_000
    ours = np.asarray(pdebench_initial_conditions(jax.random.key(0), n, 64, distribution="pdebench"))
    independent = _pdebench_generator_by_numpy(n, 64, np.random.default_rng(0))
    two_sines = np.asarray(pdebench_initial_conditions(jax.random.key(0), n, 64))
    quantiles = [0.01, 0.1, 0.5, 0.9]
    rms = {name: np.quantile(np.sqrt(np.mean(u**2, axis=1)), quantiles)
           for name, u in (("ours", ours), ("independent", independent), ("two-sines", two_sines))}
    np.testing.assert_allclose(rms["ours"], rms["independent"], rtol=0.05)
    assert np.std(ours.mean(axis=1)) == pytest.approx(np.std(independent.mean(axis=1)), rel=0.05)
    assert np.std(ours.mean(axis=1)) > 3 * np.std(two_sines.mean(axis=1))
    assert rms["two-sines"][0] < 0.5 * rms["ours"][0]
    positive = np.asarray(pdebench_initial_conditions(jax.random.key(1), 50, 64, positive=True,
                                                      distribution="pdebench"))
    np.testing.assert_allclose([positive.min(axis=1), positive.max(axis=1)], [np.zeros(50), np.ones(50)], atol=1e-6)
    assert "pdebench distribution" in family_dataset(
        AdvectionFamily(parameters={"beta": (0.4,)}, initial_distribution="pdebench"), n_per_value=1,
        num_points=16).attrs["initial_conditions"]
    with pytest.raises(ConfigError, match="initial_distribution must be one of"):
        AdvectionFamily(initial_distribution="gaussian")


def test_a_user_defined_family_registers_and_generates(monkeypatch):
    monkeypatch.setitem(FAMILIES, "decay", _Decay())
    ds = family_dataset("decay", n_per_value=2, num_points=4)
    assert ds.attrs["family"] == "decay" and ds.attrs["equation"] == "u_t = -k u"
    u = ds.u.values
    assert_close(u[:, -1], u[:, 0] * np.exp(-ds.k.values)[:, None], rtol=1e-6, what="exact decay")


def test_neural_solver_config_checks_the_training_steps():
    from sciml.studies import TrainConfig, resolve_config
    from sciml.studies.neural_solvers import CURRICULA, NeuralSolverConfig, build_solver

    config = resolve_config(NeuralSolverConfig, {"train.steps": "40", "train.chunk": "20", "epochs": "2"})
    assert config.train.steps == 40 and config.train.optimizer == "adamw" and config.train.schedule == "cosine"
    with pytest.raises(ValueError, match="multiple of train.chunk=20 .*e.g. --set train.chunk=10"):
        NeuralSolverConfig(train=TrainConfig(steps=30, chunk=20))
    with pytest.raises(ValueError, match="must be >= epochs=20 .*e.g. --set epochs=10"):
        NeuralSolverConfig(train=TrainConfig(steps=10, chunk=10))
    with pytest.raises(ValueError, match="curriculum must be one of"):
        NeuralSolverConfig(curriculum="curriculum")
    assert set(CURRICULA) == {"tanh", "teacher_forcing", "autoregressive"}
    with pytest.raises(ValueError, match="gradient_penalty=0 turns the penalty off"):
        NeuralSolverConfig(gradient_penalty_widen=-0.5)
    with pytest.raises(ValueError, match="Set cape_normalize=false and cape_residual=add with a cap"):
        NeuralSolverConfig(cape_update_cap=1.0, cape_normalize=True)
    with pytest.raises(ValueError, match="cape_gains must be 'mlp'"):
        NeuralSolverConfig(cape_gains="linear")
    key = jax.random.key(0)
    plain = NeuralSolverConfig(conditioning="none", size=4, modes=2, depth=1, cape_width=8, cape_modes=2)
    model, size = build_solver(plain, channels=1, ndim=1, key=key)
    assert size > 4  # widened to the CAPE model's parameter count
    _, cape_size = build_solver(dataclasses.replace(plain, conditioning="cape"), channels=1, ndim=1, key=key)
    assert cape_size == 4


def test_saved_neural_solver_reloads_and_predicts_from_pdebench_files_and_its_own_predictions(tmp_path):
    from sciml.data import ensure_dataset, open_dataset, read_pdebench, trajectory_arrays
    from sciml.studies import TrainConfig
    from sciml.studies.neural_solvers import NeuralSolverConfig, TrainedSolver, build_solver, model_like, predict

    config = NeuralSolverConfig(small=True, size=8, modes=4, depth=1, cape_width=8, cape_modes=4, epochs=1,
                                parameter_scale="linear", parameter_clip=0.0, train=TrainConfig(steps=10, chunk=10))
    path = ensure_dataset(config.dataset, small=True)
    u, params = trajectory_arrays(open_dataset(path), parameters=("beta",), spatial_stride=config.spatial_stride)
    solver, _ = build_solver(config, channels=1, ndim=1, key=config.train.key(0))
    trained = TrainedSolver(solver, Normalization.fit(u, params, parameter_scale="linear", clip=0.0))
    eqx.tree_serialise_leaves(tmp_path / "model.eqx", trained)
    loaded = eqx.tree_deserialise_leaves(tmp_path / "model.eqx", model_like(config))
    file = read_pdebench(path.parent / "pdebench" / "1D_Advection_Sols_beta0.4.hdf5")
    out = predict(loaded, config, file)
    assert out.prediction.dims == ("sample", "t", "x")
    assert out.prediction.shape == (file.sizes["sample"], file.sizes["t"] - 1, file.sizes["x"] // 4)
    assert (out.beta.values == 0.4).all() and np.isfinite(out.prediction.values).all()
    np.testing.assert_array_equal(out.prediction.values, predict(trained, config, file).prediction.values)
    own = out.assign(initial=(("sample", "x"), file.u.values[:, 0, ::4]))  # what predictions.nc stores
    reread = predict(loaded, config, open_dataset(write_dataset(own, tmp_path / "predictions.nc")))
    np.testing.assert_array_equal(reread.prediction.values, out.prediction.values)
    with pytest.raises(DataError, match="predict needs a dataset with 'u'"):
        predict(loaded, config, file.rename(u="v"))
