"""Increments (the data-assimilation-free proxy of MEDIDA) and sparse noisy observations of the reference.

At each analysis time the reference and the model each take one step (`TwoLayerQG.euler_step`) from the same
state; the increment is (q_reference(t + dt) - q_model(t + dt)) / dt. With observations, the analysis is an
interpolation: the state psi(t) and its one-step change dpsi = psi(t + dt) - psi(t) are interpolated from the
sensors to the grid, and the increment is (q[psi + dpsi] - q_model(t + dt | q[psi])) / dt.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError
from sciml.solvers import TwoLayerQG, require_float64


def _flat(fields: Float[Array, "*batch 2 n n"]) -> tuple[jax.Array, tuple[int, ...]]:
    fields = jnp.asarray(fields)
    return fields.reshape((-1,) + fields.shape[-3:]), fields.shape


def _pv(model: TwoLayerQG, psi):
    return model.potential_vorticity(model.to_spectral(psi))


@eqx.filter_jit
def _one_step(model: TwoLayerQG, psi):
    return jax.vmap(lambda p: model.to_grid(model.invert(model.euler_step(_pv(model, p)))))(psi)


@eqx.filter_jit
def _analysis_increments(model: TwoLayerQG, psi, dpsi):
    def increment(p, dp):
        qh = _pv(model, p)
        return model.to_grid(qh + _pv(model, dp) - model.euler_step(qh)) / model.dt

    return jax.vmap(increment)(psi, dpsi)


@eqx.filter_jit
def _one_step_increments(reference: TwoLayerQG, model: TwoLayerQG, psi):
    def increment(p):
        qh = _pv(reference, p)
        return reference.to_grid(reference.euler_step(qh) - model.euler_step(qh)) / reference.dt

    return jax.vmap(increment)(psi)


def one_step(model: TwoLayerQG, psi: Float[Array, "*batch 2 n n"]) -> Float[Array, "*batch 2 n n"]:
    """psi after one `euler_step` of `model` from psi (grid)."""
    require_float64("one_step")
    flat, shape = _flat(psi)
    return _one_step(model, flat).reshape(shape)


def analysis_increments(model: TwoLayerQG, psi: Float[Array, "*batch 2 n n"],
                        dpsi: Float[Array, "*batch 2 n n"]) -> Float[Array, "*batch 2 n n"]:
    """(q[psi + dpsi] - q after one model step from q[psi]) / dt on the grid, PV units per second (s^-2)."""
    require_float64("analysis_increments")
    if jnp.shape(psi) != jnp.shape(dpsi):
        raise DataError(f"analysis_increments: psi {jnp.shape(psi)} and dpsi {jnp.shape(dpsi)} must have the same "
                        "shape")
    flat, shape = _flat(psi)
    return _analysis_increments(model, flat, _flat(dpsi)[0]).reshape(shape)


def one_step_increments(reference: TwoLayerQG, model: TwoLayerQG, psi: Float[Array, "*batch 2 n n"]
                        ) -> Float[Array, "*batch 2 n n"]:
    """The increments of full, noise-free observations: (q_reference(t + dt) - q_model(t + dt)) / dt."""
    require_float64("one_step_increments")
    flat, shape = _flat(psi)
    return _one_step_increments(reference, model, flat).reshape(shape)


@dataclasses.dataclass(frozen=True)
class Observations:
    """Sparse noisy observations of psi at two consecutive times at the same sensors.

    Attributes:
        sensors: flat grid indices (snapshot, sensor), each row distinct.
        before: observed psi(t), (snapshot, sensor, layer).
        after: observed psi(t + dt), (snapshot, sensor, layer).
        noise_std: the noise standard deviation of each snapshot and layer, (snapshot, layer).
    """

    sensors: np.ndarray
    before: np.ndarray
    after: np.ndarray
    noise_std: np.ndarray

    def points(self, nx: int) -> np.ndarray:
        """Sensor positions (snapshot, sensor, 2) as (x, y) in units of the domain side, on cell centres."""
        rows, cols = np.divmod(self.sensors, nx)
        return np.stack([(cols + 0.5) / nx, (rows + 0.5) / nx], axis=-1)

    def mask(self, nx: int) -> np.ndarray:
        """Sensor mask (snapshot, y, x), 1 where observed."""
        mask = np.zeros((len(self.sensors), nx * nx), np.int8)
        np.put_along_axis(mask, self.sensors, 1, axis=1)
        return mask.reshape(-1, nx, nx)


def observe(psi: Float[np.ndarray, "snapshot 2 n n"], psi_next: Float[np.ndarray, "snapshot 2 n n"], *,
            fraction: float, noise: float, seed) -> Observations:
    """Observe psi and psi_next at a random `fraction` of the grid points (new sensors at every snapshot, the same
    at both times) with independent Gaussian noise of std `noise` times the field's spatial std (per snapshot and
    layer, that of psi(t)); the draws come from NumPy's generator of `seed` (an int or a sequence of ints)."""
    psi, psi_next = np.asarray(psi, np.float64), np.asarray(psi_next, np.float64)
    if psi.shape != psi_next.shape or psi.ndim != 4 or psi.shape[1] != 2:
        raise DataError(f"observe: expected psi and psi_next of one shape (snapshot, 2, n, n), got {psi.shape} and "
                        f"{psi_next.shape}")
    if not 0 < fraction <= 1 or noise < 0:
        raise ConfigError(f"observe: expected 0 < fraction <= 1 and noise >= 0, got fraction={fraction}, "
                          f"noise={noise}")
    rng = np.random.default_rng(seed)
    snapshots, _, n, _ = psi.shape
    count = max(1, int(round(fraction * n * n)))
    sensors = np.stack([np.sort(rng.choice(n * n, count, replace=False)) for _ in range(snapshots)])
    noise_std = noise * psi.std(axis=(2, 3))

    def read(field):
        values = np.take_along_axis(field.reshape(snapshots, 2, n * n), sensors[:, None, :], axis=2)
        return (values + noise_std[:, :, None] * rng.standard_normal(values.shape)).transpose(0, 2, 1)

    return Observations(sensors, read(psi), read(psi_next), noise_std)
