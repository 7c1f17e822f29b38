"""Two-layer quasi-geostrophic turbulence on a doubly periodic beta-plane: pyqg-jax's `QGModel` with three extras.

pyqg's model (Flierl 1978; pyqg documentation), layers k = 1 (upper), 2 (lower), background flow U_k:

    q_k,t + J(psi_k, q_k) + U_k q_k,x + Q_y,k psi_k,x = -delta_k2 r_ek lap psi_2 + R_k
    q_1 = lap psi_1 + F_1 (psi_2 - psi_1),   q_2 = lap psi_2 + F_2 (psi_1 - psi_2)
    Q_y,1 = beta + F_1 (U_1 - U_2),         Q_y,2 = beta - F_2 (U_1 - U_2)

pyqg forces the eddies only through the fixed mean shear U_1 - U_2 (an infinitely fast relaxation of the mean
interface slope) and has no term that relaxes the eddies' own interface. `TwoLayerQG` adds what the model-error
cases need and pyqg-jax cannot express:

- thermal relaxation of the eddy interface toward rest at rate 1/tau_d (Newtonian cooling):
  R_1 = +F_1 (psi_1 - psi_2) / tau_d,  R_2 = -F_2 (psi_1 - psi_2) / tau_d  (removes available potential energy);
- a factor s on the eddy self-advection J(psi_k, q_k) (s = 1 is pyqg);
- hyperviscosity nu lap^4, applied exactly per step as the factor exp(-nu kappa^8 dt) beside pyqg's spectral filter,
  so the resolved fields are smooth at the grid scale.

With the extras off, the tendency is pyqg-jax's own, bit for bit (`TwoLayerQG.tendency` starts from
`QGModel.get_full_state(...).dqhdt` and adds the extras). Everything runs in float64: call the solver inside
``with jax.enable_x64(True):``.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pyqg_jax
import xarray as xr
from jaxtyping import Array, Complex, Float

from sciml._errors import ConfigError, DataError

_DOUBLE = pyqg_jax.state.Precision.DOUBLE


def require_float64(what: str) -> None:
    """Raise `ConfigError` unless JAX runs with 64-bit floats (the QG solver and its increments need them)."""
    if not jax.config.jax_enable_x64:
        raise ConfigError(f"{what} runs in float64; call it inside `with jax.enable_x64(True):` (64-bit floats are "
                          "off now)")


_PHYSICS = ("drag", "beta", "u1", "u2", "relaxation", "jacobian_scale")


def _is_exactly(value, number: float) -> bool:
    """True for a concrete scalar equal to `number` (a traced or array parameter always counts as different)."""
    return isinstance(value, (int, float, np.floating)) and value == number


class TwoLayerQG(eqx.Module):
    """pyqg's two-layer QG model (pyqg's parameter names in brackets) plus relaxation, a Jacobian factor and
    hyperviscosity.

    Args:
        nx: grid points per side (square, doubly periodic).
        length: side of the domain [L], m.
        dt: time step, s.
        drag: linear bottom drag [rek], s^-1.
        beta: meridional gradient of the Coriolis parameter, m^-1 s^-1.
        deformation_radius: [rd], m.
        delta: layer depth ratio H_1 / H_2.
        upper_depth: H_1, m.
        u1, u2: background zonal flow of each layer [U1, U2], m s^-1.
        filterfac: strength of pyqg's spectral filter.
        hyperviscosity: nu of the -nu lap^4 q dissipation, m^6 s^-1 (0: pyqg).
        relaxation: 1/tau_d, rate of the eddy-interface relaxation, s^-1 (0: pyqg).
        jacobian_scale: s, the factor on J(psi_k, q_k) (1: pyqg).
    """

    nx: int = eqx.field(static=True, default=64)
    length: float = eqx.field(static=True, default=1e6)
    dt: float = eqx.field(static=True, default=7200.0)
    drag: float | Array = 5.787e-7
    beta: float | Array = 1.5e-11
    deformation_radius: float = eqx.field(static=True, default=15e3)
    delta: float = eqx.field(static=True, default=0.25)
    upper_depth: float = eqx.field(static=True, default=500.0)
    u1: float | Array = 0.025
    u2: float | Array = 0.0
    filterfac: float = eqx.field(static=True, default=23.6)
    hyperviscosity: float = eqx.field(static=True, default=0.0)
    relaxation: float | Array = 0.0
    jacobian_scale: float | Array = 1.0

    def __check_init__(self):
        if self.nx < 8 or self.nx % 2:
            raise ConfigError(f"TwoLayerQG: nx must be an even number >= 8, got {self.nx}")
        for name in ("length", "dt", "deformation_radius", "delta", "upper_depth"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"TwoLayerQG: {name} must be > 0, got {getattr(self, name)}")
        for name in ("drag", "hyperviscosity", "relaxation"):
            if np.any(np.asarray(getattr(self, name)) < 0):
                raise ConfigError(f"TwoLayerQG: {name} must be >= 0 (a damping), got {getattr(self, name)}")

    def traced(self) -> TwoLayerQG:
        """This model with its physical parameters (drag, beta, u1, u2, relaxation, jacobian_scale) as float64
        arrays, so that models differing only in them share one compiled program."""
        return self.replace(**{name: jnp.asarray(getattr(self, name), jnp.float64) for name in _PHYSICS})

    def replace(self, **changes) -> TwoLayerQG:
        """This model with some parameters changed (e.g. a model error: ``model.replace(beta=0.0)``)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"TwoLayerQG has no parameters {unknown}; expected some of "
                              f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def pyqg(self) -> pyqg_jax.qg_model.QGModel:
        """pyqg-jax's `QGModel` of the same grid and physics (without the extras), float64."""
        return pyqg_jax.qg_model.QGModel(
            nx=self.nx, L=self.length, rek=self.drag, filterfac=self.filterfac, beta=self.beta,
            rd=self.deformation_radius, delta=self.delta, H1=self.upper_depth, U1=self.u1, U2=self.u2,
            precision=_DOUBLE)

    @property
    def f1(self) -> float:
        """F_1 = 1 / (rd^2 (1 + delta)), m^-2."""
        return self.deformation_radius**-2 / (1 + self.delta)

    @property
    def f2(self) -> float:
        """F_2 = delta F_1, m^-2."""
        return self.delta * self.f1

    @property
    def layer_fractions(self) -> np.ndarray:
        """H_k / H of the two layers."""
        return np.array([self.delta, 1.0]) / (1 + self.delta)

    @property
    def grid(self) -> np.ndarray:
        """Cell-centre coordinates (nx,) in m, the same along x and y (pyqg's A-grid)."""
        return (np.arange(self.nx) + 0.5) / self.nx * self.length

    def wavenumbers(self) -> tuple[Float[Array, " nk"], Float[Array, " ny"]]:
        """Angular wavenumbers k (of rfft along x) and l (of fft along y), rad m^-1."""
        model = self.pyqg()
        return model.kk, model.ll

    def wavenumber_grids(self) -> tuple[Float[Array, "ny nk"], Float[Array, "ny nk"]]:
        """k and l on the spectral grid (ny, nk)."""
        k, ell = self.wavenumbers()
        shape = (self.nx, self.nx // 2 + 1)
        return jnp.broadcast_to(k[None, :], shape), jnp.broadcast_to(ell[:, None], shape)

    def kappa2(self) -> Float[Array, "ny nk"]:
        """k^2 + l^2."""
        k, ell = self.wavenumbers()
        return k[None, :] ** 2 + ell[:, None] ** 2

    def step_filter(self) -> Float[Array, "ny nk"]:
        """What each step multiplies the new state by: pyqg's filter times exp(-nu kappa^8 dt)."""
        return self.pyqg().filtr * jnp.exp(-self.hyperviscosity * self.kappa2() ** 4 * self.dt)

    # spectral transforms and inversion
    def to_spectral(self, field: Float[Array, "*batch ny nx"]) -> Complex[Array, "*batch ny nk"]:
        return jnp.fft.rfftn(field, axes=(-2, -1))

    def to_grid(self, field: Complex[Array, "*batch ny nk"]) -> Float[Array, "*batch ny nx"]:
        return jnp.fft.irfftn(field, axes=(-2, -1), s=(self.nx, self.nx))

    def invert(self, qh: Complex[Array, "2 ny nk"]) -> Complex[Array, "2 ny nk"]:
        """Streamfunction from potential vorticity (the mean mode is zero), spectral, by the closed-form 2x2 solve."""
        kappa2 = self.kappa2()
        determinant = kappa2 * (kappa2 + self.f1 + self.f2)
        safe = jnp.where(determinant == 0, 1.0, determinant)
        psi1 = -((kappa2 + self.f2) * qh[0] + self.f1 * qh[1]) / safe
        psi2 = -(self.f2 * qh[0] + (kappa2 + self.f1) * qh[1]) / safe
        return jnp.where(determinant == 0, 0.0, jnp.stack([psi1, psi2]))

    def potential_vorticity(self, ph: Complex[Array, "2 ny nk"]) -> Complex[Array, "2 ny nk"]:
        """q from psi, spectral: q_1 = -kappa^2 psi_1 + F_1 (psi_2 - psi_1), q_2 likewise."""
        kappa2 = self.kappa2()
        return jnp.stack([-kappa2 * ph[0] + self.f1 * (ph[1] - ph[0]), -kappa2 * ph[1] + self.f2 * (ph[0] - ph[1])])

    # the tendency
    def _state(self, qh):
        return self.pyqg().create_initial_state(jax.random.key(0)).update(qh=qh)

    def tendency(self, qh: Complex[Array, "2 ny nk"]) -> Complex[Array, "2 ny nk"]:
        """dq/dt, spectral: pyqg-jax's tendency plus the relaxation and (s - 1) times the eddy advection."""
        require_float64("TwoLayerQG.tendency")
        full = self.pyqg().get_full_state(self._state(qh))
        dqhdt = full.dqhdt
        if not _is_exactly(self.jacobian_scale, 1.0):
            dqhdt = dqhdt + (self.jacobian_scale - 1.0) * self._eddy_advection(full.u, full.v, full.q)
        if not _is_exactly(self.relaxation, 0.0):
            dqhdt = dqhdt + self.relaxation * self.relaxation_shape(full.ph)
        return dqhdt

    def _eddy_advection(self, u, v, q):
        """-J(psi, q) = -(d_x (u q) + d_y (v q)), spectral."""
        kx, ky = self.wavenumber_grids()
        return -(1j * kx[None] * self.to_spectral(u * q) + 1j * ky[None] * self.to_spectral(v * q))

    def relaxation_shape(self, ph: Complex[Array, "2 ny nk"]) -> Complex[Array, "2 ny nk"]:
        """(F_1 (psi_1 - psi_2), -F_2 (psi_1 - psi_2)), spectral: the relaxation tendency per unit rate."""
        interface = ph[0] - ph[1]
        return jnp.stack([self.f1 * interface, -self.f2 * interface])

    def tendency_terms(self, qh: Complex[Array, "2 ny nk"]) -> dict[str, Complex[Array, "2 ny nk"]]:
        """The tendency split into its physical terms (spectral), which sum to `tendency`: eddy advection -s J(psi,
        q), mean-flow advection -U q_x, background PV gradient -Q_y psi_x (beta and the shear), drag, relaxation."""
        ph = self.invert(qh)
        kx, ky = (grid[None] for grid in self.wavenumber_grids())
        u, v, q = self.to_grid(-1j * ky * ph), self.to_grid(1j * kx * ph), self.to_grid(qh)
        f_shear = jnp.array([self.f1, -self.f2])[:, None, None] * (self.u1 - self.u2)
        drag = jnp.stack([jnp.zeros_like(ph[1]), self.drag * self.kappa2() * ph[1]])
        return {
            "eddy_advection": self.jacobian_scale * self._eddy_advection(u, v, q),
            "mean_flow": -1j * kx * jnp.stack([jnp.asarray(self.u1), jnp.asarray(self.u2)])[:, None, None] * qh,
            "beta": -1j * kx * self.beta * ph,
            "shear": -1j * kx * f_shear * ph,
            "drag": drag,
            "relaxation": self.relaxation * self.relaxation_shape(ph),
        }

    def euler_step(self, qh: Complex[Array, "2 ny nk"]) -> Complex[Array, "2 ny nk"]:
        """One forward-Euler step and the step filter (pyqg's first step): the one step of an increment."""
        return self.step_filter()[None] * (qh + self.dt * self.tendency(qh))

    # pyqg-jax's stepping protocol, so that `pyqg_jax.steppers.SteppedModel` steps this model
    def create_initial_state(self, key: jax.Array):
        """pyqg's random initial state."""
        return self.pyqg().create_initial_state(key)

    def get_updates(self, state):
        return state.update(qh=self.tendency(state.qh))

    def postprocess_state(self, state):
        return state.update(qh=self.step_filter()[None] * state.qh)

    def stepped(self) -> pyqg_jax.steppers.SteppedModel:
        """This model under pyqg's third-order Adams-Bashforth stepper."""
        return pyqg_jax.steppers.SteppedModel(self, pyqg_jax.steppers.AB3Stepper(dt=self.dt))


def _check_q(model: TwoLayerQG, q) -> jax.Array:
    q = jnp.asarray(q)
    if q.shape[-3:] != (2, model.nx, model.nx):
        raise DataError(f"expected potential vorticity of shape (..., 2, {model.nx}, {model.nx}) (layer, y, x), got "
                        f"{q.shape}; build the model with nx={q.shape[-1]} or regrid the state")
    return q


@eqx.filter_jit
def _trajectory(model: TwoLayerQG, q0, count: int, every: int, skip: int):
    stepped = model.stepped()
    state = stepped.initialize_stepper_state(model.create_initial_state(jax.random.key(0)).update(q=q0))
    state = jax.lax.fori_loop(0, skip, lambda _, s: stepped.step_model(s), state)

    def block(carry, _):
        carry = jax.lax.fori_loop(0, every, lambda _, s: stepped.step_model(s), carry)
        return carry, carry.state.q

    return jax.lax.scan(block, state, None, length=count)[1]


def trajectory(model: TwoLayerQG, q0: Float[Array, "2 n n"], count: int, every: int, *, skip: int = 0
               ) -> Float[Array, "count 2 n n"]:
    """Step `model` with pyqg's AB3 stepper (started afresh from `q0`); return q after skip + every, skip + 2 every,
    ..., skip + count every steps."""
    require_float64("trajectory")
    q0 = _check_q(model, q0)
    if count < 1 or every < 1 or skip < 0:
        raise ConfigError(f"trajectory: expected count >= 1, every >= 1 and skip >= 0, got {count}, {every}, {skip}")
    return _trajectory(model, q0, int(count), int(every), int(skip))


def initial_state(model: TwoLayerQG, seed: int) -> np.ndarray:
    """A small random upper-layer PV anomaly (2, n, n) shaped like pyqg's initial state (1e-7 noise plus 1e-6 noise
    constant along y), drawn with NumPy's generator of `seed`; the lower layer at rest."""
    rng = np.random.default_rng(seed)
    q = np.zeros((2, model.nx, model.nx))
    q[0] = 1e-7 * rng.uniform(size=(model.nx, model.nx)) + 1e-6 * rng.uniform(size=(1, model.nx))
    return q


def spin_up(model: TwoLayerQG, steps: int, *, seed: int = 0) -> Float[Array, "2 n n"]:
    """q after `steps` AB3 steps from `initial_state(model, seed)`."""
    require_float64("spin_up")
    return trajectory(model, jnp.asarray(initial_state(model, seed)), 1, steps)[0]


@eqx.filter_jit
def _streamfunction(model: TwoLayerQG, q):
    return jax.vmap(lambda one: model.to_grid(model.invert(model.to_spectral(one))))(q)


def streamfunction(model: TwoLayerQG, q: Float[Array, "*batch 2 n n"]) -> Float[Array, "*batch 2 n n"]:
    """psi on the grid from q on the grid."""
    q = _check_q(model, q)
    return _streamfunction(model, q.reshape((-1,) + q.shape[-3:])).reshape(q.shape)


def energy(model: TwoLayerQG, q: Float[Array, "2 n n"]) -> Array:
    """Total (kinetic + available potential) eddy energy per unit mass, m^2 s^-2: -sum_k H_k/H <psi_k q_k> / 2."""
    psi = streamfunction(model, q)
    weights = jnp.asarray(model.layer_fractions)[:, None, None]
    return -0.5 * jnp.mean(jnp.sum(weights * psi * q, axis=0))


def energy_tendency(model: TwoLayerQG, q: Float[Array, "2 n n"], dqdt: Float[Array, "2 n n"]) -> Array:
    """dE/dt of a PV tendency dq/dt (grid): -sum_k H_k/H <psi_k dq_k/dt>, m^2 s^-3."""
    psi = streamfunction(model, q)
    weights = jnp.asarray(model.layer_fractions)[:, None, None]
    return -jnp.mean(jnp.sum(weights * psi * dqdt, axis=0))


def isotropic_spectrum(field: Float[np.ndarray, "*batch n n"]) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic power spectrum of a periodic square field: wavenumbers (n // 2 + 1,) in cycles per domain and the
    power summed over each unit-wide ring (|fft|^2 / n^4, so the rings sum to the mean square)."""
    field = np.asarray(field, np.float64)
    n = field.shape[-1]
    power = np.abs(np.fft.fft2(field, axes=(-2, -1))) ** 2 / n**4
    freq = np.fft.fftfreq(n, 1.0 / n)
    ring = np.rint(np.hypot(freq[:, None], freq[None, :])).astype(int)
    bins = np.arange(n // 2 + 1)
    spectrum = np.stack([power[..., ring == b].sum(-1) for b in bins], axis=-1)
    return bins.astype(np.float64), spectrum


def _layer_attrs():
    return {"long_name": "layer (1 upper, 2 lower)", "units": "1"}


def qg_dataset(model: TwoLayerQG, q: Float[np.ndarray, "time 2 n n"], times: np.ndarray) -> xr.Dataset:
    """Snapshots q (time, layer, y, x) with their streamfunction, on named coordinates with CF attributes; the model
    parameters in the attributes."""
    q = np.asarray(q, np.float64)
    if q.ndim != 4 or q.shape[0] != len(times):
        raise DataError(f"qg_dataset: expected q of shape (time, 2, n, n) with one time each, got {q.shape} and "
                        f"{len(times)} times")
    psi = np.asarray(streamfunction(model, jnp.asarray(q)))
    grid = model.grid
    dims = ("time", "layer", "y", "x")
    return xr.Dataset(
        {"q": (dims, q, {"long_name": "potential vorticity anomaly", "units": "s-1"}),
         "psi": (dims, psi, {"long_name": "streamfunction", "units": "m2 s-1"})},
        coords={"time": ("time", np.asarray(times, np.float64), {"long_name": "time since the first snapshot",
                                                                 "units": "s"}),
                "layer": ("layer", np.array([1, 2]), _layer_attrs()),
                "y": ("y", grid, {"long_name": "meridional distance", "units": "m"}),
                "x": ("x", grid, {"long_name": "zonal distance", "units": "m"})},
        attrs={"model": "two-layer QG (pyqg-jax QGModel + sciml extras)",
               **{f.name: float(getattr(model, f.name)) for f in dataclasses.fields(model)}},
    )
