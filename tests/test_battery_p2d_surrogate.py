"""The P2D surrogate's pieces: the lithium inventories against the BDF solver, the Butler-Volmer limiter, the hard
initial condition, the time-expanding sampler, and its bad-input errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import ConfigError
from sciml.battery import (
    ExpandingTimeSampler,
    ExtrapolationWarning,
    P2DSurrogate,
    P2DSurrogateLoss,
    SurrogateSetup,
    lithium_inventory,
    solver_states,
)
from sciml.solvers import P2D
from sciml.solvers._p2d import FARADAY, GAS_CONSTANT

SETUP = SurrogateSetup()
SOLVER = P2D(n_negative=4, n_separator=3, n_positive=4, n_shells=4)


def perturbed(surrogate: P2DSurrogate, key) -> P2DSurrogate:
    """The surrogate with a random (non-zero) output layer."""
    last = surrogate.network.layers[-1]
    return eqx.tree_at(lambda m: m.network.layers[-1].weight, surrogate,
                       0.5 * jax.random.normal(key, last.weight.shape))


@pytest.fixture(scope="module")
def states():
    s = np.linspace(0.0, 1.0, 6)
    pairs = np.array([[1.0, 1.0], [3.0, 6.0]])
    return s, pairs, solver_states(SOLVER, SETUP, pairs, s)


def test_inventories_vanish_on_the_solver_and_not_on_a_perturbed_state(states):
    s, _, solution = states
    surrogate = P2DSurrogate(SOLVER, SETUP, 8, 1, key=jax.random.key(0))
    with jax.enable_x64(True):
        values = np.array([[lithium_inventory(surrogate, jnp.asarray(solution[k, i]), s[i] ** 2 * SETUP.t_end)
                            for i in range(len(s))] for k in range(2)])
        # the particles move (mean stoichiometry changes by ~0.1-0.4), but the inventories hold to round-off
        assert np.ptp(solution[0, :, SOLVER.n_cells]) > 0.05
        np.testing.assert_allclose(values, 0.0, atol=1e-11)
        moved = solution[1, -1].copy()
        moved[SOLVER.n_cells] += 0.01  # lithium added to one shell of the first negative node
        broken = np.asarray(lithium_inventory(surrogate, jnp.asarray(moved), SETUP.t_end))
    shell_volume = 1.0 / SOLVER.n_shells**3  # centre shell: (1/n)^3 of the particle
    np.testing.assert_allclose(broken, [0.0, 0.01 * shell_volume / SOLVER.n_negative, 0.0], atol=1e-12)


def test_overpotential_limit_keeps_small_arguments_and_bounds_large_ones():
    limited = SOLVER.with_overpotential_limit(5.0)
    electrode = SOLVER.parameters.negative
    thermal = GAS_CONSTANT * SOLVER.parameters.temperature / FARADAY
    c_e, x_surface = jnp.full(3, 1000.0), jnp.full(3, 0.5)
    arguments = jnp.array([0.01, 1.0, 50.0])  # F eta / (2 R T)
    phi_s = 2.0 * thermal * arguments + electrode.ocp(x_surface)
    exact = SOLVER._reaction(electrode, phi_s, 0.0, c_e, x_surface, 1.0)
    capped = limited._reaction(electrode, phi_s, 0.0, c_e, x_surface, 1.0)
    prefactor = 2.0 * SOLVER._exchange_current(electrode, c_e, x_surface)
    np.testing.assert_allclose(exact / prefactor, np.sinh(arguments), rtol=1e-5)
    np.testing.assert_allclose(capped / prefactor, np.sinh(5.0 * np.tanh(arguments / 5.0)), rtol=1e-5)
    assert abs(float(capped[0] / exact[0]) - 1.0) < 1e-5  # |a| << L: unchanged
    assert float(capped[2] / prefactor[2]) < np.sinh(5.0)  # bounded by sinh(L)
    with pytest.raises(ConfigError, match="overpotential_limit"):
        SOLVER.with_overpotential_limit(-1.0)


def test_hard_initial_condition_and_exact_mean_drift():
    surrogate = perturbed(P2DSurrogate(SOLVER, SETUP, 8, 2, key=jax.random.key(1)), jax.random.key(2))
    p = SOLVER.parameters
    n_concentrations = int(SOLVER.mass().sum())
    start = np.asarray(surrogate.state(jnp.asarray(0.0), 2.0, 3.0))
    rest = np.concatenate([np.ones(SOLVER.n_cells),
                           np.full(SOLVER.n_negative * SOLVER.n_shells, p.negative.c_init / p.negative.c_max),
                           np.full(SOLVER.n_positive * SOLVER.n_shells, p.positive.c_init / p.positive.c_max)])
    np.testing.assert_allclose(start[:n_concentrations], rest, rtol=1e-6)
    later = np.asarray(surrogate.state(jnp.asarray(0.7), 2.0, 3.0))
    assert np.max(np.abs(later[:n_concentrations] - rest)) > 1e-3  # the network does act after t = 0
    # without the network, the particles follow the exact inventory: the baseline has zero inventory residual
    baseline = surrogate.baseline(jnp.asarray(0.7), 2.0, 3.0)
    np.testing.assert_allclose(lithium_inventory(surrogate, baseline, 0.49 * SETUP.t_end), 0.0, atol=1e-6)


def test_expanding_time_sampler_grows_the_time_window():
    sampler = ExpandingTimeSampler(512, SETUP, s_start=0.25, expansion_steps=100)
    key = jax.random.key(0)
    first, middle, last = (np.asarray(sampler(key, jnp.asarray(step))) for step in (0, 50, 400))
    assert first[:, 0].max() <= 0.25 and first[:, 0].max() > 0.24
    assert 0.6 < middle[:, 0].max() <= 0.625
    assert last[:, 0].max() > 0.99
    assert SETUP.i0_range[0] <= first[:, 1].min() and first[:, 1].max() <= SETUP.i0_range[1]
    log_d = np.log(first[:, 2])
    assert abs(np.median(log_d) - 0.5 * np.log(10.0)) < 0.15  # log-uniform over [1, 10]
    assert np.asarray(ExpandingTimeSampler(64, SETUP)(key, jnp.asarray(0)))[:, 0].max() > 0.9


def test_loss_terms_and_bad_input(states):
    s, pairs, solution = states
    surrogate = P2DSurrogate(SOLVER, SETUP, 8, 1, key=jax.random.key(0))
    points = np.stack([s, np.full_like(s, pairs[0, 0]), np.full_like(s, pairs[0, 1])], axis=1)
    weights = {"physics": 1.0, "inventory": 2.0, "data": 3.0, "voltage": 50.0}
    loss = P2DSurrogateLoss(SOLVER.with_overpotential_limit(10.0), weights, points, solution[0])
    batch = ExpandingTimeSampler(16, SETUP)(jax.random.key(3), jnp.asarray(0))
    value, terms = eqx.filter_jit(loss)(surrogate, batch, None)
    assert set(terms) == {"electrolyte", "particles", "charge", "inventory", "data", "voltage"}
    assert np.isfinite(float(value)) and all(np.isfinite(float(v)) for v in terms.values())
    group = {"electrolyte": "physics", "particles": "physics", "charge": "physics"}
    assert float(value) == pytest.approx(sum(weights[group.get(k, k)] * float(v) for k, v in terms.items()), rel=1e-5)
    # the voltage term against the surrogate's fast voltage path and the solver's own voltage at the same times
    with jax.enable_x64(True):
        reference = np.asarray(SOLVER.voltage(SETUP.current, pairs[0, 0], pairs[0, 1], jnp.asarray(s**2 * SETUP.t_end)))
    predicted = np.asarray(surrogate.voltage_unchecked(jnp.asarray(s**2 * SETUP.t_end, jnp.float32), pairs[0, 0],
                                                       pairs[0, 1]))
    assert float(terms["voltage"]) == pytest.approx(np.mean(((predicted - reference) / 1e-3) ** 2), rel=1e-3)
    assert float(terms["voltage"]) > 1.0  # the untrained surrogate (the baseline) is millivolts off
    with pytest.raises(ConfigError, match="data or voltage weight needs data_points"):
        P2DSurrogateLoss(SOLVER, {"voltage": 1.0})
    with pytest.raises(ConfigError, match="data or voltage weight needs data_points"):
        P2DSurrogateLoss(SOLVER, {"physics": 1.0, "data": 1.0})
    with pytest.raises(ConfigError, match="unknown weights"):
        P2DSurrogateLoss(SOLVER, {"physic": 1.0})
    with pytest.raises(ConfigError, match=r"data_states \(m, "):
        P2DSurrogateLoss(SOLVER, {"data": 1.0}, points, solution[0][:, :5])
    with pytest.raises(ConfigError, match="diffusivity_scale = 20"):
        surrogate.voltage(np.linspace(0.0, 100.0, 3), 1.0, 20.0)


@pytest.mark.parametrize("low_fidelity", [False, True])
def test_voltage_path_matches_the_full_state(low_fidelity):
    from sciml.studies.battery import SurrogateConfig, surrogate_like

    spm = surrogate_like(SETUP, SurrogateConfig(width=8, depth=1)) if low_fidelity else None
    surrogate = perturbed(P2DSurrogate(SOLVER, SETUP, 8, 2, key=jax.random.key(4), low_fidelity=spm),
                          jax.random.key(5))
    t = jnp.linspace(0.0, SETUP.t_end, 7)

    @eqx.filter_jit
    def both(model):
        full = jax.vmap(lambda ti: SOLVER.terminal_voltage(model.state(jnp.sqrt(ti / SETUP.t_end), 1.3, 2.2)))(t)
        return full, model.voltage_unchecked(t, 1.3, 2.2)

    full, fast = both(surrogate)
    np.testing.assert_allclose(fast, full, rtol=1e-6)
    assert 2.5 < float(fast.min()) and float(fast.max()) < 4.5


def test_batched_voltages_match_one_curve_at_a_time():
    surrogate = perturbed(P2DSurrogate(SOLVER, SETUP, 8, 2, key=jax.random.key(7)), jax.random.key(8))
    t = np.linspace(0.0, SETUP.t_end, 1000)  # 3 curves per chunk: 7 pairs need a partial last chunk
    i0 = np.linspace(*SETUP.i0_range, 7)
    diffusivity = np.geomspace(*SETUP.diffusivity_range, 7)[::-1]
    batched = surrogate.voltages(t, i0, diffusivity)
    assert batched.shape == (7, t.size)
    one_by_one = np.stack([surrogate.voltage(t, a, b) for a, b in zip(i0, diffusivity, strict=True)])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-6)
    assert np.ptp(batched[:, -1]) > 1e-3  # the pairs give different curves
    with pytest.raises(ConfigError, match=r"one length m >= 1 .* got shapes \(7,\) and \(6,\)"):
        surrogate.voltages(t, i0, diffusivity[:6])
    with pytest.raises(ConfigError, match="i0_scale = 99"):
        surrogate.voltages(t, np.append(i0[:6], 99.0), diffusivity)
    high = SETUP.i0_range[1] * 1.5
    for call in (lambda: surrogate.voltage(t, high, diffusivity[0], extrapolate=True),
                 lambda: surrogate.voltages(t, np.append(i0[:6], high), diffusivity, extrapolate=True)):
        with pytest.warns(ExtrapolationWarning, match="extrapolating") as caught:
            call()
        assert caught[0].filename == __file__  # the warning names the caller's line, not sciml's


def test_low_fidelity_level_is_frozen_but_differentiable_in_time_and_scales():
    from sciml.studies.battery import SurrogateConfig, surrogate_like

    spm = surrogate_like(SETUP, SurrogateConfig(width=8, depth=1))
    surrogate = P2DSurrogate(SOLVER, SETUP, 8, 1, key=jax.random.key(6), low_fidelity=spm)

    @eqx.filter_jit
    def derivatives(model):
        state = lambda s, d: model.state(s, 1.5, d)  # noqa: E731
        ds = jax.jvp(lambda s: state(s, 2.0), (jnp.asarray(0.6),), (jnp.asarray(1.0),))[1]
        dd = jax.grad(lambda d: model.voltage_unchecked(jnp.asarray([1800.0]), 1.5, d)[0])(2.0)
        weights = jax.grad(lambda m: jnp.sum(m.state(jnp.asarray(0.6), 1.5, 2.0)))(model)
        return ds, dd, weights

    with jax.enable_x64(True):
        model64 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, surrogate)
        ds, dd, weights = derivatives(model64)
        h = 1e-6
        fd_s = (model64.state(jnp.asarray(0.6 + h), 1.5, 2.0) - model64.state(jnp.asarray(0.6 - h), 1.5, 2.0)) / (2 * h)
        volt = lambda d: model64.voltage_unchecked(jnp.asarray([1800.0]), 1.5, d)[0]  # noqa: E731
        fd_d = (volt(2.0 + h) - volt(2.0 - h)) / (2 * h)
    np.testing.assert_allclose(ds, fd_s, rtol=1e-5, atol=1e-8)
    assert np.max(np.abs(ds[SOLVER.n_cells:int(SOLVER.mass().sum())])) > 1e-3  # the particles move with the level
    np.testing.assert_allclose(dd, fd_d, rtol=1e-5, atol=1e-9)
    frozen = jax.tree_util.tree_leaves(eqx.filter(weights.low_fidelity, eqx.is_array))
    assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in frozen)
    assert float(jnp.max(jnp.abs(weights.network.layers[-1].bias))) > 0

