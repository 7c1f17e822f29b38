"""Interpolators from scattered sensors to the full periodic grid: coordinate networks (an MLP on Gaussian random
Fourier features, or on the lowest periodic harmonics only) and the classical baselines (scipy's RBF and cubic
Delaunay interpolation, made periodic by copies of the sensors across the edges).

Positions are (x, y) in units of the domain side, so the domain is the unit torus.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError
from sciml.nn import MLP, FourierFeatures, PeriodicEmbedding


class CoordinateNetwork(eqx.Module):
    """(x, y) on the unit torus -> field values (channels,): an embedding followed by an MLP; both embeddings
    used here are exactly periodic, so spectral derivatives of the interpolant are free of edge artefacts.

    Build with `rff_network` (Gaussian random Fourier features; Tancik et al. 2020) or `plain_network` (one harmonic
    per axis: a plain MLP made periodic, which keeps its spectral bias).
    """

    embedding: eqx.Module
    mlp: MLP

    def __call__(self, point: Float[Array, " 2"]) -> Float[Array, " channels"]:
        return self.mlp(self.embedding(point))


def rff_network(channels: int, *, features: int, scale: float, width: int, depth: int,
                key: jax.Array) -> CoordinateNetwork:
    """MLP on `features` Gaussian random Fourier features of standard deviation `scale` (cycles per domain side),
    rounded to whole cycles."""
    if features < 1 or not scale > 0:
        raise ConfigError(f"rff_network: expected features >= 1 and scale > 0, got {features} and {scale}")
    embed_key, mlp_key = jax.random.split(key)
    embedding = FourierFeatures(2, features, scale, period=1.0, key=embed_key)
    return CoordinateNetwork(embedding, MLP(embedding.out_size, channels, width, depth, key=mlp_key))


def plain_network(channels: int, *, width: int, depth: int, key: jax.Array) -> CoordinateNetwork:
    """MLP on (cos 2 pi x, sin 2 pi x, cos 2 pi y, sin 2 pi y)."""
    embedding = PeriodicEmbedding(2, axes=(0, 1), periods=(1.0, 1.0))
    return CoordinateNetwork(embedding, MLP(embedding.out_size, channels, width, depth, key=key))


def network_ensemble(build, count: int, key: jax.Array) -> CoordinateNetwork:
    """`count` independent networks `build(key)` stacked along a leading axis (for `jax.vmap` over fields); built
    one by one by a single compiled initialiser."""
    build = eqx.filter_jit(build)
    networks = [build(k) for k in jax.random.split(key, count)]
    static = eqx.filter(networks[0], eqx.is_array, inverse=True)
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[eqx.filter(n, eqx.is_array) for n in networks])
    return eqx.combine(stacked, static)


def evaluate_ensemble(networks: CoordinateNetwork, points: Float[Array, "fields points 2"]
                      ) -> Float[Array, "fields points channels"]:
    """Each network of a stacked ensemble on its own points."""
    return eqx.filter_vmap(lambda net, p: jax.vmap(net)(p))(networks, points)


def ensemble_mse(networks: CoordinateNetwork, batch: dict, key: jax.Array) -> tuple[Array, dict]:
    """Mean squared misfit at the sensors, summed over the ensemble (the networks are independent, so each gets its
    own gradient); `batch`: points (fields, sensors, 2), values (fields, sensors, channels), standardised."""
    misfit = evaluate_ensemble(networks, batch["points"]) - batch["values"]
    per_field = jnp.mean(misfit**2, axis=(1, 2))
    return jnp.sum(per_field), {"mse_mean": jnp.mean(per_field), "mse_max": jnp.max(per_field)}


def _periodic_copies(points: np.ndarray, values: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    copies_p, copies_v = [], []
    for dx in (-1.0, 0.0, 1.0):
        for dy in (-1.0, 0.0, 1.0):
            shifted = points + np.array([dx, dy])
            keep = np.all((shifted > -margin) & (shifted < 1 + margin), axis=1)
            copies_p.append(shifted[keep])
            copies_v.append(values[keep])
    return np.concatenate(copies_p), np.concatenate(copies_v)


def _check(points, values, targets):
    points, values, targets = (np.asarray(a, np.float64) for a in (points, values, targets))
    if points.ndim != 2 or points.shape[1] != 2 or values.shape[0] != points.shape[0] or targets.shape[-1] != 2:
        raise DataError(f"expected sensor points (m, 2), values (m, channels) and targets (p, 2), got {points.shape}, "
                        f"{values.shape}, {targets.shape}")
    return points, values.reshape(len(points), -1), targets


class RBFInterpolation:
    """scipy's `RBFInterpolator` on the sensors and their periodic copies within `margin` of the unit square.

    Args:
        kernel: scipy's kernel name (``"thin_plate_spline"``, ``"cubic"``, ``"multiquadric"`` ...).
        epsilon: shape parameter of the scale-dependent kernels, in 1 / (domain side).
        neighbors: sensors per local fit (None: global).
        smoothing: scipy's smoothing (0 interpolates).
        margin: width of the band of periodic copies, in domain sides.
    """

    def __init__(self, kernel: str = "thin_plate_spline", epsilon: float = 1.0, neighbors: int | None = 64,
                 smoothing: float = 0.0, margin: float = 0.15):
        self.kernel, self.epsilon, self.neighbors, self.smoothing, self.margin = (kernel, epsilon, neighbors,
                                                                                 smoothing, margin)

    def __call__(self, points, values, targets) -> np.ndarray:
        from scipy.interpolate import RBFInterpolator

        points, values, targets = _check(points, values, targets)
        p, v = _periodic_copies(points, values, self.margin)
        return RBFInterpolator(p, v, kernel=self.kernel, epsilon=self.epsilon, neighbors=self.neighbors,
                               smoothing=self.smoothing)(targets)


class CubicInterpolation:
    """scipy's `griddata(method="cubic")` (Clough-Tocher on the Delaunay triangulation) on the sensors and their
    periodic copies within `margin` of the unit square."""

    def __init__(self, margin: float = 0.15):
        self.margin = margin

    def __call__(self, points, values, targets) -> np.ndarray:
        from scipy.interpolate import griddata

        points, values, targets = _check(points, values, targets)
        p, v = _periodic_copies(points, values, self.margin)
        out = griddata(p, v, targets, method="cubic")
        if not np.isfinite(out).all():
            raise DataError("cubic interpolation left points outside the sensors' hull; increase the margin")
        return out
