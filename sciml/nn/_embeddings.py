"""Input embeddings: random Fourier features (frozen) and Fourier features with trainable frequencies."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError


class FourierFeatures(eqx.Module):
    """Random Fourier features ``[cos(2 pi B x), sin(2 pi B x)]`` with a frozen Gaussian matrix B.

    Args:
        in_size: input dimension d.
        n_features: rows of B (the embedding has 2 n_features outputs).
        scale: standard deviation of B's entries (higher resolves finer scales).
        period: when given, every entry of B is rounded to the nearest multiple of 1 / period, so the features (and
            any network on them) are exactly `period`-periodic in every input (Gaussian features on the torus).
        key: PRNG key.
    """

    matrix: Float[Array, "m d"]

    def __init__(self, in_size: int, n_features: int = 64, scale: float = 1.0, period: float | None = None, *,
                 key: jax.Array):
        if period is not None and not period > 0:
            raise ConfigError(f"FourierFeatures: period must be > 0 (or None for no periodicity), got {period}")
        matrix = scale * jax.random.normal(key, (n_features, in_size))
        self.matrix = matrix if period is None else jnp.round(matrix * period) / period

    @property
    def out_size(self) -> int:
        return 2 * self.matrix.shape[0]

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " f"]:
        projected = 2 * jnp.pi * jax.lax.stop_gradient(self.matrix) @ x
        return jnp.concatenate([jnp.cos(projected), jnp.sin(projected)])


class TrainableFourierFeatures(eqx.Module):
    """``[cos(2 pi f_k x_a), sin(2 pi f_k x_a)]`` for every input axis a and frequency k, the frequencies trained.

    The frequencies of each axis start log-spaced from `lowest` to `highest` (cycles per unit of the input), so the
    embedding first sees every scale between and training moves them where the solution needs them.

    Args:
        in_size: input dimension d.
        n_frequencies: frequencies per axis m (the embedding has 2 d m outputs).
        lowest, highest: the range of the initial frequencies (0 < lowest <= highest).
    """

    frequencies: Float[Array, "d m"]

    def __init__(self, in_size: int, n_frequencies: int = 32, lowest: float = 1e-3, highest: float = 2.0):
        if not 0 < lowest <= highest or in_size < 1 or n_frequencies < 1:
            raise ConfigError(f"TrainableFourierFeatures: expected in_size, n_frequencies >= 1 and 0 < lowest <= "
                              f"highest, got {in_size}, {n_frequencies}, {lowest}, {highest}")
        row = jnp.logspace(jnp.log10(lowest), jnp.log10(highest), n_frequencies)
        self.frequencies = jnp.tile(row[None, :], (in_size, 1))

    @property
    def out_size(self) -> int:
        return 2 * self.frequencies.size

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " f"]:
        projected = (2 * jnp.pi * self.frequencies * x[:, None]).ravel()
        return jnp.concatenate([jnp.cos(projected), jnp.sin(projected)])
