"""Sparse regression of increments on a candidate library: a relevance vector machine (sparse Bayesian learning
with one ARD prior per coefficient; Tipping 2001, solved by Tipping & Faul's 2003 marginal-likelihood algorithm),
STLSQ through pysindy, the Pareto curve of error against the number of terms, and the choice of a support on it.

Columns and target are standardised before fitting (`Standardized`); coefficients come back in the data's units.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from sciml._errors import ConfigError, DataError


@dataclasses.dataclass(frozen=True)
class Standardized:
    """Gram matrix and moments of a standardised regression problem: columns scaled to unit RMS, target too.

    Only ``Phi^T Phi``, ``Phi^T y`` and ``y^T y`` are kept, so millions of rows cost one pass.
    """

    gram: np.ndarray
    moment: np.ndarray
    target_power: float
    rows: int
    column_scale: np.ndarray
    target_scale: float

    @classmethod
    def from_arrays(cls, features: np.ndarray, target: np.ndarray) -> Standardized:
        """`features` (rows, terms), `target` (rows,)."""
        features, target = np.asarray(features, np.float64), np.asarray(target, np.float64).ravel()
        if features.ndim != 2 or features.shape[0] != target.size:
            raise DataError(f"expected features (rows, terms) and a target of as many rows, got {features.shape} and "
                            f"{target.shape}")
        if not (np.isfinite(features).all() and np.isfinite(target).all()):
            raise DataError("the library or the increments hold NaN or infinite values")
        column_scale = np.sqrt(np.mean(features**2, axis=0))
        if np.any(column_scale == 0):
            raise DataError(f"library columns {np.flatnonzero(column_scale == 0).tolist()} are identically zero; "
                            "drop them from the library")
        target_scale = float(np.sqrt(np.mean(target**2)))
        x = features / column_scale
        y = target / target_scale if target_scale > 0 else target
        return cls(x.T @ x, x.T @ y, float(y @ y), target.size, column_scale, target_scale)

    def unscale(self, coefficients: np.ndarray) -> np.ndarray:
        """Standardised coefficients (..., terms) in the data's units."""
        return coefficients * self.target_scale / self.column_scale

    def residual(self, coefficients: np.ndarray) -> float:
        """||y - Phi w||^2 / ||y||^2 of standardised coefficients w (1 for a zero target)."""
        if self.target_power == 0:
            return 1.0
        value = self.target_power - 2 * coefficients @ self.moment + coefficients @ self.gram @ coefficients
        return float(max(value, 0.0) / self.target_power)

    def least_squares(self, support: np.ndarray) -> np.ndarray:
        """Standardised least-squares coefficients on `support` (terms,) bool, zero elsewhere."""
        w = np.zeros(len(self.moment))
        if support.any():
            w[support] = np.linalg.lstsq(self.gram[np.ix_(support, support)], self.moment[support], rcond=None)[0]
        return w


@dataclasses.dataclass(frozen=True)
class SparseFit:
    """A sparse regression result in the data's units: coefficients (terms,), their posterior standard deviations
    (zero where pruned or for point estimates), the support, and the relevance order (most relevant first)."""

    coefficients: np.ndarray
    std: np.ndarray
    support: np.ndarray
    order: np.ndarray


class RelevanceVectorMachine:
    """Sparse Bayesian linear regression: w_i ~ N(0, 1/alpha_i), y = Phi w + N(0, 1/beta), the alphas and beta set by
    maximising the marginal likelihood (type-II ML); infinite alpha prunes a term.

    Tipping & Faul's sequential algorithm: at each iteration, for every term, the change of the log marginal
    likelihood of adding it, re-estimating its alpha or deleting it is computed in closed form; the best action is
    taken; the noise precision is re-estimated after each. Stops when no term would enter or leave and neither any
    log alpha nor log beta would move by `tolerance` or more.

    Args:
        max_iterations: iterations allowed.
        tolerance: convergence threshold on the change of log alpha.
        max_precision: cap on beta in standardised units (noise std >= 1/sqrt(max_precision) of the target's), which
            keeps noise-free data well posed.
    """

    def __init__(self, max_iterations: int = 1000, tolerance: float = 1e-6, max_precision: float = 1e12):
        if max_iterations < 1 or not tolerance > 0 or not max_precision > 0:
            raise ConfigError(f"RelevanceVectorMachine: expected max_iterations >= 1, tolerance > 0 and "
                              f"max_precision > 0, got {max_iterations}, {tolerance}, {max_precision}")
        self.max_iterations = max_iterations
        self.tolerance = tolerance
        self.max_precision = max_precision

    def fit_standardized(self, problem: Standardized) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """alpha (terms,; inf where pruned), posterior mean and covariance (standardised, zero where pruned)."""
        g, b, n = problem.gram, problem.moment, problem.rows
        terms = len(b)
        alpha = np.full(terms, np.inf)
        if problem.target_power == 0:
            return alpha, np.zeros(terms), np.zeros((terms, terms))
        beta = min(self.max_precision, n / max(problem.target_power * 0.1, 1e-300))
        first = int(np.argmax(b**2 / np.diag(g)))
        alpha[first] = np.diag(g)[first] / max(b[first] ** 2 / np.diag(g)[first] - 1.0 / beta, 1e-12)
        beta_settled = False
        for _ in range(self.max_iterations):
            s, q = self._factors(g, b, alpha, beta)
            active = np.isfinite(alpha)
            theta = q**2 - s
            new_alpha = np.where(theta > 0, s**2 / np.where(theta > 0, theta, 1.0), np.inf)
            # S, Q (with the term itself) from s, q (without it): S = alpha s / (alpha + s)
            finite = np.where(active, alpha, 1.0)
            big_s = np.where(active, finite * s / (finite + s), s)
            big_q = np.where(active, finite * q / (finite + s), q)
            gain = np.full(terms, -np.inf)
            with np.errstate(divide="ignore", invalid="ignore"):
                add = ~active & (theta > 0)
                gain[add] = (big_q[add] ** 2 - big_s[add]) / big_s[add] + np.log(big_s[add] / big_q[add] ** 2)
                keep = active & (theta > 0)
                change = 1.0 / new_alpha[keep] - 1.0 / alpha[keep]
                gain[keep] = big_q[keep] ** 2 / (big_s[keep] + 1.0 / change) - np.log1p(big_s[keep] * change)
                drop = active & (theta <= 0)
                if active.sum() > 1:
                    gain[drop] = (big_q[drop] ** 2 / (big_s[drop] - alpha[drop])
                                  - np.log1p(-big_s[drop] / alpha[drop]))
            settled = (not (add | drop).any()) and np.all(
                np.abs(np.log(new_alpha[keep]) - np.log(alpha[keep])) < self.tolerance)
            if settled and beta_settled:
                break
            best = int(np.argmax(np.where(np.isnan(gain), -np.inf, gain)))
            if np.isfinite(gain[best]):
                alpha[best] = new_alpha[best]
            active = np.isfinite(alpha)
            mean, cov = self._posterior(g, b, alpha, beta, active)
            residual = max(problem.target_power - 2 * mean[active] @ b[active]
                           + mean[active] @ g[np.ix_(active, active)] @ mean[active], 0.0)
            well_determined = active.sum() - np.sum(alpha[active] * np.diag(cov)[active])
            new_beta = min(self.max_precision, (n - well_determined) / max(residual, 1e-300))
            beta_settled = abs(np.log(new_beta / beta)) < self.tolerance
            beta = new_beta
        active = np.isfinite(alpha)
        mean, cov = self._posterior(g, b, alpha, beta, active)
        return alpha, mean, cov

    @staticmethod
    def _factors(g, b, alpha, beta) -> tuple[np.ndarray, np.ndarray]:
        """Sparsity and quality factors s_m, q_m of every term against the model without it (for an active term,
        the active set less that term; computed so directly, which stays accurate when the noise is tiny)."""
        s, q = np.empty(len(b)), np.empty(len(b))
        active = np.isfinite(alpha)
        for m in range(len(b)):
            others = active.copy()
            others[m] = False
            if others.any():
                sigma = np.linalg.inv(beta * g[np.ix_(others, others)] + np.diag(alpha[others]))
                cross = g[m, others]
                s[m] = beta * g[m, m] - beta**2 * cross @ sigma @ cross
                q[m] = beta * b[m] - beta**2 * cross @ sigma @ b[others]
            else:
                s[m], q[m] = beta * g[m, m], beta * b[m]
        return s, q

    @staticmethod
    def _posterior(g, b, alpha, beta, active):
        terms = len(b)
        mean, cov = np.zeros(terms), np.zeros((terms, terms))
        if active.any():
            precision = beta * g[np.ix_(active, active)] + np.diag(alpha[active])
            cov_active = np.linalg.inv(precision)
            cov[np.ix_(active, active)] = cov_active
            mean[active] = beta * cov_active @ b[active]
        return mean, cov

    def fit(self, problem: Standardized) -> SparseFit:
        """The sparse fit in the data's units; `order` ranks the terms by alpha (pruned terms last, by |Phi^T y|)."""
        alpha, mean, cov = self.fit_standardized(problem)
        score = np.where(np.isfinite(alpha), -np.log(alpha), -np.inf)
        order = np.lexsort((-np.abs(problem.moment), -score))
        std = np.sqrt(np.clip(np.diag(cov), 0, None))
        return SparseFit(problem.unscale(mean), problem.unscale(std), np.isfinite(alpha), order)

    def fit_support(self, problem: Standardized, support: np.ndarray) -> SparseFit:
        """The RVM restricted to `support` (the other terms pruned from the start)."""
        if not support.any():
            return SparseFit(np.zeros(len(support)), np.zeros(len(support)), support.copy(), np.arange(len(support)))
        sub = Standardized(problem.gram[np.ix_(support, support)], problem.moment[support], problem.target_power,
                           problem.rows, problem.column_scale[support], problem.target_scale)
        inner = self.fit(sub)
        coefficients, std = np.zeros(len(support)), np.zeros(len(support))
        coefficients[support], std[support] = inner.coefficients, inner.std
        chosen = np.zeros(len(support), bool)
        chosen[np.flatnonzero(support)[inner.support]] = True
        return SparseFit(coefficients, std, chosen, np.flatnonzero(support)[inner.order])


def stlsq_path(problem: Standardized, thresholds: np.ndarray, ridge: float = 0.0) -> list[np.ndarray]:
    """Supports of pysindy's STLSQ (sequentially thresholded least squares) on the standardised problem, one per
    threshold (on standardised coefficients). The Gram form is passed to pysindy as the normal equations' square
    root, so the result equals STLSQ on the full data."""
    import pysindy

    root = np.linalg.cholesky(problem.gram + 1e-12 * np.trace(problem.gram) / len(problem.moment)
                              * np.eye(len(problem.moment))).T
    rhs = np.linalg.solve(root.T, problem.moment)
    supports = []
    for threshold in thresholds:
        optimizer = pysindy.STLSQ(threshold=float(threshold), alpha=ridge, max_iter=50)
        with warnings.catch_warnings():  # a threshold above every coefficient is part of the path, not a problem
            warnings.filterwarnings("ignore", message="Sparsity parameter is too big")
            optimizer.fit(root, rhs)
        supports.append(np.abs(np.asarray(optimizer.coef_).ravel()) > 0)
    return supports


@dataclasses.dataclass(frozen=True)
class ParetoCurve:
    """The best support of each size: `residual[n]` is ||y - Phi w||^2 / ||y||^2 of the least-squares fit on
    `supports[n]` (n terms, n = 0..terms; NaN where no support of that size was found)."""

    supports: np.ndarray
    residual: np.ndarray

    @classmethod
    def from_supports(cls, problem: Standardized, candidates: list[np.ndarray]) -> ParetoCurve:
        terms = len(problem.moment)
        supports = np.zeros((terms + 1, terms), bool)
        residual = np.full(terms + 1, np.nan)
        residual[0] = problem.residual(np.zeros(terms))
        for support in candidates:
            size = int(support.sum())
            value = problem.residual(problem.least_squares(support))
            if np.isnan(residual[size]) or value < residual[size]:
                residual[size], supports[size] = value, support
        return cls(supports, residual)

    @classmethod
    def nested(cls, problem: Standardized, order: np.ndarray) -> ParetoCurve:
        """Supports of the first n terms of a relevance order, n = 0..terms."""
        candidates = []
        for size in range(1, len(order) + 1):
            support = np.zeros(len(order), bool)
            support[order[:size]] = True
            candidates.append(support)
        return cls.from_supports(problem, candidates)

    def select(self, tolerance: float) -> np.ndarray:
        """The smallest support whose residual is within `tolerance` (a fraction of the target's power) of the
        smallest residual on the curve."""
        best = np.nanmin(self.residual)
        for size, value in enumerate(self.residual):
            if not np.isnan(value) and value <= best + tolerance:
                return self.supports[size]
        raise AssertionError("unreachable: the best size qualifies")


def lowpass(fields: np.ndarray, cutoff: float) -> np.ndarray:
    """`fields` (..., n, n) on a periodic square with every Fourier mode of |k| > `cutoff` (cycles per side) removed."""
    fields = np.asarray(fields, np.float64)
    n = fields.shape[-1]
    frequencies = np.fft.fftfreq(n, 1.0 / n)
    keep = np.hypot(frequencies[:, None], frequencies[None, :]) <= cutoff
    return np.real(np.fft.ifft2(np.fft.fft2(fields, axes=(-2, -1)) * keep, axes=(-2, -1)))


def layer_problem(increments: np.ndarray, columns: np.ndarray, layer: int, cutoff: float | None) -> Standardized:
    """The regression of one layer's increments (snapshot, layer, n, n) on its library columns (snapshot, layer, n,
    n, terms), both low-passed to |k| <= `cutoff` cycles per side first (None: no low-pass). The relation increment
    = sum_j c_j term_j holds mode by mode, so the low-pass keeps the coefficients and drops the grid-scale errors
    that interpolation leaves."""
    y, x = np.asarray(increments)[:, layer], np.moveaxis(np.asarray(columns)[:, layer], -1, 0)
    if cutoff is not None:
        y, x = lowpass(y, cutoff), lowpass(x, cutoff)
    return Standardized.from_arrays(x.reshape(len(x), -1).T, y.ravel())


@dataclasses.dataclass(frozen=True)
class Discovery:
    """One layer's discovery by both methods: for each of ``"rvm"`` and ``"stlsq"`` the Pareto curve, the selected
    support and its coefficients (RVM: posterior mean and std on the support; STLSQ: least squares, std 0)."""

    pareto: dict[str, ParetoCurve]
    fits: dict[str, SparseFit]


def discover(problem: Standardized, *, tolerance: float, stlsq_thresholds: np.ndarray | None = None,
             rvm: RelevanceVectorMachine | None = None) -> Discovery:
    """RVM: the terms ranked by the relevance vector machine's alphas give nested supports (the Pareto curve); the
    selected support is the smallest within `tolerance` of the best residual, and the RVM refitted on it gives the
    coefficients and their posterior std. STLSQ (when `stlsq_thresholds` are given): one support per threshold, the
    Pareto curve of their least-squares fits, the same selection rule."""
    rvm = rvm or RelevanceVectorMachine()
    ranked = rvm.fit(problem)
    curves = {"rvm": ParetoCurve.nested(problem, ranked.order)}
    fits = {"rvm": rvm.fit_support(problem, curves["rvm"].select(tolerance))}
    if stlsq_thresholds is not None:
        curves["stlsq"] = ParetoCurve.from_supports(problem, stlsq_path(problem, stlsq_thresholds))
        support = curves["stlsq"].select(tolerance)
        fits["stlsq"] = SparseFit(problem.unscale(problem.least_squares(support)), np.zeros(len(support)), support,
                                  np.flatnonzero(support))
    return Discovery(curves, fits)
