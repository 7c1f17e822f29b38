"""Neural ODEs on diffrax: a learned (or partly known) vector field integrated by any diffrax solver."""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.dynamics._checks import (
    check_observations,
    check_save_times,
    check_state_shape,
    solve_failed,
    with_failure_metric,
)
from sciml.nn import MLP


class MLPVectorField(eqx.Module):
    """`f(t, y, args) = MLP(y)` (or `MLP([t, y])` when time-dependent): a vector field for `NeuralODE`.

    Args:
        state_size: size of the state `y`.
        width, depth: hidden units and hidden layers of the MLP.
        activation: hidden nonlinearity (default softplus: smooth, so adaptive solvers take few steps).
        time_dependent: feed `t` as an extra input.
        key: PRNG key.
    """

    mlp: MLP
    state_size: int = eqx.field(static=True)
    time_dependent: bool = eqx.field(static=True)

    def __init__(self, state_size: int, width: int = 64, depth: int = 2, activation: Callable = jax.nn.softplus,
                 time_dependent: bool = False, *, key: jax.Array):
        self.mlp = MLP(state_size + int(time_dependent), state_size, width, depth, activation, key=key)
        self.state_size = state_size
        self.time_dependent = time_dependent

    def __call__(self, t, y: Float[Array, " state"], args=None) -> Float[Array, " state"]:
        x = jnp.concatenate([jnp.reshape(t, (1,)).astype(y.dtype), y]) if self.time_dependent else y
        return self.mlp(x)


class HybridVectorField(eqx.Module):
    """Known mechanistic terms plus a learned correction: `f(t, y, args) = known(t, y, args) + correction(t, y, args)`.

    Args:
        known: the mechanistic part, `(t, y, args) -> dy/dt` (its array leaves are trained too unless frozen;
            wrap constants in `jax.lax.stop_gradient` or keep them as Python floats to hold them fixed).
        correction: the learned part, e.g. an `MLPVectorField`, same signature.
    """

    known: Callable
    correction: Callable

    def __call__(self, t, y: Float[Array, " state"], args=None) -> Float[Array, " state"]:
        return self.known(t, y, args) + self.correction(t, y, args)


class NeuralODE(eqx.Module):
    """`dy/dt = vector_field(t, y, args)` solved with diffrax and saved at given times.

    Args:
        vector_field: any callable module `(t, y, args) -> dy/dt` with `dy/dt` shaped like `y`.
        solver: diffrax solver (default `Tsit5`, 5th order explicit Runge-Kutta with an embedded error estimate).
        stepsize_controller: default `PIDController(rtol=1e-3, atol=1e-6)`; use `ConstantStepSize` with `dt0`.
        adjoint: how gradients go through the solve (default `RecursiveCheckpointAdjoint`: exact gradients of the
            discretisation, O(log n) memory; `BacksolveAdjoint` is approximate and usually slower).
        dt0: initial step (None lets an adaptive controller choose it; required by `ConstantStepSize`).
        max_steps: step budget of one solve.

    Example: ``ys = NeuralODE(MLPVectorField(2, key=k))(jnp.linspace(0, 1, 20), jnp.ones(2))`` gives ``(20, 2)``.
    """

    vector_field: Callable
    solver: diffrax.AbstractSolver = eqx.field(default_factory=diffrax.Tsit5)
    stepsize_controller: diffrax.AbstractStepSizeController = eqx.field(
        default_factory=lambda: diffrax.PIDController(rtol=1e-3, atol=1e-6))
    adjoint: diffrax.AbstractAdjoint = eqx.field(default_factory=diffrax.RecursiveCheckpointAdjoint)
    dt0: float | None = None
    max_steps: int = eqx.field(static=True, default=4096)

    def solve(self, ts: Float[Array, " time"], y0: Float[Array, " state"], args=None) -> diffrax.Solution:
        """The full diffrax solution (values at `ts`, step statistics) starting from `y0` at `ts[0]`.

        A failed solve (step budget spent, non-finite state) does not raise: `solution.result` says why
        (`diffrax.RESULTS`) and the values after the failure are inf.
        """
        ts = check_save_times(ts)
        check_state_shape(self.vector_field, ts[0], y0, args, "NeuralODE vector_field")
        return diffrax.diffeqsolve(
            diffrax.ODETerm(self.vector_field), self.solver, ts[0], ts[-1], self.dt0, y0, args,
            saveat=diffrax.SaveAt(ts=ts), stepsize_controller=self.stepsize_controller, adjoint=self.adjoint,
            max_steps=self.max_steps, throw=False,
        )

    def __call__(self, ts: Float[Array, " time"], y0: Float[Array, " state"], args=None) -> Float[Array, "time state"]:
        """The state at each time of `ts` (row 0 is `y0`; inf from where a solve failed, see `solve`)."""
        return self.solve(ts, y0, args).ys


def trajectory_mse(model: NeuralODE, batch, key=None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Loss for `fit`: mean squared error of `model` started at each series' first (observed) state.

    Metrics: `mse` (over the series whose solve succeeded) and `solver_failed` (0, or inf with the loss when a solve
    failed, e.g. its step budget ran out: `fit` then stops at the last good state and names this metric). `batch` holds
    `ts` (time,) or (sample, time), `values` (sample, time, state) and optionally `mask` (same shape as
    `values`, True where observed; the first time of each series must be observed).
    """
    mask = batch.get("mask")
    values = check_observations(batch["values"], mask)
    mask = jnp.ones(values.shape, bool) if mask is None else mask
    ts = jnp.broadcast_to(batch["ts"], values.shape[:2])
    solutions = jax.vmap(model.solve)(ts, values[:, 0])
    failed = solve_failed(solutions)
    predicted = jnp.where(failed[:, None, None], values, solutions.ys)
    squared = jnp.where(mask, (predicted - values) ** 2, 0.0)
    mse = jnp.sum(squared) / jnp.maximum(jnp.sum(mask), 1)
    loss, solver_failed = with_failure_metric(mse, failed)
    return loss, {"mse": mse, "solver_failed": solver_failed}
