"""Input embeddings: random Fourier features."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class FourierFeatures(eqx.Module):
    """Random Fourier features ``[cos(2 pi B x), sin(2 pi B x)]`` with a frozen Gaussian matrix B.

    Args:
        in_size: input dimension d.
        n_features: rows of B (the embedding has 2 n_features outputs).
        scale: standard deviation of B's entries (higher resolves finer scales).
        key: PRNG key.
    """

    matrix: Float[Array, "m d"]

    def __init__(self, in_size: int, n_features: int = 64, scale: float = 1.0, *, key: jax.Array):
        self.matrix = scale * jax.random.normal(key, (n_features, in_size))

    @property
    def out_size(self) -> int:
        return 2 * self.matrix.shape[0]

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " f"]:
        projected = 2 * jnp.pi * jax.lax.stop_gradient(self.matrix) @ x
        return jnp.concatenate([jnp.cos(projected), jnp.sin(projected)])
