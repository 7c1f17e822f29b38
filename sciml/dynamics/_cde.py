"""Neural controlled differential equations: a continuous RNN driven by an interpolation of irregular data."""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.dynamics._checks import check_save_times, solve_failed
from sciml.nn import MLP


def cde_coefficients(ts: Float[Array, " time"], values: Float[Array, "time channel"]) -> tuple[Array, ...]:
    """Hermite cubic (backward differences) coefficients of the path `[t, values(t)]` for `NeuralCDE`.

    Missing observations are NaN in `values` (time itself is always known, so it is prepended as a channel: the path
    then carries the sampling irregularity). NaN at the start are filled with the first observed value, at the end
    carried forward. Vmap over samples for a batch.
    """
    ts = check_save_times(ts)
    if values.ndim != 2 or values.shape[0] != ts.shape[0]:
        raise ValueError(f"cde_coefficients: expected values of shape (time={ts.shape[0]}, channel), "
                         f"got {values.shape}")
    path = jnp.concatenate([ts[:, None].astype(values.dtype), values], axis=1)
    observed = ~jnp.isnan(path)
    first = jnp.argmax(observed, axis=0)
    first_value = path[first, jnp.arange(path.shape[1])]
    return diffrax.backward_hermite_coefficients(ts, path, replace_nans_at_start=first_value,
                                                 fill_forward_nans_at_end=True)


class _CDEField(eqx.Module):
    mlp: MLP
    hidden_size: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)

    def __call__(self, t, z, args):
        return jnp.tanh(self.mlp(z)).reshape(self.hidden_size, self.channels)


class NeuralCDE(eqx.Module):
    """`dz = f(z) dX(t)`, `z(t0) = initial(X(t0))`, output `readout(z(t1))`, with `X` the interpolated data path.

    Args:
        channels: channels of the path given to `cde_coefficients` (data channels + 1 for time).
        hidden_size: size of the hidden state `z`.
        out_size: output size (e.g. 1 logit for a binary label).
        width, depth: MLP of the vector field (tanh-bounded, so the CDE is well posed on any input).
        solver, stepsize_controller, adjoint: diffrax choices (defaults Tsit5; PID rtol 1e-3 / atol 1e-6;
            recursive checkpointing).
        key: PRNG key.
    """

    initial: eqx.nn.Linear
    field: _CDEField
    readout: eqx.nn.Linear
    solver: diffrax.AbstractSolver
    stepsize_controller: diffrax.AbstractStepSizeController
    adjoint: diffrax.AbstractAdjoint
    max_steps: int = eqx.field(static=True)

    def __init__(self, channels: int, hidden_size: int, out_size: int, width: int = 64, depth: int = 2,
                 activation: Callable = jax.nn.softplus, *, solver: diffrax.AbstractSolver | None = None,
                 stepsize_controller: diffrax.AbstractStepSizeController | None = None,
                 adjoint: diffrax.AbstractAdjoint | None = None, max_steps: int = 4096, key: jax.Array):
        k_init, k_field, k_out = jax.random.split(key, 3)
        self.initial = eqx.nn.Linear(channels, hidden_size, key=k_init)
        self.field = _CDEField(MLP(hidden_size, hidden_size * channels, width, depth, activation, key=k_field),
                               hidden_size, channels)
        self.readout = eqx.nn.Linear(hidden_size, out_size, key=k_out)
        self.solver = solver if solver is not None else diffrax.Tsit5()
        self.stepsize_controller = (stepsize_controller if stepsize_controller is not None
                                    else diffrax.PIDController(rtol=1e-3, atol=1e-6))
        self.adjoint = adjoint if adjoint is not None else diffrax.RecursiveCheckpointAdjoint()
        self.max_steps = max_steps

    def __call__(self, ts: Float[Array, " time"], coeffs: tuple[Array, ...]) -> Float[Array, " out"]:
        """Output at the last time from the path given by `cde_coefficients(ts, values)` (NaN if the solve failed;
        `output_and_failure` says so)."""
        return self.output_and_failure(ts, coeffs)[0]

    def output_and_failure(self, ts: Float[Array, " time"], coeffs: tuple[Array, ...]) -> tuple[Array, Array]:
        """`(output (out,), failed ())`: a failed solve (e.g. `max_steps` spent) does not raise; `failed` is True
        (`diffrax.RESULTS` not successful) and the output is then NaN."""
        ts = check_save_times(ts)
        channels = self.field.channels
        if coeffs[0].shape != (ts.shape[0] - 1, channels):
            raise ValueError(f"NeuralCDE: coefficients of shape {coeffs[0].shape} do not match ts ({ts.shape[0]} "
                             f"times) and {channels} channels; expected ({ts.shape[0] - 1}, {channels}) from "
                             "cde_coefficients(ts, values) with values of channels-1 columns")
        control = diffrax.CubicInterpolation(ts, coeffs)
        z0 = self.initial(control.evaluate(ts[0]))
        controller = self.stepsize_controller
        if isinstance(controller, diffrax.AbstractAdaptiveStepSizeController):
            # The interpolation's derivative jumps at the knots: restart the step there instead of rejecting.
            controller = diffrax.ClipStepSizeController(controller, jump_ts=ts)
        solution = diffrax.diffeqsolve(
            diffrax.ControlTerm(self.field, control).to_ode(), self.solver, ts[0], ts[-1], None, z0,
            stepsize_controller=controller, adjoint=self.adjoint, max_steps=self.max_steps, throw=False,
        )
        failed = solve_failed(solution)
        return jnp.where(failed, jnp.nan, self.readout(solution.ys[-1])), failed
