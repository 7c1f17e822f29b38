"""Gaussians with diagonal-plus-low-rank covariance, and the covariance strategies that build them from raw outputs.

A `Gaussian` over n values has covariance ``diag(variance) + factor factor^T`` with a ``(n, k)`` factor (k = 0 for a
diagonal one). Log-densities, entropies and KL divergences use the Woodbury identity and the matrix determinant
lemma, so they cost O(n k^2), never O(n^3); on a random grid of n points the factor's rows are features of each point,
so the covariance is a (degenerate) Gaussian-process kernel of the solution field.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError


class Gaussian(eqx.Module):
    """``N(mean, diag(variance) + factor factor^T)`` over n values.

    Args:
        mean: ``(n,)``.
        variance: the diagonal part ``(n,)``, positive.
        factor: the low-rank part ``(n, k)`` (k may be 0).
    """

    mean: Float[Array, " n"]
    variance: Float[Array, " n"]
    factor: Float[Array, "n k"]

    @property
    def rank(self) -> int:
        return self.factor.shape[1]

    def covariance(self) -> Float[Array, "n n"]:
        """The dense covariance (for checks and small n)."""
        return jnp.diag(self.variance) + self.factor @ self.factor.T

    def marginal_variance(self) -> Float[Array, " n"]:
        """The variance of each value: ``variance + sum_k factor_k^2``."""
        return self.variance + jnp.sum(jnp.square(self.factor), axis=1)

    def with_noise(self, noise_variance) -> Gaussian:
        """The distribution of the values plus independent noise of this variance (a scalar or ``(n,)``)."""
        return Gaussian(self.mean, self.variance + noise_variance, self.factor)

    def _capacitance_cholesky(self) -> Float[Array, "k k"]:
        """Cholesky factor of ``I_k + factor^T diag(variance)^-1 factor``."""
        scaled = self.factor / self.variance[:, None]
        return jnp.linalg.cholesky(jnp.eye(self.rank, dtype=self.mean.dtype) + self.factor.T @ scaled)

    def log_det(self) -> Float[Array, ""]:
        """``log det(covariance)`` by the matrix determinant lemma."""
        if self.rank == 0:
            return jnp.sum(jnp.log(self.variance))
        chol = self._capacitance_cholesky()
        return jnp.sum(jnp.log(self.variance)) + 2 * jnp.sum(jnp.log(jnp.diag(chol)))

    def solve(self, rhs: Float[Array, "n m"]) -> Float[Array, "n m"]:
        """``covariance^-1 rhs`` by the Woodbury identity."""
        if self.rank == 0:
            return rhs / self.variance[:, None]
        chol = self._capacitance_cholesky()
        scaled = self.factor / self.variance[:, None]
        inner = jax.scipy.linalg.cho_solve((chol, True), scaled.T @ rhs)
        return rhs / self.variance[:, None] - scaled @ inner

    def inverse_diagonal(self) -> Float[Array, " n"]:
        """The diagonal of ``covariance^-1``."""
        if self.rank == 0:
            return 1 / self.variance
        chol = self._capacitance_cholesky()
        scaled = self.factor / self.variance[:, None]
        half = jax.scipy.linalg.solve_triangular(chol, scaled.T, lower=True)  # (k, n)
        return 1 / self.variance - jnp.sum(jnp.square(half), axis=0)

    def log_prob(self, value: Float[Array, " n"]) -> Float[Array, ""]:
        """``log N(value; mean, covariance)``."""
        centred = (value - self.mean)[:, None]
        quadratic = jnp.sum(centred * self.solve(centred))
        return -0.5 * (self.mean.shape[0] * math.log(2 * math.pi) + self.log_det() + quadratic)

    def entropy(self) -> Float[Array, ""]:
        """Differential entropy ``(n log(2 pi e) + log det covariance) / 2``."""
        return 0.5 * (self.mean.shape[0] * (1 + math.log(2 * math.pi)) + self.log_det())

    def sample_from(self, point_noise: Float[Array, " n"], shared_noise: Float[Array, " k"]) -> Float[Array, " n"]:
        """The draw ``mean + sqrt(variance) * point_noise + factor @ shared_noise`` of standard normal noises."""
        return self.mean + jnp.sqrt(self.variance) * point_noise + self.factor @ shared_noise


def kl_divergence(p: Gaussian, q: Gaussian) -> Float[Array, ""]:
    """``KL(p || q) = (tr(S_q^-1 S_p) + (m_q - m_p)^T S_q^-1 (m_q - m_p) - n + log det S_q - log det S_p) / 2``."""
    if p.mean.shape != q.mean.shape:
        raise ConfigError(f"kl_divergence: the Gaussians must be over as many values, got {p.mean.shape} and "
                          f"{q.mean.shape}")
    trace = jnp.sum(p.variance * q.inverse_diagonal()) + jnp.sum(p.factor * q.solve(p.factor))
    delta = (q.mean - p.mean)[:, None]
    quadratic = jnp.sum(delta * q.solve(delta))
    return 0.5 * (trace + quadratic - p.mean.shape[0] + q.log_det() - p.log_det())


class AbstractCovariance(eqx.Module):
    """How a network's raw outputs become a `Gaussian`: each of the n values gets a row ``(2 + rank,)`` of raw
    outputs: its mean, its raw standard deviation, and its `rank` factor entries.

    The diagonal standard deviation is ``min_std + softplus(raw)``: positive, floored, and (unlike a squashed bound)
    never stuck where its gradient vanishes on the large side; on the small side it behaves like ``exp(raw)``.
    """

    min_std: eqx.AbstractVar[float]

    @property
    @abc.abstractmethod
    def rank(self) -> int:
        raise NotImplementedError

    @property
    def row_size(self) -> int:
        """Raw outputs per value."""
        return 2 + self.rank

    def std(self, raw: Float[Array, "*n"]) -> Float[Array, "*n"]:
        """The diagonal standard deviation of raw outputs."""
        return self.min_std + jax.nn.softplus(raw)

    def gaussian(self, rows: Float[Array, "n r"]) -> Gaussian:
        """The Gaussian of raw rows ``(n, 2 + rank)``."""
        if rows.shape[1] != self.row_size:
            raise ConfigError(f"{type(self).__name__}: expected raw rows of {self.row_size} entries (mean, std, "
                              f"{self.rank} factor entries), got {rows.shape[1]}")
        return Gaussian(rows[:, 0], jnp.square(self.std(rows[:, 1])), rows[:, 2:])

    def _check_floor(self):
        if not self.min_std > 0:
            raise ConfigError(f"{type(self).__name__}: expected min_std > 0, got {self.min_std}")


class DiagonalCovariance(AbstractCovariance):
    """Independent values: ``covariance = diag(std^2)`` (the "diag" variant of RGNP)."""

    min_std: float

    def __init__(self, min_std: float = 1e-6):
        self.min_std = min_std

    def __check_init__(self):
        self._check_floor()

    @property
    def rank(self) -> int:
        return 0


class LowRankCovariance(AbstractCovariance):
    """``covariance = diag(std^2) + F F^T`` with `rank` columns in F (the "lr" variant of RGNP): correlated values."""

    factor_rank: int
    min_std: float

    def __init__(self, factor_rank: int = 2, min_std: float = 1e-6):
        self.factor_rank, self.min_std = factor_rank, min_std

    def __check_init__(self):
        self._check_floor()
        if self.factor_rank < 1:
            raise ConfigError(f"LowRankCovariance: factor_rank must be >= 1 (DiagonalCovariance has none), got "
                              f"{self.factor_rank}")

    @property
    def rank(self) -> int:
        return self.factor_rank
