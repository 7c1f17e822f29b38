"""Partial derivatives of a pointwise field, `Field`, which lets residuals read like equations, and
`pointwise_residual`, the hot path of every PINN.

`pointwise_residual` takes all derivatives a residual asks for (orders 0-2) at all collocation points in one batched
forward pass through the model's program (`sciml.pde._taylor`) where the model allows it (an MLP, a PINN with input
scaling and a hard constraint, ...). Otherwise, and for orders above two, derivatives are taken at one point:
higher orders with nested `jax.jvp` (forward mode: one tangent per order), a scalar field's first order with one
reverse pass, the residual vectorised over collocation points with `jax.vmap`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.pde._taylor import taylor_derivatives


def derivative(f: Callable, x: Float[Array, " d"], axes: Sequence[int]):
    """The mixed partial derivative ``d^k f / dx_{a_1} ... dx_{a_k}`` at the point `x` by nested forward mode.

    Args:
        f: a function of one point, ``(d,) -> ()`` or ``(d,) -> (m,)``.
        x: the point.
        axes: coordinate indices, one per order (``()`` returns ``f(x)``).
    """
    if not axes:
        return f(x)
    tangent = jnp.zeros_like(x).at[axes[-1]].set(1.0)

    def directional(y):
        return jax.jvp(f, (y,), (tangent,))[1]

    return derivative(directional, x, axes[:-1])


class Field:
    """A field evaluated at one point, with derivatives as attributes named after the coordinates.

    For coordinates ``("t", "x")``: ``u.value`` is u, ``u.t`` is du/dt, ``u.xx`` is d2u/dx2, ``u.tx`` is d2u/dtdx;
    ``u.coords["x"]`` is the point's x. Each derivative is computed once per `Field` (cached); second-order ones come
    with their first-order parts from one jvp-of-jvp. `plan` (the derivative keys a residual asks for, recorded in
    `requested` by a trial trace) lets the highest orders go first so that nothing is computed twice; `known`
    (``{key: value at this point}``, e.g. from `taylor_derivatives`) gives derivatives computed elsewhere.

    Example:
        >>> def burgers(u, nu):                       # u: Field
        ...     return u.t + u.value * u.x - nu * u.xx
    """

    def __init__(self, fn: Callable, point: Float[Array, " d"], names: Sequence[str],
                 plan: Sequence[tuple[int, ...]] = (), known: dict[tuple[int, ...], Array] | None = None):
        self._fn = fn
        self._point = point
        self._names = tuple(names)
        self._cache: dict[tuple[int, ...], Array] = dict(known or {})
        self._plan = sorted(plan, key=len, reverse=True)
        self.requested: set[tuple[int, ...]] = set()

    def _compute_plan(self) -> None:
        """Compute the planned derivatives highest order first, so lower orders come out of the same passes."""
        plan, self._plan = self._plan, []
        for key in plan:
            self._derivative(key)

    @property
    def coords(self) -> dict[str, Array]:
        return {name: self._point[i] for i, name in enumerate(self._names)}

    @property
    def point(self) -> Float[Array, " d"]:
        return self._point

    @property
    def value(self):
        return self.d()

    def d(self, *names: str):
        """The derivative with respect to the named coordinates, e.g. ``u.d("x", "x")``."""
        axes = []
        for name in names:
            if name not in self._names:
                raise ConfigError(f"no coordinate {name!r} to differentiate by; the field's coordinates are "
                                  f"{self._names}")
            axes.append(self._names.index(name))
        key = tuple(sorted(axes))
        self.requested.add(key)
        if self._plan:
            self._compute_plan()
        return self._derivative(key)

    def _derivative(self, key: tuple[int, ...]):
        if key not in self._cache:
            if len(key) == 1:
                self._first_order(key[0])
            elif len(key) == 2:
                self._second_order(*key)
            else:
                self._cache[key] = derivative(self._fn, self._point, key)
        return self._cache[key]

    def _unit(self, axis: int):
        return jnp.zeros_like(self._point).at[axis].set(1.0)

    def _first_order(self, a: int) -> None:
        """A scalar field's value and whole gradient come from one reverse pass; otherwise one jvp gives u and du/da.

        Reverse mode costs one evaluation and its transpose for all d partials, where d jvps cost d tangent passes.
        """
        if jax.eval_shape(self._fn, self._point).shape == ():
            u, gradient = jax.value_and_grad(self._fn)(self._point)
            self._cache[()] = u
            self._cache.update({(i,): gradient[i] for i in range(self._point.shape[0]) if (i,) not in self._cache})
        else:
            self._cache[()], self._cache[(a,)] = jax.jvp(self._fn, (self._point,), (self._unit(a),))

    def _second_order(self, a: int, b: int) -> None:
        """A jvp of a jvp gives u, du/da, du/db and d2u/dadb in one pass."""

        def along_b(y):
            return jax.jvp(self._fn, (y,), (self._unit(b),))

        (u, u_b), (u_a, u_ab) = jax.jvp(along_b, (self._point,), (self._unit(a),))
        self._cache.update({(): u, (a,): u_a, (b,): u_b, (a, b): u_ab})

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        single = all(len(name) == 1 for name in self._names)
        if single and attr and all(ch in self._names for ch in attr):
            return self.d(*attr)
        if attr in self._names:
            return self.d(attr)
        raise AttributeError(
            f"Field has no attribute {attr!r}: derivatives are named by coordinates {self._names} "
            "(e.g. u.x, u.xx, u.tx) or taken with u.d('name', ...)"
        )


def pointwise_residual(residual: Callable, model: Callable, points: Float[Array, "n d"], names: Sequence[str],
                       plan: Sequence[tuple[int, ...]]) -> Array:
    """``residual(Field)`` at each of the points ``(n, d)``, the `plan`'s derivatives of `model` computed together.

    All planned derivatives come from one batched forward pass (`taylor_derivatives`) where the model's program
    allows it, else from nested forward mode at each point; the two agree to rounding.
    """
    known = taylor_derivatives(model, points, plan)
    if known is None:
        return jax.vmap(lambda p: residual(Field(model, p, names, plan)))(points)
    return jax.vmap(lambda p, k: residual(Field(model, p, names, known=k)))(points, known)
