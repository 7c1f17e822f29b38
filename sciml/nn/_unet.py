"""U-Net (Ronneberger et al. 2015) in 1D and 2D with periodic convolutions, channel-first, one example per call."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import DataError
from sciml.nn._fno import check_spatial_shape
from sciml.nn._init import build_layer


class _ConvBlock(eqx.Module):
    """[3-point periodic conv -> GroupNorm -> GELU] x 2."""

    convs: tuple[eqx.nn.Conv, eqx.nn.Conv]
    norms: tuple[eqx.nn.GroupNorm, eqx.nn.GroupNorm]

    def __init__(self, ndim: int, in_channels: int, out_channels: int, *, key: jax.Array):
        k1, k2 = jax.random.split(key)
        groups = math.gcd(out_channels, 8)
        self.convs = (
            build_layer(eqx.nn.Conv, ndim, in_channels, out_channels, 3, padding=1, padding_mode="CIRCULAR",
                        use_bias=False, key=k1),
            build_layer(eqx.nn.Conv, ndim, out_channels, out_channels, 3, padding=1, padding_mode="CIRCULAR",
                        use_bias=False, key=k2),
        )
        self.norms = (eqx.nn.GroupNorm(groups, out_channels), eqx.nn.GroupNorm(groups, out_channels))

    def __call__(self, x):
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = jax.nn.gelu(norm(conv(x)))
        return x


def _pool(x: Array, ndim: int) -> Array:
    """Average over 2 (or 2x2) blocks."""
    c, *spatial = x.shape
    shape = [c]
    for n in spatial:
        shape += [n // 2, 2]
    return x.reshape(shape).mean(axis=tuple(range(2, 2 + 2 * ndim, 2)))


class UNet(eqx.Module):
    """U-Net: `levels` down-sampling stages (features f, 2f, 4f, ...), a bottleneck, mirrored up-sampling with skips.

    Args:
        in_channels, out_channels: physical channels; features: channels of the first stage (PDEBench/CAPE's
            ``init_features``); levels: number of 2x down-samplings; ndim: 1 or 2.

    Call: ``unet(u)`` with u of shape (in_channels, *space), every spatial size a multiple of 2**levels.
    """

    encoders: tuple[_ConvBlock, ...]
    bottleneck: _ConvBlock
    upsamplers: tuple[eqx.nn.ConvTranspose, ...]
    decoders: tuple[_ConvBlock, ...]
    head: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    levels: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, features: int = 32, levels: int = 3, ndim: int = 1,
                 key: jax.Array):
        keys = iter(jax.random.split(key, 3 * levels + 2))
        widths = [features * 2**i for i in range(levels + 1)]
        encoders, upsamplers, decoders = [], [], []
        channels = in_channels
        for width in widths[:-1]:
            encoders.append(_ConvBlock(ndim, channels, width, key=next(keys)))
            channels = width
        self.bottleneck = _ConvBlock(ndim, widths[-2], widths[-1], key=next(keys))
        for deeper, width in zip(widths[:0:-1], widths[-2::-1], strict=True):
            upsamplers.append(build_layer(eqx.nn.ConvTranspose, ndim, deeper, width, 2, stride=2, key=next(keys)))
            decoders.append(_ConvBlock(ndim, 2 * width, width, key=next(keys)))
        self.encoders, self.upsamplers, self.decoders = tuple(encoders), tuple(upsamplers), tuple(decoders)
        self.head = build_layer(eqx.nn.Conv, ndim, features, out_channels, 1, key=next(keys))
        self.in_channels, self.ndim, self.levels = in_channels, ndim, levels

    def __call__(self, u: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
        step = 2**self.levels
        check_spatial_shape(u, self.in_channels, self.ndim, minimum=step, who="UNet")
        if any(n % step for n in u.shape[1:]):
            raise DataError(f"UNet with {self.levels} levels needs spatial sizes divisible by {step}, got "
                            f"{u.shape[1:]}")
        skips = []
        h = u
        for encoder in self.encoders:
            h = encoder(h)
            skips.append(h)
            h = _pool(h, self.ndim)
        h = self.bottleneck(h)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips), strict=True):
            h = decoder(jnp.concatenate([upsample(h), skip]))
        return self.head(h)
