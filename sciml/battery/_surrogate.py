"""A physics-informed surrogate of the single-particle model over two parameters (after Hassanaly et al., 2024).

The network maps ``(t, r/R, i0_scale, diffusivity_scale)`` to the stoichiometries of both particles. It is trained in
the coordinates ``s = sqrt(t / t_end)`` and ``rho = r / R``:

- the hard initial condition ``x = x0 + drift * s^2 + s * g(theta) * N(s, rho^2, theta)`` holds x = x0 at t = 0 and
  carries the exact average drift of a constant-flux particle (``drift = -3 j t_end / (R c_max)``), so the network
  only learns the radial profile; ``g = |j| R / (D c_max)`` is the surface-gradient scale, and the factor s follows
  the ``sqrt(t)`` growth of the diffusion layer;
- features in ``rho^2`` make every output even in rho, so the symmetry condition at the centre holds exactly;
- the diffusion equation in these coordinates, ``rho dx/ds = 2 s k (rho d2x/drho2 + 2 dx/drho)`` with
  ``k = D t_end / R^2``, is regular at s = 0 and rho = 0 (it is the PDE residual, divided by g);
- the surface flux ``dx/drho = -j R / (D c_max)`` at rho = 1 is a soft constraint, gated by s (the initial state
  does not satisfy it);
- solver solutions at a few training diffusivities form a data term (the papers' "low-data" setting).

`build_network` and `surrogate_loss` give the model and loss; `sciml.studies.battery` trains them.

The terminal voltage follows from the two surface stoichiometries with the exact Butler-Volmer inversion, so the
exchange-current scale enters the voltage analytically.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml._errors import ConfigError, warn_at_caller
from sciml.nn import MLP
from sciml.pde import Box, DataConstraint, FacePoints, Problem, SobolPoints
from sciml.pde._constraints import AbstractConstraint
from sciml.pde._derivatives import derivative
from sciml.pinn import PINN, HardConstraint, PINNLoss
from sciml.solvers._spm import SPM, SPMParameters, terminal_voltage
from sciml.train import AbstractSampler

COORDINATES = ("s", "rho", "i0_scale", "diffusivity_scale")


class ExtrapolationWarning(UserWarning):
    """A surrogate was evaluated outside the parameter box it was trained on."""


@dataclasses.dataclass(frozen=True)
class SurrogateSetup:
    """The discharge and parameter box a surrogate covers.

    Args:
        current: constant discharge current [A].
        t_end: end of the discharge [s].
        i0_range: (low, high) of the anode exchange-current scale.
        diffusivity_range: (low, high) of the cathode diffusivity scale.
        parameters: the cell.
    """

    current: float = 5.0
    t_end: float = 3000.0
    i0_range: tuple[float, float] = (0.5, 4.0)
    diffusivity_range: tuple[float, float] = (1.0, 10.0)
    parameters: SPMParameters = SPMParameters()

    def __post_init__(self):
        for name, (low, high) in (("i0_range", self.i0_range), ("diffusivity_range", self.diffusivity_range)):
            if not 0 < low < high:
                raise ConfigError(f"SurrogateSetup: {name} must be (low, high) with 0 < low < high, got {(low, high)}")
        if self.t_end <= 0 or self.current <= 0:
            raise ConfigError(f"SurrogateSetup: need current > 0 and t_end > 0, got {self.current}, {self.t_end}")

    @property
    def domain(self) -> Box:
        """The training box in ``(s, rho, i0_scale, diffusivity_scale)``."""
        return Box((0.0, 0.0, self.i0_range[0], self.diffusivity_range[0]),
                   (1.0, 1.0, self.i0_range[1], self.diffusivity_range[1]), COORDINATES)

    def _electrode_constants(self):
        """Per electrode (negative, positive): x0, average drift over the window, and surface-gradient factor."""
        p = self.parameters
        out = []
        for electrode, sign in ((p.negative, 1.0), (p.positive, -1.0)):
            flux = sign * electrode.molar_flux(self.current, p.electrode_area)
            out.append((
                electrode.c_init / electrode.c_max,
                -3.0 * flux * self.t_end / (electrode.radius * electrode.c_max),
                -flux * electrode.radius / (electrode.diffusivity * electrode.c_max),
                electrode.diffusivity * self.t_end / electrode.radius**2,
            ))
        return out

    def initial(self) -> Float[Array, " 2"]:
        return jnp.asarray([c[0] for c in self._electrode_constants()])

    def drift(self) -> Float[Array, " 2"]:
        return jnp.asarray([c[1] for c in self._electrode_constants()])

    def surface_gradient(self, diffusivity_scale) -> Float[Array, " 2"]:
        """``dx/drho`` at the surface for each electrode (only the cathode's depends on the scale)."""
        (_, _, g_n, _), (_, _, g_p, _) = self._electrode_constants()
        scale = jnp.asarray(diffusivity_scale)
        return jnp.stack([jnp.full_like(scale, g_n), g_p / scale])

    def diffusion_number(self, diffusivity_scale) -> Float[Array, " 2"]:
        """``k = D t_end / R^2`` per electrode."""
        (_, _, _, k_n), (_, _, _, k_p) = self._electrode_constants()
        scale = jnp.asarray(diffusivity_scale)
        return jnp.stack([jnp.full_like(scale, k_n), k_p * scale])


class SPMFeatures(eqx.Module):
    """Maps a normalised point ``(s, rho, i0, D)`` in [-1, 1]^4 to ``(s, rho^2, i0, log D)``, each in [-1, 1]."""

    log_low: float = eqx.field(static=True)
    log_high: float = eqx.field(static=True)
    out_size: int = eqx.field(static=True, default=4)

    def __call__(self, z: Float[Array, " 4"]) -> Float[Array, " 4"]:
        rho = 0.5 * (z[1] + 1.0)
        scale = jnp.exp(self.log_low + 0.5 * (z[3] + 1.0) * (self.log_high - self.log_low))
        log_scale = 2.0 * (jnp.log(scale) - self.log_low) / (self.log_high - self.log_low) - 1.0
        return jnp.stack([z[0], 2.0 * rho**2 - 1.0, z[2], log_scale])


class SurfaceFlux(AbstractConstraint):
    """``s * (dx/drho - g(theta)) / g(theta) = 0`` at rho = 1 for both particles (the gated flux condition)."""

    sampler: AbstractSampler
    setup: SurrogateSetup = eqx.field(static=True)

    def loss(self, u, points):
        def one(point):
            slope = derivative(u, point, (1,))
            target = self.setup.surface_gradient(point[3])
            return point[0] * (slope - target) / jnp.abs(target)

        return jnp.mean(jnp.square(jax.vmap(one)(points)))


def diffusion_residual(setup: SurrogateSetup):
    """The residual ``(rho x_s - 2 s k (rho x_rhorho + 2 x_rho)) / g`` for both particles (a (2,) vector)."""

    def residual(u):
        s, rho, scale = u.coords["s"], u.coords["rho"], u.coords["diffusivity_scale"]
        k = setup.diffusion_number(scale)
        g = jnp.abs(setup.surface_gradient(scale))
        return (rho * u.d("s") - 2.0 * s * k * (rho * u.d("rho", "rho") + 2.0 * u.d("rho"))) / g

    return residual


def build_network(setup: SurrogateSetup, width: int, depth: int, *, key: jax.Array) -> PINN:
    """The PINN ``(s, rho, i0_scale, diffusivity_scale) -> (x_negative, x_positive)`` with the hard IC."""
    initial, drift = setup.initial(), setup.drift()

    def particular(point):
        return initial + drift * point[0] ** 2

    def distance(point):
        return point[0] * jnp.abs(setup.surface_gradient(point[3]))

    low, high = setup.diffusivity_range
    features = SPMFeatures(math.log(low), math.log(high))
    return PINN(setup.domain, MLP(features.out_size, 2, width, depth, key=key), embedding=features,
                transform=HardConstraint(particular, distance))


def check_surrogate_inputs(name: str, setup: SurrogateSetup, t, i0_scale, diffusivity_scale,
                           extrapolate: bool = False) -> None:
    """Raise `ConfigError` (prefixed with the surrogate's `name`) for times outside [0, t_end] or scales outside the
    box of `setup`; with `extrapolate=True` warn (`ExtrapolationWarning`) for out-of-box scales instead."""
    check_surrogate_times(name, setup, t)
    check_surrogate_scales(name, setup, i0_scale, diffusivity_scale, extrapolate)


def check_surrogate_times(name: str, setup: SurrogateSetup, t) -> None:
    """Raise `ConfigError` for times `t` that are not a 1-D array in [0, t_end] of `setup`."""
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size == 0 or t.min() < 0 or t.max() > setup.t_end * (1 + 1e-9):
        raise ConfigError(
            f"{name}: times must be a 1-D array in [0, {setup.t_end:g}] s (the trained discharge), got "
            f"shape {t.shape} and range [{t.min() if t.size else 'n/a'}, {t.max() if t.size else 'n/a'}]"
        )


def check_surrogate_scales(name: str, setup: SurrogateSetup, i0_scale, diffusivity_scale,
                           extrapolate: bool = False) -> None:
    """Raise `ConfigError` for a scale pair outside the box of `setup` (warn with `extrapolate=True`)."""
    for scale, value, (low, high) in (("i0_scale", i0_scale, setup.i0_range),
                                      ("diffusivity_scale", diffusivity_scale, setup.diffusivity_range)):
        value = float(value)
        if not np.isfinite(value) or value <= 0:
            raise ConfigError(f"{name}: {scale} must be a positive number, got {value}")
        if not low <= value <= high:
            message = f"{name}: {scale} = {value:g} lies outside the trained range [{low:g}, {high:g}]"
            if not extrapolate:
                raise ConfigError(message + "; pass extrapolate=True to evaluate anyway (accuracy unknown) or "
                                            "retrain on a wider range")
            warn_at_caller(message + "; extrapolating, accuracy unknown", ExtrapolationWarning)


class SPMSurrogate(eqx.Module):
    """A trained PINN surrogate of the SPM with the box it is valid on.

    Call `voltage(t, i0_scale, diffusivity_scale)` for the checked public evaluation (range errors / extrapolation
    warnings) and `voltage_unchecked` inside jitted code such as a sampler's likelihood.
    """

    network: PINN
    setup: SurrogateSetup = eqx.field(static=True)

    def stoichiometry(self, t, rho, i0_scale, diffusivity_scale) -> Float[Array, " 2"]:
        """``(x_negative, x_positive)`` at time t [s], radius fraction rho = r/R, and the two scales."""
        s = jnp.sqrt(jnp.clip(t / self.setup.t_end, 0.0, None))
        return self.network(jnp.stack([s, jnp.asarray(rho, s.dtype), i0_scale, diffusivity_scale]))

    def voltage_unchecked(self, t: Float[Array, " n"], i0_scale, diffusivity_scale) -> Float[Array, " n"]:
        """Terminal voltage [V] at times `t` (no range checks; jittable and differentiable in the scales)."""
        surface = jax.vmap(lambda time: self.stoichiometry(time, 1.0, i0_scale, diffusivity_scale))(t)
        surface = jnp.clip(surface, 1e-6, 1.0 - 1e-6)
        return terminal_voltage(self.setup.parameters, self.setup.current, i0_scale, surface[:, 0], surface[:, 1])

    def check_inputs(self, t, i0_scale, diffusivity_scale, extrapolate: bool = False) -> None:
        """Raise `ConfigError` for inputs outside the trained box; with `extrapolate=True` warn instead."""
        check_surrogate_inputs("SPMSurrogate", self.setup, t, i0_scale, diffusivity_scale, extrapolate)

    def voltage(self, t, i0_scale: float, diffusivity_scale: float, extrapolate: bool = False) -> np.ndarray:
        """Terminal voltage [V] at times `t` [s] after checking the inputs lie in the trained box."""
        self.check_inputs(t, i0_scale, diffusivity_scale, extrapolate)
        return np.asarray(_surrogate_voltage(self, jnp.asarray(t, jnp.float32), float(i0_scale),
                                             float(diffusivity_scale)))


@eqx.filter_jit
def _surrogate_voltage(surrogate: SPMSurrogate, t, i0_scale, diffusivity_scale):
    return surrogate.voltage_unchecked(t, i0_scale, diffusivity_scale)


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """Solver solutions used as the data term: points ``(n, 4)`` in (s, rho, i0, D) and stoichiometries ``(n, 2)``."""

    points: np.ndarray
    values: np.ndarray


def solver_data(setup: SurrogateSetup, diffusivity_scales, n_times: int = 31, n_radii: int = 11, *,
                solver: SPM | None = None, seed: int = 0) -> TrainingData:
    """Solve the SPM at each training diffusivity and sample the stoichiometry on a (time, radius) grid.

    Times are uniform in s = sqrt(t/t_end); radii are the solver's shell centres subsampled to `n_radii` plus the
    surface. The exchange-current scale does not change the concentrations, so each row gets a random one from the
    box (the network learns that it does not matter).
    """
    solver = solver or SPM(setup.parameters)
    s = np.linspace(0.0, 1.0, n_times)
    t_eval = setup.t_end * s**2
    rng = np.random.default_rng(seed)
    points, values = [], []
    with jax.enable_x64(True):
        for scale in diffusivity_scales:
            solution = solver.solve(setup.current, t_eval, 1.0, scale)
            pick = np.unique(np.linspace(0, solver.n_shells - 1, n_radii - 1).round().astype(int))
            centres = (pick + 0.5) / solver.n_shells
            rho = np.concatenate([centres, [1.0]])
            x_n = np.concatenate([solution.x_negative[:, pick], solution.x_negative_surface[:, None]], axis=1)
            x_p = np.concatenate([solution.x_positive[:, pick], solution.x_positive_surface[:, None]], axis=1)
            ss, rr = np.meshgrid(s, rho, indexing="ij")
            i0 = rng.uniform(*setup.i0_range, size=ss.size)
            points.append(np.stack([ss.ravel(), rr.ravel(), i0, np.full(ss.size, scale)], axis=1))
            values.append(np.stack([x_n.ravel(), x_p.ravel()], axis=1))
    return TrainingData(np.concatenate(points).astype(np.float32), np.concatenate(values).astype(np.float32))


def surrogate_loss(setup: SurrogateSetup, data: TrainingData, *, n_residual: int = 1024, n_surface: int = 256,
                   data_weight: float = 1e4, seed: int = 0) -> PINNLoss:
    """The surrogate's PINN loss: the diffusion residual on `n_residual` Sobol points of the box, the gated surface
    flux on `n_surface` points of the face rho = 1 (Sobol seeds `seed` and `seed + 1`), and the solver data weighted
    by `data_weight`. Its problem's `sampler()` draws the points."""
    if data.points.ndim != 2 or data.points.shape[1] != 4 or data.values.shape != (data.points.shape[0], 2):
        raise ConfigError(f"surrogate_loss: data must be points (n, 4) and values (n, 2), got "
                          f"{data.points.shape} and {data.values.shape}")
    domain = setup.domain
    face = Box([domain.lower[i] for i in (0, 2, 3)], [domain.upper[i] for i in (0, 2, 3)],
               ("s", "i0_scale", "diffusivity_scale"))
    problem = Problem(
        domain,
        residual=diffusion_residual(setup),
        interior=SobolPoints(domain, n_residual, seed=seed),
        constraints={
            "surface_flux": SurfaceFlux(FacePoints(SobolPoints(face, n_surface, seed=seed + 1), axis=1, value=1.0),
                                        setup),
            "data": DataConstraint(jnp.asarray(data.points), jnp.asarray(data.values)),
        },
    )
    return PINNLoss(problem, weights={"data": data_weight})
