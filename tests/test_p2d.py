"""The P2D (Doyle-Fuller-Newman) model: PyBaMM's DFN on the same mesh, open-circuit rest, lithium conservation,
parameter derivatives, cut-off and bad input. The solving tests are `slow` (each compiles the implicit solve); a coarse
mesh keeps them short, and benchmarks/p2d.py runs PyBaMM's default mesh at three C-rates."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.solvers import P2D, P2DParameters

CURRENT = 5.0  # 1C for the LG M50 cell
T_EVAL = np.linspace(0.0, 4000.0, 81)  # past the 1C cut-off


@pytest.fixture(scope="module")
def model():
    return P2D(n_negative=8, n_separator=5, n_positive=8, n_shells=8)


@pytest.fixture(scope="module")
def solution(model):
    with jax.enable_x64(True):
        return model.solve(CURRENT, T_EVAL)


def import_pybamm():
    """PyBaMM switches JAX to float64 for the whole process on import; put the flag back for the other tests."""
    x64 = jax.config.jax_enable_x64
    try:
        return pytest.importorskip("pybamm")
    finally:
        jax.config.update("jax_enable_x64", x64)


@pytest.mark.slow
def test_discharge_matches_pybamm_dfn_on_the_same_mesh(model, solution):
    pybamm = import_pybamm()
    dfn = pybamm.lithium_ion.DFN()
    sim = pybamm.Simulation(dfn, parameter_values=pybamm.ParameterValues("Chen2020"),
                            var_pts={**dfn.default_var_pts, **model.var_pts},
                            solver=pybamm.IDAKLUSolver(rtol=1e-9, atol=1e-11))
    reference = sim.solve(t_eval=[0.0, T_EVAL[-1]], t_interp=T_EVAL)
    assert solution.termination == "voltage cut-off"
    assert abs(solution.t_end - reference.t[-1]) < 5.0, (solution.t_end, reference.t[-1])
    assert solution.stats["steps"] < 600 and solution.stats["factorisations"] < 200, solution.stats  # BDF, not ~1e4
    common = T_EVAL[T_EVAL < min(solution.t_end, reference.t[-1])]
    ours = solution.voltage[: common.size]
    theirs = reference["Voltage [V]"](common)
    rmse = np.sqrt(np.mean((ours - theirs) ** 2))
    assert rmse < 1e-3, f"P2D voltage RMSE against PyBaMM's DFN {rmse * 1e3:.3f} mV, expected < 1 mV"
    c_e = reference["Electrolyte concentration [mol.m-3]"].entries  # (n_x, n_t) at the solution times
    for k in (10, 40, common.size - 1):
        assert_close(solution.c_e[k], c_e[:, k], rtol=0.01, what=f"electrolyte concentration at t = {common[k]:g} s")


@pytest.mark.slow
def test_rest_holds_the_open_circuit_voltage(model):
    p = P2DParameters()
    with jax.enable_x64(True):
        rest = model.solve(0.0, T_EVAL)  # same shapes as the discharge: one compilation
        ocv = float(p.positive.ocp(p.positive.c_init / p.positive.c_max)
                    - p.negative.ocp(p.negative.c_init / p.negative.c_max))
    assert rest.termination == "end time"
    assert_close(rest.voltage, np.full(T_EVAL.size, ocv), rtol=0, atol=1e-9, what="voltage at rest")
    assert_close(rest.c_e, np.full_like(rest.c_e, p.electrolyte_concentration), rtol=1e-12, what="c_e at rest")
    assert_close(rest.x_negative, np.full_like(rest.x_negative, p.negative.c_init / p.negative.c_max), rtol=1e-12,
                 what="negative stoichiometry at rest")


@pytest.mark.slow
def test_lithium_is_conserved(model, solution):
    """The electrolyte holds its lithium; each electrode's solid loses or gains exactly I t / F."""
    p = P2DParameters()
    widths = np.diff(np.concatenate([[0.0], np.cumsum(np.r_[np.full(8, p.negative.thickness / 8),
                                                           np.full(5, p.separator_thickness / 5),
                                                           np.full(8, p.positive.thickness / 8)])]))
    porosity = np.r_[np.full(8, p.negative.porosity), np.full(5, p.separator_porosity), np.full(8, p.positive.porosity)]
    electrolyte = solution.c_e @ (porosity * widths)
    assert_close(electrolyte, np.full_like(electrolyte, electrolyte[0]), rtol=1e-8, what="lithium in the electrolyte")
    edges = np.linspace(0.0, 1.0, 9)
    shells = edges[1:] ** 3 - edges[:-1] ** 3
    moles = CURRENT * solution.t / (96485.33212 * p.electrode_area)  # per unit electrode area
    for x, electrode, sign in ((solution.x_negative, p.negative, -1.0), (solution.x_positive, p.positive, 1.0)):
        held = (x @ shells).sum(axis=1) * electrode.c_max * electrode.active_fraction * electrode.thickness / 8
        assert_close(held - held[0], sign * moles, rtol=1e-5, atol=1e-9 * held[0], what="lithium in the solid")


@pytest.mark.slow
def test_final_voltage_gradient_matches_finite_differences(model):
    with jax.enable_x64(True):
        t = jnp.linspace(0.0, 1200.0, 3)

        def final_voltage(scale):
            return model.voltage(CURRENT, 1.0, scale, t)[-1]

        value, grad = (float(v) for v in jax.value_and_grad(final_voltage)(1.0))
        eps = 1e-4
        finite = float(final_voltage(1.0 + eps) - final_voltage(1.0 - eps)) / (2 * eps)
    assert np.isfinite(value) and grad > 0, "a faster cathode diffusion keeps the surface emptier: higher voltage"
    assert_close(grad, finite, rtol=1e-4, what="dV(t_end)/d(diffusivity scale)")


@pytest.mark.slow
def test_a_high_current_ends_at_a_cut_off_without_nan(model):
    with jax.enable_x64(True):
        fast = model.solve(4 * CURRENT, T_EVAL)  # 4C: the electrolyte of the cathode runs dry long before 4000 s
    assert fast.termination == "electrolyte depleted", fast.termination
    assert fast.t_end < 1000.0 and fast.t[-1] == fast.t_end
    assert np.all(np.isfinite(fast.voltage)) and np.all(np.isfinite(fast.c_e))
    assert np.all(fast.voltage > 2.5) and fast.c_e[-1].min() < 0.01 * P2DParameters().electrolyte_concentration


@pytest.mark.slow
def test_current_below_cut_off_from_the_start_is_refused(model):
    with jax.enable_x64(True), pytest.raises(ConfigError, match="at or below the cut-off"):
        model.solve(5000.0, T_EVAL)


@pytest.mark.parametrize("change, match", [
    ({"diffusivity": -1e-14}, "diffusivity must be a positive number"),
    ({"c_init": 40000.0}, "initial stoichiometry"),
    ({"c_init": -1.0}, "initial stoichiometry"),
    ({"porosity": 0.5}, "volume fractions must sum"),
])
def test_non_physical_parameters_are_refused(change, match):
    p = P2DParameters()
    with pytest.raises(ConfigError, match=match):
        P2D(dataclasses.replace(p, negative=dataclasses.replace(p.negative, **change)))


@pytest.mark.parametrize("kwargs, match", [
    ({"t_eval": np.array([0.0, 10.0, 5.0])}, "increasing"),
    ({"t_eval": T_EVAL, "diffusivity_scale": -1.0}, "diffusivity_scale must be a positive"),
    ({"t_eval": T_EVAL, "i0_scale": float("nan")}, "i0_scale must be a positive"),
])
def test_bad_solve_arguments(model, kwargs, match):
    with jax.enable_x64(True), pytest.raises(ConfigError, match=match):
        model.solve(CURRENT, **kwargs)


def test_float32_is_refused(model):
    with jax.enable_x64(False), pytest.raises(ConfigError, match="needs float64"):
        model.solve(CURRENT, T_EVAL)


def test_too_coarse_mesh_and_bad_tolerances_are_refused():
    with pytest.raises(ConfigError, match="n_shells must be an integer >= 3"):
        P2D(n_shells=2)
    with pytest.raises(ConfigError, match="rtol must be a positive number"):
        P2D(rtol=0.0)


@pytest.mark.slow
def test_batched_voltages_match_single_discharges(model, solution):
    """`voltages` (the dataset path, sequential and vmapped) gives the discharge of `solve` before the cut-off."""
    t = T_EVAL[T_EVAL < 3000.0]
    with jax.enable_x64(True):
        sequential = model.voltages(CURRENT, jnp.array([1.0, 2.0]), jnp.array([1.0, 5.0]), jnp.asarray(t))
        vmapped = model.voltages(CURRENT, jnp.array([1.0, 2.0]), jnp.array([1.0, 5.0]), jnp.asarray(t), batch_size=2)
        other = model.solve(CURRENT, t, i0_scale=2.0, diffusivity_scale=5.0)
    assert_close(sequential[0], solution.voltage[: t.size], rtol=0, atol=1e-6, what="batched voltage, scales 1, 1")
    assert_close(sequential[1], other.voltage, rtol=0, atol=1e-6, what="batched voltage, scales 2, 5")
    assert_close(vmapped, sequential, rtol=0, atol=1e-6, what="vmapped against sequential")
    assert np.all(np.diff(sequential, axis=1) < 0), "a discharge lowers the voltage"
