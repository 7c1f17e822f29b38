"""Neural SDEs on diffrax (diagonal noise, Ito or Stratonovich) and the path-MMD loss that trains them generatively."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax
import numpy as np
from jaxtyping import Array, Float

from sciml.dynamics._checks import check_save_times, check_state_shape
from sciml.nn import MLP


class DiagonalDiffusion(eqx.Module):
    """`g(t, y, args) = softplus(MLP(y))`: a positive diagonal diffusion (one noise channel per state entry).

    Args:
        state_size: size of the state.
        width, depth: MLP size.
        key: PRNG key.
    """

    mlp: MLP

    def __init__(self, state_size: int, width: int = 32, depth: int = 2, *, key: jax.Array):
        self.mlp = MLP(state_size, state_size, width, depth, jax.nn.softplus, key=key)

    def __call__(self, t, y: Float[Array, " state"], args=None) -> Float[Array, " state"]:
        return jax.nn.softplus(self.mlp(y))


class _AsDiagonal(eqx.Module):
    """The diffusion's vector as a diagonal operator, so diffrax multiplies it into the noise elementwise."""

    diffusion: Callable

    def __call__(self, t, y, args):
        return lineax.DiagonalLinearOperator(self.diffusion(t, y, args))


class NeuralSDE(eqx.Module):
    """`dy = drift(t, y) dt + diffusion(t, y) * dW` (diagonal noise), fixed step, Ito or Stratonovich.

    Args:
        drift: `(t, y, args) -> (state,)`.
        diffusion: `(t, y, args) -> (state,)`, the diagonal of the noise matrix (e.g. `DiagonalDiffusion`).
        dt0: the fixed step.
        noise: ``"ito"`` (default solver Euler-Maruyama) or ``"stratonovich"`` (default solver Heun); a solver passed
            in must converge to the chosen interpretation.
        solver: diffrax SDE solver, or None for the default of `noise`.
        adjoint: diffrax adjoint (default `RecursiveCheckpointAdjoint`).
        max_steps: step budget of one solve (at least `(ts[-1] - ts[0]) / dt0`).
    """

    drift: Callable
    diffusion: Callable
    dt0: float
    noise: Literal["ito", "stratonovich"] = eqx.field(static=True, default="ito")
    solver: diffrax.AbstractSolver | None = None
    adjoint: diffrax.AbstractAdjoint = eqx.field(default_factory=diffrax.RecursiveCheckpointAdjoint)
    max_steps: int = eqx.field(static=True, default=4096)

    def __check_init__(self):
        if self.noise not in ("ito", "stratonovich"):
            raise ValueError(f"NeuralSDE noise must be 'ito' or 'stratonovich', got {self.noise!r}")

    def _solver(self) -> diffrax.AbstractSolver:
        if self.solver is not None:
            return self.solver
        return diffrax.Euler() if self.noise == "ito" else diffrax.Heun()

    def __call__(self, ts: Float[Array, " time"], y0: Float[Array, " state"], args=None, *,
                 key: jax.Array) -> Float[Array, "time state"]:
        """One sample path started at `y0` at `ts[0]`, saved at `ts`."""
        ts = check_save_times(ts)
        check_state_shape(self.drift, ts[0], y0, args, "NeuralSDE drift")
        check_state_shape(self.diffusion, ts[0], y0, args, "NeuralSDE diffusion (diagonal)")
        # A virtual Brownian tree: the same path whatever the query order, as the backward pass needs.
        path = diffrax.VirtualBrownianTree(ts[0], ts[-1], tol=self.dt0 / 2, shape=y0.shape, key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(self.drift), diffrax.ControlTerm(_AsDiagonal(self.diffusion), path))
        solution = diffrax.diffeqsolve(
            terms, self._solver(), ts[0], ts[-1], self.dt0, y0, args, saveat=diffrax.SaveAt(ts=ts),
            adjoint=self.adjoint, max_steps=self.max_steps,
        )
        return solution.ys


def path_mmd(generated: Float[Array, "n time channel"], observed: Float[Array, "m time channel"],
             scales: Sequence[float] = (0.1, 0.3, 1.0, 3.0)) -> jax.Array:
    """Unbiased squared maximum mean discrepancy between two sets of sample paths.

    Each path (its values at the common save times, flattened) is one point; the kernel is a sum of Gaussians whose
    bandwidths are `scales` times the median squared distance between observed paths (held fixed in the gradient).
    A characteristic kernel on the finite-dimensional path law makes MMD zero only when the joint distributions at
    the save times agree: marginal means, variances and autocorrelations are all matched.
    """
    if generated.shape[1:] != observed.shape[1:]:
        raise ValueError(f"path_mmd: generated paths {generated.shape[1:]} and observed paths {observed.shape[1:]} "
                         "must share (time, channel); save the model at the observation times")
    x = generated.reshape(generated.shape[0], -1)
    y = observed.reshape(observed.shape[0], -1)

    def squared_distances(a, b):
        return jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T

    dyy = squared_distances(y, y)
    median = jax.lax.stop_gradient(jnp.median(dyy))

    def kernel(d):
        return sum(jnp.exp(-d / (scale * median)) for scale in scales)

    def off_diagonal_mean(k):
        n = k.shape[0]
        return (jnp.sum(k) - jnp.trace(k)) / (n * (n - 1))

    return off_diagonal_mean(kernel(squared_distances(x, x))) + off_diagonal_mean(kernel(dyy)) \
        - 2 * jnp.mean(kernel(squared_distances(x, y)))


def sde_mmd_loss(model: NeuralSDE, batch, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Loss for `fit`: path MMD between paths generated from each observed path's first value and the observed paths.

    `batch` holds `ts` (time,) and `values` (sample, time, channel); one Brownian path per sample from `key`.
    """
    values = batch["values"]
    keys = jax.random.split(key, values.shape[0])
    generated = jax.vmap(lambda y0, k: model(batch["ts"], y0, key=k))(values[:, 0], keys)
    mmd = path_mmd(generated, values)
    return mmd, {"mmd": mmd}


def stationary_statistics(paths, dt: float, lags: Sequence[float]) -> dict[str, np.ndarray]:
    """Mean, variance and autocorrelation of stationary paths, pooled over samples and times.

    Args:
        paths: (sample, time, channel) values on a uniform grid of step `dt` (burn-in already removed).
        lags: lags in time units (multiples of `dt`).

    Returns `{"mean": (channel,), "variance": (channel,), "autocorrelation": (lag, channel)}`.
    """
    paths = np.asarray(paths, dtype=np.float64)
    mean = paths.mean(axis=(0, 1))
    centred = paths - mean
    variance = np.mean(centred**2, axis=(0, 1))
    correlations = []
    for lag in lags:
        k = int(round(lag / dt))
        if not 0 < k < paths.shape[1] or abs(k * dt - lag) > 1e-6 * max(1.0, lag):
            raise ValueError(f"lag {lag} must be a positive multiple of dt={dt} shorter than the paths")
        correlations.append(np.mean(centred[:, k:] * centred[:, :-k], axis=(0, 1)) / variance)
    return {"mean": mean, "variance": variance, "autocorrelation": np.asarray(correlations)}
