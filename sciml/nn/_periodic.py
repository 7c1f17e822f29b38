"""Periodic input embedding: exact periodicity along chosen axes by construction."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError


class PeriodicEmbedding(eqx.Module):
    """Replace each periodic coordinate x_a by ``cos(2 pi m x_a / P_a), sin(2 pi m x_a / P_a)`` for m = 1..harmonics.

    Any network fed with it is exactly P_a-periodic in x_a (values and all derivatives), so no periodic boundary
    loss is needed. Used as `PINN(embedding=...)`, it sees the point scaled to [-1, 1]^d, where a whole axis has
    length 2: the default period 2.0 makes the model periodic over the domain.

    Args:
        in_size: input dimension d.
        axes: indices of the periodic coordinates.
        periods: one period per axis (in the units the embedding sees).
        harmonics: number of harmonics per periodic axis.
        trainable_periods: train the periods (starting at `periods`), for a solution whose period is not known;
            the model is then periodic with the learned periods, not necessarily over the domain.
    """

    in_size: int = eqx.field(static=True)
    axes: tuple[int, ...] = eqx.field(static=True)
    periods: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    trained_periods: Float[Array, " k"] | None

    def __init__(self, in_size: int, axes: Sequence[int], periods: Sequence[float] | None = None, harmonics: int = 1,
                 trainable_periods: bool = False):
        axes = tuple(int(a) for a in axes)
        periods = tuple(float(p) for p in periods) if periods is not None else (2.0,) * len(axes)
        if not axes or any(not 0 <= a < in_size for a in axes) or len(set(axes)) != len(axes):
            raise ConfigError(f"PeriodicEmbedding: axes must be distinct indices in [0, {in_size}), got {axes}")
        if len(periods) != len(axes) or any(p <= 0 for p in periods):
            raise ConfigError(f"PeriodicEmbedding: expected one positive period per axis {axes}, got {periods}")
        if harmonics < 1:
            raise ConfigError(f"PeriodicEmbedding: harmonics must be >= 1, got {harmonics}")
        self.in_size, self.axes, self.periods, self.harmonics = in_size, axes, periods, harmonics
        self.trained_periods = jnp.asarray(periods) if trainable_periods else None

    @property
    def out_size(self) -> int:
        return self.in_size + len(self.axes) * (2 * self.harmonics - 1)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " out"]:
        kept = [x[i : i + 1] for i in range(self.in_size) if i not in self.axes]
        m = jnp.arange(1, self.harmonics + 1, dtype=x.dtype)
        waves = []
        periods = self.periods if self.trained_periods is None else list(self.trained_periods)
        for axis, period in zip(self.axes, periods, strict=True):
            phase = 2 * jnp.pi * m * x[axis] / period
            waves += [jnp.cos(phase), jnp.sin(phase)]
        return jnp.concatenate(kept + waves)
