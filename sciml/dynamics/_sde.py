"""Neural SDEs on diffrax (diagonal noise, Ito or Stratonovich), the energy-score and path-MMD losses that train them
generatively, and stationary statistics of their paths."""

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

from sciml import _random as random
from sciml.dynamics._checks import check_save_times, check_state_shape, solve_failed, with_failure_metric
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


class GridBrownianPath(diffrax.AbstractBrownianPath):
    """Brownian motion sampled exactly at `t0 + k dt` (k = 0..steps) and linear in between.

    A fixed-step solver on that grid sees exact Brownian increments. The samples are drawn once from `key`, so
    every query (including the recomputation in a checkpointed backward pass) sees the same path.

    Args:
        t0: start time; dt: grid step; steps: grid intervals; shape: shape of the noise; key: PRNG key.
    """

    t0: jax.Array
    dt: float
    values: jax.Array
    levy_area: type = eqx.field(static=True, default=diffrax.BrownianIncrement)

    def __init__(self, t0, dt: float, steps: int, shape: tuple[int, ...], *, key: jax.Array):
        self.t0 = jnp.asarray(t0)
        self.dt = dt
        increments = jnp.sqrt(dt) * random.normal(key, (steps, *shape), self.t0.dtype)
        self.values = jnp.concatenate([jnp.zeros((1, *shape), increments.dtype), jnp.cumsum(increments, axis=0)])

    @property
    def t1(self):
        return self.t0 + self.dt * (self.values.shape[0] - 1)

    def _at(self, t):
        position = jax.lax.stop_gradient((t - self.t0) / self.dt)
        k = jnp.clip(jnp.floor(position), 0, self.values.shape[0] - 2).astype(jnp.int32)
        fraction = (position - k).astype(self.values.dtype)
        return self.values[k] + fraction * (self.values[k + 1] - self.values[k])

    def evaluate(self, t0, t1=None, left: bool = True, use_levy: bool = False):
        if use_levy:
            raise ValueError("GridBrownianPath has no Levy area; use a solver that needs only increments "
                             "(Euler, Heun, ReversibleHeun) or brownian='tree'")
        return self._at(t0) if t1 is None else self._at(t1) - self._at(t0)


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
        brownian: ``"tree"`` (default): `VirtualBrownianTree`; ``"grid"``: `GridBrownianPath` on the step grid,
            `max_steps` normals drawn up front (exact for the fixed step, several times cheaper; keep `max_steps`
            close to the steps a solve needs).
    """

    drift: Callable
    diffusion: Callable
    dt0: float
    noise: Literal["ito", "stratonovich"] = eqx.field(static=True, default="ito")
    solver: diffrax.AbstractSolver | None = None
    adjoint: diffrax.AbstractAdjoint = eqx.field(default_factory=diffrax.RecursiveCheckpointAdjoint)
    max_steps: int = eqx.field(static=True, default=4096)
    brownian: Literal["tree", "grid"] = eqx.field(static=True, default="tree")

    def __check_init__(self):
        if self.noise not in ("ito", "stratonovich"):
            raise ValueError(f"NeuralSDE noise must be 'ito' or 'stratonovich', got {self.noise!r}")
        if self.brownian not in ("tree", "grid"):
            raise ValueError(f"NeuralSDE brownian must be 'tree' or 'grid', got {self.brownian!r}")

    def _solver(self) -> diffrax.AbstractSolver:
        if self.solver is not None:
            return self.solver
        return diffrax.Euler() if self.noise == "ito" else diffrax.Heun()

    def __call__(self, ts: Float[Array, " time"], y0: Float[Array, " state"], args=None, *,
                 key: jax.Array) -> Float[Array, "time state"]:
        """One sample path started at `y0` at `ts[0]`, saved at `ts` (inf from where a solve failed, see `solve`)."""
        return self.solve(ts, y0, args, key=key).ys

    def solve(self, ts: Float[Array, " time"], y0: Float[Array, " state"], args=None, *,
              key: jax.Array) -> diffrax.Solution:
        """The diffrax solution of one sample path. A failed solve (e.g. `max_steps` too small for `ts`) does not
        raise: `solution.result` says why (`diffrax.RESULTS`) and the values after the failure are inf."""
        ts = check_save_times(ts)
        check_state_shape(self.drift, ts[0], y0, args, "NeuralSDE drift")
        check_state_shape(self.diffusion, ts[0], y0, args, "NeuralSDE diffusion (diagonal)")
        if self.brownian == "tree":
            path = diffrax.VirtualBrownianTree(ts[0], ts[-1], tol=self.dt0 / 2, shape=y0.shape, key=key)
        else:
            path = GridBrownianPath(ts[0], self.dt0, self.max_steps, y0.shape, key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(self.drift), diffrax.ControlTerm(_AsDiagonal(self.diffusion), path))
        return diffrax.diffeqsolve(
            terms, self._solver(), ts[0], ts[-1], self.dt0, y0, args, saveat=diffrax.SaveAt(ts=ts),
            adjoint=self.adjoint, max_steps=self.max_steps, throw=False,
        )


def path_mmd(generated: Float[Array, "n time channel"], observed: Float[Array, "m _time _channel"],
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
    Metric `solver_failed`: 0, or inf with the loss when a solve failed (`fit` then stops and names it).
    """
    values = batch["values"]
    keys = jax.random.split(key, values.shape[0])
    solutions = jax.vmap(lambda y0, k: model.solve(batch["ts"], y0, key=k))(values[:, 0], keys)
    failed = solve_failed(solutions)
    mmd = path_mmd(jnp.where(failed[:, None, None], 0.0, solutions.ys), values)
    loss, solver_failed = with_failure_metric(mmd, failed)
    return loss, {"mmd": mmd, "solver_failed": solver_failed}


def energy_score(samples: Float[Array, "m time channel"], observed: Float[Array, "time channel"]) -> jax.Array:
    """Energy score of `m >= 2` sampled paths against one observed path, summed over save times.

    At each time: `mean_j |X_j - y| - mean_{j != k} |X_j - X_k| / 2` (Euclidean norms over channels; the unbiased
    form). It is a strictly proper scoring rule (Gneiting and Raftery 2007): its expectation over `y` is smallest
    exactly when the sampled law equals the law `y` is drawn from (at each time), and it equals the squared MMD
    under the energy-distance kernel up to a term free of the model.
    """
    m = samples.shape[0]
    if m < 2:
        raise ValueError(f"energy_score needs at least 2 sampled paths per observation (the spread term), got {m}")
    if samples.shape[1:] != observed.shape:
        raise ValueError(f"energy_score: sampled paths {samples.shape[1:]} and the observed path {observed.shape} "
                         "must share (time, channel); save the model at the observation times")

    def norm(d):  # smooth at 0 (the first save time, where every path starts at the observed value)
        return jnp.sqrt(jnp.sum(d**2, axis=-1) + 1e-12)

    to_observed = jnp.mean(norm(samples - observed[None]), axis=0)
    between = jnp.sum(norm(samples[:, None] - samples[None, :]), axis=(0, 1)) / (m * (m - 1))
    return jnp.sum(to_observed - 0.5 * between)


def sde_energy_loss(model: NeuralSDE, batch, key: jax.Array, samples: int = 8
                    ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Loss for `fit`: mean energy score of `samples` paths generated from each observed window's first value.

    Each window is scored against paths started at its own first value, so the loss is minimised when the model's
    transition law `p(y(t) | y(t_0))` equals the data's at every save time of the window; for a Markov process that
    fixes the whole path law, hence the stationary mean, variance and autocorrelation. `batch` holds `ts` (time,) and
    `values` (window, time, channel). Metric `solver_failed`: 0, or inf with the loss when a solve failed (`fit` then
    stops and names it).
    """
    values = batch["values"]
    keys = jax.random.split(key, (values.shape[0], samples))
    generate = jax.vmap(jax.vmap(lambda y0, k: model.solve(batch["ts"], y0, key=k), in_axes=(None, 0)))
    solutions = generate(values[:, 0], keys)
    failed = solve_failed(solutions)
    score = jnp.mean(jax.vmap(energy_score)(jnp.where(failed[..., None, None], 0.0, solutions.ys), values))
    loss, solver_failed = with_failure_metric(score, failed)
    return loss, {"energy_score": score, "solver_failed": solver_failed}


def stationary_statistics(paths, dt: float, lags: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
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


def stationary_standard_errors(paths, dt: float, lags: Sequence[float] | np.ndarray, groups: int = 10
                               ) -> dict[str, np.ndarray]:
    """Standard errors of `stationary_statistics`, from its spread over `groups` disjoint groups of samples.

    The samples (independent paths) are split into `groups` equal groups; the standard error of each statistic is
    the standard deviation of the group estimates over `sqrt(groups)`. Same keys and shapes as the statistics.
    """
    paths = np.asarray(paths)
    if not 2 <= groups <= paths.shape[0]:
        raise ValueError(f"stationary_standard_errors: need 2 <= groups <= samples={paths.shape[0]}, got {groups}")
    per_group = [stationary_statistics(part, dt, lags) for part in np.array_split(paths, groups)]
    return {name: np.std([g[name] for g in per_group], axis=0, ddof=1) / np.sqrt(groups) for name in per_group[0]}
