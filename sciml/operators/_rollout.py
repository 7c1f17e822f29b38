"""Autoregressive rollout, curricula (teacher forcing -> autoregressive) and the rollout loss.

A neural solver is any callable ``solver(u, params) -> (next_state, guess)`` on one example (see
`sciml.nn.CAPEConditioned`, `ParameterChannels`, `Unconditioned`); ``guess`` is CAPE's first guess or None.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from sciml import _random as random
from sciml._errors import ConfigError
from sciml.train import AbstractAdaptiveLoss


def rollout(solver, u0: Float[Array, " c *space"], params: Float[Array, " p"],
            steps: int) -> Float[Array, "steps c *space"]:
    """Feed the solver its own output `steps` times (lax.scan); returns the predicted frames 1..steps."""

    def step(u, _):
        nxt, _ = solver(u, params)
        return nxt, nxt

    return jax.lax.scan(step, u0, None, length=steps)[1]


class FrameHistory(eqx.Module):
    """PDEBench's input of several frames: the base network sees the last `frames` frames as channels and predicts the
    next frame (``base(state)``, or ``state[-c:] + base(state)`` with `residual`); the PDE parameters are ignored.

    The solver's state is those frames stacked along channels, oldest first, ``(frames * channels, *space)``
    (`stack_frames`); a step drops the oldest frame and appends the prediction, so `rollout` and
    `curriculum_rollout` advance it unchanged. The base network maps ``frames * channels`` channels to `channels`.
    """

    base: Callable[[Array], Array]
    channels: int = eqx.field(static=True)
    residual: bool = eqx.field(static=True, default=False)

    def __call__(self, state: Float[Array, " fc *space"], params: Float[Array, " p"]):
        prediction = self.base(state)
        if self.residual:
            prediction = state[-self.channels:] + prediction
        return jnp.concatenate([state[self.channels:], prediction]), None


def stack_frames(u: Float[Array, "sample t c *space"], frames: int) -> Float[Array, "sample fc *space"]:
    """The `FrameHistory` state of frames ``0..frames-1`` of each trajectory: (sample, frames * c, *space)."""
    if not 1 <= frames <= u.shape[1]:
        raise ConfigError(f"need 1 <= frames <= {u.shape[1]} (the trajectories' frames), got {frames}")
    return u[:, :frames].reshape(u.shape[0], frames * u.shape[2], *u.shape[3:])


def frame_states(window: Float[Array, "t c *space"], frames: int) -> Float[Array, "t_states fc *space"]:
    """The `FrameHistory` states along a window of ``t`` frames: state j stacks frames ``j..j+frames-1`` (oldest
    first), ``t_states = t - frames + 1``; `frames` = 1 gives the window back."""
    if not 1 <= frames <= window.shape[0]:
        raise ConfigError(f"need 1 <= frames <= {window.shape[0]} (the window's frames), got {frames}")
    n_states = window.shape[0] - frames + 1
    shifted = jnp.stack([window[j:j + n_states] for j in range(frames)], axis=1)
    return shifted.reshape(n_states, frames * window.shape[1], *window.shape[2:])


def curriculum_rollout(solver, window: Float[Array, "t1 c *space"], params: Float[Array, " p"],
                       n_autoregressive: Int[Array, ""], *, pushforward: bool = False):
    """Predict frames 1..T of `window` (T + 1 frames), feeding the model's own output at steps ``1 <= t < n_ar``.

    Step t's input is the ground truth ``window[t]`` when ``t == 0`` or ``t >= n_autoregressive`` and the previous
    prediction otherwise: ``n_autoregressive = 1`` is pure teacher forcing, ``= T`` a fully autoregressive rollout.
    `n_autoregressive` is traced, so moving it never recompiles. With `pushforward`, gradients do not flow through
    the fed-back predictions (Brandstetter et al.'s pushforward trick) instead of backpropagating through time.

    Returns (predictions (T, c, *space), guesses (T, c * horizon, *space) or None).
    """
    horizon = window.shape[0] - 1

    def step(previous, t):
        fed_back = jax.lax.stop_gradient(previous) if pushforward else previous
        u = jnp.where((t > 0) & (t < n_autoregressive), fed_back, window[t])
        nxt, guess = solver(u, params)
        return nxt, (nxt, guess)

    _, (predictions, guesses) = jax.lax.scan(step, window[0], jnp.arange(horizon))
    return predictions, guesses


class Curriculum(abc.ABC):
    """How many steps of a training window feed the model its own output, against the epoch.

    Call: ``curriculum(epoch, epochs=..., horizon=..., warmup=...)`` with `epoch` traced (an int32 scalar, so moving
    it never recompiles) -> the autoregressive steps in ``1..horizon`` (1: teacher forcing). Subclasses must be
    hashable (frozen dataclasses): `RolloutLoss` keeps its curriculum as static.
    """

    @abc.abstractmethod
    def __call__(self, epoch: Int[Array, ""], *, epochs: int, horizon: int, warmup: int) -> Int[Array, ""]:
        """Autoregressive steps at `epoch` of `epochs` (the first `warmup` epochs train CAPE alone)."""


@dataclasses.dataclass(frozen=True)
class TanhCurriculum(Curriculum):
    """CAPE's schedule, a smooth move from teacher forcing to rollout: ``clip(floor(T s), 1, T)`` with
    ``s = (1 + tanh((e - 1/2) / steepness)) / 2``, ``e = (epoch - warmup) / (epochs - warmup)``."""

    steepness: float = 0.2

    def __call__(self, epoch: Int[Array, ""], *, epochs: int, horizon: int, warmup: int = 0) -> Int[Array, ""]:
        progress = (jnp.asarray(epoch, jnp.float32) - warmup) / max(epochs - warmup, 1)
        share = 0.5 * (1 + jnp.tanh((progress - 0.5) / self.steepness))
        return jnp.clip(jnp.floor(horizon * share), 1, horizon).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class TeacherForcing(Curriculum):
    """Every step gets the ground truth as input (one autoregressive step)."""

    def __call__(self, epoch: Int[Array, ""], *, epochs: int, horizon: int, warmup: int = 0) -> Int[Array, ""]:
        return jnp.asarray(1, jnp.int32)


@dataclasses.dataclass(frozen=True)
class Autoregressive(Curriculum):
    """Every step gets the model's own output (a full rollout of the window) from the start."""

    def __call__(self, epoch: Int[Array, ""], *, epochs: int, horizon: int, warmup: int = 0) -> Int[Array, ""]:
        return jnp.asarray(horizon, jnp.int32)


@dataclasses.dataclass(frozen=True)
class ParameterGradientPenalty:
    """CAPE's gradient penalty on the parameter input: ``weight * mean((||d u_next / d params||_rms - target)^2)``.

    At parameters drawn uniformly from the batch's range widened by `widen` times its width on each side (beyond the
    trained values, where held-out parameters may lie), the solver's one-step output is differentiated with respect to
    the parameters (forward mode, `jax.jacfwd`); the RMS over the output's points of that Jacobian is pulled
    towards `target`. The solver so stays sensitive to the parameters, by a set amount, outside the values it saw,
    instead of ignoring them or blowing up. The paper's 1D setting: weight 5.16e-4 and a Jacobian norm of 4.58 at 128
    points, drawn between half the smallest and twice the largest raw parameter; our parameters are standardised, so
    the range is widened in those units and the target is that norm's RMS, 4.58 / sqrt(128) = 0.405.

    Call: ``penalty(solver, states (batch, fc, *space), params (batch, p), channels, key)`` -> scalar.
    """

    weight: float = 5.16e-4
    target: float = 0.405
    widen: float = 0.5

    def __post_init__(self):
        if self.weight < 0 or self.target < 0 or self.widen < 0:
            raise ConfigError(f"ParameterGradientPenalty needs weight, target and widen >= 0, got {self}")

    def __call__(self, solver, states, params, channels: int, key) -> Float[Array, ""]:
        low, high = params.min(axis=0, keepdims=True), params.max(axis=0, keepdims=True)
        share = random.uniform(key, params.shape, params.dtype, -self.widen, 1 + self.widen)
        drawn = low + (high - low) * share

        def sensitivity(state, p):
            jacobian = jax.jacfwd(lambda q: solver(state, q)[0][-channels:])(p)  # (c, *space, p)
            return jnp.sqrt(jnp.sum(jacobian**2) * p.shape[0] / jacobian.size)  # RMS over the output's points

        rms = jax.vmap(sensitivity)(states, drawn)
        return self.weight * jnp.mean((rms - self.target) ** 2)


def _relative_l2(prediction, target, floor: float):
    """Per-example ||prediction - target|| / max(||target||, floor * sqrt(n)): relative L2, but never dividing by
    less than an RMS of `floor` (a state that has decayed to ~0, e.g. viscous Burgers, would otherwise dominate)."""
    axes = tuple(range(1, prediction.ndim))
    error = jnp.sqrt(jnp.sum((prediction - target) ** 2, axis=axes))
    size = prediction[0].size
    return error / jnp.maximum(jnp.sqrt(jnp.sum(target**2, axis=axes)), floor * size**0.5)


class RolloutLoss(AbstractAdaptiveLoss):
    """Sum over the window's steps of the batch-mean relative L2 error (CAPE's loss), plus CAPE's auxiliary loss.

    The curriculum state is the epoch counter `epoch` (an array leaf): the engine calls `update` every
    `update_every` steps (one epoch), which advances it; the number of autoregressive steps follows the
    `curriculum` (a `Curriculum`: `TanhCurriculum`, `TeacherForcing`, `Autoregressive` or your own). Relative errors
    divide by at least an RMS of `rms_floor` (in the normalised units of the batch), so windows whose state has
    decayed to ~0 do not dominate the loss. For a CAPE model, the first `warmup` epochs train on the auxiliary loss
    alone (the paper's warm-up of the CAPE module), and the curriculum starts after them. A `gradient_penalty`
    (`ParameterGradientPenalty`) adds CAPE's penalty on the output's sensitivity to the parameters, at the windows'
    first states.

    With `frames` > 1 the model is a `FrameHistory`: a window of ``frames + T`` frames becomes ``T + 1`` states of
    `frames` frames each (`frame_states`), the first state is the input and the newest frame of each predicted state
    is scored against frames ``frames..frames + T - 1``.

    Batches are ``{"u": (batch, frames + T, c, *space), "params": (batch, p)}``.
    """

    epoch: Int[Array, ""]
    update_every: int = eqx.field(static=True)
    epochs: int = eqx.field(static=True)
    curriculum: Curriculum = eqx.field(static=True)
    warmup: int = eqx.field(static=True)
    cape_weight: float = eqx.field(static=True)
    input_noise: float = eqx.field(static=True)
    pushforward: bool = eqx.field(static=True)
    rms_floor: float = eqx.field(static=True)
    frames: int = eqx.field(static=True)
    gradient_penalty: ParameterGradientPenalty | None = eqx.field(static=True)

    def __init__(self, *, steps_per_epoch: int, epochs: int, curriculum: Curriculum = TanhCurriculum(),
                 warmup: int = 0, cape_weight: float = 1e-2, input_noise: float = 0.0, pushforward: bool = False,
                 rms_floor: float = 1e-2, frames: int = 1, gradient_penalty: ParameterGradientPenalty | None = None):
        if not isinstance(curriculum, Curriculum):
            raise ConfigError(f"curriculum must be a Curriculum (e.g. TanhCurriculum()), got {curriculum!r}")
        if steps_per_epoch < 1 or epochs < 1:
            raise ConfigError(f"need steps_per_epoch >= 1 and epochs >= 1, got {steps_per_epoch}, {epochs}")
        if frames < 1:
            raise ConfigError(f"frames (input frames of the solver) must be >= 1, got {frames}")
        self.epoch = jnp.asarray(-1, jnp.int32)
        self.update_every, self.epochs, self.curriculum, self.warmup = steps_per_epoch, epochs, curriculum, warmup
        self.cape_weight, self.input_noise, self.pushforward = cape_weight, input_noise, pushforward
        if gradient_penalty is not None and not isinstance(gradient_penalty, ParameterGradientPenalty):
            raise ConfigError(f"gradient_penalty must be a ParameterGradientPenalty or None, got {gradient_penalty!r}")
        self.rms_floor, self.frames, self.gradient_penalty = rms_floor, frames, gradient_penalty

    def n_autoregressive(self, horizon: int) -> Int[Array, ""]:
        """Autoregressive steps in a window of `horizon` steps at the current epoch."""
        return self.curriculum(jnp.maximum(self.epoch, 0), epochs=self.epochs, horizon=horizon, warmup=self.warmup)

    def __call__(self, model, batch, key):
        u, params = batch["u"], batch["params"]
        channels = u.shape[2]
        horizon = u.shape[1] - self.frames
        if self.gradient_penalty is not None:
            key, penalty_key = jax.random.split(key)
        if self.input_noise:
            u = u + self.input_noise * random.normal(key, u.shape, u.dtype)
        states = jax.vmap(lambda w: frame_states(w, self.frames))(u)
        n_ar = self.n_autoregressive(horizon)
        predictions, guesses = jax.vmap(
            lambda w, p: curriculum_rollout(model, w, p, n_ar, pushforward=self.pushforward)
        )(states, params)
        predictions = predictions[:, :, -channels:]
        target = batch["u"][:, self.frames:]
        relative_l2 = jax.vmap(lambda p, t: _relative_l2(p, t, self.rms_floor), in_axes=1)
        per_step = relative_l2(predictions, target).mean(axis=1)
        loss = per_step.sum()
        metrics = {"rel_l2_last": per_step[-1], "n_autoregressive": n_ar.astype(jnp.float32)}
        if guesses is not None:
            aux = relative_l2(guesses[:, :, :channels], target).mean(axis=1).sum()
            loss = jnp.where(self.epoch < self.warmup, 0.0, loss) + self.cape_weight * aux
            metrics["cape_aux"] = aux
        if self.gradient_penalty is not None:
            penalty = self.gradient_penalty(model, states[:, 0], params, channels, penalty_key)
            loss = loss + penalty
            metrics["gradient_penalty"] = penalty
        return loss, metrics

    def update(self, model, batch, key):
        return eqx.tree_at(lambda loss: loss.epoch, self, self.epoch + 1)
