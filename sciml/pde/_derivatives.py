"""Forward-mode partial derivatives of a pointwise field, and `Field`, which lets residuals read like equations.

All derivatives are taken at one point with nested `jax.jvp` (forward mode: one tangent per order), and the
residual is vectorised over collocation points with `jax.vmap`, the hot path of every PINN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError


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
    ``u.coords["x"]`` is the point's x. Each derivative is computed once per `Field` (cached).

    Example:
        >>> def burgers(u, nu):                       # u: Field
        ...     return u.t + u.value * u.x - nu * u.xx
    """

    def __init__(self, fn: Callable, point: Float[Array, " d"], names: Sequence[str]):
        self._fn = fn
        self._point = point
        self._names = tuple(names)
        self._cache: dict[tuple[int, ...], Array] = {}

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
                raise ConfigError(f"no coordinate {name!r} to differentiate by; the field's coordinates are {self._names}")
            axes.append(self._names.index(name))
        key = tuple(sorted(axes))
        if key not in self._cache:
            self._cache[key] = derivative(self._fn, self._point, key)
        return self._cache[key]

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
