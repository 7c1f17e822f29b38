"""The single-particle model: PyBaMM agreement, conservation, the steady diffusion profile, derivatives, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.solvers import SPM, SPMParameters

T_EVAL = np.linspace(0.0, 3000.0, 61)
CURRENT = 5.0  # 1C for the LG M50 cell


@pytest.fixture(scope="module")
def solver():
    return SPM(n_shells=20)


@pytest.fixture(scope="module")
def solution(solver):
    with jax.enable_x64(True):
        return solver.solve(CURRENT, T_EVAL)


def import_pybamm():
    """PyBaMM switches JAX to float64 for the whole process on import; put the flag back for the other tests."""
    x64 = jax.config.jax_enable_x64
    try:
        return pytest.importorskip("pybamm")
    finally:
        jax.config.update("jax_enable_x64", x64)


def test_voltage_matches_pybamm_chen2020(solution):
    pybamm = import_pybamm()
    model = pybamm.lithium_ion.SPM()
    sim = pybamm.Simulation(model, parameter_values=pybamm.ParameterValues("Chen2020"),
                            var_pts={**model.default_var_pts, "r_n": 100, "r_p": 100},
                            solver=pybamm.IDAKLUSolver(rtol=1e-9, atol=1e-11))
    reference = sim.solve(t_eval=[0.0, T_EVAL[-1]], t_interp=T_EVAL)["Voltage [V]"](T_EVAL)
    rmse = np.sqrt(np.mean((solution.voltage - reference) ** 2))
    assert rmse < 1e-3, f"SPM voltage RMSE against PyBaMM {rmse * 1e3:.3f} mV, expected < 1 mV"
    assert_close(solution.voltage, reference, rtol=0, atol=3e-3, what="voltage vs PyBaMM (pointwise, 3 mV)")


def test_lithium_is_conserved(solution):
    """Finite volumes conserve: the particle average drifts exactly by -3 j t / (R c_max)."""
    p = SPMParameters()
    edges = np.linspace(0, 1, solution.x_negative.shape[1] + 1)
    weights = edges[1:] ** 3 - edges[:-1] ** 3
    for x, electrode, sign in ((solution.x_negative, p.negative, 1.0), (solution.x_positive, p.positive, -1.0)):
        flux = sign * electrode.molar_flux(CURRENT, p.electrode_area)
        expected = electrode.c_init / electrode.c_max - 3 * flux * T_EVAL / (electrode.radius * electrode.c_max)
        assert_close(x @ weights, expected, rtol=1e-6, what="particle-average stoichiometry")


def test_anode_reaches_the_steady_parabolic_profile(solution):
    """After t >> R^2/D a constant flux gives x = a(t) + g rho^2 / 2, so x_surf - x_avg = g / 5."""
    p = SPMParameters().negative
    g = -p.molar_flux(CURRENT, SPMParameters().electrode_area) * p.radius / (p.diffusivity * p.c_max)
    edges = np.linspace(0, 1, solution.x_negative.shape[1] + 1)
    average = solution.x_negative[-1] @ (edges[1:] ** 3 - edges[:-1] ** 3)
    assert_close(solution.x_negative_surface[-1] - average, g / 5, rtol=0.01, what="surface minus average")


def test_voltage_derivatives_match_finite_differences(solver):
    t = jnp.asarray(T_EVAL)
    with jax.enable_x64(True):
        def objective(theta):
            return jnp.sum(solver.voltage(CURRENT, theta[0], theta[1], t) ** 2)

        theta = jnp.array([1.5, 3.0])
        value_and_grad = jax.jit(jax.value_and_grad(objective))
        grad = value_and_grad(theta)[1]
        eps = 1e-4
        finite = [(value_and_grad(theta.at[k].add(eps))[0] - value_and_grad(theta.at[k].add(-eps))[0]) / (2 * eps)
                  for k in range(2)]
    assert_close(grad, np.array(finite), rtol=1e-4, what="d(sum V^2)/d(scales)")


def test_exchange_current_scale_enters_through_butler_volmer(solver, solution):
    """A larger anode exchange current lowers the anode overpotential, raising the voltage by the arcsinh law."""
    from sciml.solvers import FARADAY, GAS_CONSTANT
    with jax.enable_x64(True):
        scaled = solver.solve(CURRENT, T_EVAL, i0_scale=2.0)
    p = SPMParameters()
    c = solution.x_negative_surface * p.negative.c_max
    i0 = p.negative.rate_constant * np.sqrt(p.electrolyte_concentration * c * (p.negative.c_max - c))
    flux = p.negative.molar_flux(CURRENT, p.electrode_area) * FARADAY
    thermal = 2 * GAS_CONSTANT * p.temperature / FARADAY
    expected = thermal * (np.arcsinh(flux / (2 * i0)) - np.arcsinh(flux / (4 * i0)))
    assert_close(scaled.voltage - solution.voltage, expected, rtol=1e-9, what="voltage gain from i0_scale = 2")


def test_current_that_empties_a_particle_is_refused(solver):
    with pytest.raises(ConfigError, match="empties the negative particle after"):
        solver.solve(20.0, T_EVAL)


def test_diffusion_limited_surface_is_refused(solver):
    with jax.enable_x64(True), pytest.raises(ConfigError, match="surface of the positive particle is filled"):
        solver.solve(CURRENT, T_EVAL, diffusivity_scale=0.05)


@pytest.mark.parametrize("kwargs, match", [
    ({"t_eval": np.array([0.0, 10.0, 5.0])}, "increasing"),
    ({"t_eval": T_EVAL, "diffusivity_scale": -1.0}, "diffusivity_scale must be a positive"),
    ({"t_eval": T_EVAL, "i0_scale": float("nan")}, "i0_scale must be a positive"),
])
def test_bad_solve_arguments(solver, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        solver.solve(CURRENT, **kwargs)


def test_too_few_shells():
    with pytest.raises(ConfigError, match="n_shells must be at least 3"):
        SPM(n_shells=2)
