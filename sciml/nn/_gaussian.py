"""Physics-Informed Gaussians: a trainable sum-of-Gaussians feature embedding (Kang et al., ICLR 2025)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.nn._mlp import check_sizes


def _inverse_softplus(y: np.ndarray) -> np.ndarray:
    return np.log(np.expm1(y))


class GaussianFeatures(eqx.Module):
    """``features_c(x) = sum_i w_ci exp(-|P_ci (x - mu_ci)|^2 / 2)`` for `channels` channels of N Gaussians each.

    Means, scales (or full precision factors) and weights are all trained. Scales stay positive through a softplus
    plus a floor, so a Gaussian never collapses to zero width. The input is the PINN's scaled point in [-1, 1]^d.

    Args:
        in_size: input dimension d.
        n_gaussians: Gaussians per channel N (>= 1).
        channels: feature channels k (the embedding's `out_size`).
        covariance: ``"diagonal"`` (per-axis scales) or ``"full"`` (a lower-triangular precision factor P per
            Gaussian: positive diagonal through softplus, free off-diagonal).
        sigma: initial scale of every Gaussian (in scaled units): one number, or one per input axis (shape (d,)).
        weight_std: standard deviation of the initial weights.
        min_sigma: floor on the scales.
        block_size: evaluate the Gaussians in blocks of this many (lax.scan), bounding memory for large N.
        neighbours: if set, each channel sums only the `neighbours` Gaussians nearest (in Mahalanobis distance) to the
            point: a cutoff that makes derivative evaluation cost O(neighbours) instead of O(N).
        key: PRNG key.
    """

    means: Float[Array, "k n d"]
    raw_scales: Float[Array, "k n d"]
    off_diagonal: Float[Array, "k n d d"] | None
    weights: Float[Array, "k n"]
    covariance: str = eqx.field(static=True)
    min_sigma: float = eqx.field(static=True)
    block_size: int | None = eqx.field(static=True)
    neighbours: int | None = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        n_gaussians: int,
        channels: int = 4,
        covariance: str = "diagonal",
        sigma: float | Sequence[float] = 0.1,
        weight_std: float = 0.01,
        min_sigma: float = 1e-3,
        block_size: int | None = None,
        neighbours: int | None = None,
        *,
        key: jax.Array,
    ):
        if int(n_gaussians) < 1:
            raise ConfigError(
                f"GaussianFeatures: expected at least one Gaussian per channel, got n_gaussians={n_gaussians}; "
                "use e.g. n_gaussians=400"
            )
        check_sizes("GaussianFeatures", in_size=in_size, channels=channels)
        if covariance not in ("diagonal", "full"):
            raise ConfigError(f"GaussianFeatures: covariance must be 'diagonal' or 'full', got {covariance!r}")
        given, sigma = sigma, np.asarray(sigma, np.float64)
        sigma = np.full((in_size,), sigma) if sigma.ndim == 0 else sigma
        if sigma.shape != (in_size,) or not np.all(sigma > min_sigma):
            raise ConfigError(
                f"GaussianFeatures: expected sigma > min_sigma={min_sigma}, one number or one per axis ({in_size}), "
                f"got sigma={np.atleast_1d(given).tolist()}"
            )
        if block_size is not None and (block_size < 1 or n_gaussians % block_size):
            raise ConfigError(
                f"GaussianFeatures: block_size={block_size} must be positive and divide n_gaussians={n_gaussians}"
            )
        if neighbours is not None and not 1 <= neighbours <= n_gaussians:
            raise ConfigError(f"GaussianFeatures: neighbours must lie in [1, {n_gaussians}], got {neighbours}")
        mean_key, weight_key = jax.random.split(key)
        shape = (channels, n_gaussians, in_size)
        self.means = jax.random.uniform(mean_key, shape, minval=-1.0, maxval=1.0)
        self.raw_scales = jnp.broadcast_to(jnp.asarray(_inverse_softplus(sigma - min_sigma), jnp.float32), shape)
        self.off_diagonal = jnp.zeros((channels, n_gaussians, in_size, in_size)) if covariance == "full" else None
        self.weights = weight_std * jax.random.normal(weight_key, (channels, n_gaussians))
        self.covariance = covariance
        self.min_sigma = min_sigma
        self.block_size = block_size
        self.neighbours = neighbours

    @property
    def out_size(self) -> int:
        return self.weights.shape[0]

    @property
    def scales(self) -> Float[Array, "k n d"]:
        """The per-axis scales sigma (diagonal) or inverse diagonal of the precision factor (full); all positive."""
        return self.min_sigma + jax.nn.softplus(self.raw_scales)

    def _whitened(self, x, means, raw_scales, off_diagonal):
        """``P (x - mu)`` for a block of Gaussians: shape (k, b, d)."""
        delta = x[None, None, :] - means
        scales = self.min_sigma + jax.nn.softplus(raw_scales)
        if off_diagonal is None:
            return delta / scales
        lower = jnp.tril(off_diagonal, k=-1)
        return delta / scales + jnp.einsum("kbij,kbj->kbi", lower, delta)

    def _quadratic(self, x, means, raw_scales, off_diagonal) -> Float[Array, "k b"]:
        """``|P (x - mu)|^2 = x.A x - 2 x.A mu + mu.A mu`` with ``A = P^T P``, for a block of Gaussians.

        Expanded so that, vectorised over points, the terms in x are matrix products with the (k b, d) or
        (k b, d d) parameters rather than (points, k, b, d) differences.
        """
        scales = self.min_sigma + jax.nn.softplus(raw_scales)
        if off_diagonal is None:
            precision = 1.0 / scales**2
            weighted_means = means * precision
            quad = (jnp.einsum("d,kbd->kb", x * x, precision) - 2 * jnp.einsum("d,kbd->kb", x, weighted_means)
                    + jnp.sum(means * weighted_means, axis=-1))
        else:
            factor = jnp.tril(off_diagonal, k=-1) + jax.vmap(jax.vmap(jnp.diag))(1.0 / scales)
            precision = jnp.einsum("kbji,kbjl->kbil", factor, factor)
            weighted_means = jnp.einsum("kbil,kbl->kbi", precision, means)
            quad = (jnp.einsum("il,kbil->kb", jnp.outer(x, x), precision)
                    - 2 * jnp.einsum("i,kbi->kb", x, weighted_means)
                    + jnp.sum(means * weighted_means, axis=-1))
        return jnp.maximum(quad, 0.0)  # the expansion can round a near-zero distance below zero

    def _sum(self, x, means, raw_scales, off_diagonal, weights) -> Float[Array, " k"]:
        return jnp.sum(weights * jnp.exp(-0.5 * self._quadratic(x, means, raw_scales, off_diagonal)), axis=-1)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " k"]:
        if x.shape != self.means.shape[-1:]:
            raise ConfigError(f"GaussianFeatures expects a point of shape {self.means.shape[-1:]}, got {x.shape}")
        if self.neighbours is not None:
            return self._nearest(x)
        if self.block_size is None:
            return self._sum(x, self.means, self.raw_scales, self.off_diagonal, self.weights)
        k, n, d = self.means.shape
        blocks = n // self.block_size

        def split(a):
            return None if a is None else jnp.swapaxes(a.reshape(k, blocks, self.block_size, *a.shape[2:]), 0, 1)

        def body(total, block):
            return total + self._sum(x, *block), None

        parts = (split(self.means), split(self.raw_scales), split(self.off_diagonal), split(self.weights))
        total, _ = jax.lax.scan(body, jnp.zeros((k,), x.dtype), parts)
        return total

    def _nearest(self, x):
        z = jax.lax.stop_gradient(self._whitened(x, self.means, self.raw_scales, self.off_diagonal))
        _, index = jax.lax.top_k(-jnp.sum(z * z, axis=-1), self.neighbours)

        def take(a):
            return None if a is None else jnp.take_along_axis(a, index.reshape(*index.shape, *(1,) * (a.ndim - 2)), 1)

        return self._sum(x, take(self.means), take(self.raw_scales), take(self.off_diagonal), take(self.weights))
