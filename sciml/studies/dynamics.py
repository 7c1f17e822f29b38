"""Shared steps of the neural-DE studies: rollouts of a trained ODE, long SDE ensembles and their bands."""

from __future__ import annotations

import dataclasses

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from sciml._errors import DataError
from sciml.dynamics import DiagonalDiffusion, MLPVectorField, NeuralODE, NeuralSDE, solve_failed


def published_sde_keys(seed: int) -> tuple[jax.Array, ...]:
    """`(drift, diffusion, fit, evaluation)` keys of the SDE studies: one split of the seed's key, as the published
    runs drew them (docs/results/nde_sde.md)."""
    return tuple(jax.random.split(jax.random.key(seed), 4))


def diagonal_sde(channels: int, width: int, depth: int, *, seed: int, dt0: float, max_steps: int) -> NeuralSDE:
    """The untrained neural SDE of the SDE studies: MLP drift and diagonal diffusion on `channels` states, Brownian
    increments on a grid, weights from `published_sde_keys(seed)`."""
    k_drift, k_diff, _, _ = published_sde_keys(seed)
    return NeuralSDE(MLPVectorField(channels, width, depth, key=k_drift),
                     DiagonalDiffusion(channels, width, depth, key=k_diff), dt0=dt0, brownian="grid",
                     max_steps=max_steps)


def _values_or_raise(solutions: diffrax.Solution, what: str, max_steps: int) -> np.ndarray:
    """The saved values of vmapped `solutions`; a `DataError` naming the first failed sample and diffrax's reason."""
    failed = np.asarray(solve_failed(solutions))
    if failed.any():
        i = int(np.argmax(failed))
        reason = diffrax.RESULTS[jax.tree_util.tree_map(lambda x: x[i], solutions.result)]
        raise DataError(f"{what}: the solve of sample {i} (and {int(failed.sum()) - 1} more) failed: {reason} "
                        f"(max_steps={max_steps}); expected a solve that reaches the last time. Shorten the "
                        "horizon or raise the model's max_steps (dataclasses.replace(model, max_steps=...))")
    return np.asarray(solutions.ys)


def rollout(model: NeuralODE, ts: np.ndarray, y0s: np.ndarray) -> np.ndarray:
    """`model` solved in float32 from each initial state in `y0s` (sample, state) on `ts` (time,).

    Returns (sample, time, state); a failed solve is a `DataError`.
    """
    solve = jax.vmap(model.solve, in_axes=(None, 0))
    return _values_or_raise(solve(jnp.asarray(ts, jnp.float32), jnp.asarray(y0s, jnp.float32)), "rollout",
                            model.max_steps)


def generate_paths(model: NeuralSDE, ts: jax.Array, starts: jax.Array, key: jax.Array, max_steps: int) -> np.ndarray:
    """One path of `model` from each start (sample, state) on `ts` (time,), allowing `max_steps` solver steps.

    Path `i` uses the `i`-th of ``jax.random.split(key, sample)``. Returns (sample, time, state); a failed solve is a
    `DataError`.
    """
    long_model = dataclasses.replace(model, max_steps=max_steps)
    generate = jax.jit(jax.vmap(lambda y0, k: long_model.solve(ts, y0, key=k)))
    return _values_or_raise(generate(starts, jax.random.split(key, starts.shape[0])), "generate_paths", max_steps)


def ensemble_band(paths: np.ndarray, dims: tuple[str, ...], quantiles: tuple[float, float] = (0.05, 0.95)
                  ) -> dict[str, tuple]:
    """Mean, std and the `quantiles` band over the first axis of `paths` (sample, *dims), as dataset variables."""
    return {
        "prediction_mean": (dims, paths.mean(0)),
        "prediction_std": (dims, paths.std(0)),
        "prediction_lower": (dims, np.quantile(paths, quantiles[0], axis=0)),
        "prediction_upper": (dims, np.quantile(paths, quantiles[1], axis=0)),
    }
