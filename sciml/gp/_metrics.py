"""Errors and interval coverage over samples that each live on their own mesh (MMGP, Tensile2d conventions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def field_relative_rmse(predictions: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    """``sqrt(mean_i ||p_i - r_i||^2 / (n_i ||r_i||_inf^2))``: the MMGP paper's relative RMSE of nodal fields."""
    if len(predictions) != len(references):
        raise ValueError(f"field_relative_rmse: {len(predictions)} predictions for {len(references)} references")
    terms = []
    for p, r in zip(predictions, references, strict=True):
        p, r = np.asarray(p, np.float64), np.asarray(r, np.float64)
        if p.shape != r.shape:
            raise ValueError(f"field_relative_rmse: prediction {p.shape} and reference {r.shape} differ in shape")
        terms.append(np.mean((p - r) ** 2) / np.max(np.abs(r)) ** 2)
    return float(np.sqrt(np.mean(terms)))


def scalar_relative_rmse(prediction: np.ndarray, reference: np.ndarray) -> float:
    """``sqrt(mean_i ((p_i - r_i) / r_i)^2)``: the MMGP paper's relative RMSE of output scalars."""
    prediction, reference = np.asarray(prediction, np.float64), np.asarray(reference, np.float64)
    return float(np.sqrt(np.mean(((prediction - reference) / reference) ** 2)))


def interval_coverage(references, lower, upper) -> float:
    """Fraction of reference values inside [lower, upper] (arrays, or lists of per-sample arrays pooled over nodes)."""
    flat = [np.concatenate([np.ravel(a) for a in x]) if isinstance(x, (list, tuple)) else np.ravel(x)
            for x in (references, lower, upper)]
    reference, low, high = flat
    return float(np.mean((reference >= low) & (reference <= high)))
