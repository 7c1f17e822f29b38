"""Parameter families of PDEBench-style problems on periodic grids, solved with exponax.

- 1D advection      u_t + beta u_x = 0                       (exact Fourier-space propagation)
- 1D Burgers        u_t + (u^2/2)_x = (nu/pi) u_xx            (ETDRK2 pseudo-spectral, sub-stepped)
- 1D Fisher-KPP     u_t = nu u_xx + rho u (1 - u)            (ETDRK2 pseudo-spectral, sub-stepped)
- 2D incompressible Navier-Stokes in vorticity form  w_t + (v . grad) w = nu lap w, v = curl^-1 w (ETDRK2)

All domains are the unit interval/square, periodic, on grids that exclude the right end (cell starts). Trajectories
come back as float32 arrays of shape (n_trajectories, n_frames, *space), frame 0 being the initial condition. Each
family is a `PDEFamily` object (equation, parameter grid, initial conditions, solver call) in the `FAMILIES` registry.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import math
from typing import ClassVar

import exponax as ex
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml import _random as random
from sciml._errors import ConfigError

INITIAL_DISTRIBUTIONS = ("two-sines", "pdebench")


def pdebench_initial_conditions(
    key: jax.Array, n: int, num_points: int, *, positive: bool = False, max_wavenumber: int = 4,
    distribution: str = "two-sines",
) -> Float[Array, "n x"]:
    """PDEBench-like random 1D initial conditions on the unit periodic interval, (n, num_points).

    ``distribution="two-sines"``: a sum of two sine waves ``a_i sin(2 pi k_i x + phi_i)`` (k_i in 1..max_wavenumber,
    a_i ~ U(0, 1), phi_i ~ U(0, 2pi)); with probability 0.1 the absolute value is taken (and the sign flipped at
    random), with probability 0.1 a smooth tanh window (two sorted edges in [0.1, 0.9], width 0.01) cuts it to a
    sub-interval.

    ``distribution="pdebench"``: the distribution PDEBench's 1D generator draws from (its data-generation
    description, re-implemented): every wavenumber 1..max_wavenumber gets an amplitude U(0, 1) and a phase U(0, 2pi);
    two picks among them (with replacement) set which oscillate: a mode picked once has its wavenumber, picked twice
    twice its wavenumber, not picked wavenumber 0, so it adds the constant ``a sin(phi)`` (a random offset); the
    absolute value with probability 0.1, then a random sign for every state; with probability 0.1 a tanh window
    (width 0.01) from a left edge ~ U(0.1, 0.45) to the left edge + 0.45 (PDEBench draws both edges from one
    uniform number). The offsets and the fixed window width make states of small norm rarer than with "two-sines"
    (1% quantile of the RMS 0.14 against 0.03), which is what the mean nRMSE over trajectories is sensitive to.

    `positive` rescales each state to [0, 1] (diffusion-reaction, as PDEBench normalises its states).
    """
    if distribution not in INITIAL_DISTRIBUTIONS:
        raise ConfigError(f"initial-condition distribution must be one of {INITIAL_DISTRIBUTIONS}, got "
                          f"{distribution!r}")
    # The sampling broadcasts ranks implicitly; allow it here whatever the process setting.
    with jax.numpy_rank_promotion("allow"):
        x = jnp.arange(num_points) / num_points
        keys = jax.random.split(key, 8)
        if distribution == "two-sines":
            k = jax.random.randint(keys[0], (n, 2, 1), 1, max_wavenumber + 1)
            amplitude = random.uniform(keys[1], (n, 2, 1))
            phase = random.uniform(keys[2], (n, 2, 1), maxval=2 * math.pi)
            edges = jnp.sort(random.uniform(keys[5], (n, 2, 1), minval=0.1, maxval=0.9), axis=1)
            left, right = edges[:, 0], edges[:, 1]
        else:
            picks = jax.random.randint(keys[0], (n, 2), 0, max_wavenumber)
            times_picked = jax.nn.one_hot(picks, max_wavenumber).sum(axis=1)
            k = (jnp.arange(1, max_wavenumber + 1) * times_picked)[:, :, None]
            amplitude = random.uniform(keys[1], (n, max_wavenumber, 1))
            phase = random.uniform(keys[2], (n, max_wavenumber, 1), maxval=2 * math.pi)
            left = random.uniform(keys[5], (n, 1), minval=0.1, maxval=0.45)
            right = left + 0.45
        u = jnp.sum(amplitude * jnp.sin(2 * math.pi * k * x + phase), axis=1)
        take_abs = jax.random.uniform(keys[3], (n, 1)) < 0.1
        sign = jnp.where(jax.random.uniform(keys[4], (n, 1)) < 0.5, -1.0, 1.0)
        u = jnp.where(take_abs, sign * jnp.abs(u), u if distribution == "two-sines" else sign * u)
        window = 0.5 * (jnp.tanh((x - left) / 0.01) - jnp.tanh((x - right) / 0.01))
        u = jnp.where(jax.random.uniform(keys[6], (n, 1)) < 0.1, u * window, u)
        if positive:
            low, high = u.min(axis=1, keepdims=True), u.max(axis=1, keepdims=True)
            u = (u - low) / jnp.maximum(high - low, 1e-6)
        return u


def vorticity_initial_conditions(key: jax.Array, n: int, num_points: int, *, cutoff: int = 4) -> Float[Array, "n x y"]:
    """Random smooth 2D vorticity fields (truncated Fourier series up to `cutoff`, zero mean, max |w| = 2 pi)."""
    generator = ex.ic.RandomTruncatedFourierSeries(2, cutoff=cutoff, max_one=True)
    fields = jax.vmap(lambda k: generator(num_points, key=k))(jax.random.split(key, n))
    fields = fields[:, 0] - fields[:, 0].mean(axis=(1, 2), keepdims=True)
    return 2 * math.pi * fields / jnp.max(jnp.abs(fields), axis=(1, 2), keepdims=True)


def _rollout(stepper, substeps: int, n_frames: int, u0: Float[Array, " n *space"]) -> np.ndarray:
    stepper = ex.RepeatedStepper(stepper, substeps) if substeps > 1 else stepper
    # exponax's Burgers nonlinearity broadcasts ranks implicitly; allow it here whatever the process setting.
    with jax.numpy_rank_promotion("allow"):
        trajectory = jax.jit(jax.vmap(ex.rollout(stepper, n_frames - 1, include_init=True)))(u0[:, None])
    out = np.asarray(trajectory[:, :, 0], dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError("the solver produced non-finite values; use more sub-steps (smaller dt)")
    return out


def _check(n_frames: int, t_end: float, value: float, name: str) -> None:
    if n_frames < 2 or t_end <= 0:
        raise ConfigError(f"need n_frames >= 2 and t_end > 0, got n_frames={n_frames}, t_end={t_end}")
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {value}")


def advection_trajectories(
    beta: float, u0: Float[Array, "n x"], *, t_end: float = 2.0, n_frames: int = 41
) -> np.ndarray:
    """Solve ``u_t + beta u_x = 0`` from each row of `u0`; returns (n, n_frames, x) at times linspace(0, t_end)."""
    _check(n_frames, t_end, beta, "beta")
    dt = t_end / (n_frames - 1)
    return _rollout(ex.stepper.Advection(1, 1.0, u0.shape[-1], dt, velocity=beta), 1, n_frames, u0)


def burgers_trajectories(
    nu: float, u0: Float[Array, "n x"], *, t_end: float = 2.0, n_frames: int = 41, cfl: float = 0.25
) -> np.ndarray:
    """Solve PDEBench's Burgers ``u_t + (u^2/2)_x = (nu/pi) u_xx``; returns (n, n_frames, x).

    The sub-step satisfies ``dt max|u0| / dx <= cfl`` (the viscous term is integrated exactly by ETDRK2).
    """
    _check(n_frames, t_end, nu, "nu")
    num_points = u0.shape[-1]
    frame_dt = t_end / (n_frames - 1)
    speed = max(float(jnp.max(jnp.abs(u0))), 1e-3)
    substeps = max(1, math.ceil(frame_dt * speed * num_points / cfl))
    stepper = ex.stepper.Burgers(1, 1.0, num_points, frame_dt / substeps, diffusivity=nu / math.pi)
    return _rollout(stepper, substeps, n_frames, u0)


def fisher_kpp_trajectories(
    nu: float, rho: float, u0: Float[Array, "n x"], *, t_end: float = 1.0, n_frames: int = 21, dt: float = 1e-3
) -> np.ndarray:
    """Solve the diffusion-reaction (Fisher-KPP) equation ``u_t = nu u_xx + rho u (1 - u)``; returns
    (n, n_frames, x)."""
    _check(n_frames, t_end, nu, "nu")
    _check(n_frames, t_end, rho, "rho")
    frame_dt = t_end / (n_frames - 1)
    substeps = max(1, math.ceil(frame_dt / dt))
    stepper = ex.stepper.reaction.FisherKPP(
        1, 1.0, u0.shape[-1], frame_dt / substeps, diffusivity=nu, reactivity=rho
    )
    return _rollout(stepper, substeps, n_frames, u0)


def navier_stokes_vorticity_trajectories(
    nu: float, w0: Float[Array, "n x y"], *, t_end: float = 1.0, n_frames: int = 21, cfl: float = 0.3
) -> np.ndarray:
    """Decaying 2D incompressible Navier-Stokes in vorticity form, viscosity `nu`; returns (n, n_frames, x, y).

    The sub-step follows an advective CFL bound ``dt |v|_max / dx <= cfl`` with ``|v|_max`` estimated as
    ``max|w| L / (2 pi)`` (the streamfunction of the lowest modes).
    """
    _check(n_frames, t_end, nu, "nu")
    num_points = w0.shape[-1]
    frame_dt = t_end / (n_frames - 1)
    speed = max(float(jnp.max(jnp.abs(w0))) / (2 * math.pi), 1e-3)
    substeps = max(1, math.ceil(frame_dt * speed * num_points / cfl))
    stepper = ex.stepper.NavierStokesVorticity(2, 1.0, num_points, frame_dt / substeps, diffusivity=nu)
    return _rollout(stepper, substeps, n_frames, w0)


@dataclasses.dataclass(frozen=True)
class PDEFamily(abc.ABC):
    """A parameter family of one PDE: its equation, parameter grid, random initial conditions and solver call.

    `parameters` maps each PDE parameter to its values (the family is their full grid); trajectories run to `t_end`
    with `n_frames` frames. Subclasses set `equation`, `initial_conditions_note` and `solver_note` and implement
    `initial_conditions` and `solve`; add one to `FAMILIES` to make it a family of `family_dataset`.
    """

    parameters: dict[str, tuple[float, ...]]
    t_end: float
    n_frames: int
    equation: ClassVar[str]
    initial_conditions_note: ClassVar[str] = "PDEBench-like random sine pairs"
    solver_note: ClassVar[str] = "exponax 0.2 pseudo-spectral (ETDRK2 / exact linear)"
    per_trajectory: ClassVar[bool] = False
    """`solve` treats each row alone (no step size set by the whole batch), so a subset of the initial states gives
    the same trajectories."""

    @abc.abstractmethod
    def initial_conditions(self, key: jax.Array, n: int, num_points: int) -> Float[Array, " n *space"]:
        """`n` random initial states on a grid of `num_points` per axis."""

    @abc.abstractmethod
    def solve(self, values: dict[str, float], u0: Float[Array, " n *space"]) -> np.ndarray:
        """Trajectories (n, n_frames, *space) from each row of `u0` at the parameter `values` (name -> value)."""


@dataclasses.dataclass(frozen=True)
class _SineFamily(PDEFamily):
    """A 1D family whose initial states are `pdebench_initial_conditions` of `initial_distribution`."""

    initial_distribution: str = dataclasses.field(default="two-sines", kw_only=True)
    """"two-sines" (the default) or "pdebench" (the distribution of PDEBench's generator); see
    `pdebench_initial_conditions`."""
    positive: ClassVar[bool] = False

    def __post_init__(self):
        if self.initial_distribution not in INITIAL_DISTRIBUTIONS:
            raise ConfigError(f"{type(self).__name__}: initial_distribution must be one of {INITIAL_DISTRIBUTIONS}, "
                              f"got {self.initial_distribution!r}")

    @property
    def initial_conditions_note(self) -> str:
        return f"PDEBench-like random sines ({self.initial_distribution} distribution)"

    def initial_conditions(self, key: jax.Array, n: int, num_points: int) -> Float[Array, "n x"]:
        return pdebench_initial_conditions(key, n, num_points, positive=self.positive,
                                           distribution=self.initial_distribution)


@dataclasses.dataclass(frozen=True)
class AdvectionFamily(_SineFamily):
    """1D advection over the speed beta (exact Fourier-space propagation)."""

    parameters: dict[str, tuple[float, ...]] = dataclasses.field(
        default_factory=lambda: {"beta": (0.1, 0.2, 0.4, 0.7, 1.0, 2.0, 4.0, 7.0)})
    t_end: float = 2.0
    n_frames: int = 41
    equation: ClassVar[str] = "u_t + beta u_x = 0, x in [0, 1) periodic"
    per_trajectory: ClassVar[bool] = True

    def solve(self, values: dict[str, float], u0: Float[Array, "n x"]) -> np.ndarray:
        return advection_trajectories(values["beta"], u0, t_end=self.t_end, n_frames=self.n_frames)


@dataclasses.dataclass(frozen=True)
class BurgersFamily(_SineFamily):
    """PDEBench's 1D Burgers over the viscosity nu (ETDRK2, sub-stepped)."""

    parameters: dict[str, tuple[float, ...]] = dataclasses.field(
        default_factory=lambda: {"nu": (0.001, 0.002, 0.004, 0.01, 0.02, 0.04, 0.1, 0.2, 0.4, 1.0, 2.0, 4.0)})
    t_end: float = 2.0
    n_frames: int = 41
    equation: ClassVar[str] = "u_t + (u^2/2)_x = (nu/pi) u_xx, x in [0, 1) periodic"

    def solve(self, values: dict[str, float], u0: Float[Array, "n x"]) -> np.ndarray:
        return burgers_trajectories(values["nu"], u0, t_end=self.t_end, n_frames=self.n_frames)


@dataclasses.dataclass(frozen=True)
class DiffusionReactionFamily(_SineFamily):
    """1D Fisher-KPP over (nu, rho), from initial states rescaled to [0, 1] (ETDRK2, sub-stepped)."""

    parameters: dict[str, tuple[float, ...]] = dataclasses.field(
        default_factory=lambda: {"nu": (0.5, 1.0, 2.0, 5.0), "rho": (1.0, 2.0, 5.0, 10.0)})
    t_end: float = 1.0
    n_frames: int = 21
    equation: ClassVar[str] = "u_t = nu u_xx + rho u (1 - u), x in [0, 1) periodic"
    positive: ClassVar[bool] = True
    per_trajectory: ClassVar[bool] = True

    def solve(self, values: dict[str, float], u0: Float[Array, "n x"]) -> np.ndarray:
        return fisher_kpp_trajectories(values["nu"], values["rho"], u0, t_end=self.t_end, n_frames=self.n_frames)


@dataclasses.dataclass(frozen=True)
class NavierStokes2DFamily(PDEFamily):
    """Decaying 2D incompressible Navier-Stokes (vorticity) over the viscosity nu (ETDRK2)."""

    parameters: dict[str, tuple[float, ...]] = dataclasses.field(
        default_factory=lambda: {"nu": (2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)})
    t_end: float = 1.0
    n_frames: int = 21
    equation: ClassVar[str] = (
        "w_t + v . grad w = nu lap w, v = (psi_y, -psi_x), lap psi = -w, (x, y) in [0, 1)^2 periodic")
    initial_conditions_note: ClassVar[str] = "random truncated Fourier vorticity"

    def initial_conditions(self, key: jax.Array, n: int, num_points: int) -> Float[Array, "n x y"]:
        return vorticity_initial_conditions(key, n, num_points)

    def solve(self, values: dict[str, float], u0: Float[Array, "n x y"]) -> np.ndarray:
        return navier_stokes_vorticity_trajectories(values["nu"], u0, t_end=self.t_end, n_frames=self.n_frames)


# The registry of `family_dataset`'s named families; add your own `PDEFamily` under a new name.
FAMILIES: dict[str, PDEFamily] = {"advection": AdvectionFamily(), "burgers": BurgersFamily(),
                                  "diffreact": DiffusionReactionFamily(), "ns2d": NavierStokes2DFamily()}


def family_dataset(
    family: str | PDEFamily, *, n_per_value: int, num_points: int, seed: int = 0, solver_points: int | None = None,
    rows: np.ndarray | None = None,
) -> xr.Dataset:
    """Trajectories of one PDE family (a name in `FAMILIES` or a `PDEFamily`) for every parameter value (a grid over
    several parameters).

    Returns an `xarray.Dataset` with variable ``u`` (sample, t, x(, y)) and each PDE parameter as a coordinate along
    ``sample``. `solver_points` (a multiple of `num_points`) solves on a finer grid and keeps every k-th point, as
    PDEBench's loaders down-sample its 1024-point files. Parameter combination i draws its initial states from
    ``fold_in(key(seed), i)``. `rows` (sorted indices along ``sample`` of the whole dataset) keeps only those
    trajectories, the same as the whole dataset's rows: a `per_trajectory` family solves just them, another (whose
    step size depends on the batch) every trajectory of a parameter value that has a row kept.
    """
    if isinstance(family, str):
        if family not in FAMILIES:
            raise ConfigError(f"unknown PDE family {family!r}; expected one of {sorted(FAMILIES)}")
        name, family = family, FAMILIES[family]
    else:
        name = next((k for k, v in FAMILIES.items() if v == family), type(family).__name__)
    solver_points = solver_points or num_points
    if solver_points % num_points:
        raise ConfigError(f"solver_points={solver_points} must be a multiple of num_points={num_points}")
    stride = solver_points // num_points
    names = list(family.parameters)
    grid = list(itertools.product(*family.parameters.values()))
    if rows is not None:
        rows = np.asarray(rows)
        if rows.ndim != 1 or np.any(np.diff(rows) <= 0) or rows.min() < 0 or rows.max() >= len(grid) * n_per_value:
            raise ConfigError(f"rows must be sorted distinct indices in [0, {len(grid) * n_per_value}) (the samples "
                              f"of {len(grid)} parameter values x {n_per_value}), got {rows}")
    frames, values = [], []
    for index, combo in enumerate(grid):
        key = jax.random.fold_in(jax.random.key(seed), index)
        u0 = family.initial_conditions(key, n_per_value, solver_points)
        picked = np.arange(n_per_value)
        if rows is not None:
            picked = rows[(rows >= index * n_per_value) & (rows < (index + 1) * n_per_value)] - index * n_per_value
            if not len(picked):
                continue
            if family.per_trajectory:
                u0 = u0[picked]
        u = family.solve(dict(zip(names, combo, strict=True)), u0)
        if rows is not None and not family.per_trajectory:
            u = u[picked]
        frames.append(u[(slice(None), slice(None)) + (slice(None, None, stride),) * (u.ndim - 2)])
        values.append(np.tile(np.asarray(combo, dtype=np.float64), (len(picked), 1)))
    u = np.concatenate(frames)
    parameter_values = np.concatenate(values)
    space = ("x", "y")[: u.ndim - 2]
    coords = {axis: np.arange(num_points) / num_points for axis in space}
    coords["t"] = np.linspace(0.0, family.t_end, family.n_frames)
    coords.update({p: ("sample", parameter_values[:, i]) for i, p in enumerate(names)})
    return xr.Dataset(
        {"u": (("sample", "t", *space), u)},
        coords=coords,
        attrs={
            "family": name, "equation": family.equation, "parameters": names,
            "solver": f"{family.solver_note}, {solver_points} points, kept every {stride}",
            "initial_conditions": family.initial_conditions_note,
            "seed": seed,
        },
    )
