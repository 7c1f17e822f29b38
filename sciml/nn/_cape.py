"""CAPE (Takamoto, Alesiani & Niepert, ICML 2023): PDE-parameter conditioning of any autoregressive neural solver.

Implemented from the paper's description (see docs/guides/cape.md): a small parameter-gated network (`CAPEBlock`)
makes a cheap first guess of the next state from the current state and the PDE parameters; the unchanged base model
(FNO, U-Net, MPNN, ...) sees the current state and that guess as input channels (`CAPEConditioned`). The baselines are
the base model alone (`Unconditioned`) and the base model with the parameters as constant input channels
(`ParameterChannels`). All three share one call signature, ``solver(u, params) -> (next_state, guess)``, with
``guess`` the CAPE first guess (or None), so training and rollout code treat them alike. The conditioning objects
(`NoConditioning`, `ParameterChannelConditioning`, `CAPEConditioning`) build each around a base network maker
(`FNOBase`, `UNetBase`, `MPNNBase`).
"""

from __future__ import annotations

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError
from sciml.nn._fno import FNO, SpectralConv, check_spatial_shape, parameter_count, periodic_conv, pointwise
from sciml.nn._init import build_layer
from sciml.nn._mpnn import MPNN
from sciml.nn._unet import UNet

CAPE_GAINS = ("mlp", "affine")
"""How a `CAPEBlock` maps the parameters to its branch gains: the paper's MLPs, or affine maps."""


def _avg_pool(x: Array, factor: int, ndim: int) -> Array:
    c, *spatial = x.shape
    shape = [c]
    for n in spatial:
        shape += [n // factor, factor]
    return x.reshape(shape).mean(axis=tuple(range(2, 2 + 2 * ndim, 2)))


def _upsample_nearest(x: Array, factor: int, ndim: int) -> Array:
    for axis in range(1, ndim + 1):
        x = jnp.repeat(x, factor, axis=axis)
    return x


class CAPEBlock(eqx.Module):
    """The CAPE module: parameter-gated spectral, pointwise and depth-wise branches -> first guess of the next state.

    Stages: three MLPs (or, with ``gains="affine"``, affine maps) take the parameters to channel gains a_0, a_1, a_2 (W
    each); a stem conv (c -> W/2, GELU) feeds (i) a Fourier layer on a `pool`-times average-pooled grid, up-sampled back
    (gain a_0), (ii) a 1x1 conv (gain a_1), (iii) a depth-wise conv of width `kernel` (gain a_2); their sum plus an
    ungated 1x1 conv goes through GELU and a 1x1 head to c * horizon channels, normalised per channel over space
    (GroupNorm, so the block is not tied to one resolution; the paper's LayerNorm) when `normalize`, and added to the
    current state (``residual="add"``) or multiplying ``1 + y`` (``residual="multiply"``, the paper's 2D choice for
    positive fields). The normalisation fixes the RMS of the update whatever the parameters, so the guess then carries
    the parameters only through the update's shape; without it the update's size can follow them too (for advection the
    update is about ``-beta dt u_x``, whose shape does not depend on beta at all). A positive `update_cap` (instead of
    the normalisation) keeps the size but bounds it softly, per channel over space, at that many times the state's RMS:
    ``y / sqrt(1 + rms(y)^2 / (cap rms(u))^2)`` leaves updates small against the state nearly unchanged. Affine gains
    follow the equations of the 1D families, whose right-hand sides are affine in their parameters
    (``nu u_xx + rho u(1-u)``, ``-beta u_x``): the gated sum is then affine in the parameters, so at a parameter
    between trained ones it is the interpolation of theirs. That suits a step close to affine in the parameters, not
    one over which the state moves far (advection's frame shift ``exp(-beta dt d/dx)``).

    Call: ``block(u, params)`` with u (channels, *space) and params (n_params,) -> (channels * horizon, *space).
    """

    gains: tuple[eqx.nn.MLP | eqx.nn.Linear, ...]
    stem: eqx.nn.Conv
    spectral: SpectralConv
    pointwise: eqx.nn.Conv
    depthwise: eqx.nn.Conv
    ungated: eqx.nn.Conv
    head: eqx.nn.Conv
    norm: eqx.nn.GroupNorm | None
    channels: int = eqx.field(static=True)
    n_params: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    pool: int = eqx.field(static=True)
    modes: int = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    residual: str = eqx.field(static=True)
    update_cap: float = eqx.field(static=True)

    def __init__(self, channels: int, n_params: int, *, ndim: int = 1, width: int = 64, kernel: int = 5,
                 modes: int | None = None, pool: int = 4, horizon: int = 1, residual: str = "add",
                 normalize: bool = True, update_cap: float = 0.0, gains: str = "mlp", key: jax.Array):
        if residual not in ("add", "multiply"):
            raise ConfigError(f"CAPEBlock residual must be 'add' or 'multiply', got {residual!r}")
        if update_cap < 0 or (update_cap and (normalize or residual != "add")):
            raise ConfigError(f"CAPEBlock update_cap must be >= 0 (0: off); it bounds an additive update in place of "
                              f"the normalisation, got update_cap={update_cap} with normalize={normalize}, "
                              f"residual={residual!r}. Pass normalize=False and residual='add' with a cap")
        if width % 2:
            raise ConfigError(f"CAPEBlock width must be even, got {width}")
        if gains not in CAPE_GAINS:
            raise ConfigError(f"CAPEBlock gains must be 'mlp' (the paper's) or 'affine', got {gains!r}")
        modes = modes if modes is not None else (16 if ndim == 1 else 8)
        half = width // 2
        keys = jax.random.split(key, 9)
        self.gains = tuple(
            eqx.nn.MLP(n_params, width, half, depth=1, activation=jax.nn.gelu, key=k) if gains == "mlp"
            else eqx.nn.Linear(n_params, width, key=k) for k in keys[:3]
        )
        conv = dict(padding="SAME", padding_mode="CIRCULAR")
        self.stem = build_layer(eqx.nn.Conv, ndim, channels, half, kernel, use_bias=False, key=keys[3], **conv)
        self.spectral = SpectralConv(half, width, modes, ndim, key=keys[4])
        self.pointwise = build_layer(eqx.nn.Conv, ndim, half, width, 1, key=keys[5])
        self.depthwise = build_layer(eqx.nn.Conv, ndim, half, width, kernel, groups=half, use_bias=False,
                                     key=keys[6], **conv)
        self.ungated = build_layer(eqx.nn.Conv, ndim, half, width, 1, key=keys[7])
        self.head = build_layer(eqx.nn.Conv, ndim, width, channels * horizon, 1, key=keys[8])
        self.norm = eqx.nn.GroupNorm(channels * horizon, channels * horizon) if normalize else None
        self.channels, self.n_params, self.ndim = channels, n_params, ndim
        self.pool, self.modes, self.horizon, self.residual = pool, modes, horizon, residual
        self.update_cap = update_cap

    def __call__(self, u: Float[Array, " c *space"], params: Float[Array, " p"]) -> Float[Array, " cl *space"]:
        check_spatial_shape(u, self.channels, self.ndim, minimum=2 * self.modes * self.pool, who="CAPEBlock")
        if any(n % self.pool for n in u.shape[1:]):
            raise DataError(f"CAPEBlock pools by {self.pool}: spatial sizes must be multiples of it, got {u.shape[1:]}")
        if params.shape != (self.n_params,):
            raise DataError(f"CAPEBlock expects params of shape ({self.n_params},), got {params.shape}")
        expand = (slice(None),) + (None,) * self.ndim
        a0, a1, a2 = (mlp(params)[expand] for mlp in self.gains)
        h = jax.nn.gelu(periodic_conv(self.stem, u))
        spectral = _upsample_nearest(self.spectral(_avg_pool(h, self.pool, self.ndim)), self.pool, self.ndim)
        y = (a0 * spectral + a1 * pointwise(self.pointwise, h) + a2 * periodic_conv(self.depthwise, h)
             + pointwise(self.ungated, h))
        y = pointwise(self.head, jax.nn.gelu(y))
        if self.norm is not None:
            y = self.norm(y)
        current = jnp.tile(u, (self.horizon,) + (1,) * self.ndim)
        if self.update_cap:
            space = tuple(range(1, 1 + self.ndim))
            ratio = jnp.mean(y**2, axis=space, keepdims=True) / (
                self.update_cap**2 * jnp.mean(current**2, axis=space, keepdims=True) + 1e-12)
            y = y / jnp.sqrt(1 + ratio)
        return current + y if self.residual == "add" else current * (1 + y)


def _advance(u: Float[Array, " fc *space"], change: Float[Array, " c *space"]) -> Float[Array, " fc *space"]:
    """The next state of a stack of frames (oldest first): drop the oldest, append the newest frame + `change`. With
    one frame this is ``u + change``."""
    channels = change.shape[0]
    return jnp.concatenate([u[channels:], u[-channels:] + change])


class Unconditioned(eqx.Module):
    """The base model alone: ``next = u + base(u)``; the PDE parameters are ignored.

    The state may stack several frames along channels (oldest first, `sciml.operators.stack_frames`); the base sees
    them all and its output (one frame's channels) is added to the newest, which joins the stack (as
    `sciml.operators.FrameHistory` with ``residual=True``)."""

    base: eqx.Module

    def __call__(self, u: Float[Array, " c *space"], params: Float[Array, " p"]):
        return _advance(u, self.base(u)), None


def _constant_channels(params: Float[Array, " p"], u: Float[Array, " c *space"], n_params: int, who: str):
    """The parameters as constant fields on u's grid, (p, *space), in u's dtype."""
    if params.shape != (n_params,):
        raise DataError(f"{who} expects params of shape ({n_params},), got {params.shape}")
    constant = jnp.broadcast_to(params.reshape((-1,) + (1,) * (u.ndim - 1)), (n_params, *u.shape[1:]))
    return constant.astype(u.dtype)


class ParameterChannels(eqx.Module):
    """The "conditional" baseline: the parameters appended as constant input channels, ``next = u + base([u, p])``
    (with a stack of frames, as `Unconditioned`)."""

    base: eqx.Module
    n_params: int = eqx.field(static=True)

    def __call__(self, u: Float[Array, " c *space"], params: Float[Array, " p"]):
        constant = _constant_channels(params, u, self.n_params, "ParameterChannels")
        return _advance(u, self.base(jnp.concatenate([u, constant]))), None


class CAPEConditioned(eqx.Module):
    """CAPE + base: ``guess = cape(u, p)``; ``next = u + mix(base([u, guess]))``; returns (next, guess).

    The base model takes and returns ``c * (horizon + 1)`` channels; `mix` (1x1 conv) maps them back to c. With a
    stack of frames (``frames * c`` channels, oldest first) CAPE sees the newest frame, the base all frames and the
    guess (``c * (frames + horizon)`` channels in), and the change goes to the newest frame, as `Unconditioned`.
    With `parameter_channels` the base also reads the parameters as constant channels (``base([u, guess, p])``:
    CAPE on top of the conditional baseline, not the paper's, whose base sees the parameters only through the guess).
    With `detach_guess` the base reads the guess with its gradient stopped: the solver's loss then leaves the CAPE
    module alone, only CAPE's auxiliary loss trains it, and the guess stays a one-step prediction (in the paper's
    joint training at its auxiliary weight 5.7e-5 the solver's loss reshapes the module freely).
    """

    cape: CAPEBlock
    base: eqx.Module
    mix: eqx.nn.Conv
    parameter_channels: bool = eqx.field(static=True, default=False)
    detach_guess: bool = eqx.field(static=True, default=False)

    def __call__(self, u: Float[Array, " c *space"], params: Float[Array, " p"]):
        guess = self.cape(u[-self.cape.channels:], params)
        inputs = [u, jax.lax.stop_gradient(guess) if self.detach_guess else guess]
        if self.parameter_channels:
            inputs.append(_constant_channels(params, u, self.cape.n_params, "CAPEConditioned"))
        return _advance(u, pointwise(self.mix, self.base(jnp.concatenate(inputs)))), guess


@dataclasses.dataclass(frozen=True)
class FNOBase:
    """The base network of a neural solver: an `FNO` of width `size`, `modes` Fourier modes and `depth` layers; with
    `factorization` (a fraction of the dense spectral weights' parameters) its spectral weights are CP-factorized (a
    TFNO)."""

    size: int = 16
    modes: int = 12
    depth: int = 4
    factorization: float | None = None

    def __call__(self, channels_in: int, channels_out: int, *, ndim: int, key: jax.Array) -> FNO:
        return FNO(channels_in, channels_out, width=self.size, modes=self.modes, depth=self.depth, ndim=ndim,
                   factorization=self.factorization, key=key)


@dataclasses.dataclass(frozen=True)
class UNetBase:
    """The base network of a neural solver: a `UNet` with `size` first-stage features and `depth` levels."""

    size: int = 16
    depth: int = 4

    def __call__(self, channels_in: int, channels_out: int, *, ndim: int, key: jax.Array) -> UNet:
        return UNet(channels_in, channels_out, features=self.size, levels=self.depth, ndim=ndim, key=key)


@dataclasses.dataclass(frozen=True)
class MPNNBase:
    """The base network of a neural solver: an `MPNN` (1D grids only) of `size` node features, `depth` rounds of
    message passing and `neighbours` nodes on each side."""

    size: int = 64
    depth: int = 6
    neighbours: int = 2

    def __call__(self, channels_in: int, channels_out: int, *, ndim: int, key: jax.Array) -> MPNN:
        if ndim != 1:
            raise ConfigError(f"MPNNBase: the message-passing solver works on 1D grids, got ndim={ndim}; use the FNO "
                              "or U-Net base for 2D fields")
        return MPNN(channels_in, channels_out, hidden=self.size, layers=self.depth, neighbours=self.neighbours,
                    key=key)


class Conditioning(abc.ABC):
    """How the PDE parameters reach a neural solver: builds the solver (``solver(u, params) -> (next, guess)``)
    around a base network maker ``base(channels_in, channels_out, *, ndim, key)`` (`FNOBase`, `UNetBase`,
    `MPNNBase`).

    Every conditioning splits `key` into (base, CAPE, mix) keys, so the base gets the same weights under each.
    """

    @abc.abstractmethod
    def __call__(self, base, *, channels: int, n_params: int, ndim: int, key: jax.Array,
                 frames: int = 1) -> eqx.Module:
        """The conditioned solver for fields of `channels` channels on `ndim`-D grids and `n_params` parameters,
        whose state stacks the last `frames` frames (PDEBench's input of several frames)."""


@dataclasses.dataclass(frozen=True)
class NoConditioning(Conditioning):
    """The base model alone (`Unconditioned`): the parameters are ignored."""

    def __call__(self, base, *, channels: int, n_params: int, ndim: int, key: jax.Array,
                 frames: int = 1) -> Unconditioned:
        k_base, _, _ = jax.random.split(key, 3)
        return Unconditioned(base(frames * channels, channels, ndim=ndim, key=k_base))


@dataclasses.dataclass(frozen=True)
class ParameterChannelConditioning(Conditioning):
    """The parameters as constant input channels of the base model (`ParameterChannels`)."""

    def __call__(self, base, *, channels: int, n_params: int, ndim: int, key: jax.Array,
                 frames: int = 1) -> ParameterChannels:
        k_base, _, _ = jax.random.split(key, 3)
        return ParameterChannels(base(frames * channels + n_params, channels, ndim=ndim, key=k_base), n_params)


@dataclasses.dataclass(frozen=True)
class CAPEConditioning(Conditioning):
    """CAPE (`CAPEConditioned`): a `CAPEBlock` of `width` channels and `modes` Fourier modes (None: 16 in 1D, 8 in
    2D) on a `pool`-times pooled grid (4 in the paper, at 128 points; coarser grids need less), with its `residual`
    ("add" | "multiply"), update normalisation (`normalize`) or soft cap (`update_cap`) and parameter `gains` ("mlp" |
    "affine"), feeds its first guess to the base model (with `detach_guess`, with its gradient stopped); with
    `parameter_channels` the base model reads the parameters as constant channels too."""

    width: int = 64
    modes: int | None = None
    pool: int = 4
    residual: str = "add"
    normalize: bool = True
    update_cap: float = 0.0
    gains: str = "mlp"
    parameter_channels: bool = False
    detach_guess: bool = False

    def __call__(self, base, *, channels: int, n_params: int, ndim: int, key: jax.Array,
                 frames: int = 1) -> CAPEConditioned:
        k_base, k_cape, k_mix = jax.random.split(key, 3)
        cape = CAPEBlock(channels, n_params, ndim=ndim, width=self.width, modes=self.modes, pool=self.pool,
                         residual=self.residual, normalize=self.normalize, update_cap=self.update_cap,
                         gains=self.gains, key=k_cape)
        wide = channels * (cape.horizon + 1)
        inputs = channels * (frames + cape.horizon) + (n_params if self.parameter_channels else 0)
        return CAPEConditioned(cape, base(inputs, wide, ndim=ndim, key=k_base),
                               build_layer(eqx.nn.Conv, ndim, wide, channels, 1, key=k_mix), self.parameter_channels,
                               self.detach_guess)


def matched_size(target: int, build, sizes=range(4, 129)) -> int:
    """The size in `sizes` whose model ``build(size)`` has the parameter count closest to `target` (shapes only)."""
    return min(sizes, key=lambda s: abs(parameter_count(eqx.filter_eval_shape(build, s)) - target))
