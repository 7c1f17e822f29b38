"""The pseudo-two-dimensional (P2D, Doyle-Fuller-Newman) model of a Li-ion cell in JAX.

Across the cell, x in [0, L_n + L_s + L_p] (negative electrode, separator, positive electrode), the electrolyte
concentration c_e and potential phi_e obey

    eps dc_e/dt = d/dx (eps^b D_e(c_e) dc_e/dx) + (1 - t+) a j / F,
    d/dx i_e = a j,   i_e = eps^b kappa(c_e) (2 (1 - t+) R T / (F c_e) dc_e/dx - dphi_e/dx),

with no flux at both ends, and in each electrode the solid potential obeys d/dx i_s = -a j, i_s = -sigma dphi_s/dx,
with phi_s = 0 at x = 0, i_s = 0 at the separator and i_s = I/A at x = L. At every electrode node a spherical
particle holds lithium, dc_s/dt = (1/r^2) d/dr (r^2 D_s dc_s/dr), D_s dc_s/dr = -j/F at r = R. The interfacial
current density follows symmetric Butler-Volmer kinetics, j = 2 i0 sinh(F eta / (2 R T)) with
eta = phi_s - phi_e - U(c_s,surf) and i0 = k sqrt(c_e c_s,surf (c_max - c_s,surf)); a = 3 eps_s / R. The terminal
voltage is phi_s at x = L.

Discretisation: finite volumes on uniform cells in each region and uniform shells in each particle, the same
discrete equations as PyBaMM's default DFN mesh and finite volumes (harmonic means of eps^b D_e at interior faces,
linear interpolation of eps^b kappa, a ghost node for the Dirichlet condition, linear extrapolation to the particle
surface and to the positive current collector), so that a PyBaMM solve with the same ``var_pts`` checks the
equations and not the mesh.

The potentials are algebraic, which makes the semi-discrete model a DAE of index 1. It is reduced to an ODE in the
concentrations: at every right-hand-side evaluation the charge balances (solid and electrolyte, 2 N_n + N_s + 2 N_p
unknowns) are solved for the potentials with optimistix's Newton method. They are nonlinear (Butler-Volmer's sinh,
the concentration dependence of i0 and of the reaction potential), so a direct linear solve does not suffice; Newton
from an SPM-like first guess converges in a few iterations, and optimistix differentiates the root implicitly, so
the implicit ODE solver's Jacobians and parameter sensitivities need no unrolled iterations. The ODE is stiff (solid
and electrolyte diffusion), integrated with diffrax's Kvaerno5 and a PID step-size controller; a voltage cut-off
event ends the discharge.

Parameters are Chen et al., J. Electrochem. Soc. 167 (2020) 080534 (LG M50, graphite / NMC811, PyBaMM's
``"Chen2020"``), with the electrolyte transport of Nyman et al., Electrochim. Acta 53 (2008) 6356. Two scales multiply
published values, as in the SPM: the anode exchange-current density (``i0_scale``) and the cathode solid diffusivity
(``diffusivity_scale``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.solvers._spm import (
    FARADAY,
    GAS_CONSTANT,
    _SphericalDiffusion,
    forward_sensitivity_voltage,
    graphite_ocp_chen2020,
    nmc_ocp_chen2020,
)

_TINY = 1e-12  # floor of concentrations inside square roots and logarithms (trial stages of the implicit solver)


def electrolyte_diffusivity_nyman2008(c_e):
    """Diffusivity [m^2/s] of LiPF6 in EC:EMC (3:7) at concentration `c_e` [mol/m^3] (Nyman et al. 2008 fit)."""
    m = c_e / 1000.0
    return 8.794e-11 * m**2 - 3.972e-10 * m + 4.862e-10


def electrolyte_conductivity_nyman2008(c_e):
    """Ionic conductivity [S/m] of LiPF6 in EC:EMC (3:7) at concentration `c_e` [mol/m^3] (Nyman et al. 2008 fit)."""
    m = jnp.maximum(c_e, _TINY) / 1000.0
    return 0.1297 * m**3 - 2.51 * m**1.5 + 3.329 * m


@dataclasses.dataclass(frozen=True)
class P2DElectrode:
    """One porous electrode of the P2D model (SI units).

    ``i0 = rate_constant * sqrt(c_e * c_surf * (c_max - c_surf))`` [A/m^2]; the effective electrolyte transport is
    ``porosity**bruggeman`` times the bulk value; the solid conductivity enters unscaled (Chen 2020's Bruggeman
    exponent of the solid is 0).
    """

    radius: float  # particle radius [m]
    diffusivity: float  # solid diffusivity [m^2/s]
    c_max: float  # maximum concentration [mol/m^3]
    c_init: float  # initial concentration [mol/m^3]
    thickness: float  # [m]
    porosity: float  # electrolyte volume fraction
    active_fraction: float  # active-material volume fraction
    conductivity: float  # solid electronic conductivity [S/m]
    rate_constant: float  # exchange-current prefactor [(A/m^2)(m^3/mol)^1.5]
    ocp: Callable = graphite_ocp_chen2020  # open-circuit potential [V] of the stoichiometry
    bruggeman: float = 1.5

    @property
    def surface_per_volume(self) -> float:
        return 3.0 * self.active_fraction / self.radius

    def check(self, name: str) -> None:
        """Raise `ConfigError` on a non-physical value."""
        for field in ("radius", "diffusivity", "c_max", "thickness", "porosity", "active_fraction", "conductivity",
                      "rate_constant"):
            value = getattr(self, field)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"P2D: the {name} electrode's {field} must be a positive number, got {value}")
        if self.porosity + self.active_fraction > 1 + 1e-12:
            raise ConfigError(f"P2D: the {name} electrode's porosity + active_fraction is "
                              f"{self.porosity + self.active_fraction:g} > 1; the volume fractions must sum to <= 1")
        x0 = self.c_init / self.c_max
        if not 0 < x0 < 1:
            raise ConfigError(f"P2D: the {name} electrode's initial stoichiometry c_init / c_max = {x0:g} is outside "
                              "(0, 1); set c_init between 0 and c_max")


@dataclasses.dataclass(frozen=True)
class P2DParameters:
    """Cell parameters of the P2D model; the defaults are Chen et al. (2020), PyBaMM's ``"Chen2020"`` set."""

    negative: P2DElectrode = P2DElectrode(5.86e-6, 3.3e-14, 33133.0, 29866.0, 8.52e-5, 0.25, 0.75, 215.0, 6.48e-7,
                                          graphite_ocp_chen2020)
    positive: P2DElectrode = P2DElectrode(5.22e-6, 4.0e-15, 63104.0, 17038.0, 7.56e-5, 0.335, 0.665, 0.18, 3.42e-6,
                                          nmc_ocp_chen2020)
    separator_thickness: float = 1.2e-5  # [m]
    separator_porosity: float = 0.47
    separator_bruggeman: float = 1.5
    electrolyte_concentration: float = 1000.0  # initial [mol/m^3]
    transference_number: float = 0.2594
    electrolyte_diffusivity: Callable = electrolyte_diffusivity_nyman2008
    electrolyte_conductivity: Callable = electrolyte_conductivity_nyman2008
    electrode_area: float = 0.065 * 1.58  # [m^2]
    temperature: float = 298.15  # [K]
    lower_cutoff: float = 2.5  # voltage that ends a discharge [V]
    nominal_capacity: float = 5.0  # [A h]; 1C = nominal_capacity A

    def check(self) -> None:
        """Raise `ConfigError` on a non-physical value."""
        self.negative.check("negative")
        self.positive.check("positive")
        for field in ("separator_thickness", "separator_porosity", "electrolyte_concentration", "electrode_area",
                      "temperature", "nominal_capacity"):
            value = getattr(self, field)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"P2D: {field} must be a positive number, got {value}")
        if not 0 <= self.transference_number < 1:
            raise ConfigError(f"P2D: transference_number must lie in [0, 1), got {self.transference_number}")
        if self.electrolyte_diffusivity(self.electrolyte_concentration) <= 0:
            raise ConfigError("P2D: the electrolyte diffusivity at the initial concentration is not positive")


@dataclasses.dataclass
class P2DSolution:
    """A solved discharge (host arrays), up to the end of the discharge.

    Attributes:
        t: (n_t,) times [s]: the requested times before the end of the discharge, then its end.
        voltage: (n_t,) terminal voltage [V].
        c_e: (n_t, n_x) electrolyte concentration [mol/m^3] at the cell centres.
        phi_e: (n_t, n_x) electrolyte potential [V].
        x_negative, x_positive: (n_t, n_nodes, n_shells) solid stoichiometry c/c_max at each electrode node.
        x_negative_surface, x_positive_surface: (n_t, n_nodes) particle-surface stoichiometries.
        x: (n_x,) cell-centre positions [m] (negative electrode, separator, positive electrode).
        t_end: time the discharge ended [s] (the cut-off time, or the last requested time).
        termination: ``"end time"``, ``"voltage cut-off"``, ``"electrolyte depleted"`` or
            ``"particle surface saturated"``.
    """

    t: np.ndarray
    voltage: np.ndarray
    c_e: np.ndarray
    phi_e: np.ndarray
    x_negative: np.ndarray
    x_positive: np.ndarray
    x_negative_surface: np.ndarray
    x_positive_surface: np.ndarray
    x: np.ndarray
    t_end: float
    termination: str


_EVENTS = ("voltage cut-off", "electrolyte depleted", "particle surface saturated")


class P2D(eqx.Module):
    """Doyle-Fuller-Newman model under a constant-current discharge.

    Args:
        parameters: the cell (default Chen et al. 2020).
        n_negative, n_separator, n_positive: finite-volume cells across each region (PyBaMM's x_n, x_s, x_p).
        n_shells: shells per particle (PyBaMM's r_n = r_p).
        rtol, atol: diffrax step-size controller tolerances (states are stoichiometries and c_e / c_e,init).

    Example:
        >>> with jax.enable_x64(True):
        ...     solution = P2D().solve(current=5.0, t_eval=np.linspace(0, 4000, 401))
    """

    parameters: P2DParameters = eqx.field(static=True)
    n_negative: int = eqx.field(static=True)
    n_separator: int = eqx.field(static=True)
    n_positive: int = eqx.field(static=True)
    n_shells: int = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    particle: _SphericalDiffusion

    def __init__(self, parameters: P2DParameters = P2DParameters(), n_negative: int = 20, n_separator: int = 20,
                 n_positive: int = 20, n_shells: int = 20, rtol: float = 1e-6, atol: float = 1e-8):
        for name, n in (("n_negative", n_negative), ("n_separator", n_separator), ("n_positive", n_positive),
                        ("n_shells", n_shells)):
            if int(n) != n or n < 3:
                raise ConfigError(f"P2D: {name} must be an integer >= 3, got {n}; PyBaMM's default is 20")
        parameters.check()
        self.parameters = parameters
        self.n_negative, self.n_separator, self.n_positive = int(n_negative), int(n_separator), int(n_positive)
        self.n_shells = int(n_shells)
        self.rtol, self.atol = rtol, atol
        self.particle = _SphericalDiffusion(self.n_shells)

    @property
    def var_pts(self) -> dict[str, int]:
        """This mesh in PyBaMM's ``var_pts`` naming."""
        return {"x_n": self.n_negative, "x_s": self.n_separator, "x_p": self.n_positive, "r_n": self.n_shells,
                "r_p": self.n_shells}

    # ---- geometry (host numpy, computed at trace time) ----

    def _widths(self) -> np.ndarray:
        p = self.parameters
        return np.concatenate([np.full(self.n_negative, p.negative.thickness / self.n_negative),
                               np.full(self.n_separator, p.separator_thickness / self.n_separator),
                               np.full(self.n_positive, p.positive.thickness / self.n_positive)])

    def cell_centres(self) -> np.ndarray:
        """(n_x,) positions [m] of the cell centres across the cell."""
        edges = np.concatenate([[0.0], np.cumsum(self._widths())])
        return 0.5 * (edges[1:] + edges[:-1])

    def _porosity(self) -> tuple[np.ndarray, np.ndarray]:
        """Porosity and transport efficiency eps^b per cell."""
        p = self.parameters
        regions = ((self.n_negative, p.negative.porosity, p.negative.bruggeman),
                   (self.n_separator, p.separator_porosity, p.separator_bruggeman),
                   (self.n_positive, p.positive.porosity, p.positive.bruggeman))
        eps = np.concatenate([np.full(n, e) for n, e, _ in regions])
        tor = np.concatenate([np.full(n, e**b) for n, e, b in regions])
        return eps, tor

    # ---- physics ----

    def _current_density(self, current):
        return current / self.parameters.electrode_area

    def _surface(self, x):
        """Surface stoichiometry by linear extrapolation from the last two shells (PyBaMM's default)."""
        return 1.5 * x[..., -1] - 0.5 * x[..., -2]

    def _exchange_current(self, electrode: P2DElectrode, c_e, x_surface):
        c = jnp.clip(x_surface, _TINY, 1.0 - _TINY) * electrode.c_max
        return electrode.rate_constant * jnp.sqrt(jnp.maximum(c_e, _TINY) * c * (electrode.c_max - c))

    def _reaction(self, electrode, phi_s, phi_e, c_e, x_surface, i0_scale):
        """Butler-Volmer interfacial current density j [A/m^2] at the electrode nodes."""
        thermal = GAS_CONSTANT * self.parameters.temperature / FARADAY
        eta = phi_s - phi_e - electrode.ocp(x_surface)
        return 2.0 * i0_scale * self._exchange_current(electrode, c_e, x_surface) * jnp.sinh(eta / (2.0 * thermal))

    def _electrolyte_current(self, c_e, phi_e):
        """(n_x + 1,) ionic current density [A/m^2] at the cell faces (zero at both ends)."""
        p = self.parameters
        h = self._widths()
        _, tor = self._porosity()
        distance = 0.5 * (h[1:] + h[:-1])
        weight = h[:-1] / (h[:-1] + h[1:])
        c_safe = jnp.maximum(c_e, _TINY)
        kappa = p.electrolyte_conductivity(c_safe) * tor
        kappa_face = (1.0 - weight) * kappa[:-1] + weight * kappa[1:]  # linear interpolation
        chi = 2.0 * (1.0 - p.transference_number) * GAS_CONSTANT * p.temperature / FARADAY / c_safe
        chi_face = 1.0 / (weight / chi[:-1] + (1.0 - weight) / chi[1:])  # harmonic mean
        interior = kappa_face * (chi_face * jnp.diff(c_e) - jnp.diff(phi_e)) / distance
        zero = jnp.zeros((1,), c_e.dtype)
        return jnp.concatenate([zero, interior, zero])

    def _charge_residual(self, potentials, inputs):
        """Scaled charge balances (solid negative, electrolyte, solid positive) for the potentials;
        ``inputs = (state, args)`` as in `potentials`."""
        state, args = inputs
        p = self.parameters
        neg, pos = p.negative, p.positive
        nn, ns, npos = self.n_negative, self.n_separator, self.n_positive
        nx = nn + ns + npos
        c_e, x_surf_n, x_surf_p = state
        current, i0_scale, _ = args
        phi_s_n, phi_e, phi_s_p = potentials[:nn], potentials[nn:nn + nx], potentials[nn + nx:]
        h = self._widths()
        h_n, h_p = h[0], h[-1]
        j_n = self._reaction(neg, phi_s_n, phi_e[:nn], c_e[:nn], x_surf_n, i0_scale)
        j_p = self._reaction(pos, phi_s_p, phi_e[nn + ns:], c_e[nn + ns:], x_surf_p, 1.0)
        a_j_n, a_j_p = neg.surface_per_volume * j_n, pos.surface_per_volume * j_p
        i_app = self._current_density(current)
        zero = jnp.zeros((1,), potentials.dtype)
        i_s_n = jnp.concatenate([-neg.conductivity * 2.0 * phi_s_n[:1] / h_n,  # ghost node: phi_s = 0 at x = 0
                                 -neg.conductivity * jnp.diff(phi_s_n) / h_n, zero])
        i_s_p = jnp.concatenate([zero, -pos.conductivity * jnp.diff(phi_s_p) / h_p, i_app[None]])
        i_e = self._electrolyte_current(c_e, phi_e)
        source = jnp.concatenate([a_j_n, jnp.zeros(ns, potentials.dtype), a_j_p])
        scale = 1.0 / (p.nominal_capacity / p.electrode_area)  # residuals in units of the 1C current density
        return jnp.concatenate([jnp.diff(i_s_n) + a_j_n * h_n, jnp.diff(i_e) - source * h,
                                jnp.diff(i_s_p) + a_j_p * h_p]) * scale

    def _first_guess(self, state, args):
        """Potentials of a uniform reaction in each electrode (the SPM), the Newton start."""
        p = self.parameters
        neg, pos = p.negative, p.positive
        c_e, x_surf_n, x_surf_p = state
        current, i0_scale, _ = args
        i_app = self._current_density(current)
        thermal = GAS_CONSTANT * p.temperature / FARADAY
        nn, ns = self.n_negative, self.n_separator
        i0_n = i0_scale * self._exchange_current(neg, c_e[:nn], x_surf_n)
        i0_p = self._exchange_current(pos, c_e[nn + ns:], x_surf_p)
        eta_n = 2.0 * thermal * jnp.arcsinh(i_app / (neg.surface_per_volume * neg.thickness) / (2.0 * i0_n))
        eta_p = 2.0 * thermal * jnp.arcsinh(-i_app / (pos.surface_per_volume * pos.thickness) / (2.0 * i0_p))
        phi_e = -jnp.mean(neg.ocp(x_surf_n) + eta_n)
        nx = c_e.shape[0]
        return jnp.concatenate([jnp.zeros(nn, c_e.dtype), jnp.full(nx, phi_e, c_e.dtype),
                                phi_e + pos.ocp(x_surf_p) + eta_p])

    def potentials(self, state, args):
        """Solve the charge balances: (phi_s_n (n_n,), phi_e (n_x,), phi_s_p (n_p,)) [V] for
        ``state = (c_e [mol/m^3], x_surf_n, x_surf_p)`` and ``args = (current, i0_scale, diffusivity_scale)``."""
        phi = _charge_balance_root(self, state, args)
        nn, nx = self.n_negative, self.n_negative + self.n_separator + self.n_positive
        return phi[:nn], phi[nn:nn + nx], phi[nn + nx:]

    def _newton(self, state, args):
        solution = optx.root_find(self._charge_residual, optx.Newton(rtol=1e-10, atol=1e-11),
                                  self._first_guess(state, args), args=(state, args), max_steps=40, throw=False)
        return solution.value

    def _unpack(self, y):
        """ODE state -> (c_e [mol/m^3], x_n (n_n, n_shells), x_p (n_p, n_shells))."""
        c_e_scaled, x_n, x_p = y
        return c_e_scaled * self.parameters.electrolyte_concentration, x_n, x_p

    def _algebraic(self, y, args):
        """Potentials and reaction current densities of the ODE state `y`."""
        c_e, x_n, x_p = self._unpack(y)
        state = (c_e, self._surface(x_n), self._surface(x_p))
        phi_s_n, phi_e, phi_s_p = self.potentials(state, args)
        nn, ns = self.n_negative, self.n_separator
        j_n = self._reaction(self.parameters.negative, phi_s_n, phi_e[:nn], c_e[:nn], state[1], args[1])
        j_p = self._reaction(self.parameters.positive, phi_s_p, phi_e[nn + ns:], c_e[nn + ns:], state[2], 1.0)
        return phi_s_n, phi_e, phi_s_p, j_n, j_p

    def _terminal_voltage(self, phi_s_p):
        """phi_s at the positive current collector by linear extrapolation from the last two cells (PyBaMM's)."""
        return 1.5 * phi_s_p[-1] - 0.5 * phi_s_p[-2]

    def _vector_field(self, t, y, args):
        p = self.parameters
        neg, pos = p.negative, p.positive
        c_e, x_n, x_p = self._unpack(y)
        _, _, _, j_n, j_p = self._algebraic(y, args)
        diffusivity_scale = args[2]
        eps, tor = self._porosity()
        h = self._widths()
        distance = 0.5 * (h[1:] + h[:-1])
        weight = h[:-1] / (h[:-1] + h[1:])
        d_eff = tor * p.electrolyte_diffusivity(c_e)
        d_face = 1.0 / (weight / d_eff[:-1] + (1.0 - weight) / d_eff[1:])  # harmonic mean
        flux = -d_face * jnp.diff(c_e) / distance
        zero = jnp.zeros((1,), c_e.dtype)
        flux = jnp.concatenate([zero, flux, zero])
        ns = self.n_separator
        source = jnp.concatenate([neg.surface_per_volume * j_n, jnp.zeros(ns, c_e.dtype),
                                  pos.surface_per_volume * j_p]) * (1.0 - p.transference_number) / FARADAY
        dc_e = (-jnp.diff(flux) / h + source) / eps / p.electrolyte_concentration
        d_n, d_p = neg.diffusivity, pos.diffusivity * diffusivity_scale
        grad_n = -j_n * neg.radius / (FARADAY * d_n * neg.c_max)
        grad_p = -j_p * pos.radius / (FARADAY * d_p * pos.c_max)
        rate = jax.vmap(self.particle.rate, in_axes=(0, None, 0))
        return dc_e, rate(x_n, d_n / neg.radius**2, grad_n), rate(x_p, d_p / pos.radius**2, grad_p)

    def initial_state(self):
        """(c_e / c_e,init (n_x,), x_n (n_n, n_shells), x_p (n_p, n_shells)) at rest."""
        p = self.parameters
        dtype = jnp.result_type(float)
        nx = self.n_negative + self.n_separator + self.n_positive
        return (jnp.ones(nx, dtype), jnp.full((self.n_negative, self.n_shells), p.negative.c_init / p.negative.c_max,
                                              dtype),
                jnp.full((self.n_positive, self.n_shells), p.positive.c_init / p.positive.c_max, dtype))

    def _event(self):
        p = self.parameters

        def voltage(t, y, args, **kwargs):
            return self._terminal_voltage(self._algebraic(y, args)[2]) - p.lower_cutoff

        def depleted(t, y, args, **kwargs):
            return jnp.min(y[0]) < 1e-3

        def saturated(t, y, args, **kwargs):
            surfaces = jnp.concatenate([self._surface(y[1]).ravel(), self._surface(y[2]).ravel()])
            return jnp.any((surfaces < 1e-6) | (surfaces > 1.0 - 1e-6))

        return diffrax.Event((voltage, depleted, saturated), root_finder=optx.Newton(rtol=1e-8, atol=1e-8),
                             direction=(False, None, None))

    def states(self, current, i0_scale, diffusivity_scale, t_eval: Float[Array, " n_t"], adjoint=None,
               cutoff: bool = True):
        """Integrate the concentrations; returns diffrax's solution.

        Without `cutoff`: the states at `t_eval`. With it: the states at the requested times before the end, then
        at the end (the last time, or the event time), then inf; ``event_mask`` says which of voltage cut-off,
        electrolyte depletion or surface saturation ended the discharge.
        """
        dtype = jnp.result_type(float)
        args = (jnp.asarray(current, dtype), jnp.asarray(i0_scale, dtype), jnp.asarray(diffusivity_scale, dtype))
        return diffrax.diffeqsolve(
            diffrax.ODETerm(self._vector_field),
            diffrax.Kvaerno5(),
            t0=0.0,
            t1=t_eval[-1],
            dt0=1e-4 * t_eval[-1],
            y0=self.initial_state(),
            args=args,
            saveat=diffrax.SaveAt(ts=t_eval, t1=cutoff),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol, pcoeff=0.3, icoeff=0.4),
            max_steps=8192,
            event=self._event() if cutoff else None,
            adjoint=adjoint if adjoint is not None else diffrax.RecursiveCheckpointAdjoint(),
            throw=False,
        )

    def observe(self, ys, args):
        """Voltage (n_t,), c_e (n_t, n_x) and phi_e (n_t, n_x) of saved states `ys` (each with a leading time axis;
        rows that are not finite, after a cut-off, take the initial state's values, so that nothing is NaN)."""
        finite = jnp.all(jnp.isfinite(ys[0]), axis=-1)
        initial = self.initial_state()
        ys = jax.tree.map(lambda y, y0: jnp.where(finite.reshape((-1,) + (1,) * y0.ndim), y,
                                                  jnp.broadcast_to(y0, y.shape)), ys, initial)

        def one(y):
            _, phi_e, phi_s_p, _, _ = self._algebraic(y, args)
            return self._terminal_voltage(phi_s_p), phi_e

        voltage, phi_e = jax.vmap(one)(ys)
        return voltage, ys[0] * self.parameters.electrolyte_concentration, phi_e, ys

    def voltage(self, current, i0_scale, diffusivity_scale, t_eval: Float[Array, " n_t"]) -> Float[Array, " n_t"]:
        """Terminal voltage [V] at `t_eval` (jittable; no cut-off event and no range checks, so `t_eval` must end
        before the cut-off).

        Differentiable in the two scales: the derivative rule propagates forward sensitivities through the ODE
        solve (two tangents), far cheaper than reverse mode through an adaptive implicit solver.
        """
        scales = jnp.stack([jnp.asarray(i0_scale), jnp.asarray(diffusivity_scale)])
        return forward_sensitivity_voltage(self, scales, jnp.asarray(current), t_eval)

    def _voltage_primal(self, scales, current, t_eval, adjoint=None):
        solution = self.states(current, scales[0], scales[1], t_eval, adjoint, cutoff=False)
        args = (current, scales[0], scales[1])
        return self.observe(solution.ys, args)[0]

    def solve(self, current: float, t_eval, i0_scale: float = 1.0, diffusivity_scale: float = 1.0) -> P2DSolution:
        """Solve a constant-current discharge (current > 0 discharges) until the last of `t_eval` or the cut-off.

        The discharge ends at the lower cut-off voltage, or earlier if the electrolyte is depleted or a particle
        surface empties or fills (`P2DSolution.termination` says which); the returned arrays hold the requested
        times before that end. Raises `ConfigError` on bad arguments, when float64 is off, and when the cell is
        below the cut-off voltage from the start.
        """
        if jnp.result_type(float) != jnp.float64:
            raise ConfigError("P2D.solve: needs float64 (the potentials need ~1e-10 relative accuracy); run it "
                              "inside `with jax.enable_x64(True):` or set JAX_ENABLE_X64=1")
        t_eval = np.asarray(t_eval, dtype=float)
        if t_eval.ndim != 1 or t_eval.size < 2 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0:
            raise ConfigError(f"P2D.solve: t_eval must be increasing times >= 0, got shape {t_eval.shape}")
        if not np.isfinite(current):
            raise ConfigError(f"P2D.solve: current must be a finite number [A], got {current}")
        for name, value in (("i0_scale", i0_scale), ("diffusivity_scale", diffusivity_scale)):
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"P2D.solve: {name} must be a positive number, got {value}")
        args = tuple(jnp.asarray(v, jnp.float64) for v in (current, i0_scale, diffusivity_scale))
        voltage0 = float(_initial_voltage(self, args))
        if not np.isfinite(voltage0) or voltage0 <= self.parameters.lower_cutoff:
            raise ConfigError(
                f"P2D.solve: at {current:g} A the voltage starts at {voltage0:.3f} V, at or below the cut-off "
                f"{self.parameters.lower_cutoff:g} V (the current is too high for this cell); lower the current")
        solution, voltage, c_e, phi_e, ys = _solve(self, args, jnp.asarray(t_eval))
        mask = solution.event_mask
        fired = [name for name, hit in zip(_EVENTS, mask, strict=True) if bool(hit)]
        if solution.result != diffrax.RESULTS.successful and not fired:
            raise ConfigError(f"P2D.solve: the integration failed at {current:g} A ({solution.result}); check the "
                              "parameters, or lower the current")
        # saved rows: the requested times up to the end, then the end itself (t1 or the event time), then inf
        rows = np.flatnonzero(np.isfinite(np.asarray(solution.ts)))
        t_end = float(solution.ts[rows[-1]])
        if rows.size > 1 and t_end == float(solution.ts[rows[-2]]):
            rows = rows[:-1]  # the end coincides with the last requested time
        x_n, x_p = np.asarray(ys[1])[rows], np.asarray(ys[2])[rows]
        return P2DSolution(
            t=np.asarray(solution.ts)[rows], voltage=np.asarray(voltage)[rows], c_e=np.asarray(c_e)[rows],
            phi_e=np.asarray(phi_e)[rows], x_negative=x_n, x_positive=x_p,
            x_negative_surface=np.asarray(self._surface(x_n)),
            x_positive_surface=np.asarray(self._surface(x_p)),
            x=self.cell_centres(), t_end=t_end, termination=fired[0] if fired else "end time",
        )


@eqx.filter_jit
def _initial_voltage(model: P2D, args):
    y0 = model.initial_state()
    return model._terminal_voltage(model._algebraic(y0, args)[2])


@eqx.filter_jit
def _solve(model: P2D, args, t_eval):
    solution = model.states(*args, t_eval)
    voltage, c_e, phi_e, ys = model.observe(solution.ys, args)
    return solution, voltage, c_e, phi_e, ys


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _charge_balance_root(model: P2D, state, args):
    return model._newton(state, args)


@_charge_balance_root.defjvp
def _charge_balance_root_jvp(model, primals, tangents):
    """Implicit function theorem: one LU of the residual's Jacobian serves every tangent (the implicit ODE solver
    asks for one per state), instead of differentiating Newton's loop batched over tangents."""
    state, args = primals
    phi = _charge_balance_root(model, state, args)
    lu = jax.scipy.linalg.lu_factor(jax.jacfwd(model._charge_residual)(phi, (state, args)))
    _, residual_dot = jax.jvp(lambda s, a: model._charge_residual(phi, (s, a)), (state, args), tangents)
    return phi, -jax.scipy.linalg.lu_solve(lu, residual_dot)
