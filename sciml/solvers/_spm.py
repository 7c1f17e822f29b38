"""The single-particle model (SPM) of a Li-ion cell in JAX.

One spherical particle stands for each electrode. Lithium diffuses in it,

    dc/dt = (1/r^2) d/dr (r^2 D dc/dr),   dc/dr = 0 at r = 0,   -D dc/dr = j at r = R,

discretised with finite volumes on uniform shells in r and integrated with diffrax (an implicit Runge-Kutta method:
the diffusion is stiff). Under a constant current I the molar surface flux of each particle is fixed,
``j_n = I / (F a_n L_n A)`` (out of the anode) and ``j_p = -I / (F a_p L_p A)`` (into the cathode), with
``a = 3 eps / R`` the active surface per volume. The full Butler-Volmer law with transfer coefficient 1/2,
``j F = 2 i0 sinh(F eta / (2 R T))``, is inverted exactly for the overpotentials, and the terminal voltage is

    V = U_p(x_p,surf) - U_n(x_n,surf) + eta_p - eta_n.

Parameters are Chen et al., J. Electrochem. Soc. 167 (2020) 080534 (LG M50, graphite / NMC811), the set PyBaMM ships
as ``"Chen2020"``. Two scales multiply published values (the calibration parameters): the anode exchange-current
density (``i0_scale``) and the cathode diffusivity (``diffusivity_scale``).
"""

from __future__ import annotations

import dataclasses
import functools

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml._errors import ConfigError

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)


def graphite_ocp_chen2020(x):
    """Open-circuit potential [V] of LG M50 graphite at stoichiometry `x` (Chen et al. 2020 fit)."""
    return (
        1.9793 * jnp.exp(-39.3631 * x)
        + 0.2482
        - 0.0909 * jnp.tanh(29.8538 * (x - 0.1234))
        - 0.04478 * jnp.tanh(14.9159 * (x - 0.2769))
        - 0.0205 * jnp.tanh(30.4444 * (x - 0.6103))
    )


def nmc_ocp_chen2020(x):
    """Open-circuit potential [V] of LG M50 NMC811 at stoichiometry `x` (Chen et al. 2020 fit)."""
    return (
        -0.8090 * x
        + 4.4875
        - 0.0428 * jnp.tanh(18.5138 * (x - 0.5542))
        - 17.7326 * jnp.tanh(15.7890 * (x - 0.3117))
        + 17.5842 * jnp.tanh(15.9308 * (x - 0.3120))
    )


@dataclasses.dataclass(frozen=True)
class Electrode:
    """One electrode of the SPM (SI units).

    ``i0 = rate_constant * sqrt(c_e * c_surf * (c_max - c_surf))`` [A/m^2] (Chen et al. 2020).
    """

    radius: float  # particle radius [m]
    diffusivity: float  # solid diffusivity [m^2/s]
    c_max: float  # maximum concentration [mol/m^3]
    c_init: float  # initial concentration [mol/m^3]
    thickness: float  # electrode thickness [m]
    active_fraction: float  # active-material volume fraction
    rate_constant: float  # exchange-current prefactor [(A/m^2)(m^3/mol)^1.5]

    @property
    def surface_per_volume(self) -> float:
        return 3.0 * self.active_fraction / self.radius

    def molar_flux(self, current: float | Array, area: float) -> float | Array:
        """Outward molar flux [mol/(m^2 s)] through the particle surface for a current [A] leaving this electrode."""
        return current / (FARADAY * self.surface_per_volume * self.thickness * area)


@dataclasses.dataclass(frozen=True)
class SPMParameters:
    """Cell parameters of the SPM; the defaults are Chen et al. (2020), PyBaMM's ``"Chen2020"`` set."""

    negative: Electrode = Electrode(5.86e-6, 3.3e-14, 33133.0, 29866.0, 8.52e-5, 0.75, 6.48e-7)
    positive: Electrode = Electrode(5.22e-6, 4.0e-15, 63104.0, 17038.0, 7.56e-5, 0.665, 3.42e-6)
    electrode_area: float = 0.065 * 1.58  # [m^2]
    electrolyte_concentration: float = 1000.0  # [mol/m^3]
    temperature: float = 298.15  # [K]


@dataclasses.dataclass
class SPMSolution:
    """A solved discharge (host arrays).

    Attributes:
        t: (n_t,) times [s].
        voltage: (n_t,) terminal voltage [V].
        x_negative, x_positive: (n_t, n_shells) stoichiometry c/c_max at the shell centres.
        x_negative_surface, x_positive_surface: (n_t,) surface stoichiometries.
        r_negative, r_positive: (n_shells,) shell-centre radii [m].
    """

    t: np.ndarray
    voltage: np.ndarray
    x_negative: np.ndarray
    x_positive: np.ndarray
    x_negative_surface: np.ndarray
    x_positive_surface: np.ndarray
    r_negative: np.ndarray
    r_positive: np.ndarray


class _SphericalDiffusion(eqx.Module):
    """Finite volumes on `n` uniform shells of a sphere of radius 1 (stoichiometry units, radius scaled out)."""

    n: int = eqx.field(static=True)

    @property
    def width(self) -> float:
        return 1.0 / self.n

    def rate(self, x: Float[Array, " n"], rate: Array | float, surface_gradient: Array) -> Float[Array, " n"]:
        """dx/dt for ``dx/dt = rate * (1/s^2) d/ds (s^2 dx/ds)`` with ``dx/ds = surface_gradient`` at s = 1."""
        edges = np.linspace(0.0, 1.0, self.n + 1)
        volume = (edges[1:] ** 3 - edges[:-1] ** 3) / 3.0
        interior = jnp.diff(x) / self.width
        gradient = jnp.concatenate([jnp.zeros((1,), x.dtype), interior, surface_gradient[None]])
        return rate * (edges[1:] ** 2 * gradient[1:] - edges[:-1] ** 2 * gradient[:-1]) / volume

    def surface(self, x: Float[Array, "n_t n"], surface_gradient,
                t: Float[Array | np.ndarray, " n_t"]) -> Float[Array, " n_t"]:
        """Surface value from the last shell and the surface gradient, which acts for t > 0 (at t = 0 the surface
        holds the initial state)."""
        return x[:, -1] + 0.5 * self.width * surface_gradient * (t > 0)


class SPM(eqx.Module):
    """Single-particle model under a constant-current discharge.

    Args:
        parameters: the cell (default Chen et al. 2020).
        n_shells: finite-volume shells per particle.
        rtol, atol: diffrax step-size controller tolerances (on stoichiometry).

    Example:
        >>> with jax.enable_x64(True):
        ...     solution = SPM().solve(current=5.0, t_eval=np.linspace(0, 3000, 301))
    """

    parameters: SPMParameters = eqx.field(static=True)
    n_shells: int = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    mesh: _SphericalDiffusion

    def __init__(self, parameters: SPMParameters = SPMParameters(), n_shells: int = 40, rtol: float = 1e-6,
                 atol: float = 1e-8):
        if n_shells < 3:
            raise ConfigError(f"SPM: n_shells must be at least 3, got {n_shells}; use 20 or more for mV accuracy")
        self.parameters = parameters
        self.n_shells = n_shells
        self.rtol = rtol
        self.atol = atol
        self.mesh = _SphericalDiffusion(n_shells)

    def surface_gradients(self, current, diffusivity_scale) -> tuple[Array | float, Array | float]:
        """``dx/ds`` at the surface (s = r/R) of the negative and positive particle."""
        p = self.parameters
        neg, pos = p.negative, p.positive
        j_n = neg.molar_flux(1.0, p.electrode_area) * current
        j_p = -pos.molar_flux(1.0, p.electrode_area) * current
        grad_n = -j_n * neg.radius / (neg.diffusivity * neg.c_max)
        grad_p = -j_p * pos.radius / (pos.diffusivity * diffusivity_scale * pos.c_max)
        return grad_n, grad_p

    def _vector_field(self, t, state, args):
        x_n, x_p = state
        current, diffusivity_scale = args
        p = self.parameters
        grad_n, grad_p = self.surface_gradients(current, diffusivity_scale)
        rate_n = p.negative.diffusivity / p.negative.radius**2
        rate_p = p.positive.diffusivity * diffusivity_scale / p.positive.radius**2
        return self.mesh.rate(x_n, rate_n, grad_n), self.mesh.rate(x_p, rate_p, grad_p)

    def concentrations(self, current, diffusivity_scale, t_eval: Float[Array, " n_t"], adjoint=None):
        """Stoichiometries ``(x_n, x_p)``, each (n_t, n_shells), at `t_eval` (jittable, differentiable).

        `adjoint` is diffrax's differentiation method (default: reverse mode through the solver's steps).
        """
        p = self.parameters
        dtype = jnp.result_type(float)
        x0 = (jnp.full(self.n_shells, p.negative.c_init / p.negative.c_max, dtype),
              jnp.full(self.n_shells, p.positive.c_init / p.positive.c_max, dtype))
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(self._vector_field),
            diffrax.Kvaerno5(),
            t0=0.0,
            t1=t_eval[-1],
            dt0=1e-3 * t_eval[-1],
            y0=x0,
            args=(jnp.asarray(current, dtype), jnp.asarray(diffusivity_scale, dtype)),
            saveat=diffrax.SaveAt(ts=t_eval),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=4096,
            adjoint=adjoint if adjoint is not None else diffrax.RecursiveCheckpointAdjoint(),
        )
        return solution.ys

    def surface_stoichiometries(self, current, diffusivity_scale, t_eval, adjoint=None) -> tuple[Array, Array]:
        """Surface stoichiometries ``(x_n,surf, x_p,surf)``, each (n_t,)."""
        x_n, x_p = self.concentrations(current, diffusivity_scale, t_eval, adjoint)
        grad_n, grad_p = self.surface_gradients(current, diffusivity_scale)
        return self.mesh.surface(x_n, grad_n, t_eval), self.mesh.surface(x_p, grad_p, t_eval)

    def voltage(self, current, i0_scale, diffusivity_scale, t_eval: Float[Array, " n_t"]) -> Float[Array, " n_t"]:
        """Terminal voltage [V] at `t_eval` (jittable; no range checks).

        Differentiable in the two scales (forward and reverse mode): the derivative rule propagates forward
        sensitivities through the ODE solve (two tangents), far cheaper than reverse mode through an adaptive
        implicit solver. The current and the times are not differentiated.
        """
        scales = jnp.stack([jnp.asarray(i0_scale), jnp.asarray(diffusivity_scale)])
        return forward_sensitivity_voltage(self, scales, jnp.asarray(current), t_eval)

    def _voltage_primal(self, scales, current, t_eval, adjoint=None):
        x_n, x_p = self.surface_stoichiometries(current, scales[1], t_eval, adjoint)
        return terminal_voltage(self.parameters, current, scales[0], x_n, x_p)

    def check_discharge(self, current: float, duration: float) -> None:
        """Raise `ConfigError` when the average stoichiometry of a particle leaves (0, 1) within `duration`."""
        if not np.isfinite(current) or not np.isfinite(duration) or duration <= 0:
            raise ConfigError(f"SPM: need a finite current and a positive duration, got current={current}, "
                              f"duration={duration}")
        p = self.parameters
        for name, electrode, sign in (("negative", p.negative, 1.0), ("positive", p.positive, -1.0)):
            flux = sign * electrode.molar_flux(current, p.electrode_area)
            drift = 3.0 * flux / (electrode.radius * electrode.c_max)  # d(average x)/dt
            x0 = electrode.c_init / electrode.c_max
            limit = x0 / drift if drift > 0 else (x0 - 1.0) / drift if drift < 0 else np.inf
            if limit <= duration:
                state = "empties" if drift > 0 else "fills"
                raise ConfigError(
                    f"SPM: a current of {current:g} A {state} the {name} particle after {limit:.0f} s, but the "
                    f"discharge asked for lasts {duration:.0f} s; lower the current or end the discharge before "
                    f"{limit:.0f} s"
                )

    def solve(self, current: float, t_eval, i0_scale: float = 1.0, diffusivity_scale: float = 1.0) -> SPMSolution:
        """Solve a constant-current discharge (current > 0 discharges) and check the particles stay in range.

        Raises `ConfigError` when the current empties (or fills) a particle, on average or at its surface (the
        diffusion limit), within the requested times.
        """
        t_eval = np.asarray(t_eval, dtype=float)
        if t_eval.ndim != 1 or t_eval.size < 2 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0:
            raise ConfigError(f"SPM.solve: t_eval must be increasing times >= 0, got shape {t_eval.shape}")
        for name, value in (("i0_scale", i0_scale), ("diffusivity_scale", diffusivity_scale)):
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"SPM.solve: {name} must be a positive number, got {value}")
        self.check_discharge(current, float(t_eval[-1]))
        x_n, x_p = _solve_concentrations(self, jnp.asarray(current, float), jnp.asarray(diffusivity_scale, float),
                                         jnp.asarray(t_eval))
        grad_n, grad_p = self.surface_gradients(current, diffusivity_scale)
        surf_n = np.asarray(self.mesh.surface(x_n, grad_n, t_eval))
        surf_p = np.asarray(self.mesh.surface(x_p, grad_p, t_eval))
        for name, surface in (("negative", surf_n), ("positive", surf_p)):
            outside = np.flatnonzero((surface <= 0.0) | (surface >= 1.0))
            if outside.size:
                raise ConfigError(
                    f"SPM.solve: the surface of the {name} particle is "
                    f"{'emptied' if surface[outside[0]] <= 0 else 'filled'}"
                    f" at t = {t_eval[outside[0]]:.0f} s (diffusion cannot keep up with {current:g} A); lower the "
                    f"current or end the discharge before {t_eval[outside[0]]:.0f} s"
                )
        voltage = terminal_voltage(self.parameters, current, i0_scale, surf_n, surf_p)
        centres = (np.arange(self.n_shells) + 0.5) / self.n_shells
        return SPMSolution(
            t=t_eval, voltage=np.asarray(voltage), x_negative=np.asarray(x_n), x_positive=np.asarray(x_p),
            x_negative_surface=surf_n, x_positive_surface=surf_p,
            r_negative=centres * self.parameters.negative.radius, r_positive=centres * self.parameters.positive.radius,
        )


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def forward_sensitivity_voltage(model, scales: Float[Array, " 2"], current, t_eval):
    """``model._voltage_primal(scales, current, t_eval)`` (SPM or P2D), differentiated in the two scales by forward
    sensitivities through the solver (`diffrax.ForwardMode`): two tangents cost less than a reverse pass through a
    stiff implicit solve."""
    return model._voltage_primal(scales, current, t_eval)


@forward_sensitivity_voltage.defjvp
def _voltage_jvp(model, primals, tangents):
    scales, current, t_eval = primals
    scales_dot = tangents[0]

    def primal(s):
        value = model._voltage_primal(s, current, t_eval, diffrax.ForwardMode())
        return value, value

    jacobian, value = jax.jacfwd(primal, has_aux=True)(scales)
    return value, jacobian @ scales_dot


@eqx.filter_jit
def _solve_concentrations(model: SPM, current, diffusivity_scale, t_eval):
    return model.concentrations(current, diffusivity_scale, t_eval)


def overpotential(molar_flux, exchange_current, temperature):
    """Invert ``j F = 2 i0 sinh(F eta / (2 R T))`` (Butler-Volmer, transfer coefficient 1/2) for eta [V]."""
    thermal = GAS_CONSTANT * temperature / FARADAY
    return 2.0 * thermal * jnp.arcsinh(molar_flux * FARADAY / (2.0 * exchange_current))


def exchange_current(electrode: Electrode, electrolyte_concentration: float, x_surface):
    """Exchange-current density [A/m^2] at surface stoichiometry `x_surface`."""
    c = x_surface * electrode.c_max
    return electrode.rate_constant * jnp.sqrt(electrolyte_concentration * c * (electrode.c_max - c))


def terminal_voltage(parameters: SPMParameters, current, i0_scale, x_negative_surface, x_positive_surface):
    """Terminal voltage [V] from the surface stoichiometries; `i0_scale` multiplies the anode exchange current."""
    p = parameters
    i0_n = i0_scale * exchange_current(p.negative, p.electrolyte_concentration, x_negative_surface)
    i0_p = exchange_current(p.positive, p.electrolyte_concentration, x_positive_surface)
    eta_n = overpotential(p.negative.molar_flux(current, p.electrode_area), i0_n, p.temperature)
    eta_p = overpotential(-p.positive.molar_flux(current, p.electrode_area), i0_p, p.temperature)
    return nmc_ocp_chen2020(x_positive_surface) - graphite_ocp_chen2020(x_negative_surface) + eta_p - eta_n
