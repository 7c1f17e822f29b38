"""Fourier neural operator (Li et al., ICLR 2021) in 1D and 2D, channel-first, one example per call."""

from __future__ import annotations

import functools
import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
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
    The transforms are truncated DFTs done as matrix products (`_real_dft`, `_complex_dft`) and the complex weights
    act as real 2 x 2 blocks on (real, imaginary) pairs: the numbers of ``irfftn(weights * rfftn(x)[kept])`` up to
    rounding, without FFTs or complex arithmetic. XLA:CPU runs FFTs several times slower inside a compiled training
    loop than in straight-line code, while matrix products run at full speed in both; with the few frequencies an
    FNO keeps, the products also take fewer operations than the FFTs.
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
        return spectral_mix(x, self.weights_real, self.weights_imag, self.modes, self.ndim)


class CPSpectralConv(eqx.Module):
    """Fourier layer of a factorized FNO (TFNO): the complex weights of `SpectralConv` as a rank-R CP tensor,
    ``W[c, i, o, k1(, k2)] = sum_r corner[r, c] cin[r, i] cout[r, o] modes1[r, k1] (modes2[r, k2])`` with complex
    factors (stored as real and imaginary parts), applied as `SpectralConv` applies its dense weights.

    Args:
        in_channels, out_channels, modes, ndim: as `SpectralConv`.
        rank: CP rank R (`cp_rank` gives the R of a fraction of the dense layer's parameters).

    neuraloperator's TFNO factorizes its spectral weights the same way (tensorly's CP or Tucker forms); this keeps
    the CP form only.
    """

    factors_real: tuple[Float[Array, "rank n"], ...]
    factors_imag: tuple[Float[Array, "rank n"], ...]
    modes: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, modes: int, ndim: int, *, rank: int, key: jax.Array):
        if ndim not in (1, 2):
            raise ValueError(f"CPSpectralConv supports ndim 1 or 2, got {ndim}")
        if rank < 1:
            raise ValueError(f"CPSpectralConv needs rank >= 1, got {rank}")
        sizes = (1 if ndim == 1 else 2, in_channels, out_channels, *([modes] * ndim))
        # each factor's entries ~ U(0, s) with s^len(sizes) * rank = 1 / (cin cout): SpectralConv's weight scale
        scale = (1.0 / (in_channels * out_channels * rank)) ** (1.0 / len(sizes))
        keys = jax.random.split(key, 2 * len(sizes))
        self.factors_real = tuple(scale * random.uniform(k, (rank, n)) for k, n in zip(keys[::2], sizes, strict=True))
        self.factors_imag = tuple(scale * random.uniform(k, (rank, n)) for k, n in zip(keys[1::2], sizes, strict=True))
        self.modes, self.ndim = modes, ndim

    def dense_weights(self) -> tuple[Float[Array, "corners cin cout *modes"], Float[Array, "corners cin cout *modes"]]:
        """The (real, imaginary) weights of the equivalent `SpectralConv`."""
        factors = [jax.lax.complex(a, b) for a, b in zip(self.factors_real, self.factors_imag, strict=True)]
        letters = "cioxy"[: len(factors)]
        weights = jnp.einsum(",".join(f"r{letter}" for letter in letters) + "->" + letters, *factors)
        return jnp.real(weights), jnp.imag(weights)

    def __call__(self, x: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
        real, imag = self.dense_weights()
        return spectral_mix(x, real, imag, self.modes, self.ndim)


def cp_rank(fraction: float, in_channels: int, out_channels: int, modes: int, ndim: int) -> int:
    """The CP rank whose factors hold about `fraction` of the parameters of the dense `SpectralConv`."""
    corners = 1 if ndim == 1 else 2
    dense = corners * in_channels * out_channels * modes**ndim
    per_rank = corners + in_channels + out_channels + ndim * modes
    return max(1, round(fraction * dense / per_rank))


def spectral_mix(x: Float[Array, " cin *space"], weights_real: Array, weights_imag: Array, modes: int,
                 ndim: int) -> Float[Array, " cout *space"]:
    """``irfftn(W * rfftn(x)[kept])`` for complex weights W = real + i imag of shape (corners, cin, cout, *modes),
    done as truncated DFT matrix products (see `SpectralConv`)."""
    m, out_dtype = modes, x.dtype
    # A bfloat16 input (mixed precision) is transformed in float32.
    dtype = jnp.promote_types(x.dtype, jnp.float32)
    x = x.astype(dtype)
    real, imag = weights_real.astype(dtype), weights_imag.astype(dtype)
    # blocks[p, corner, i, q, o, *modes]: (a + ib)(c + id) = (ac - bd) + i(ad + bc), parts p in and q out.
    blocks = jnp.stack([jnp.stack([real, imag], axis=2), jnp.stack([-imag, real], axis=2)])
    if ndim == 1:
        forward, inverse = (jnp.asarray(a, dtype) for a in _real_dft(x.shape[1], m))
        coefficients = jnp.einsum("in,npk->ipk", x, forward)
        mixed = jnp.einsum("ipk,piqok->qok", coefficients, blocks[:, 0])
        return jnp.einsum("qok,qkn->on", mixed, inverse).astype(out_dtype)
    forward2, inverse2 = (jnp.asarray(a, dtype) for a in _real_dft(x.shape[2], m))
    forward1, inverse1 = (jnp.asarray(a, dtype) for a in _complex_dft(x.shape[1], m))
    # The two corners become one axis of first-dimension frequencies, [0, m) then [n1 - m, n1).
    _, _, cin, _, cout, _, _ = blocks.shape
    blocks = jnp.moveaxis(blocks, 1, 4).reshape(2, cin, 2, cout, 2 * m, m)
    half = jnp.einsum("iab,bpk->iapk", x, forward2)
    coefficients = jnp.einsum("iapk,paqj->iqjk", half, forward1)
    mixed = jnp.einsum("ipjk,piqojk->oqjk", coefficients, blocks)
    back = jnp.einsum("oqjk,qjba->obak", mixed, inverse1)
    return jnp.einsum("obak,bkn->oan", back, inverse2).astype(out_dtype)


@functools.lru_cache(maxsize=64)
def _real_dft(n: int, modes: int) -> tuple[np.ndarray, np.ndarray]:
    """The rfft of n points truncated to frequencies 0..modes-1 (modes <= n / 2) as matrices: forward (n, 2, modes)
    maps a signal to (real, imaginary) coefficients; inverse (2, modes, n) maps them back as irfft does (every other
    coefficient zero, the imaginary part of frequency 0 ignored)."""
    angle = 2 * np.pi * (np.outer(np.arange(n), np.arange(modes)) % n) / n
    cos, sin = np.cos(angle), np.sin(angle)
    weight = np.where(np.arange(modes) == 0, 1.0, 2.0) / n  # each frequency > 0 stands for itself and its conjugate
    return np.stack([cos, -sin], axis=1), np.stack([weight[:, None] * cos.T, -weight[:, None] * sin.T])


@functools.lru_cache(maxsize=64)
def _complex_dft(n: int, modes: int) -> tuple[np.ndarray, np.ndarray]:
    """The complex DFT of n points truncated to frequencies [0, modes) and [n - modes, n) (2 modes <= n) as real
    matrices on (real, imaginary) pairs: forward (2, n, 2, 2 modes) and inverse (2, 2 modes, 2, n), the inverse
    scaled by 1 / n as ifft is (the dropped coefficients zero)."""
    frequencies = np.concatenate([np.arange(modes), np.arange(n - modes, n)])
    angle = 2 * np.pi * (np.outer(np.arange(n), frequencies) % n) / n
    cos, sin = np.cos(angle), np.sin(angle)
    forward = np.stack([np.stack([cos, -sin], axis=1), np.stack([sin, cos], axis=1)])
    inverse = np.stack([np.stack([cos.T, sin.T], axis=1), np.stack([-sin.T, cos.T], axis=1)]) / n
    return forward, inverse


def periodic_conv(conv: eqx.nn.Conv, x: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
    """A circularly padded, stride-1 `eqx.nn.Conv` of odd kernel size (any dimension and grouping) applied as a sum of
    shifted copies of `x` times its weights: the numbers of ``conv(x)`` up to rounding, as matrix products (see
    `pointwise`)."""
    kernel = conv.kernel_size
    centred = conv.padding == "SAME" or conv.padding == tuple((k // 2, k // 2) for k in kernel)
    if (any(k % 2 == 0 for k in kernel) or any(s != 1 for s in conv.stride) or any(d != 1 for d in conv.dilation)
            or conv.padding_mode != "CIRCULAR" or not centred):
        raise ValueError(f"periodic_conv needs odd kernels, stride 1, no dilation and circular 'SAME' padding; got "
                         f"kernel {kernel}, stride {conv.stride}, dilation {conv.dilation}, padding {conv.padding} "
                         f"({conv.padding_mode})")
    ndim, groups = len(kernel), conv.groups
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    # shifted[s][..., n] = x[..., n + offset - k // 2] (periodic): the window element that weight offset s meets.
    shifted = jnp.stack([jnp.roll(x, [k // 2 - o for o, k in zip(offset, kernel, strict=True)],
                                  axis=tuple(range(1, ndim + 1))) for offset in offsets])
    shifted = shifted.reshape(len(offsets), groups, x.shape[0] // groups, *x.shape[1:])
    weight = conv.weight.reshape(groups, conv.weight.shape[0] // groups, conv.weight.shape[1], len(offsets))
    out = jnp.einsum("goiw,wgi...->go...", weight, shifted).reshape(conv.weight.shape[0], *x.shape[1:])
    return out if conv.bias is None else out + conv.bias


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
        factorization: None (dense spectral weights) or the fraction of the dense weights' parameters that
            `CPSpectralConv` layers keep (a TFNO; neuraloperator's examples use 0.42 with Tucker factors).

    Call: ``fno(u)`` with u of shape (in_channels, *space), every spatial size >= 2 * modes.
    """

    lift: eqx.nn.Conv
    spectral: tuple[SpectralConv | CPSpectralConv, ...]
    pointwise: tuple[eqx.nn.Conv, ...]
    project_hidden: eqx.nn.Conv
    project_out: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    modes: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, width: int = 20, modes: int = 12, depth: int = 4,
                 ndim: int = 1, projection: int = 128, factorization: float | None = None, key: jax.Array):
        keys = jax.random.split(key, 2 * depth + 3)
        self.lift = build_layer(eqx.nn.Conv, ndim, in_channels + ndim, width, 1, key=keys[0])
        if factorization is None:
            self.spectral = tuple(SpectralConv(width, width, modes, ndim, key=k) for k in keys[1 : depth + 1])
        else:
            rank = cp_rank(factorization, width, width, modes, ndim)
            self.spectral = tuple(CPSpectralConv(width, width, modes, ndim, rank=rank, key=k)
                                  for k in keys[1 : depth + 1])
        self.pointwise = tuple(build_layer(eqx.nn.Conv, ndim, width, width, 1, key=k)
                               for k in keys[depth + 1 : 2 * depth + 1])
        self.project_hidden = build_layer(eqx.nn.Conv, ndim, width, projection, 1, key=keys[-2])
        self.project_out = build_layer(eqx.nn.Conv, ndim, projection, out_channels, 1, key=keys[-1])
        self.in_channels, self.ndim, self.modes = in_channels, ndim, modes

    def __call__(self, u: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
        check_spatial_shape(u, self.in_channels, self.ndim, minimum=2 * self.modes, who="FNO")
        h = pointwise(self.lift, jnp.concatenate([u, grid_coordinates(u.shape[1:], u.dtype)]))
        for index, (spectral, mix) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            h = spectral(h) + pointwise(mix, h)
            if index < len(self.spectral) - 1:
                h = jax.nn.gelu(h)
        return pointwise(self.project_out, jax.nn.gelu(pointwise(self.project_hidden, h)))


def pointwise(conv: eqx.nn.Conv, x: Float[Array, " cin *space"]) -> Float[Array, " cout *space"]:
    """A 1 x 1 `eqx.nn.Conv` (any dimension) applied as the matrix product over channels it is: the numbers of
    ``conv(x)`` up to rounding. XLA:CPU runs convolutions inside a compiled training loop several times slower than
    in straight-line code (the matrix product runs at full speed in both; `docs/results/fno_torch.md`)."""
    if any(k != 1 for k in conv.kernel_size):
        raise ValueError(f"pointwise needs a 1 x 1 convolution, got kernel size {conv.kernel_size}")
    out = jnp.tensordot(conv.weight.reshape(conv.weight.shape[:2]), x, axes=1)
    return out if conv.bias is None else out + conv.bias


def parameter_count(model) -> int:
    """Number of trainable scalars (inexact array leaves) in `model`."""
    leaves = jax.tree_util.tree_leaves(model)
    return sum(math.prod(x.shape) for x in leaves if eqx.is_inexact_array(x) or (
        isinstance(x, jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact)))
