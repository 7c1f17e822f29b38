"""Error metrics computed identically by experiments, benchmarks and anyone reading `predictions.nc`."""

from __future__ import annotations

import numpy as np


def relative_l2(prediction, reference) -> float:
    """``||prediction - reference||_2 / ||reference||_2`` over all entries (the PINN literature's rel. L2)."""
    prediction, reference = np.asarray(prediction, np.float64), np.asarray(reference, np.float64)
    if prediction.shape != reference.shape:
        raise ValueError(f"relative_l2: prediction {prediction.shape} and reference {reference.shape} differ in shape")
    return float(np.linalg.norm(prediction - reference) / np.linalg.norm(reference))


def max_abs_error(prediction, reference) -> float:
    """Largest absolute pointwise error."""
    return float(np.max(np.abs(np.asarray(prediction, np.float64) - np.asarray(reference, np.float64))))
