"""Time marching (sequence-to-sequence learning, Krishnapriyan et al. 2021; jaxpi's time windows): the time span is
cut into windows trained one after the other, each starting from the previous window's state at its end."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.pde import Box


def window_edges(t0: float, t1: float, windows: int) -> tuple[float, ...]:
    """The ``windows + 1`` edges of equal windows of ``[t0, t1]``."""
    if windows < 1 or not t1 > t0:
        raise ConfigError(f"time windows need windows >= 1 and t1 > t0, got windows={windows}, [{t0}, {t1}]; use "
                          "windows=1 for no time marching")
    return tuple(float(t) for t in jnp.linspace(t0, t1, windows + 1).tolist())


class TimeWindows(eqx.Module):
    """A field made of one model per time window: window k's model answers for ``t in [t_k, t_{k+1})`` (the last
    window also for ``t = t_K`` and beyond, the first for t before ``t_0``).

    Args:
        models: one pointwise model per window, ``(d,) -> ()`` or ``(m,)``, each with the `domain` of its window
            (a `PINN`).
        edges: the K + 1 increasing window edges.
        time_axis: the index of t in a point.
    """

    models: tuple
    edges: tuple[float, ...] = eqx.field(static=True)
    time_axis: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        increasing = all(a < b for a, b in zip(self.edges[:-1], self.edges[1:], strict=True))
        if len(self.edges) != len(self.models) + 1 or not increasing:
            raise ConfigError(f"TimeWindows needs {len(self.models) + 1} increasing edges for {len(self.models)} "
                              f"models, got {self.edges}")

    @property
    def domain(self) -> Box:
        """The box of all windows: the models' domain (they share its axes) with t from the first edge to the last."""
        box = self.models[0].domain
        lower, upper = list(box.lower), list(box.upper)
        lower[self.time_axis], upper[self.time_axis] = self.edges[0], self.edges[-1]
        return Box(lower, upper, box.names)

    def window(self, t: Float[Array, ""]) -> Array:
        """The index of the window holding time `t`."""
        inner = jnp.asarray(self.edges[1:-1], jnp.result_type(t))
        return jnp.searchsorted(inner, t, side="right")

    def __call__(self, point: Float[Array, " d"]):
        if len(self.models) == 1:
            return self.models[0](point)
        branches = [lambda p, m=m: m(p) for m in self.models]
        return jax.lax.switch(self.window(point[self.time_axis]), branches, point)
