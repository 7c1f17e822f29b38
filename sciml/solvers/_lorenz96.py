"""Lorenz-96: the two-scale system (the "truth" with resolved subgrid physics) and the one-scale model it closes.

Two-scale system (Lorenz 1996), K slow variables X_k, each with J fast variables Y_{j,k} on one ring of length J K:

    dX_k/dt     = -X_{k-1} (X_{k-2} - X_{k+1}) - X_k + F + U_k,        U_k = -(h c / b) sum_j Y_{j,k}
    dY_{j,k}/dt = -c b Y_{j+1,k} (Y_{j+2,k} - Y_{j-1,k}) - c Y_{j,k} + (h c / b) X_k

U_k is the true subgrid tendency a parametrization must supply. The one-scale model replaces it by a closure
P(X): dX/dt = L(X; F) + P(X). Both integrate with classical RK4 under `lax.scan`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError


@dataclasses.dataclass(frozen=True)
class TwoScaleLorenz96:
    """Parameters of the two-scale system (defaults: the common K=8, J=32, h=1, b=c=10 setting)."""

    K: int = 8
    J: int = 32
    h: float = 1.0
    b: float = 10.0
    c: float = 10.0

    def __post_init__(self):
        if self.K < 4 or self.J < 3:
            raise ConfigError(f"TwoScaleLorenz96 needs K >= 4 and J >= 3 (periodic stencils), got K={self.K}, "
                              f"J={self.J}")

    @property
    def coupling(self) -> float:
        return self.h * self.c / self.b

    def subgrid_tendency(self, y: Float[Array, "K J"]) -> Float[Array, " K"]:
        """U_k = -(h c / b) sum_j Y_{j,k}."""
        return -self.coupling * jnp.sum(y, axis=-1)

    def tendency(self, x: Float[Array, " K"], y: Float[Array, "K J"], forcing) -> tuple[Array, Array]:
        """(dX/dt, dY/dt) of the coupled system; Y is stored as (K, J), one ring of length K J in row-major order."""
        dx = slow_tendency(x, forcing) + self.subgrid_tendency(y)
        ring = y.reshape(-1)
        dring = (
            -self.c * self.b * jnp.roll(ring, -1) * (jnp.roll(ring, -2) - jnp.roll(ring, 1))
            - self.c * ring
            + self.coupling * jnp.repeat(x, self.J)
        )
        return dx, dring.reshape(y.shape)


def slow_tendency(x: Float[Array, " K"], forcing) -> Float[Array, " K"]:
    """The resolved one-scale tendency L(X; F) = -X_{k-1} (X_{k-2} - X_{k+1}) - X_k + F."""
    return -jnp.roll(x, 1) * (jnp.roll(x, 2) - jnp.roll(x, -1)) - x + forcing


def _rk4(f, state, dt):
    k1 = f(state)
    k2 = f(jax.tree_util.tree_map(lambda s, k: s + 0.5 * dt * k, state, k1))
    k3 = f(jax.tree_util.tree_map(lambda s, k: s + 0.5 * dt * k, state, k2))
    k4 = f(jax.tree_util.tree_map(lambda s, k: s + dt * k, state, k3))
    return jax.tree_util.tree_map(lambda s, a, b, c, d: s + dt / 6 * (a + 2 * b + 2 * c + d), state, k1, k2, k3, k4)


def _check_steps(n_snapshots: int, save_every: int, dt: float) -> None:
    if n_snapshots < 1 or save_every < 1 or not dt > 0:
        raise ConfigError(
            f"expected n_snapshots >= 1, save_every >= 1 and dt > 0, got {n_snapshots}, {save_every}, {dt}"
        )


def simulate_two_scale(
    system: TwoScaleLorenz96,
    x0: Float[Array, " K"],
    y0: Float[Array, "K J"],
    forcing: float,
    *,
    dt: float = 0.001,
    save_every: int = 100,
    n_snapshots: int = 100,
) -> tuple[Float[Array, "T K"], Float[Array, "T K"], Float[Array, "K J"]]:
    """Integrate the two-scale system; return X and the true subgrid tendency U at every `save_every`-th step
    (snapshots at t = dt*save_every*(1..n_snapshots)) and the final fast state (to continue a run)."""
    _check_steps(n_snapshots, save_every, dt)
    return _two_scale_run(system, jnp.asarray(x0), jnp.asarray(y0), jnp.asarray(forcing, jnp.result_type(float)), dt,
                          save_every, n_snapshots)


@eqx.filter_jit
def _two_scale_run(system, x0, y0, forcing, dt, save_every, n_snapshots):
    def f(state):
        return system.tendency(state[0], state[1], forcing)

    def inner(state, _):
        return _rk4(f, state, dt), None

    def outer(state, _):
        state, _ = jax.lax.scan(inner, state, None, length=save_every)
        return state, (state[0], system.subgrid_tendency(state[1]))

    (_, y_end), (xs, us) = jax.lax.scan(outer, (x0, y0), None, length=n_snapshots)
    return xs, us, y_end


def simulate_one_scale(
    closure: Callable[[Float[Array, " K"]], Float[Array, " K"]],
    x0: Float[Array, " K"],
    forcing: float,
    *,
    dt: float = 0.005,
    save_every: int = 20,
    n_snapshots: int = 100,
    noise_std: float = 0.0,
    noise_time: float = 0.1,
    key: jax.Array | None = None,
) -> Float[Array, "T K"]:
    """Integrate dX/dt = L(X; F) + closure(X) + e(t) with RK4; return X at every `save_every`-th step.

    `closure` maps the whole slow state (K,) to the parametrized subgrid tendency (K,) and must be jittable (a
    `CubicClosure`, a learned parametrization, ...). With `noise_std > 0`, e is red noise (Wilks 2005): an AR(1)
    process per k with stationary std `noise_std` and e-folding time `noise_time`, held for one step and updated
    as e <- phi e + sqrt(1 - phi^2) noise_std z, phi = exp(-dt / noise_time), starting from its stationary law;
    it needs `key`. A run that blows up returns non-finite values from then on.
    """
    _check_steps(n_snapshots, save_every, dt)
    if noise_std < 0 or not noise_time > 0:
        raise ConfigError(f"expected noise_std >= 0 and noise_time > 0, got {noise_std} and {noise_time}")
    if noise_std > 0 and key is None:
        raise ConfigError("simulate_one_scale: noise_std > 0 needs a PRNG key; pass key=jax.random.key(...)")
    key = jax.random.key(0) if key is None else key
    real = jnp.result_type(float)
    return _one_scale_run(closure, jnp.asarray(x0), jnp.asarray(forcing, real), dt, save_every, n_snapshots,
                          jnp.asarray(noise_std, real), jnp.asarray(np.exp(-dt / noise_time), real), key)


@eqx.filter_jit
def _one_scale_run(closure, x0, forcing, dt, save_every, n_snapshots, noise_std, phi, key):
    innovation = noise_std * jnp.sqrt(1 - phi**2)

    def inner(carry, _):
        x, e, k = carry
        k, draw = jax.random.split(k)
        x = _rk4(lambda s: slow_tendency(s, forcing) + closure(s) + e, x, dt)
        e = phi * e + innovation * jax.random.normal(draw, x.shape, x.dtype)
        return (x, e, k), None

    def outer(carry, _):
        carry, _ = jax.lax.scan(inner, carry, None, length=save_every)
        return carry, carry[0]

    key, first = jax.random.split(key)
    e0 = noise_std * jax.random.normal(first, x0.shape, x0.dtype)
    return jax.lax.scan(outer, (x0, e0, key), None, length=n_snapshots)[1]


class CubicClosure(eqx.Module):
    """The physical closure P(X)_k = a0 + a1 X_k + a2 X_k^2 + a3 X_k^3 (local in k; Wilks 2005 style).

    Build it with `CubicClosure.fit(x, u)` from (X, U) pairs of the two-scale truth.
    """

    coefficients: Float[Array, " 4"]

    def __call__(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        a0, a1, a2, a3 = self.coefficients
        return a0 + x * (a1 + x * (a2 + x * a3))

    @classmethod
    def fit(cls, x, u) -> CubicClosure:
        """Least-squares fit (float64, NumPy) of U against X over all given samples; x, u: same shape."""
        x, u = np.asarray(x, np.float64).ravel(), np.asarray(u, np.float64).ravel()
        if x.shape != u.shape or x.size < 4:
            raise ConfigError(f"CubicClosure.fit needs matching x and u with >= 4 entries, got {x.size} and {u.size}")
        design = np.stack([np.ones_like(x), x, x**2, x**3], axis=1)
        coefficients, *_ = np.linalg.lstsq(design, u, rcond=None)
        return cls(jnp.asarray(coefficients, jnp.float32))


def spin_up_state(system: TwoScaleLorenz96, forcing: float, *, key: jax.Array, time: float = 5.0, dt: float = 0.001):
    """A state on the attractor: random start near rest, integrated for `time` model time units; returns (x, y)."""
    kx, ky = jax.random.split(key)
    x0 = forcing * 0.25 * jax.random.normal(kx, (system.K,))
    y0 = 0.1 * jax.random.normal(ky, (system.K, system.J))
    steps = max(1, int(round(time / dt)))
    save_every = min(steps, 1000)
    xs, _, y = simulate_two_scale(system, x0, y0, forcing, dt=dt, save_every=save_every,
                                  n_snapshots=max(1, steps // save_every))
    return xs[-1], y


def _two_scale_samples(system, forcing, *, key, duration, interval, dt, spin_up):
    x0, y0 = spin_up_state(system, forcing, key=key, time=spin_up, dt=dt)
    save_every = max(1, int(round(interval / dt)))
    n = max(1, int(round(duration / interval)))
    xs, us, _ = simulate_two_scale(system, x0, y0, forcing, dt=dt, save_every=save_every, n_snapshots=n)
    return np.asarray(xs), np.asarray(us), interval * np.arange(1, n + 1)


def lorenz96_dataset(
    system: TwoScaleLorenz96 = TwoScaleLorenz96(),
    *,
    hf_forcings: tuple[float, ...] = (18.0, 19.0, 20.0),
    lf_forcings: tuple[float, ...] = (18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0),
    test_forcings: tuple[float, ...] = (18.0, 20.0, 24.0),
    hf_duration: float = 40.0,
    lf_duration: float = 100.0,
    test_duration: float = 50.0,
    interval: float = 0.1,
    test_interval: float = 0.25,
    dt: float = 0.001,
    lf_dt: float = 0.005,
    seed: int = 0,
):
    """The multi-fidelity parametrization dataset: slow states X and subgrid tendencies U, (sample, k).

    - high fidelity (train): the two-scale truth at `hf_forcings` (historical), U the true subgrid tendency;
    - the physical closure: a `CubicClosure` fitted to the high-fidelity training pairs;
    - low fidelity (train): the one-scale model with that closure at `lf_forcings` (every regime), U = closure(X);
    - test: independent two-scale runs at `test_forcings` (historical and warmer), U the true tendency.

    Each trajectory starts from its own random state, spun up for 5 time units; snapshots every `interval`
    (`test_interval` for test). Returns an `xarray.Dataset` with coordinates `F`, `time`, `fidelity`, `split` on
    `sample`, and the closure coefficients in the attrs.
    """
    root = jax.random.key(seed)
    parts = []

    def add(xs, us, times, forcing, fidelity, split):
        parts.append((xs, us, np.full(len(times), forcing), times, np.full(len(times), fidelity),
                      np.full(len(times), split)))

    hf = []
    for i, forcing in enumerate(hf_forcings):
        xs, us, times = _two_scale_samples(system, forcing, key=jax.random.fold_in(root, i), duration=hf_duration,
                                           interval=interval, dt=dt, spin_up=5.0)
        hf.append((xs, us))
        add(xs, us, times, forcing, "high", "train")
    closure = CubicClosure.fit(np.concatenate([x for x, _ in hf]), np.concatenate([u for _, u in hf]))
    for i, forcing in enumerate(lf_forcings):
        x0, _ = spin_up_state(system, forcing, key=jax.random.fold_in(root, 1000 + i), dt=dt)
        n = max(1, int(round(lf_duration / interval)))
        xs = np.asarray(simulate_one_scale(closure, x0, forcing, dt=lf_dt,
                                           save_every=max(1, int(round(interval / lf_dt))), n_snapshots=n))
        if not np.all(np.isfinite(xs)):
            raise DataError(f"the one-scale model with the cubic closure blew up at F={forcing}; the closure fitted in "
                            f"the historical regime is unstable there. Drop F={forcing} from lf_forcings or lower "
                            "lf_dt.")
        add(xs, np.asarray(closure(jnp.asarray(xs))), interval * np.arange(1, n + 1), forcing, "low", "train")
    for i, forcing in enumerate(test_forcings):
        xs, us, times = _two_scale_samples(system, forcing, key=jax.random.fold_in(root, 2000 + i),
                                           duration=test_duration, interval=test_interval, dt=dt, spin_up=5.0)
        add(xs, us, times, forcing, "high", "test")
    x, u, f, t, fid, split = (np.concatenate(column) for column in zip(*parts, strict=True))
    units = {"units": "1"}
    return xr.Dataset(
        {
            "X": (("sample", "k"), x.astype(np.float32), {"long_name": "slow state X_k", **units}),
            "U": (("sample", "k"), u.astype(np.float32),
                  {"long_name": "subgrid tendency U_k (true for high fidelity, the cubic closure for low)", **units}),
        },
        coords={
            "k": np.arange(system.K),
            "F": ("sample", f, {"long_name": "forcing F", **units}),
            "time": ("sample", t, {"long_name": "time since the end of spin-up", **units}),
            "fidelity": ("sample", fid.astype(str), {"long_name": "fidelity (low: one-scale model with the cubic "
                                                                  "closure, high: two-scale truth)"}),
            "split": ("sample", split.astype(str), {"long_name": "data split"}),
        },
        attrs={
            "title": "two-scale Lorenz-96 parametrization dataset (multi-fidelity)",
            "K": system.K, "J": system.J, "h": system.h, "b": system.b, "c": system.c, "dt": dt, "lf_dt": lf_dt,
            "cubic_closure": np.asarray(closure.coefficients, np.float64),
            "seed": seed,
        },
    )


def lorenz96_samples(ds, fidelity: str, split: str, forcings=None):
    """(X (n, K), U (n, K), F (n,)) float32 arrays of one fidelity ("low"/"high") and split ("train"/"test"),
    optionally restricted to the given forcings."""
    mask = (ds["fidelity"].values == fidelity) & (ds["split"].values == split)
    if forcings is not None:
        mask &= np.isin(ds["F"].values, np.asarray(forcings, np.float64))
    if not mask.any():
        present = sorted({(a, b, float(c))
                          for a, b, c in zip(ds["fidelity"].values, ds["split"].values, ds["F"].values, strict=True)})
        raise DataError(f"no samples with fidelity={fidelity!r}, split={split!r}, forcings={forcings}; the dataset "
                        f"holds (fidelity, split, F) = {present}")
    return (np.asarray(ds["X"].values[mask], np.float32), np.asarray(ds["U"].values[mask], np.float32),
            np.asarray(ds["F"].values[mask], np.float64))
