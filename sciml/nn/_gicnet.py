"""Grid-Invariant Convolutional Network (GICNet, Vadeboncoeur et al., ICML 2023): field values at arbitrary points
-> per-channel lifting -> Nadaraya-Watson kernel interpolation onto a fixed latent grid -> CNN -> DeepONet-style head.

The output does not depend on the order or the number of the points (a sum over points, normalised), so the same
network reads a random collocation grid during training and any sensor layout afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from sciml._errors import ConfigError
from sciml.nn._init import build_layer
from sciml.nn._mlp import MLP, check_sizes


def _grid_nodes(ndim: int, resolution: int) -> np.ndarray:
    """The nodes of a `resolution`^d tensor grid over [-1, 1]^d, ``(resolution^d, d)``, the last axis fastest."""
    axes = [np.linspace(-1.0, 1.0, resolution)] * ndim
    return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


class KernelInterpolation(eqx.Module):
    """Nadaraya-Watson interpolation of `channels` value channels from scattered points onto fixed grid nodes.

    Channel c uses the squared-exponential kernel ``k_c(g, x) = exp(-|g - x|^2 / (2 l_c^2))`` with its own trainable
    length-scale l_c (kept as a log):

        mean_c(g) = sum_j k_c(g, x_j) v_jc / (sum_j k_c(g, x_j) + jitter),
        density_c(g) = sum_j k_c(g, x_j) / n,

    sums over the points present (``mask``), n their number. The density channels tell the layers after it where the
    points were (a grid node far from every point has mean 0 and density 0).

    Args:
        nodes: grid nodes ``(g, d)`` in the points' coordinates.
        channels: value channels C.
        lengthscale_range: the first and last initial length-scales (log-spaced over the channels).
        jitter: added to the kernel sums so an empty neighbourhood interpolates to 0.
    """

    nodes: Float[Array, "g d"]
    log_lengthscales: Float[Array, " c"]
    jitter: float = eqx.field(static=True)

    def __init__(self, nodes, channels: int, lengthscale_range: tuple[float, float] = (0.01, 1.0),
                 jitter: float = 1e-6):
        check_sizes("KernelInterpolation", channels=channels)
        low, high = lengthscale_range
        if not 0 < low <= high:
            raise ConfigError(f"KernelInterpolation: lengthscale_range must satisfy 0 < low <= high, got {low, high}")
        self.nodes = jnp.asarray(nodes, jnp.float32)
        self.log_lengthscales = jnp.linspace(np.log(low), np.log(high), channels, dtype=jnp.float32)
        self.jitter = jitter

    @property
    def lengthscales(self) -> Float[Array, " c"]:
        return jnp.exp(self.log_lengthscales)

    def __call__(self, points: Float[Array, "n d"], values: Float[Array, "n c"],
                 mask: Bool[Array, " n"] | None = None) -> Float[Array, "g 2*c"]:
        nodes = jax.lax.stop_gradient(self.nodes)
        weight = jnp.ones(points.shape[:1], values.dtype) if mask is None else mask.astype(values.dtype)
        distance2 = jnp.sum(jnp.square(nodes[:, None, :] - points[None, :, :]), axis=-1)  # (g, n)
        scale2 = jnp.square(self.lengthscales)
        kernel = jnp.exp(-distance2[:, :, None] / (2 * scale2[None, None, :])) * weight[None, :, None]  # (g, n, c)
        total = jnp.sum(kernel, axis=1)
        mean = jnp.einsum("gnc,nc->gc", kernel, values) / (total + self.jitter)
        density = total / jnp.maximum(jnp.sum(weight), 1.0)
        return jnp.concatenate([mean, density], axis=1)


class GICNet(eqx.Module):
    """Values at arbitrary points of the box ``[lower, upper]`` -> a vector: the GICNet encoder.

    1. lifting: an MLP maps each point's value channels ``(c_in,)`` to `channels` features;
    2. `KernelInterpolation` puts each feature channel on a `resolution`^d grid over the domain with its own
       trainable length-scale (plus a density channel each; the grid's coordinates are appended), the box scaled to
       [-1, 1]^d;
    3. a CNN (`conv_depth` 3-wide convolutions, same padding) and a linear layer make `basis` branch coefficients per
       output;
    4. DeepONet-style head: ``out_m = sum_k B_mk t_k(query) + b_m`` with the trunk t an MLP of the `query` (known
       side information such as the noise level); with ``query_size=0`` the branch maps straight to the outputs.

    Args:
        lower, upper: the bounds of the box the points lie in, per axis (d = their length).
        out_size: outputs.
        in_channels: value channels per point.
        channels: lifted channels C.
        resolution: grid nodes per axis.
        conv_channels: CNN width; conv_depth: CNN layers.
        basis: branch/trunk width p.
        query_size: size of the trunk input (0: no trunk).
        lengthscale_range: initial length-scales (in the normalised [-1, 1] units).
        activation: nonlinearity of every part.
        key: PRNG key.
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    lift: MLP
    interpolation: KernelInterpolation
    convs: tuple[eqx.nn.Conv, ...]
    branch: eqx.nn.Linear
    trunk: MLP | None
    bias: Float[Array, " m"]
    resolution: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    activation: Callable = eqx.field(static=True)

    def __init__(self, lower: Sequence[float], upper: Sequence[float], out_size: int, in_channels: int = 1,
                 channels: int = 16, resolution: int = 32, conv_channels: int = 16, conv_depth: int = 3,
                 basis: int = 32, query_size: int = 0, lengthscale_range: tuple[float, float] = (0.01, 1.0),
                 activation: Callable = jax.nn.swish, *, key: jax.Array):
        check_sizes("GICNet", out_size=out_size, in_channels=in_channels, channels=channels, resolution=resolution,
                    conv_channels=conv_channels, conv_depth=conv_depth, basis=basis)
        if query_size < 0:
            raise ConfigError(f"GICNet: query_size must be >= 0, got {query_size}")
        if len(lower) != len(upper) or not all(lo < hi for lo, hi in zip(lower, upper, strict=True)):
            raise ConfigError(f"GICNet: expected bounds lower < upper of equal length, got {lower} and {upper}")
        k_lift, k_conv, k_branch, k_trunk = jax.random.split(key, 4)
        d = len(lower)
        self.lower, self.upper = tuple(map(float, lower)), tuple(map(float, upper))
        self.lift = MLP(in_channels, channels, channels, 2, activation, key=k_lift)
        self.interpolation = KernelInterpolation(_grid_nodes(d, resolution), channels, lengthscale_range)
        sizes = [2 * channels + d] + [conv_channels] * conv_depth
        self.convs = tuple(build_layer(eqx.nn.Conv, d, n_in, n_out, 3, padding="SAME", key=k)
                           for k, n_in, n_out in zip(jax.random.split(k_conv, conv_depth), sizes[:-1], sizes[1:],
                                                     strict=True))
        width = basis if query_size else 1
        self.branch = build_layer(eqx.nn.Linear, conv_channels * resolution**d, out_size * width, key=k_branch)
        self.trunk = MLP(query_size, basis, basis, 2, activation, key=k_trunk) if query_size else None
        self.bias = jnp.zeros((out_size,))
        self.resolution = resolution
        self.out_size = out_size
        self.activation = activation

    def __call__(self, points: Float[Array, "n d"], values: Float[Array, "n c_in"],
                 mask: Bool[Array, " n"] | None = None, query: Float[Array, " q"] | None = None) -> Float[Array, " m"]:
        if (query is None) != (self.trunk is None):
            raise ConfigError(f"GICNet: built with query_size={0 if self.trunk is None else 'q > 0'}, called with "
                              f"query={'None' if query is None else query.shape}; pass a query exactly when the trunk "
                              "exists")
        lower, upper = jnp.asarray(self.lower, points.dtype), jnp.asarray(self.upper, points.dtype)
        scaled = 2 * (points - lower[None, :]) / (upper - lower)[None, :] - 1
        lifted = jax.vmap(self.lift)(values)
        gridded = self.interpolation(scaled, lifted, mask)
        nodes = jax.lax.stop_gradient(self.interpolation.nodes)
        d = len(self.lower)
        image = jnp.concatenate([gridded, nodes], axis=1).T.reshape((-1,) + (self.resolution,) * d)
        for conv in self.convs:
            image = self.activation(conv(image))
        coefficients = self.branch(image.ravel())
        if self.trunk is None:
            return coefficients + self.bias
        return coefficients.reshape(self.out_size, -1) @ self.trunk(query) + self.bias
