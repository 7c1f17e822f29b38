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

The potentials are algebraic, which makes the semi-discrete model a DAE of index 1: ``M du/dt = F(t, u)`` with
u the concentrations and potentials and M = diag(1 on concentrations, 0 on potentials). It is integrated as it
stands by the variable-order BDF of `sciml.solvers._bdf` (as SUNDIALS' IDA does for PyBaMM): each step solves the
concentrations and the (nonlinear: Butler-Volmer's sinh, the concentration dependence of i0 and of the reaction
potential) charge balances together with a modified Newton iteration whose Jacobian and LU factorisation are reused
over many steps. An earlier version reduced the DAE to an ODE by solving the charge balances with Newton's method
inside every right-hand-side evaluation and integrated it with diffrax's Kvaerno5; that nested solve made it about
twenty times slower, and slow to compile. Events end the discharge at the cut-off voltage (or if the electrolyte is
depleted or a particle surface saturates), located on the BDF's interpolating polynomial.

Parameters are Chen et al., J. Electrochem. Soc. 167 (2020) 080534 (LG M50, graphite / NMC811, PyBaMM's
``"Chen2020"``), with the electrolyte transport of Nyman et al., Electrochim. Acta 53 (2008) 6356. Two scales multiply
published values, as in the SPM: the anode exchange-current density (``i0_scale``) and the cathode solid diffusivity
(``diffusivity_scale``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.solvers._bdf import STATUS, BDFSolution, bdf_solve
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
        stats: BDF counters: ``steps`` (accepted), ``rejected``, ``newton_iterations``, ``jacobians``,
            ``factorisations``.
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
    stats: dict[str, int]


_EVENTS = ("voltage cut-off", "electrolyte depleted", "particle surface saturated")
_DEPLETED = 1e-3  # c_e / c_e,init at which the electrolyte counts as depleted
_SATURATED = 1e-6  # distance of a surface stoichiometry from 0 or 1 at which the particle counts as saturated


class P2D(eqx.Module):
    """Doyle-Fuller-Newman model under a constant-current discharge.

    The unknowns form one vector ``u = (c_e / c_e,init (n_x,), x_n (n_n * n_shells,), x_p (n_p * n_shells,),
    phi_s_n (n_n,), phi_e (n_x,), phi_s_p (n_p,))``: concentrations (differential) then potentials [V] (algebraic).

    Args:
        parameters: the cell (default Chen et al. 2020).
        n_negative, n_separator, n_positive: finite-volume cells across each region (PyBaMM's x_n, x_s, x_p).
        n_shells: shells per particle (PyBaMM's r_n = r_p).
        rtol, atol: BDF local error tolerances (RMS over the unknowns, each against ``atol + rtol |u|``).
        overpotential_limit: if set, Butler-Volmer's argument ``a = F eta / (2 R T)`` enters as
            ``L tanh(a / L)`` (the exponential limiter the PINN surrogate trains with: unchanged for ``|a| << L``,
            bounded for large trial overpotentials); None (default) is the exact kinetics.

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
    overpotential_limit: float | None = eqx.field(static=True)
    particle: _SphericalDiffusion

    def __init__(self, parameters: P2DParameters = P2DParameters(), n_negative: int = 20, n_separator: int = 20,
                 n_positive: int = 20, n_shells: int = 20, rtol: float = 1e-6, atol: float = 1e-8,
                 overpotential_limit: float | None = None):
        for name, n in (("n_negative", n_negative), ("n_separator", n_separator), ("n_positive", n_positive),
                        ("n_shells", n_shells)):
            if int(n) != n or n < 3:
                raise ConfigError(f"P2D: {name} must be an integer >= 3, got {n}; PyBaMM's default is 20")
        for name, value in (("rtol", rtol), ("atol", atol)):
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"P2D: {name} must be a positive number, got {value}")
        if overpotential_limit is not None and not (np.isfinite(overpotential_limit) and overpotential_limit > 0):
            raise ConfigError(f"P2D: overpotential_limit must be a positive number or None, got {overpotential_limit}")
        parameters.check()
        self.parameters = parameters
        self.n_negative, self.n_separator, self.n_positive = int(n_negative), int(n_separator), int(n_positive)
        self.n_shells = int(n_shells)
        self.rtol, self.atol = rtol, atol
        self.overpotential_limit = overpotential_limit
        self.particle = _SphericalDiffusion(self.n_shells)

    @property
    def var_pts(self) -> dict[str, int]:
        """This mesh in PyBaMM's ``var_pts`` naming."""
        return {"x_n": self.n_negative, "x_s": self.n_separator, "x_p": self.n_positive, "r_n": self.n_shells,
                "r_p": self.n_shells}

    def with_overpotential_limit(self, limit: float | None) -> P2D:
        """This model on the same mesh with Butler-Volmer's argument limited at `limit` (see the class)."""
        return P2D(self.parameters, self.n_negative, self.n_separator, self.n_positive, self.n_shells, self.rtol,
                   self.atol, limit)

    @property
    def n_cells(self) -> int:
        """Finite-volume cells across the cell (n_x)."""
        return self.n_negative + self.n_separator + self.n_positive

    def mass(self) -> np.ndarray:
        """(n,) 1 on the concentrations (differential unknowns), 0 on the potentials (algebraic)."""
        n_concentrations = self.n_cells + (self.n_negative + self.n_positive) * self.n_shells
        return np.concatenate([np.ones(n_concentrations), np.zeros(self.n_negative + self.n_cells + self.n_positive)])

    # ---- geometry (host numpy, computed at trace time) ----

    def cell_widths(self) -> np.ndarray:
        """(n_x,) widths [m] of the finite-volume cells across the cell."""
        p = self.parameters
        return np.concatenate([np.full(self.n_negative, p.negative.thickness / self.n_negative),
                               np.full(self.n_separator, p.separator_thickness / self.n_separator),
                               np.full(self.n_positive, p.positive.thickness / self.n_positive)])

    def cell_centres(self) -> np.ndarray:
        """(n_x,) positions [m] of the cell centres across the cell."""
        edges = np.concatenate([[0.0], np.cumsum(self.cell_widths())])
        return 0.5 * (edges[1:] + edges[:-1])

    def porosities(self) -> tuple[np.ndarray, np.ndarray]:
        """Porosity and transport efficiency eps^b per cell."""
        p = self.parameters
        regions = ((self.n_negative, p.negative.porosity, p.negative.bruggeman),
                   (self.n_separator, p.separator_porosity, p.separator_bruggeman),
                   (self.n_positive, p.positive.porosity, p.positive.bruggeman))
        eps = np.concatenate([np.full(n, e) for n, e, _ in regions])
        tor = np.concatenate([np.full(n, e**b) for n, e, b in regions])
        return eps, tor

    def split(self, u):
        """``u`` (..., n) -> (c_e [mol/m^3] (..., n_x), x_n (..., n_n, n_shells), x_p (..., n_p, n_shells),
        phi_s_n (..., n_n), phi_e (..., n_x), phi_s_p (..., n_p))."""
        nn, npos, nr, nx = self.n_negative, self.n_positive, self.n_shells, self.n_cells
        ends = np.cumsum([nx, nn * nr, npos * nr, nn, nx])
        c_e, x_n, x_p, phi_s_n, phi_e, phi_s_p = jnp.split(u, ends, axis=-1)
        batch = u.shape[:-1]
        return (c_e * self.parameters.electrolyte_concentration, x_n.reshape(*batch, nn, nr),
                x_p.reshape(*batch, npos, nr), phi_s_n, phi_e, phi_s_p)

    # ---- physics ----

    def _current_density(self, current):
        return current / self.parameters.electrode_area

    def surface_stoichiometry(self, x):
        """Surface stoichiometry by linear extrapolation from the last two shells (PyBaMM's default)."""
        return 1.5 * x[..., -1] - 0.5 * x[..., -2]

    def _exchange_current(self, electrode: P2DElectrode, c_e, x_surface):
        tiny = max(_TINY, float(jnp.finfo(jnp.result_type(x_surface)).eps))  # 1 - 1e-12 is 1 in float32
        c = jnp.clip(x_surface, tiny, 1.0 - tiny) * electrode.c_max
        return electrode.rate_constant * jnp.sqrt(jnp.maximum(c_e, _TINY) * c * (electrode.c_max - c))

    def _reaction(self, electrode, phi_s, phi_e, c_e, x_surface, i0_scale):
        """Butler-Volmer interfacial current density j [A/m^2] at the electrode nodes."""
        thermal = GAS_CONSTANT * self.parameters.temperature / FARADAY
        argument = (phi_s - phi_e - electrode.ocp(x_surface)) / (2.0 * thermal)
        if self.overpotential_limit is not None:
            argument = self.overpotential_limit * jnp.tanh(argument / self.overpotential_limit)
        return 2.0 * i0_scale * self._exchange_current(electrode, c_e, x_surface) * jnp.sinh(argument)

    def _reactions(self, c_e, x_surf_n, x_surf_p, phi_s_n, phi_e, phi_s_p, i0_scale):
        """j [A/m^2] at the negative and positive electrode nodes."""
        nn, ns = self.n_negative, self.n_separator
        p = self.parameters
        return (self._reaction(p.negative, phi_s_n, phi_e[:nn], c_e[:nn], x_surf_n, i0_scale),
                self._reaction(p.positive, phi_s_p, phi_e[nn + ns:], c_e[nn + ns:], x_surf_p, 1.0))

    def _electrolyte_current(self, c_e, phi_e):
        """(n_x + 1,) ionic current density [A/m^2] at the cell faces (zero at both ends)."""
        p = self.parameters
        h = self.cell_widths()
        _, tor = self.porosities()
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

    def _charge_balances(self, c_e, phi_s_n, phi_e, phi_s_p, j_n, j_p, current):
        """Charge balances (solid negative (n_n,), electrolyte (n_x,), solid positive (n_p,)) per unit area, in
        units of the 1C current density."""
        p = self.parameters
        neg, pos = p.negative, p.positive
        h = self.cell_widths()
        h_n, h_p = h[0], h[-1]
        a_j_n, a_j_p = neg.surface_per_volume * j_n, pos.surface_per_volume * j_p
        zero = jnp.zeros((1,), c_e.dtype)
        i_s_n = jnp.concatenate([-neg.conductivity * 2.0 * phi_s_n[:1] / h_n,  # ghost node: phi_s = 0 at x = 0
                                 -neg.conductivity * jnp.diff(phi_s_n) / h_n, zero])
        i_s_p = jnp.concatenate([zero, -pos.conductivity * jnp.diff(phi_s_p) / h_p,
                                 jnp.broadcast_to(self._current_density(current), (1,)).astype(c_e.dtype)])
        i_e = self._electrolyte_current(c_e, phi_e)
        source = jnp.concatenate([a_j_n, jnp.zeros(self.n_separator, c_e.dtype), a_j_p])
        scale = 1.0 / (p.nominal_capacity / p.electrode_area)
        return jnp.concatenate([jnp.diff(i_s_n) + a_j_n * h_n, jnp.diff(i_e) - source * h,
                                jnp.diff(i_s_p) + a_j_p * h_p]) * scale

    def _concentration_rates(self, c_e, x_n, x_p, j_n, j_p, diffusivity_scale):
        """d/dt of (c_e / c_e,init (n_x,), x_n (n_n, n_shells), x_p (n_p, n_shells))."""
        p = self.parameters
        neg, pos = p.negative, p.positive
        eps, tor = self.porosities()
        h = self.cell_widths()
        distance = 0.5 * (h[1:] + h[:-1])
        weight = h[:-1] / (h[:-1] + h[1:])
        d_eff = tor * p.electrolyte_diffusivity(c_e)
        d_face = 1.0 / (weight / d_eff[:-1] + (1.0 - weight) / d_eff[1:])  # harmonic mean
        zero = jnp.zeros((1,), c_e.dtype)
        flux = jnp.concatenate([zero, -d_face * jnp.diff(c_e) / distance, zero])
        source = jnp.concatenate([neg.surface_per_volume * j_n, jnp.zeros(self.n_separator, c_e.dtype),
                                  pos.surface_per_volume * j_p]) * (1.0 - p.transference_number) / FARADAY
        dc_e = (-jnp.diff(flux) / h + source) / eps / p.electrolyte_concentration
        d_n, d_p = neg.diffusivity, pos.diffusivity * diffusivity_scale
        grad_n = -j_n * neg.radius / (FARADAY * d_n * neg.c_max)
        grad_p = -j_p * pos.radius / (FARADAY * d_p * pos.c_max)
        rate = jax.vmap(self.particle.rate, in_axes=(0, None, 0))
        return dc_e, rate(x_n, d_n / neg.radius**2, grad_n), rate(x_p, d_p / pos.radius**2, grad_p)

    def residual(self, t, u: Float[Array, " n"], args) -> Float[Array, " n"]:
        """The DAE ``mass * du/dt = residual(t, u, args)``: concentration rates, then the charge balances (zero).
        ``args = (current [A], i0_scale, diffusivity_scale)``."""
        current, i0_scale, diffusivity_scale = args
        c_e, x_n, x_p, phi_s_n, phi_e, phi_s_p = self.split(u)
        j_n, j_p = self._reactions(c_e, self.surface_stoichiometry(x_n), self.surface_stoichiometry(x_p), phi_s_n,
                                   phi_e, phi_s_p, i0_scale)
        dc_e, dx_n, dx_p = self._concentration_rates(c_e, x_n, x_p, j_n, j_p, diffusivity_scale)
        balances = self._charge_balances(c_e, phi_s_n, phi_e, phi_s_p, j_n, j_p, current)
        return jnp.concatenate([dc_e, dx_n.ravel(), dx_p.ravel(), balances])

    # ---- consistent initial state ----

    def _potential_residual(self, potentials, inputs):
        """Charge balances as a function of the potentials alone, ``inputs = ((c_e, x_surf_n, x_surf_p), args)``."""
        (c_e, x_surf_n, x_surf_p), (current, i0_scale, _) = inputs
        nn, nx = self.n_negative, self.n_cells
        phi_s_n, phi_e, phi_s_p = potentials[:nn], potentials[nn:nn + nx], potentials[nn + nx:]
        j_n, j_p = self._reactions(c_e, x_surf_n, x_surf_p, phi_s_n, phi_e, phi_s_p, i0_scale)
        return self._charge_balances(c_e, phi_s_n, phi_e, phi_s_p, j_n, j_p, current)

    def uniform_reaction_potentials(self, state, args):
        """(n_n + n_x + n_p,) potentials [V] of a uniform reaction in each electrode (the SPM's), the Newton start.
        ``state = (c_e [mol/m^3] (n_x,), x_surf_n (n_n,), x_surf_p (n_p,))``, ``args = (current, i0_scale, _)``."""
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
        return jnp.concatenate([jnp.zeros(nn, c_e.dtype), jnp.full(self.n_cells, phi_e, c_e.dtype),
                                phi_e + pos.ocp(x_surf_p) + eta_p])

    def initial_state(self, args) -> Float[Array, " n"]:
        """(n,) the cell at rest (uniform concentrations) with the potentials of the current switched on: the
        charge balances solved by Newton's method (optimistix, differentiated implicitly)."""
        p = self.parameters
        dtype = jnp.result_type(float)
        nn, npos, nr = self.n_negative, self.n_positive, self.n_shells
        x0_n, x0_p = p.negative.c_init / p.negative.c_max, p.positive.c_init / p.positive.c_max
        c_e = jnp.full(self.n_cells, p.electrolyte_concentration, dtype)
        state = (c_e, jnp.full(nn, x0_n, dtype), jnp.full(npos, x0_p, dtype))
        potentials = optx.root_find(self._potential_residual, optx.Newton(rtol=1e-12, atol=1e-13),
                                    self.uniform_reaction_potentials(state, args), args=(state, args), max_steps=40,
                                    throw=False).value
        return jnp.concatenate([jnp.ones(self.n_cells, dtype), jnp.full(nn * nr, x0_n, dtype),
                                jnp.full(npos * nr, x0_p, dtype), potentials])

    # ---- integration ----

    def terminal_voltage(self, u):
        """Terminal voltage [V] of states `u` (..., n): phi_s at the positive current collector, linearly
        extrapolated from the last two cells (PyBaMM's)."""
        return 1.5 * u[..., -1] - 0.5 * u[..., -2]

    def _events(self, cutoff: bool):
        """``events(t, u, args)``: positive while the discharge may go on; (voltage - cut-off, if `cutoff`),
        c_e / c_e,init - 1e-3 at its minimum, and the closest approach of a particle surface to 0 or 1."""
        lower = self.parameters.lower_cutoff

        def events(t, u, args):
            c_e, x_n, x_p, _, _, _ = self.split(u)
            surfaces = jnp.concatenate([self.surface_stoichiometry(x_n), self.surface_stoichiometry(x_p)])
            values = [jnp.min(c_e) / self.parameters.electrolyte_concentration - _DEPLETED,
                      jnp.minimum(jnp.min(surfaces), jnp.min(1.0 - surfaces)) - _SATURATED]
            if cutoff:
                values.insert(0, self.terminal_voltage(u) - lower)
            return jnp.stack(values)

        return events

    def integrate(self, current, i0_scale, diffusivity_scale, t_eval: Float[Array, " n_t"],
                  cutoff: bool = True) -> BDFSolution:
        """Integrate the DAE from rest at t = 0 (jittable, vmappable, forward-mode differentiable).

        The integration ends at the last of `t_eval`, or where the electrolyte is depleted or a particle surface
        empties or fills, or (with `cutoff`) at the lower cut-off voltage; the states at later times are NaN. The
        event index of the solution counts in ``("voltage cut-off", "electrolyte depleted", "particle surface
        saturated")``, without the first when `cutoff` is off.
        """
        dtype = jnp.result_type(float)
        args = (jnp.asarray(current, dtype), jnp.asarray(i0_scale, dtype), jnp.asarray(diffusivity_scale, dtype))
        return bdf_solve(self.residual, self.initial_state(args), jnp.asarray(t_eval, dtype), args,
                         mass=self.mass(), rtol=self.rtol, atol=self.atol, events=self._events(cutoff))

    def voltage(self, current, i0_scale, diffusivity_scale, t_eval: Float[Array, " n_t"]) -> Float[Array, " n_t"]:
        """Terminal voltage [V] at `t_eval` (jittable; no range checks and no cut-off: the voltage may fall below
        it; NaN after the electrolyte is depleted or a particle saturated).

        Differentiable in the two scales (forward and reverse mode): the derivative rule propagates forward
        sensitivities through the BDF integration (two tangents).
        """
        scales = jnp.stack([jnp.asarray(i0_scale), jnp.asarray(diffusivity_scale)])
        return forward_sensitivity_voltage(self, scales, jnp.asarray(current), t_eval)

    def voltages(self, current, i0_scales: Float[Array, " n_cases"], diffusivity_scales: Float[Array, " n_cases"],
                 t_eval: Float[Array, " n_t"], batch_size: int = 1) -> Float[Array, "n_cases n_t"]:
        """Terminal voltages [V] of many parameter pairs, as `voltage` (jittable; NaN after a depletion or a
        saturation). `jax.lax.map` over the pairs, `batch_size` of them vmapped at a time: 1 suits a CPU (a vmapped
        BDF runs its Jacobian and factorisation branches for every member at every step), more a GPU."""
        return jax.lax.map(lambda pair: self._voltage_primal(jnp.stack(pair), current, t_eval),
                           (jnp.asarray(i0_scales), jnp.asarray(diffusivity_scales)),
                           batch_size=batch_size if batch_size > 1 else None)

    def _voltage_primal(self, scales, current, t_eval, adjoint=None):
        """The voltage of `voltage`; `adjoint` (diffrax's, for the SPM) is not used: forward-mode differentiation
        runs through the BDF loop itself."""
        solution = self.integrate(current, scales[0], scales[1], t_eval, cutoff=False)
        return self.terminal_voltage(solution.ys)

    def solve(self, current: float, t_eval, i0_scale: float = 1.0, diffusivity_scale: float = 1.0) -> P2DSolution:
        """Solve a constant-current discharge (current > 0 discharges) until the last of `t_eval` or the cut-off.

        The discharge ends at the lower cut-off voltage, or earlier if the electrolyte is depleted or a particle
        surface empties or fills (`P2DSolution.termination` says which); the returned arrays hold the requested
        times before that end, then the end. Raises `ConfigError` on bad arguments, when float64 is off, when the
        cell is below the cut-off voltage from the start, and when the integration fails.
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
        result = _integrate(self, args, jnp.asarray(t_eval))
        status = STATUS[int(result.status)]
        t_end = float(result.t_end)
        if status not in ("end time", "event"):
            raise ConfigError(f"P2D.solve: the integration failed at t = {t_end:.6g} s at {current:g} A ({status}); "
                              "check the parameters, lower the current or loosen rtol/atol")
        before = t_eval < t_end
        times = np.concatenate([t_eval[before], [t_end]])
        states = np.concatenate([np.asarray(result.ys)[before], np.asarray(result.y_end)[None]])
        c_e, x_n, x_p, _, phi_e, _ = (np.asarray(a) for a in self.split(jnp.asarray(states)))
        return P2DSolution(
            t=times, voltage=np.asarray(self.terminal_voltage(states)), c_e=c_e, phi_e=phi_e, x_negative=x_n,
            x_positive=x_p, x_negative_surface=np.asarray(self.surface_stoichiometry(x_n)),
            x_positive_surface=np.asarray(self.surface_stoichiometry(x_p)), x=self.cell_centres(), t_end=t_end,
            termination=_EVENTS[int(result.event)] if status == "event" else "end time",
            stats={name: int(value) for name, value in result.stats.items()},
        )


@eqx.filter_jit
def _initial_voltage(model: P2D, args):
    return model.terminal_voltage(model.initial_state(args))


@eqx.filter_jit
def _integrate(model: P2D, args, t_eval):
    return model.integrate(*args, t_eval)
