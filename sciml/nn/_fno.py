"""Fourier neural operator (Li et al., ICLR 2021) in 1D and 2D, channel-first, one example per call."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml import _random as random
from sciml._errors import DataError
from sciml.nn._init import build_layer


def check_spatial_shape(u: Array, channels: int, ndim: int, *, minimum: int, who: str) -> None:
    """Raise `DataError` unless `u` has shape (channels, n_1, ..., n_ndim) with every n_i >= `minimum`."""
    if u.ndim != ndim + 1 or u.shape[0] != channels or any(n < minimum for n in u.shape[1:]):
        expected = "(" + ", ".join([str(channels)] + [f"n{i + 1}>={minimum}" for i in range(ndim)]) + ")"
        raise DataError(
            f"{who} expects one example of shape {expected} (channels first, {ndim} spatial dims), got {u.shape}. "
            "vmap over a batch axis, move channels first, or use a model built for this dimension/grid."
        )


class SpectralConv(eqx.Module):
    """Fourier layer: keep the lowest `modes` frequencies per axis and mix channels there with complex weights.

    In 2D the retained block covers both signs of the first axis' frequencies (two corners of the rfft2 output).
    """

    weights_real: Float[Array, "corners cin cout *modes"]
    weights_imag: Float[Array, "corners cin cout *modes"]
    modes: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, modes: int, ndim: int, *, key: jax.Array):
        if ndim not in (1, 2):
            raise ValueError(f"SpectralConv supports ndim 1 or 2, got {ndim}")
        corners = 1 if ndim == 1 else 2
        shape = (corners, in_channels, out_channels, *([modes] * ndim))
        scale = 1.0 / (in_channels * out_channels)
        key_real, key_imag = jax.random.split(key)
        self.weights_real = scale * random.uniform(key_real, shape)
        self.weights_imag = scale * random.uniform(key_imag, shape)
        self.modes, self.ndim = modes, ndim

    def __call__(self, x: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
        m = self.modes
        weights = self.weights_real + 1j * self.weights_imag
        spatial = x.shape[1:]
        axes = tuple(range(1, self.ndim + 1))
        # XLA has no bfloat16 FFT: a bfloat16 input (mixed precision) is transformed in float32.
        coefficients = jnp.fft.rfftn(x.astype(jnp.promote_types(x.dtype, jnp.float32)), axes=axes)
        out_shape = (weights.shape[2], *coefficients.shape[1:])
        if self.ndim == 1:
            low = jnp.einsum("ik,iok->ok", coefficients[:, :m], weights[0])
            out = jnp.zeros(out_shape, coefficients.dtype).at[:, :m].set(low)
        else:
            top = jnp.einsum("ikl,iokl->okl", coefficients[:, :m, :m], weights[0])
            bottom = jnp.einsum("ikl,iokl->okl", coefficients[:, -m:, :m], weights[1])
            out = jnp.zeros(out_shape, coefficients.dtype).at[:, :m, :m].set(top).at[:, -m:, :m].set(bottom)
        return jnp.fft.irfftn(out, s=spatial, axes=axes).astype(x.dtype)


def grid_coordinates(spatial: tuple[int, ...], dtype) -> Float[Array, " ndim *space"]:
    """Cell-start coordinates in [0, 1) of a periodic grid, one channel per axis."""
    axes = [jnp.arange(n, dtype=dtype) / n for n in spatial]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"))


class FNO(eqx.Module):
    """Fourier neural operator: lift (1x1 conv) -> `depth` x [spectral conv + 1x1 conv, GELU] -> project (2 layers).

    The grid coordinates are appended to the input channels, as in the reference FNO.

    Args:
        in_channels, out_channels: physical channels in and out.
        width: hidden channels; modes: Fourier modes kept per axis; depth: number of Fourier layers.
        ndim: 1 or 2 spatial dimensions; projection: hidden channels of the output head.

    Call: ``fno(u)`` with u of shape (in_channels, *space), every spatial size >= 2 * modes.
    """

    lift: eqx.nn.Conv
    spectral: tuple[SpectralConv, ...]
    pointwise: tuple[eqx.nn.Conv, ...]
    project_hidden: eqx.nn.Conv
    project_out: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    modes: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, width: int = 20, modes: int = 12, depth: int = 4,
                 ndim: int = 1, projection: int = 128, key: jax.Array):
        keys = jax.random.split(key, 2 * depth + 3)
        self.lift = build_layer(eqx.nn.Conv, ndim, in_channels + ndim, width, 1, key=keys[0])
        self.spectral = tuple(SpectralConv(width, width, modes, ndim, key=k) for k in keys[1 : depth + 1])
        self.pointwise = tuple(build_layer(eqx.nn.Conv, ndim, width, width, 1, key=k)
                               for k in keys[depth + 1 : 2 * depth + 1])
        self.project_hidden = build_layer(eqx.nn.Conv, ndim, width, projection, 1, key=keys[-2])
        self.project_out = build_layer(eqx.nn.Conv, ndim, projection, out_channels, 1, key=keys[-1])
        self.in_channels, self.ndim, self.modes = in_channels, ndim, modes

    def __call__(self, u: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
        check_spatial_shape(u, self.in_channels, self.ndim, minimum=2 * self.modes, who="FNO")
        h = self.lift(jnp.concatenate([u, grid_coordinates(u.shape[1:], u.dtype)]))
        for index, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            h = spectral(h) + pointwise(h)
            if index < len(self.spectral) - 1:
                h = jax.nn.gelu(h)
        return self.project_out(jax.nn.gelu(self.project_hidden(h)))


def parameter_count(model) -> int:
    """Number of trainable scalars (inexact array leaves) in `model`."""
    leaves = jax.tree_util.tree_leaves(model)
    return sum(math.prod(x.shape) for x in leaves if eqx.is_inexact_array(x) or (
        isinstance(x, jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact)))
