"""Axis-aligned domains with named coordinates (interval, rectangle, time x space)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError


class Box(eqx.Module):
    """The box ``[lower_0, upper_0] x ... x [lower_{d-1}, upper_{d-1}]`` with coordinate names.

    Args:
        lower, upper: bounds per axis (lower < upper).
        names: one name per axis, e.g. ``("t", "x")``; residuals refer to derivatives by these names.
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, lower: Sequence[float | int], upper: Sequence[float | int], names: Sequence[str]):
        self.lower = tuple(float(v) for v in lower)
        self.upper = tuple(float(v) for v in upper)
        self.names = tuple(names)

    def __check_init__(self):
        if not (len(self.lower) == len(self.upper) == len(self.names)):
            raise ConfigError(
                f"Box needs as many lower bounds, upper bounds and names; got {len(self.lower)}, {len(self.upper)}, "
                f"{len(self.names)}"
            )
        for name, lo, hi in zip(self.names, self.lower, self.upper, strict=True):
            if not lo < hi:
                raise ConfigError(
                    f"Box axis {name!r}: expected lower < upper, got [{lo}, {hi}]; swap the bounds"
                )
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"Box axis names must be distinct, got {self.names}")

    @property
    def ndim(self) -> int:
        return len(self.names)

    def axis(self, name: str) -> int:
        """Index of the coordinate called `name`."""
        if name not in self.names:
            raise ConfigError(f"no coordinate {name!r} in this domain; its coordinates are {self.names}")
        return self.names.index(name)

    def scale_unit(self, unit: Float[Array, "n d"]) -> Float[Array, "n d"]:
        """Map points of the unit cube into the box."""
        lo, hi = jnp.asarray(self.lower)[None, :], jnp.asarray(self.upper)[None, :]
        return lo + unit * (hi - lo)

    @property
    def half_widths(self) -> tuple[float, ...]:
        """Half the box's extent per axis: a length in the box's units over this is a length in `normalise`'s."""
        return tuple((hi - lo) / 2 for lo, hi in zip(self.lower, self.upper, strict=True))

    def normalise(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """Map a point of the box to ``[-1, 1]^d`` (the usual network input scaling)."""
        lo, half = jnp.asarray(self.lower, x.dtype), jnp.asarray(self.half_widths, x.dtype)
        return (x - lo) / half - 1

    def uniform(self, key: jax.Array, n: int) -> Float[Array, "n d"]:
        """`n` independent uniform points in the box."""
        return self.scale_unit(jax.random.uniform(key, (n, self.ndim)))


def interval(lower: float | int, upper: float | int, name: str = "x") -> Box:
    """The interval ``[lower, upper]`` of coordinate `name`."""
    return Box((lower,), (upper,), (name,))


def rectangle(lower: Sequence[float | int], upper: Sequence[float | int], names: Sequence[str] = ("x", "y")) -> Box:
    """A 2D rectangle."""
    return Box(lower, upper, names)


def time_space(t0: float | int, t1: float | int, space: Box, name: str = "t") -> Box:
    """The space-time box ``[t0, t1] x space`` with time as the first coordinate."""
    return Box((t0, *space.lower), (t1, *space.upper), (name, *space.names))
