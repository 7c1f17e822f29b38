"""Input checks shared by the differential-equation models: state shapes, save times, observation masks, and the
report of failed solves."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds values now (not a tracer inside `jit`/`vmap`/`grad`)."""
    return not isinstance(x, jax.core.Tracer)


def check_save_times(ts, what: str = "save times"):
    """Raise if `ts` is not a strictly increasing 1-D array; inside `jit` the check becomes a runtime error."""
    if jnp.ndim(ts) != 1 or jnp.shape(ts)[0] < 2:
        raise ValueError(f"{what}: expected a 1-D array of at least 2 times, got shape {jnp.shape(ts)}")
    message = f"{what} must be strictly increasing; sort them (and drop duplicates) before solving"
    if is_concrete(ts):
        steps = np.diff(np.asarray(ts))
        if not np.all(steps > 0):  # NaN fails too
            first = int(np.argmax(~(steps > 0)))
            raise ValueError(f"{message} (got ts[{first}]={np.asarray(ts)[first]} >= ts[{first + 1}]="
                             f"{np.asarray(ts)[first + 1]})")
        return ts
    return eqx.error_if(ts, ~jnp.all(jnp.diff(ts) > 0), message)  # NaN-safe: a NaN difference is not > 0


def solve_failed(solution: diffrax.Solution) -> jax.Array:
    """True where a solve run with ``throw=False`` did not reach its end (``solution.result`` is not
    ``diffrax.RESULTS.successful``: e.g. ``max_steps_reached``, ``nonfinite``); shaped like the vmapped batch."""
    return solution.result != diffrax.RESULTS.successful


def with_failure_metric(loss: jax.Array, failed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(loss, solver_failed)`: both inf when any entry of `failed` is True, else `(loss, 0)`.

    A loss must not hide a failed solve: the engine's guard (`sciml.train.fit`) then stops at the last good state
    and names the metric ``solver_failed`` as the term that broke.
    """
    any_failed = jnp.any(failed)
    return jnp.where(any_failed, jnp.inf, loss), jnp.where(any_failed, jnp.inf, 0.0).astype(jnp.result_type(loss))


def check_state_shape(vector_field, t0, y0, args, what: str = "vector field") -> None:
    """Raise if `vector_field(t0, y0, args)` fails on, or does not return, an array shaped like `y0`."""
    try:
        out = jax.eval_shape(vector_field, t0, y0, args)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{what} cannot take a state of shape {jnp.shape(y0)}: {err}. Pass y0 with the state size the "
            f"{what} was built for."
        ) from err
    if getattr(out, "shape", None) != jnp.shape(y0):
        raise ValueError(
            f"{what} returns shape {getattr(out, 'shape', type(out))} for a state of shape {jnp.shape(y0)}; "
            "the derivative must have the state's shape: build the vector field with state_size equal to y0's size."
        )


def check_observations(values, mask=None, what: str = "observations"):
    """Raise on NaN observations that no mask marks as missing; return the values with masked entries set to 0."""
    if mask is None:
        if is_concrete(values):
            if np.isnan(np.asarray(values)).any():
                raise ValueError(
                    f"{what} contain NaN but no mask was given; pass mask (True where observed) or drop the NaN "
                    "entries (sciml.data.series_arrays returns the mask of a dataset)"
                )
            return values
        return eqx.error_if(values, jnp.any(jnp.isnan(values)), f"{what} contain NaN but no mask was given")
    if jnp.shape(mask) != jnp.shape(values):
        raise ValueError(f"{what}: mask shape {jnp.shape(mask)} differs from the values' shape {jnp.shape(values)}")
    if is_concrete(values) and is_concrete(mask):
        if np.isnan(np.asarray(values)[np.asarray(mask, bool)]).any():
            raise ValueError(f"{what} contain NaN where the mask says observed; set the mask False there")
    return jnp.where(mask, values, 0.0)
