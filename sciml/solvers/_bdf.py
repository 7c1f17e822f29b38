"""Variable-order, variable-step BDF integration of semi-explicit index-1 DAEs ``M du/dt = F(t, u)`` in JAX.

``M = diag(mass)`` with ``mass_i`` 1 on differential and 0 on algebraic rows (``0 = F_i(t, u)``).

Why hand-written: diffrax integrates ODEs only (no mass matrix, no algebraic equations) and has no BDF method. A DAE
such as the P2D battery model (concentrations obey ODEs, the potentials algebraic charge balances) then has to be
reduced to an ODE by solving the algebraic equations inside every right-hand-side evaluation: a nested Newton solve
per stage, per chord iteration and per Jacobian, which made diffrax's Kvaerno5 on the P2D model about twenty times
slower than this BDF, and slow to compile. A BDF on the DAE itself solves differential and algebraic
unknowns together, with a modified Newton iteration whose Jacobian and LU factorisation are reused over many steps,
as IDA does.

Method: the numerical differentiation formulas (NDFs, orders 1-5) of Shampine & Reichelt (The MATLAB ODE suite,
SIAM J. Sci. Comput. 18, 1997), in backward-difference form with quasi-constant steps: a step of order k from t to
t + h predicts ``u_pred = sum_{j<=k} D_j`` (D_j the j-th backward differences, scaled to the step h), then solves

    M (psi + d) = c F(t + h, u_pred + d),   c = h / alpha_k,   psi = sum_{j=1..k} gamma_j D_j / alpha_k,

for the correction d by Newton iterations with the matrix ``M - c J`` (J = dF/du, refreshed only when Newton stalls).
The local error is ``error_constant_k * d``; a change of step size rescales the differences by the interpolating
polynomial, and every k + 1 equal steps the order moves by at most one to the one allowing the largest next step.
On algebraic rows the corrector equation is ``0 = F_i``, so the potentials of an index-1 DAE are solved exactly
at every step. Output at requested times comes from the same interpolating polynomial, and events (a function of
the state crossing zero from above) are located on it by bisection.

Forward-mode differentiation (`jax.jvp`, `jax.jacfwd`) goes through the loop: the tangents follow the Newton
iterations to the sensitivities of the converged steps. The Newton matrix and the step-size and order choices are
not differentiated (they change how fast the iteration converges, not where to), so the derivatives are those of the
integration on its chosen step sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

MAX_ORDER = 5
NEWTON_ITERATIONS = 4  # Newton iterations per attempt before the Jacobian is refreshed or the step halved
_KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])  # NDF coefficients (Shampine & Reichelt)
_GAMMA = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
_ALPHA = (1.0 - _KAPPA) * _GAMMA
_ERROR_CONSTANT = _KAPPA * _GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)
_MIN_FACTOR, _MAX_FACTOR = 0.2, 10.0
_EVENT_BISECTIONS = 52  # halvings of the step that holds an event: to round-off
_MIN_STEP = 1e-13  # steps below this fraction of the time span end the integration (status "step size too small")

STATUS = ("end time", "event", "step size too small", "too many steps")
"""Meaning of `BDFSolution.status` (an index into this tuple)."""


class BDFSolution(eqx.Module):
    """A BDF integration.

    Attributes:
        ys: (n_t, n) states at the requested times; NaN at times after the end of the integration.
        t_end: where the integration ended: the last requested time, an event's time, or where it failed.
        y_end: (n,) state at `t_end`.
        status: index into `STATUS`.
        event: index of the event that ended the integration, -1 if none.
        stats: counters ``steps`` (accepted), ``rejected``, ``newton_iterations``, ``jacobians``,
            ``factorisations``.
    """

    ys: Float[Array, "n_t n"]
    t_end: Float[Array, ""]
    y_end: Float[Array, " n"]
    status: Int[Array, ""]
    event: Int[Array, ""]
    stats: dict[str, Int[Array, ""]]


class _State(NamedTuple):
    t: Array  # time of the last accepted step
    h: Array  # size of the next step
    order: Array
    differences: Array  # (MAX_ORDER + 3, n) backward differences D_j scaled to the step h
    equal_steps: Array  # accepted steps since the last change of h
    jacobian: Array  # (n, n)
    jacobian_is_current: Array  # evaluated at the last accepted state, and no step accepted since
    refresh_jacobian: Array
    lu: tuple[Array, Array]
    lu_is_valid: Array
    ys: Array  # (n_t, n) output
    event_values: Array  # (n_events,) at the last accepted state
    status: Array
    event: Array
    t_end: Array
    y_end: Array
    counts: Array  # steps, rejected, newton_iterations, jacobians, factorisations, attempts


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def _rescale_differences(differences, order, factor):
    """Backward differences of the order-`order` interpolating polynomial for a step of `factor` times the old one
    (rows above `order` unchanged)."""
    size = MAX_ORDER + 1
    i = np.arange(1, size)[:, None]
    j = np.arange(1, size)[None, :]
    inside = (np.arange(size)[:, None] <= order) & (np.arange(size)[None, :] <= order)

    def transform(f):
        # R[0, :] = 1, R[i, j] = prod_{m=1..i} (m - 1 - f j) / m for i, j >= 1, R[i >= 1, 0] = 0
        ratios = jnp.concatenate([jnp.ones((1, size - 1)), (i - 1 - f * j) / i], axis=0)
        first_column = jnp.zeros((size, 1)).at[0, 0].set(1.0)
        matrix = jnp.concatenate([first_column, ratios], axis=1)
        return jnp.where(inside, jnp.cumprod(matrix, axis=0), 0.0)

    combined = transform(factor) @ transform(1.0)
    mapping = jnp.where(inside, combined.T, jnp.eye(size))
    return differences.at[:size].set(mapping @ differences[:size])


def _factor(matrix):
    """LU factors with partial pivoting and the row permutation (LAPACK's getrf)."""
    lu, _, permutation = jax.lax.linalg.lu(matrix)
    return lu, permutation


def _solve(factors, b):
    """Solve ``matrix x = b`` with `_factor`'s factors."""
    lu, permutation = factors
    rows = b[permutation][:, None]
    lower = jax.lax.linalg.triangular_solve(lu, rows, left_side=True, lower=True, unit_diagonal=True)
    return jax.lax.linalg.triangular_solve(lu, lower, left_side=True, lower=False)[:, 0]


def _interpolate(differences, order, h, t_new, times):
    """(m, n) states at `times` from the order-`order` interpolating polynomial of the step that ended at t_new."""
    m = np.arange(MAX_ORDER)
    x = (times[:, None] - (t_new - m * h)[None, :]) / ((m + 1) * h)[None, :]
    products = jnp.where((np.arange(1, MAX_ORDER + 1) <= order)[None, :], jnp.cumprod(x, axis=1), 0.0)
    return differences[0][None, :] + products @ differences[1:MAX_ORDER + 1]


def bdf_solve(fun: Callable, y0: Float[Array, " n"], t_eval: Float[Array, " n_t"], args=None, *,
              mass: np.ndarray, t0: float = 0.0, rtol: float = 1e-6, atol: float = 1e-8,
              events: Callable | None = None, max_steps: int = 20_000) -> BDFSolution:
    """Integrate ``mass * du/dt = fun(t, u, args)`` from `t0` to ``t_eval[-1]`` (jittable, vmappable, forward-mode
    differentiable).

    Args:
        fun: ``fun(t, u, args) -> (n,)``: the rates on differential rows, the residual on algebraic rows.
        y0: (n,) consistent initial state (algebraic rows satisfied).
        t_eval: (n_t,) increasing output times >= t0.
        mass: (n,) 1 on differential rows, 0 on algebraic rows (host array).
        rtol, atol: the local error of every component is kept below ``atol + rtol |u|`` (RMS over components).
        events: ``events(t, u, args) -> (n_events,)``, positive at the start; the integration ends where the first
            of them reaches zero.
        max_steps: attempted steps before giving up (status "too many steps").

    Returns:
        `BDFSolution`.
    """
    mass = jnp.asarray(mass, y0.dtype)
    n = y0.shape[0]
    t_final = t_eval[-1]
    t0 = jnp.asarray(t0, y0.dtype)
    span = t_final - t0
    newton_tol = max(10.0 * np.finfo(float).eps / rtol, min(0.03, rtol**0.5))
    alpha, gamma, error_constant = (jnp.asarray(a, y0.dtype) for a in (_ALPHA, _GAMMA, _ERROR_CONSTANT))

    def event_values(t, u):
        return events(t, u, args) if events is not None else jnp.ones((1,), u.dtype)

    def jacobian_at(t, u):  # not differentiated: only the Newton matrix
        fixed = jax.tree.map(lambda a: jax.lax.stop_gradient(a) if eqx.is_inexact_array(a) else a, args)
        return jax.jacfwd(lambda v: fun(t, v, fixed))(jax.lax.stop_gradient(u))

    f0 = fun(t0, y0, args)
    scale0 = atol + rtol * jnp.abs(y0)
    rate0 = _rms(jnp.where(mass > 0, jax.lax.stop_gradient(f0) / scale0, 0.0))
    h0 = jnp.clip(0.01 / jnp.maximum(rate0, 1e-300), 1e-10 * span, 1e-3 * span)
    differences = jnp.zeros((MAX_ORDER + 3, n), y0.dtype).at[0].set(y0).at[1].set(h0 * mass * f0)
    g0 = event_values(t0, y0)
    started = jnp.all(g0 > 0)
    ys = jnp.where((t_eval <= t0)[:, None], y0[None, :], jnp.nan)
    jacobian = jacobian_at(t0, y0)
    state = _State(
        t=t0, h=jax.lax.stop_gradient(h0), order=jnp.asarray(1), differences=differences,
        equal_steps=jnp.asarray(0), jacobian=jacobian, jacobian_is_current=jnp.asarray(True),
        refresh_jacobian=jnp.asarray(False), lu=_factor(jnp.eye(n, dtype=y0.dtype)),
        lu_is_valid=jnp.asarray(False), ys=ys, event_values=g0,
        status=jnp.where(started, -1, 1), event=jnp.where(started, jnp.asarray(-1, int), jnp.argmin(g0)), t_end=t0,
        y_end=y0,
        counts=jnp.asarray([0, 0, 0, 1, 0, 0]),
    )

    def newton(t_new, y_predict, psi, c, lu, scale):
        def keep_going(carry):
            i, _, _, _, converged, failed = carry
            return (i < NEWTON_ITERATIONS) & ~converged & ~failed

        def iteration(carry):
            i, y, d, norm_old, _, _ = carry
            f = fun(t_new, y, args)
            dy = _solve(lu, c * f - mass * (psi + d))
            norm = jax.lax.stop_gradient(_rms(dy / scale))
            rate = norm / norm_old
            later = i > 0
            failed = ~jnp.all(jnp.isfinite(dy)) | (later & ((rate >= 1) | (
                rate ** (NEWTON_ITERATIONS - i) / (1 - rate) * norm > newton_tol)))
            y = jnp.where(failed, y, y + dy)
            d = jnp.where(failed, d, d + dy)
            converged = ~failed & ((norm == 0) | (later & (rate / (1 - rate) * norm < newton_tol)))
            return i + 1, y, d, norm, converged, failed

        start = (jnp.asarray(0), y_predict, jnp.zeros_like(y_predict), jnp.asarray(1.0, y0.dtype),
                 jnp.asarray(False), jnp.asarray(False))
        iterations, y, d, _, converged, _ = jax.lax.while_loop(keep_going, iteration, start)
        return converged, iterations, y, d

    def attempt(s: _State) -> _State:
        order = s.order
        remaining = t_final - s.t
        clipped = s.h >= remaining
        h = jnp.where(clipped, remaining, s.h)
        differences = jnp.where(clipped, _rescale_differences(s.differences, order, h / s.h), s.differences)
        equal_steps = jnp.where(clipped, 0, s.equal_steps)
        lu_is_valid = s.lu_is_valid & ~clipped
        t_new = jnp.where(clipped, t_final, s.t + h)

        refresh = s.refresh_jacobian
        jacobian = jax.lax.cond(refresh, lambda: jacobian_at(s.t, s.differences[0]), lambda: s.jacobian)
        jacobian_is_current = s.jacobian_is_current | refresh
        lu_is_valid = lu_is_valid & ~refresh
        c = h / alpha[order]
        lu = jax.lax.cond(lu_is_valid, lambda: s.lu,
                          lambda: _factor(jnp.diag(mass) - jax.lax.stop_gradient(c) * jacobian))
        rows = np.arange(MAX_ORDER + 3)[:, None]
        y_predict = jnp.sum(jnp.where(rows <= order, differences, 0.0), axis=0)
        weights = jnp.where(np.arange(MAX_ORDER + 1) <= order, gamma, 0.0)
        psi = weights @ differences[:MAX_ORDER + 1] / alpha[order]
        scale = atol + rtol * jnp.abs(jax.lax.stop_gradient(y_predict))
        converged, iterations, y_new, d = newton(t_new, y_predict, psi, c, lu, scale)

        # step-size control (not differentiated)
        d_ = jax.lax.stop_gradient(d)
        y_ = jax.lax.stop_gradient(y_new)
        scale = atol + rtol * jnp.abs(y_)
        error_norm = _rms(error_constant[order] * d_ / scale)
        safety = 0.9 * (2 * NEWTON_ITERATIONS + 1) / (2 * NEWTON_ITERATIONS + iterations)
        accepted = converged & (error_norm <= 1.0)
        stalled_with_stale_jacobian = ~converged & ~jacobian_is_current
        reject_factor = jnp.where(converged, jnp.maximum(_MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1))),
                                  0.5)

        # the accepted step: new differences, output, events
        index = np.arange(MAX_ORDER + 3)[:, None]
        kept = jnp.where(index <= order + 1, differences, 0.0).at[order + 1].set(d)
        summed = jnp.flip(jnp.cumsum(jnp.flip(kept, 0), axis=0), 0)  # D_i + D_{i+1} + ... + d for i <= order
        updated = jnp.where(index <= order, summed, differences)
        updated = updated.at[order + 2].set(d - differences[order + 1]).at[order + 1].set(d)
        g_new = event_values(t_new, y_new)
        fired = accepted & jnp.any(g_new <= 0)

        def locate():
            def smallest(t):
                return jnp.min(event_values(t, _interpolate(updated, order, h, t_new, t[None])[0]))

            def halve(_, bracket):
                low, high = bracket
                middle = 0.5 * (low + high)
                below = smallest(middle) <= 0
                return jnp.where(below, low, middle), jnp.where(below, middle, high)

            _, t_event = jax.lax.fori_loop(0, _EVENT_BISECTIONS, halve, (s.t, t_new))
            t_event = jax.lax.stop_gradient(t_event)
            y_event = _interpolate(updated, order, h, t_new, t_event[None])[0]
            return t_event, y_event, jnp.argmin(event_values(t_event, y_event))

        t_event, y_event, which = jax.lax.cond(fired, locate, lambda: (t_new, y_new, jnp.asarray(-1, int)))
        t_stop = jnp.where(fired, t_event, t_new)
        due = accepted & (t_eval > s.t) & (t_eval <= t_stop)
        ys = jax.lax.cond(jnp.any(due),
                          lambda: jnp.where(due[:, None], _interpolate(updated, order, h, t_new, t_eval), s.ys),
                          lambda: s.ys)

        # order and step for the next step, after order + 1 equal steps (Shampine & Reichelt's strategy)
        equal_after = equal_steps + 1
        updated_ = jax.lax.stop_gradient(updated)
        error_lower = jnp.where(order > 1, _rms(error_constant[order - 1] * updated_[order] / scale), jnp.inf)
        error_higher = jnp.where(order < MAX_ORDER, _rms(error_constant[order + 1] * updated_[order + 2] / scale),
                                 jnp.inf)
        norms = jnp.stack([error_lower, error_norm, error_higher])
        factors = norms ** (-1.0 / (order + jnp.arange(3)))
        rethink = equal_after >= order + 1
        order_next = jnp.where(rethink, jnp.clip(order + jnp.argmax(factors) - 1, 1, MAX_ORDER), order)
        grow = jnp.where(rethink, jnp.minimum(_MAX_FACTOR, safety * jnp.max(factors)), 1.0)
        updated = jnp.where(rethink, _rescale_differences(updated, order_next, grow), updated)

        rejected = ~accepted & ~stalled_with_stale_jacobian
        h_next = jnp.where(accepted, h * grow, jnp.where(rejected, h * reject_factor, h))
        differences_next = jnp.where(accepted, updated, jnp.where(
            rejected, _rescale_differences(differences, order, reject_factor), differences))
        stopped = fired | (accepted & (t_new >= t_final))
        too_small = ~stopped & (h_next < _MIN_STEP * span)
        status = jnp.where(fired, 1, jnp.where(stopped, 0, jnp.where(too_small, 2, -1)))
        t_end = jnp.where(fired, t_event, jnp.where(accepted, t_new, s.t))
        y_end = jnp.where(fired, y_event, jnp.where(accepted, y_new, s.differences[0]))
        counts = s.counts + jnp.stack([accepted, rejected, iterations, refresh, ~lu_is_valid, True]).astype(int)
        return _State(
            t=jnp.where(accepted, t_new, s.t), h=h_next, order=jnp.where(accepted, order_next, order),
            differences=differences_next,
            equal_steps=jnp.where(accepted, jnp.where(rethink, 0, equal_after), jnp.where(rejected, 0, equal_steps)),
            jacobian=jacobian, jacobian_is_current=jacobian_is_current & ~accepted,
            refresh_jacobian=stalled_with_stale_jacobian,
            lu=lu, lu_is_valid=~(rejected & ~converged) & ~stalled_with_stale_jacobian & ~(accepted & rethink),
            ys=ys, event_values=jnp.where(accepted, g_new, s.event_values), status=status,
            event=jnp.where(fired, which, s.event), t_end=t_end, y_end=y_end, counts=counts,
        )

    def running(s: _State):
        return (s.status < 0) & (s.counts[5] < max_steps)

    final = jax.lax.while_loop(running, attempt, state)
    status = jnp.where(final.status < 0, 3, final.status)
    names = ("steps", "rejected", "newton_iterations", "jacobians", "factorisations")
    return BDFSolution(ys=final.ys, t_end=final.t_end, y_end=final.y_end, status=status, event=final.event,
                       stats={name: final.counts[i] for i, name in enumerate(names)})
