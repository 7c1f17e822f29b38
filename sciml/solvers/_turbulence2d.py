"""Forced two-dimensional turbulence on a doubly periodic (beta-)plane, with eddy-viscosity LES closures.

The vorticity-streamfunction Navier-Stokes equations of the SMARL test bed (Mojgani et al. 2023, arXiv 2312.00907),
on [0, 2 pi)^2 with omega = lap psi, u = -psi_y, v = psi_x:

    omega_t + J(psi, omega) + beta psi_x = nu lap omega - mu omega + F + Pi,
    J(psi, omega) = psi_x omega_y - psi_y omega_x = u . grad omega,
    F = k_f cos(k_f x) + k_f cos(k_f y),
    Pi = div(nu_e grad omega)                      (the closure; nu_e >= 0 from an `AbstractClosure`).

The paper's settings are the defaults: Re = 1/nu = 20,000, drag mu = 0.1, dt = 5e-4, cases (k_f, beta) = (4, 0),
(4, 20), (25, 0); LES at 32^2 or 64^2. (The paper's beta term is "+ beta v"; v = psi_x, so it is the one above.)

Numerics: Fourier pseudo-spectral on the rfft2 grid (arrays (y, x), x along the last axis), dealiased by Orszag's 2/3
rule (the default: modes with |k_x| or |k_y| > (n - 1) // 3 are zero) or by 3/2 padding (``dealiasing="three-halves"``:
modes up to n / 2 - 1 are kept and the Jacobian's products are formed on a 3n/2 grid); either way the quadratic Jacobian
is alias-free and the Galerkin-truncated system conserves energy and enstrophy exactly. The padding keeps half again as
many wavenumbers per side for about 1.5 times the cost per step: a 64^2 LES resolves the paper's case 4 forcing (k_f =
25) only with it. The closure's eddy viscosity is not a polynomial of the flow, so no padding removes its aliasing; its
term is formed on the n grid and truncated to the kept modes. Time stepping is the paper's: the linear terms (viscosity,
drag and the beta term, a pure rotation i beta k_x / |k|^2 of each mode) by Crank-Nicolson, the Jacobian and the closure
by second-order Adams-Bashforth (the first step is forward Euler), the constant forcing exactly. A single Fourier mode
has J = 0, so Taylor-Green decay, the laminar Kolmogorov flow and Rossby waves are exact solutions of the scheme's
linear part (tests check them).

Why not exponax: its `NavierStokesVorticity` / `KolmogorovFlowVorticity` steppers have drag and a one-directional
sin(k y) body force but no beta term and no hook for a state-dependent eddy viscosity; expressing both means a
custom `BaseStepper` and nonlinear function anyway, and its ETDRK schemes evaluate the nonlinearity (closure
included) 2-4 times per step where the paper's AB2-CN needs one. The stepper below is a few dozen lines, keeps every
term separately (budgets), is plain JAX (jit, vmap over ensembles, sharding over devices; no host callbacks) and runs
in the dtype JAX gives floats (float64 inside ``with jax.enable_x64(True):``).

Closures (strategy objects; Delta = 2 pi / n, the grid spacing):

- `NoClosure`: Pi = 0.
- `Smagorinsky`: nu_e = (C_s Delta)^2 |S|, |S| = sqrt(2 S_ij S_ij) = sqrt(4 psi_xy^2 + (psi_xx - psi_yy)^2).
- `Leith`: nu_e = (C_l Delta)^3 |grad omega|.
- `DynamicSmagorinsky`: nu_e = c Delta^2 |S| with c = C_s^2 from the Germano identity on a sharp spectral test
  filter of width 2 Delta, least squares over the domain, clipped at 0.

The static coefficients default to C_s = C_l = 0.17, the values in the authors' code (RLonKorali
`_model/turb.py`, `smag_cs` and `leith_cs`). That code also replaces |S| (by its domain RMS) and |grad omega| (by
its domain mean) with one number per step and applies the Smagorinsky stress as curl div(-2 nu_e S); both forms
equal div(nu_e grad omega) when nu_e is uniform. ``domain_mean=True`` gives their uniform nu_e; the default is the
textbook pointwise one. A coefficient may be an (n, n) field (an RL action interpolated to the grid).
"""

from __future__ import annotations

import abc
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Complex, Float, Int, PRNGKeyArray

from sciml._errors import ConfigError, DataError

_TWO_PI = 2 * np.pi


DEALIASING = ("two-thirds", "three-halves")
"""Dealiasing rules of `PeriodicGrid2D` (module docstring)."""


class PeriodicGrid2D(eqx.Module):
    """The n x n grid on [0, 2 pi)^2 and its rfft2 wavenumbers (shape (n, n // 2 + 1): k_y along axis 0, k_x along
    axis 1), the dealiasing mask and the spectral operations every term uses.

    Args:
        n: points per side (even, >= 8).
        dealiasing: "two-thirds" (keep |k| <= (n - 1) // 3) or "three-halves" (keep |k| <= n / 2 - 1 and form
            quadratic products on a 3n/2 grid).
    """

    n: int = eqx.field(static=True)
    dealiasing: str = eqx.field(static=True, default="two-thirds")

    def __check_init__(self):
        if self.n < 8 or self.n % 2:
            raise ConfigError(f"PeriodicGrid2D: n must be an even number >= 8, got {self.n}")
        if self.dealiasing not in DEALIASING:
            raise ConfigError(f"PeriodicGrid2D: dealiasing must be one of {DEALIASING}, got {self.dealiasing!r}")

    @property
    def spacing(self) -> float:
        """Delta = 2 pi / n."""
        return _TWO_PI / self.n

    @property
    def coordinates(self) -> np.ndarray:
        """Grid coordinates (n,), the same along x and y: 0, Delta, ..., 2 pi - Delta."""
        return self.spacing * np.arange(self.n)

    @property
    def cutoff(self) -> int:
        """Largest |k_x|, |k_y| kept: (n - 1) // 3 under the 2/3 rule, n / 2 - 1 with 3/2 padding."""
        return (self.n - 1) // 3 if self.dealiasing == "two-thirds" else self.n // 2 - 1

    @property
    def product_size(self) -> int:
        """Points per side of the grid that quadratic products are formed on: n, or 3n/2 with padding."""
        return self.n if self.dealiasing == "two-thirds" else 3 * self.n // 2

    def wavenumbers(self) -> tuple[Float[Array, "n m"], Float[Array, "n m"]]:
        """k_x and k_y on the rfft2 grid (integers, as floats)."""
        shape = (self.n, self.n // 2 + 1)
        kx = np.broadcast_to(np.fft.rfftfreq(self.n, 1.0 / self.n)[None, :], shape)
        ky = np.broadcast_to(np.fft.fftfreq(self.n, 1.0 / self.n)[:, None], shape)
        return jnp.asarray(kx, float), jnp.asarray(ky, float)

    def wavenumber_squared(self) -> Float[Array, "n m"]:
        """|k|^2 = k_x^2 + k_y^2."""
        kx, ky = self.wavenumbers()
        return kx**2 + ky**2

    def lowpass(self, cutoff: int) -> Float[Array, "n m"]:
        """1 where |k_x| <= cutoff and |k_y| <= cutoff, else 0."""
        kx, ky = self.wavenumbers()
        return ((jnp.abs(kx) <= cutoff) & (jnp.abs(ky) <= cutoff)).astype(kx.dtype)

    def dealias(self) -> Float[Array, "n m"]:
        """The mask of the kept modes (|k_x|, |k_y| <= `cutoff`)."""
        return self.lowpass(self.cutoff)

    def to_product_grid(self, field_hat: Complex[Array, "*batch n m"]) -> Float[Array, "*batch p p"]:
        """A dealiased spectral field on the product grid (p = `product_size`): on the n grid, or zero-padded to
        3n/2 per side."""
        n, p, half = self.n, self.product_size, self.n // 2
        if p == n:
            return self.to_grid(field_hat)
        padded = jnp.zeros(field_hat.shape[:-2] + (p, p // 2 + 1), field_hat.dtype)
        padded = padded.at[..., :half, :half + 1].set(field_hat[..., :half, :])
        padded = padded.at[..., p - half:, :half + 1].set(field_hat[..., half:, :])
        return jnp.fft.irfft2(padded, s=(p, p)) * (p / n) ** 2

    def from_product_grid(self, field: Float[Array, "*batch p p"]) -> Complex[Array, "*batch n m"]:
        """The kept modes, on the n grid's rfft2, of a field on the product grid (a product of `to_product_grid`
        fields: alias-free up to quadratic order)."""
        n, p, half = self.n, self.product_size, self.n // 2
        if p == n:
            return self.dealias() * self.to_spectral(field)
        full = jnp.fft.rfft2(field)
        field_hat = jnp.concatenate([full[..., :half, :half + 1], full[..., p - half:, :half + 1]], axis=-2)
        return self.dealias() * field_hat * (n / p) ** 2

    def to_spectral(self, field: Float[Array, "*batch n n"]) -> Complex[Array, "*batch n m"]:
        return jnp.fft.rfft2(field)

    def to_grid(self, field_hat: Complex[Array, "*batch n m"]) -> Float[Array, "*batch n n"]:
        return jnp.fft.irfft2(field_hat, s=(self.n, self.n))

    def streamfunction(self, omega_hat: Complex[Array, "n m"]) -> Complex[Array, "n m"]:
        """psi_hat = -omega_hat / |k|^2 (the mean mode 0)."""
        k2 = self.wavenumber_squared()
        return jnp.where(k2 == 0, 0.0, -omega_hat / jnp.where(k2 == 0, 1.0, k2))

    def gradient(self, field_hat: Complex[Array, "n m"]) -> tuple[Float[Array, "n n"], Float[Array, "n n"]]:
        """(f_x, f_y) on the grid."""
        kx, ky = self.wavenumbers()
        return self.to_grid(1j * kx * field_hat), self.to_grid(1j * ky * field_hat)

    def divergence(self, flux_x: Float[Array, "n n"], flux_y: Float[Array, "n n"]) -> Complex[Array, "n m"]:
        """Spectral d_x flux_x + d_y flux_y."""
        kx, ky = self.wavenumbers()
        return 1j * kx * self.to_spectral(flux_x) + 1j * ky * self.to_spectral(flux_y)

    def mean_product(self, a_hat: Complex[Array, "n m"], b_hat: Complex[Array, "n m"]) -> Float[Array, ""]:
        """<a b>, the domain mean of the product of two real fields, from their rfft2 (Parseval)."""
        kx, _ = self.wavenumbers()
        weight = jnp.where((kx == 0) | (kx == self.n // 2), 1.0, 2.0)
        return jnp.sum(weight * jnp.real(jnp.conj(a_hat) * b_hat)) / self.n**4


def strain_rate_magnitude(psi_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, "n n"]:
    """|S| = sqrt(2 S_ij S_ij) = sqrt(4 psi_xy^2 + (psi_xx - psi_yy)^2) on the grid, from the spectral psi."""
    kx, ky = grid.wavenumbers()
    psi_xy = grid.to_grid(-kx * ky * psi_hat)
    stretch = grid.to_grid((ky**2 - kx**2) * psi_hat)  # psi_xx - psi_yy
    return jnp.sqrt(4 * psi_xy**2 + stretch**2)


def _vorticity_gradient_magnitude(omega_hat, grid):
    omega_x, omega_y = grid.gradient(omega_hat)
    return jnp.sqrt(omega_x**2 + omega_y**2)


def _is_negative_number(value) -> bool:
    return isinstance(value, (int, float, np.floating)) and value < 0


class AbstractClosure(eqx.Module):
    """An eddy-viscosity closure: Pi = div(nu_e grad omega) with nu_e >= 0 from the resolved vorticity."""

    @abc.abstractmethod
    def eddy_viscosity(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, "n n"]:
        """nu_e on the grid, from the spectral vorticity of the resolved flow."""

    def vorticity_tendency(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Complex[Array, "n m"]:
        """Pi = div(nu_e grad omega), spectral, truncated to the grid's kept modes."""
        nu_e = self.eddy_viscosity(omega_hat, grid)
        omega_x, omega_y = grid.gradient(omega_hat)
        return grid.dealias() * grid.divergence(nu_e * omega_x, nu_e * omega_y)


class NoClosure(AbstractClosure):
    """No subgrid model (DNS, or an under-resolved LES): nu_e = 0."""

    def eddy_viscosity(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, "n n"]:
        return jnp.zeros((grid.n, grid.n), jnp.real(omega_hat).dtype)

    def vorticity_tendency(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Complex[Array, "n m"]:
        return jnp.zeros_like(omega_hat)


class Smagorinsky(AbstractClosure):
    """nu_e = (C_s Delta)^2 |S| (Smagorinsky 1963).

    Args:
        coefficient: C_s, a number or an (n, n) field (default 0.17, the authors' code).
        domain_mean: use the domain RMS of |S| (one nu_e per step, as the authors' code) instead of |S| per point.
    """

    coefficient: float | Float[Array, "..."] = 0.17
    domain_mean: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if _is_negative_number(self.coefficient):
            raise ConfigError(f"Smagorinsky: coefficient C_s must be >= 0, got {self.coefficient}")

    def eddy_viscosity(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, "n n"]:
        strain = strain_rate_magnitude(grid.streamfunction(omega_hat), grid)
        if self.domain_mean:
            strain = jnp.sqrt(jnp.mean(strain**2))
        return jnp.broadcast_to((self.coefficient * grid.spacing) ** 2 * strain, (grid.n, grid.n))


class Leith(AbstractClosure):
    """nu_e = (C_l Delta)^3 |grad omega| (Leith 1996).

    Args:
        coefficient: C_l, a number or an (n, n) field (default 0.17, the authors' code).
        domain_mean: use the domain mean of |grad omega| (as the authors' code) instead of its value per point.
    """

    coefficient: float | Float[Array, "..."] = 0.17
    domain_mean: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if _is_negative_number(self.coefficient):
            raise ConfigError(f"Leith: coefficient C_l must be >= 0, got {self.coefficient}")

    def eddy_viscosity(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, "n n"]:
        magnitude = _vorticity_gradient_magnitude(omega_hat, grid)
        if self.domain_mean:
            magnitude = jnp.mean(magnitude)
        return jnp.broadcast_to((self.coefficient * grid.spacing) ** 3 * magnitude, (grid.n, grid.n))


class DynamicSmagorinsky(AbstractClosure):
    """Smagorinsky with c = C_s^2 computed each step from the resolved flow (Germano et al. 1991; least squares of
    Lilly 1992, over the whole domain; clipped at 0).

    The SGS vorticity flux tau = bar(u omega) - bar(u) bar(omega) is modelled as -c Delta^2 |S| grad omega at both
    the grid filter (Delta) and a sharp spectral test filter hat (cut at `cutoff / test_filter_ratio`, width
    test_filter_ratio Delta). The Germano identity L = hat(u omega) - hat(u) hat(omega) = -c M with
    M = (ratio Delta)^2 |hat S| grad hat(omega) - hat(Delta^2 |S| grad omega) gives c = -<L . M> / <M . M>.

    Args:
        test_filter_ratio: width of the test filter over the grid filter's (2 in most of the literature).
    """

    test_filter_ratio: int = eqx.field(static=True, default=2)

    def __check_init__(self):
        if self.test_filter_ratio < 2:
            raise ConfigError(f"DynamicSmagorinsky: test_filter_ratio must be an integer >= 2, got "
                              f"{self.test_filter_ratio}")

    def coefficient(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, ""]:
        """c = C_s^2 >= 0 of the current flow."""
        test = grid.lowpass(grid.cutoff // self.test_filter_ratio)

        def filtered(field):
            return grid.to_grid(test * grid.to_spectral(field))

        kx, ky = grid.wavenumbers()
        psi_hat = grid.streamfunction(omega_hat)
        u, v, omega = grid.to_grid(-1j * ky * psi_hat), grid.to_grid(1j * kx * psi_hat), grid.to_grid(omega_hat)
        omega_x, omega_y = grid.gradient(omega_hat)
        delta2 = grid.spacing**2
        model_grid = delta2 * strain_rate_magnitude(psi_hat, grid)
        model_test = (self.test_filter_ratio**2 * delta2) * strain_rate_magnitude(test * psi_hat, grid)
        test_x, test_y = grid.gradient(test * omega_hat)
        leonard_x = filtered(u * omega) - filtered(u) * filtered(omega)
        leonard_y = filtered(v * omega) - filtered(v) * filtered(omega)
        m_x = model_test * test_x - filtered(model_grid * omega_x)
        m_y = model_test * test_y - filtered(model_grid * omega_y)
        lm = jnp.mean(leonard_x * m_x + leonard_y * m_y)
        mm = jnp.mean(m_x**2 + m_y**2)
        return jnp.maximum(jnp.where(mm > 0, -lm / jnp.where(mm > 0, mm, 1.0), 0.0), 0.0)

    def eddy_viscosity(self, omega_hat: Complex[Array, "n m"], grid: PeriodicGrid2D) -> Float[Array, "n n"]:
        strain = strain_rate_magnitude(grid.streamfunction(omega_hat), grid)
        return self.coefficient(omega_hat, grid) * grid.spacing**2 * strain


class TurbulenceState(eqx.Module):
    """What the AB2-CN stepper carries: the spectral vorticity, the explicit tendency of the previous step and the
    time. Batched states (leading axes on every leaf) come from `jax.vmap(model.initial_state)`."""

    omega_hat: Complex[Array, "*batch n m"]
    previous_tendency: Complex[Array, "*batch n m"]
    time: Float[Array, "*batch"]


class Budget(eqx.Module):
    """Terms of d/dt of a quadratic invariant (energy or enstrophy), per unit area; they sum to its rate of change.
    `advection` and `beta` are zero to round-off (the truncated system conserves both invariants)."""

    injection: Float[Array, "*batch"]
    viscous: Float[Array, "*batch"]
    drag: Float[Array, "*batch"]
    closure: Float[Array, "*batch"]
    advection: Float[Array, "*batch"]
    beta: Float[Array, "*batch"]

    @property
    def total(self) -> Float[Array, "*batch"]:
        return self.injection + self.viscous + self.drag + self.closure + self.advection + self.beta


class ForcedTurbulence2D(eqx.Module):
    """Forced 2D turbulence on a beta-plane (module docstring); the defaults are the paper's case 1 DNS physics on a
    64^2 grid.

    Args:
        n: grid points per side (even, >= 8).
        viscosity: nu = 1 / Re.
        drag: linear drag mu.
        beta: beta (0: f-plane).
        forcing_wavenumber: k_f of F = k_f cos(k_f x) + k_f cos(k_f y); None for no forcing.
        dt: time step.
        closure: the eddy-viscosity closure (`NoClosure` for a DNS).
        dealiasing: the grid's rule, "two-thirds" or "three-halves" (`PeriodicGrid2D`).
    """

    n: int = eqx.field(static=True, default=64)
    viscosity: float | Float[Array, ""] = 5e-5
    drag: float | Float[Array, ""] = 0.1
    beta: float | Float[Array, ""] = 0.0
    forcing_wavenumber: int | None = eqx.field(static=True, default=4)
    dt: float = eqx.field(static=True, default=5e-4)
    closure: AbstractClosure = NoClosure()
    dealiasing: str = eqx.field(static=True, default="two-thirds")

    def __check_init__(self):
        grid = self.grid
        if not self.dt > 0:
            raise ConfigError(f"ForcedTurbulence2D: dt must be > 0, got {self.dt}")
        for name in ("viscosity", "drag"):
            if _is_negative_number(getattr(self, name)):
                raise ConfigError(f"ForcedTurbulence2D: {name} must be >= 0, got {getattr(self, name)}")
        if self.forcing_wavenumber is not None and not 1 <= self.forcing_wavenumber <= grid.cutoff:
            fix = "a larger n" + (" or dealiasing='three-halves'" if self.dealiasing == "two-thirds" else "")
            raise ConfigError(f"ForcedTurbulence2D: forcing_wavenumber must lie in 1..{grid.cutoff} (resolved with "
                              f"{self.dealiasing} dealiasing on {self.n}^2), got {self.forcing_wavenumber}; use {fix}")

    @property
    def grid(self) -> PeriodicGrid2D:
        return PeriodicGrid2D(self.n, self.dealiasing)

    def forcing(self) -> Float[Array, "n n"]:
        """F on the grid (zero without forcing)."""
        x = jnp.asarray(self.grid.coordinates, float)
        if self.forcing_wavenumber is None:
            return jnp.zeros((self.n, self.n), x.dtype)
        k = self.forcing_wavenumber
        return k * jnp.cos(k * x)[None, :] + k * jnp.cos(k * x)[:, None]

    def linear_operator(self) -> Complex[Array, "n m"]:
        """L(k) of omega_hat_t = L omega_hat + ...: -nu |k|^2 - mu + i beta k_x / |k|^2 (the beta term)."""
        kx, _ = self.grid.wavenumbers()
        k2 = self.grid.wavenumber_squared()
        rotation = jnp.where(k2 == 0, 0.0, kx / jnp.where(k2 == 0, 1.0, k2))
        return -self.viscosity * k2 - self.drag + 1j * self.beta * rotation

    def advection(self, omega_hat: Complex[Array, "n m"]) -> Complex[Array, "n m"]:
        """-J(psi, omega) = -(u omega_x + v omega_y), spectral, alias-free (products on the product grid)."""
        grid = self.grid
        kx, ky = grid.wavenumbers()
        psi_hat = grid.streamfunction(omega_hat)
        u, v = grid.to_product_grid(-1j * ky * psi_hat), grid.to_product_grid(1j * kx * psi_hat)
        omega_x, omega_y = grid.to_product_grid(1j * kx * omega_hat), grid.to_product_grid(1j * ky * omega_hat)
        return -grid.from_product_grid(u * omega_x + v * omega_y)

    def explicit_tendency(self, omega_hat: Complex[Array, "n m"]) -> Complex[Array, "n m"]:
        """What AB2 steps: -J(psi, omega) + Pi."""
        return self.advection(omega_hat) + self.closure.vorticity_tendency(omega_hat, self.grid)

    def tendency_terms(self, omega_hat: Complex[Array, "n m"]) -> dict[str, Complex[Array, "n m"]]:
        """omega_t split into its terms (spectral): advection -J, beta -beta psi_x, viscous nu lap omega, drag
        -mu omega, forcing F, closure Pi."""
        grid = self.grid
        kx, _ = grid.wavenumbers()
        return {
            "advection": self.advection(omega_hat),
            "beta": -self.beta * 1j * kx * grid.streamfunction(omega_hat),
            "viscous": -self.viscosity * grid.wavenumber_squared() * omega_hat,
            "drag": -self.drag * omega_hat,
            "forcing": grid.to_spectral(self.forcing()),
            "closure": self.closure.vorticity_tendency(omega_hat, grid),
        }

    def initial_state(self, omega: Float[Array, "n n"]) -> TurbulenceState:
        """The stepper's state at t = 0 from a vorticity field (its modes beyond the grid's cutoff are dropped)."""
        omega = _check_vorticity(self.n, omega)
        omega_hat = self.grid.dealias() * self.grid.to_spectral(jnp.asarray(omega, float))
        return TurbulenceState(omega_hat, self.explicit_tendency(omega_hat), jnp.zeros((), omega_hat.real.dtype))

    def step(self, state: TurbulenceState) -> TurbulenceState:
        """One AB2-CN step of dt."""
        half = 0.5 * self.dt * self.linear_operator()
        explicit = self.explicit_tendency(state.omega_hat)
        forcing_hat = self.grid.to_spectral(self.forcing())
        rhs = (1 + half) * state.omega_hat + self.dt * (1.5 * explicit - 0.5 * state.previous_tendency + forcing_hat)
        return TurbulenceState(rhs / (1 - half), explicit, state.time + self.dt)

    def advance(self, state: TurbulenceState, steps: int | Int[Array, ""]) -> TurbulenceState:
        """`steps` steps."""
        return jax.lax.fori_loop(0, steps, lambda _, s: self.step(s), state)

    def trajectory(self, state: TurbulenceState, count: int, every: int
                   ) -> tuple[TurbulenceState, Float[Array, "count n n"]]:
        """The state after count * every steps and the vorticity after every, 2 every, ..., count every steps."""
        def block(carry, _):
            carry = self.advance(carry, every)
            return carry, self.vorticity(carry)

        return jax.lax.scan(block, state, None, length=count)

    def vorticity(self, state: TurbulenceState) -> Float[Array, "n n"]:
        """omega on the grid."""
        return self.grid.to_grid(state.omega_hat)

    def streamfunction(self, omega: Float[Array, "n n"]) -> Float[Array, "n n"]:
        """psi on the grid from omega on the grid."""
        grid = self.grid
        return grid.to_grid(grid.streamfunction(grid.to_spectral(_check_vorticity(self.n, omega))))

    def _budget(self, omega, weight_of) -> Budget:
        grid = self.grid
        omega_hat = grid.to_spectral(_check_vorticity(self.n, omega))
        weight = weight_of(omega_hat)
        terms = self.tendency_terms(omega_hat)
        return Budget(**{name: grid.mean_product(weight, terms[name])
                         for name in ("advection", "beta", "drag", "closure")},
                      injection=grid.mean_product(weight, terms["forcing"]),
                      viscous=grid.mean_product(weight, terms["viscous"]))

    def energy_budget(self, omega: Float[Array, "n n"]) -> Budget:
        """dE/dt = -<psi omega_t> split by term, E = <|u|^2> / 2: injection -<psi F>, viscous -nu <omega^2>, drag
        -2 mu E, closure -<psi Pi>."""
        return self._budget(omega, lambda omega_hat: -self.grid.streamfunction(omega_hat))

    def enstrophy_budget(self, omega: Float[Array, "n n"]) -> Budget:
        """dZ/dt = <omega omega_t> split by term, Z = <omega^2> / 2: injection <omega F>, viscous
        -nu <|grad omega|^2>, drag -2 mu Z, closure <omega Pi>."""
        return self._budget(omega, lambda omega_hat: omega_hat)


def _check_vorticity(n: int, omega) -> Array:
    if jnp.shape(omega)[-2:] != (n, n):
        raise DataError(f"expected a vorticity field of shape (..., {n}, {n}) (y, x), got {jnp.shape(omega)}; build "
                        f"the model with n={jnp.shape(omega)[-1]} or regrid the field with `coarse_grain`")
    return omega


@eqx.filter_jit
def _simulate(model, omega0, count, every, skip):
    state = model.advance(model.initial_state(omega0), skip)
    return model.trajectory(state, count, every)[1]


def simulate_turbulence(model: ForcedTurbulence2D, omega0: Float[Array, "n n"], count: int, every: int, *,
                        skip: int = 0) -> Float[Array, "count n n"]:
    """Vorticity after skip + every, skip + 2 every, ..., skip + count every steps from `omega0` (compiled)."""
    if count < 1 or every < 1 or skip < 0:
        raise ConfigError(f"simulate_turbulence: expected count >= 1, every >= 1 and skip >= 0, got {count}, {every}, "
                          f"{skip}")
    return _simulate(model, _check_vorticity(model.n, jnp.asarray(omega0)), int(count), int(every), int(skip))


@eqx.filter_jit
def random_vorticity(key: PRNGKeyArray, n: int, *, peak_wavenumber: float = 4.0, rms: float = 1.0
                     ) -> Float[Array, "n n"]:
    """A random, isotropic, 2/3-dealiased vorticity field with the amplitude spectrum (k / k_0) exp(-(k / k_0)^2 / 2)
    (peaked at k_0 = `peak_wavenumber`) and root mean square `rms`."""
    grid = PeriodicGrid2D(n)
    noise_hat = grid.to_spectral(jax.random.normal(key, (n, n), float))
    k = jnp.sqrt(grid.wavenumber_squared()) / peak_wavenumber
    omega = grid.to_grid(grid.dealias() * k * jnp.exp(-0.5 * k**2) * noise_hat)
    return rms * omega / jnp.sqrt(jnp.mean(omega**2))


@eqx.filter_jit
def coarse_grain(omega: Float[Array, "*batch fine fine"], n: int) -> Float[Array, "*batch coarse coarse"]:
    """The vorticity seen on an n x n grid: a sharp spectral cut keeping |k_x|, |k_y| < n / 2 (the filtered DNS of
    an LES of that size), sampled on the coarse grid."""
    fine = jnp.shape(omega)[-1]
    if jnp.shape(omega)[-2] != fine or fine < n or n % 2:
        raise DataError(f"coarse_grain: expected square fields (..., N, N) with N >= n = {n} (n even), got "
                        f"{jnp.shape(omega)}")
    keep = np.r_[0:n // 2, fine - n // 2 + 1:fine]
    omega_hat = jnp.fft.fft2(omega)[..., keep[:, None], keep[None, :]]
    coarse_hat = jnp.zeros(omega_hat.shape[:-2] + (n, n), omega_hat.dtype)
    target = np.r_[0:n // 2, n // 2 + 1:n]
    coarse_hat = coarse_hat.at[..., target[:, None], target[None, :]].set(omega_hat)
    return jnp.real(jnp.fft.ifft2(coarse_hat)) * (n / fine) ** 2


def _shell_sum(power, n):
    """Sum of (..., n, n) over the unit-wide rings |k| in [j - 1/2, j + 1/2), j = 0 .. n / 2."""
    freq = np.fft.fftfreq(n, 1.0 / n)
    shell = np.rint(np.hypot(freq[:, None], freq[None, :])).astype(int).ravel()
    shells = n // 2 + 1
    flat = jnp.moveaxis(power.reshape(power.shape[:-2] + (n * n,)), -1, 0)
    sums = jax.ops.segment_sum(flat, jnp.asarray(np.minimum(shell, shells)), num_segments=shells + 1)
    return jnp.moveaxis(sums[:shells], 0, -1)


@eqx.filter_jit
def enstrophy_spectrum(omega: Float[Array, "*batch n n"]) -> tuple[Float[Array, " s"], Float[Array, "*batch s"]]:
    """Isotropic enstrophy spectrum: wavenumbers k = 0 .. n / 2 and Z(k) = sum over the ring |k'| ~ k of
    |omega_hat|^2 / 2 (normalised so that the rings sum to <omega^2> / 2)."""
    n = jnp.shape(omega)[-1]
    omega_hat = jnp.fft.fft2(omega) / n**2
    return jnp.arange(n // 2 + 1, dtype=float), _shell_sum(0.5 * jnp.abs(omega_hat) ** 2, n)


@eqx.filter_jit
def energy_spectrum(omega: Float[Array, "*batch n n"]) -> tuple[Float[Array, " s"], Float[Array, "*batch s"]]:
    """Isotropic kinetic-energy spectrum from the vorticity: wavenumbers k = 0 .. n / 2 and E(k) = sum over the ring
    of |omega_hat|^2 / (2 |k|^2) (the rings sum to <|u|^2> / 2)."""
    n = jnp.shape(omega)[-1]
    freq = np.fft.fftfreq(n, 1.0 / n)
    k2 = freq[:, None] ** 2 + freq[None, :] ** 2
    inverse_k2 = jnp.asarray(np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2)), float)
    omega_hat = jnp.fft.fft2(omega) / n**2
    inverse_k2 = inverse_k2.reshape((1,) * (omega_hat.ndim - 2) + (n, n))
    return jnp.arange(n // 2 + 1, dtype=float), _shell_sum(0.5 * jnp.abs(omega_hat) ** 2 * inverse_k2, n)


def _standardized(omega, scale):
    centred = omega - jnp.mean(omega)
    return centred / (jnp.std(omega) if scale is None else scale)


@eqx.filter_jit
def vorticity_pdf(omega: Float[Array, "*batch n n"], *, bins: int = 81, limit: float = 8.0,
                  scale: float | Float[Array, ""] | None = None) -> tuple[Float[Array, " bins"], Float[Array, " bins"]]:
    """PDF of (omega - mean) / sigma over every point of every field: bin centres on [-limit, limit] and densities
    (probability per unit of omega / sigma; mass beyond +-limit is left out, not renormalised). sigma is `scale` (e.g.
    the DNS's, to compare an LES with it) or the fields' own standard deviation."""
    values = _standardized(omega, scale).ravel()
    width = 2 * limit / bins
    index = jnp.floor((values + limit) / width).astype(int)
    inside = (index >= 0) & (index < bins)
    counts = jnp.bincount(jnp.where(inside, index, 0), weights=inside.astype(values.dtype), length=bins)
    return -limit + width * (jnp.arange(bins, dtype=values.dtype) + 0.5), counts / (values.size * width)


@eqx.filter_jit
def tail_probability(omega: Float[Array, "*batch n n"], threshold: float = 3.0, *,
                     scale: float | Float[Array, ""] | None = None) -> Float[Array, ""]:
    """P(|omega - mean| > threshold sigma) over every point of every field (sigma as in `vorticity_pdf`); a
    Gaussian field gives 2.7e-3 at threshold 3."""
    return jnp.mean(jnp.abs(_standardized(omega, scale)) > threshold)


def spectrum_error(spectrum: np.ndarray, reference: np.ndarray, cutoff: int) -> float:
    """Relative L1 error sum |Z(k) - Z_ref(k)| / sum Z_ref(k) over the resolved wavenumbers 1 <= k <= cutoff."""
    resolved = slice(1, cutoff + 1)
    spectrum, reference = np.asarray(spectrum, np.float64)[resolved], np.asarray(reference, np.float64)[resolved]
    return float(np.abs(spectrum - reference).sum() / reference.sum())


def tail_hellinger(pdf: np.ndarray, reference: np.ndarray, centres: np.ndarray, threshold: float = 3.0) -> float:
    """Hellinger distance between two binned densities restricted to the bins with |centre| > threshold, each
    renormalised there; NaN when either has no mass there."""
    tail = np.abs(np.asarray(centres)) > threshold
    p, q = np.asarray(pdf, np.float64)[tail], np.asarray(reference, np.float64)[tail]
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    return float(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)))


SMARL_CASES: dict[str, dict[str, float]] = {
    "case1": {"forcing_wavenumber": 4, "beta": 0.0},
    "case2": {"forcing_wavenumber": 4, "beta": 20.0},
    "case4": {"forcing_wavenumber": 25, "beta": 0.0},
}
"""The paper's flow cases (its numbering): forcing wavenumber k_f and beta; Re = 20,000 and mu = 0.1 in all."""


def _unit_attrs(long_name: str) -> dict[str, str]:
    return {"long_name": long_name, "units": "1"}


def dns_reference(model: ForcedTurbulence2D, omega0: Float[Array, "n n"], *, spin_up: int, count: int, every: int,
                  les_sizes: tuple[int, ...] = (32, 64), bins: int = 81, limit: float = 8.0) -> xr.Dataset:
    """Reference statistics of a DNS for LES: run `spin_up` steps from `omega0`, then keep `count` snapshots `every`
    steps apart; return their time-mean isotropic spectra and vorticity PDF, and for each LES size n the snapshots
    filtered to n^2 (`coarse_grain`) with their spectra and PDF. The wall time of the run is in the attributes.

    Variables: ``energy_spectrum`` / ``enstrophy_spectrum`` (k), ``vorticity_pdf`` (bin; of omega / sigma with the DNS's
    own sigma, ``vorticity_std``), ``vorticity_tail_probability`` (beyond 3 sigma), and per n
    ``omega_fdns{n}`` (time, y{n}, x{n}), ``enstrophy_spectrum_fdns{n}`` (k{n}), ``energy_spectrum_fdns{n}`` (k{n}),
    ``vorticity_pdf_fdns{n}`` (bin; with the filtered fields' own sigma, ``vorticity_std_fdns{n}``).
    """
    if any(n > model.n or n % 2 for n in les_sizes):
        raise ConfigError(f"dns_reference: LES sizes must be even and at most the DNS's n = {model.n}, got {les_sizes}")

    start = time.perf_counter()
    omega = jax.block_until_ready(simulate_turbulence(model, omega0, count, every, skip=spin_up))
    wall = time.perf_counter() - start
    if not bool(jnp.all(jnp.isfinite(omega))):
        raise DataError(f"dns_reference: the DNS ({model.n}^2, dt = {model.dt}) produced non-finite vorticity; use a "
                        "smaller dt or a larger n")
    k, energy = energy_spectrum(omega)
    _, enstrophy = enstrophy_spectrum(omega)
    centres, pdf = vorticity_pdf(omega, bins=bins, limit=limit)
    times = model.dt * (spin_up + every * np.arange(1, count + 1))
    variables = {
        "energy_spectrum": (("k",), np.asarray(energy.mean(0)), _unit_attrs("time-mean DNS kinetic energy spectrum")),
        "enstrophy_spectrum": (("k",), np.asarray(enstrophy.mean(0)), _unit_attrs("time-mean DNS enstrophy spectrum")),
        "vorticity_pdf": (("bin",), np.asarray(pdf), _unit_attrs("PDF of DNS vorticity over its standard deviation")),
        "vorticity_std": ((), float(jnp.std(omega)), _unit_attrs("standard deviation of DNS vorticity")),
        "vorticity_tail_probability": ((), float(tail_probability(omega)),
                                       _unit_attrs("probability of DNS |vorticity - mean| beyond 3 std")),
    }
    coords = {
        "time": ("time", times, _unit_attrs("time (nondimensional)")),
        "k": ("k", np.asarray(k), _unit_attrs("isotropic wavenumber of the DNS grid")),
        "bin": ("bin", np.asarray(centres), _unit_attrs("vorticity over its standard deviation (bin centre)")),
    }
    for n in les_sizes:
        filtered = coarse_grain(omega, n)
        k_les, energy_les = energy_spectrum(filtered)
        _, enstrophy_les = enstrophy_spectrum(filtered)
        _, pdf_les = vorticity_pdf(filtered, bins=bins, limit=limit)
        grid = PeriodicGrid2D(n).coordinates
        coords |= {f"k{n}": (f"k{n}", np.asarray(k_les), _unit_attrs(f"isotropic wavenumber of the {n}^2 grid")),
                   f"x{n}": (f"x{n}", grid, _unit_attrs(f"x coordinate of the {n}^2 grid")),
                   f"y{n}": (f"y{n}", grid, _unit_attrs(f"y coordinate of the {n}^2 grid"))}
        variables |= {
            f"omega_fdns{n}": (("time", f"y{n}", f"x{n}"), np.asarray(filtered),
                               _unit_attrs(f"DNS vorticity filtered to the {n}^2 LES grid")),
            f"energy_spectrum_fdns{n}": ((f"k{n}",), np.asarray(energy_les.mean(0)),
                                         _unit_attrs(f"time-mean kinetic energy spectrum of the {n}^2 filtered DNS")),
            f"enstrophy_spectrum_fdns{n}": ((f"k{n}",), np.asarray(enstrophy_les.mean(0)),
                                            _unit_attrs(f"time-mean enstrophy spectrum of the {n}^2 filtered DNS")),
            f"vorticity_pdf_fdns{n}": (("bin",), np.asarray(pdf_les),
                                       _unit_attrs(f"PDF of {n}^2 filtered DNS vorticity over its standard deviation")),
            f"vorticity_std_fdns{n}": ((), float(jnp.std(filtered)),
                                       _unit_attrs(f"standard deviation of {n}^2 filtered DNS vorticity")),
        }
    simulated = model.dt * (spin_up + count * every)
    return xr.Dataset(variables, coords=coords, attrs={
        "n_dns": model.n, "viscosity": float(model.viscosity), "drag": float(model.drag), "beta": float(model.beta),
        "forcing_wavenumber": -1 if model.forcing_wavenumber is None else model.forcing_wavenumber, "dt": model.dt,
        "simulated_time": simulated, "wall_seconds": wall, "wall_seconds_per_time_unit": wall / simulated,
        "wall_time_note": "one compiled run on this machine's CPU, compilation included",
    })


def turbulence_dataset(model: ForcedTurbulence2D, omega: Float[np.ndarray, "time n n"], times: np.ndarray
                       ) -> xr.Dataset:
    """Snapshots omega (time, y, x) with their streamfunction on named coordinates with CF attributes; the model's
    physics in the attributes."""
    omega = np.asarray(omega, np.float64)
    if omega.ndim != 3 or omega.shape[0] != len(times) or omega.shape[1:] != (model.n, model.n):
        raise DataError(f"turbulence_dataset: expected omega of shape (time, {model.n}, {model.n}) with one time each, "
                        f"got {omega.shape} and {len(times)} times")
    psi = np.asarray(jax.jit(jax.vmap(model.streamfunction))(jnp.asarray(omega)))
    dims = ("time", "y", "x")
    coordinate = model.grid.coordinates
    return xr.Dataset(
        {"omega": (dims, omega, {"long_name": "relative vorticity", "units": "1"}),
         "psi": (dims, psi, {"long_name": "streamfunction", "units": "1"})},
        coords={"time": ("time", np.asarray(times, np.float64), {"long_name": "time (nondimensional)", "units": "1"}),
                "y": ("y", coordinate, {"long_name": "y coordinate (nondimensional)", "units": "1"}),
                "x": ("x", coordinate, {"long_name": "x coordinate (nondimensional)", "units": "1"})},
        attrs={"model": "forced 2D turbulence, vorticity-streamfunction, pseudo-spectral AB2-CN (sciml)",
               "viscosity": float(model.viscosity), "drag": float(model.drag), "beta": float(model.beta),
               "forcing_wavenumber": -1 if model.forcing_wavenumber is None else model.forcing_wavenumber,
               "dt": model.dt, "closure": type(model.closure).__name__},
    )
