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


# PDEBench metrics (Takamoto et al., NeurIPS 2022 Datasets & Benchmarks). Arrays are (sample, ..., *space), the last
# `spatial_ndim` axes being space; every metric is computed per (sample, middle index) or per middle index
# (time, channel), then averaged over samples and the middle axes, as PDEBench reports them.

def _pdebench_arrays(prediction, reference, spatial_ndim: int):
    prediction, reference = np.asarray(prediction, np.float64), np.asarray(reference, np.float64)
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
    if spatial_ndim not in (1, 2) or prediction.ndim < spatial_ndim + 1:
        raise ValueError(
            f"expected arrays (sample, ..., *space) with spatial_ndim 1 or 2, got shape {prediction.shape} and "
            f"spatial_ndim={spatial_ndim}"
        )
    return prediction, reference, tuple(range(-spatial_ndim, 0))


def rmse(prediction, reference, *, spatial_ndim: int = 1) -> float:
    """Root-mean-square error over space, averaged over samples and the middle axes (time, channel)."""
    p, r, space = _pdebench_arrays(prediction, reference, spatial_ndim)
    return float(np.mean(np.sqrt(np.mean((p - r) ** 2, axis=space))))


def nrmse(prediction, reference, *, spatial_ndim: int = 1) -> float:
    """PDEBench's headline nRMSE: ``||pred - ref||_2 / ||ref||_2`` over space, averaged over the other axes."""
    p, r, space = _pdebench_arrays(prediction, reference, spatial_ndim)
    return float(np.mean(np.sqrt(np.sum((p - r) ** 2, axis=space) / np.sum(r**2, axis=space))))


def crmse(prediction, reference, *, spatial_ndim: int = 1) -> float:
    """Error of the conserved quantity: per (time, channel), ``sqrt(mean_samples (sum_x pred - sum_x ref)^2) / n_x``."""
    p, r, space = _pdebench_arrays(prediction, reference, spatial_ndim)
    n_points = np.prod(p.shape[-spatial_ndim:])
    difference = (p.sum(axis=space) - r.sum(axis=space)) / n_points
    return float(np.mean(np.sqrt(np.mean(difference**2, axis=0))))


def brmse(prediction, reference, *, spatial_ndim: int = 1) -> float:
    """RMSE on the boundary cells (1D: first and last; 2D: the four edges), squared errors averaged over samples and
    boundary cells before the square root, per (time, channel)."""
    p, r, _ = _pdebench_arrays(prediction, reference, spatial_ndim)
    error = (p - r) ** 2
    if spatial_ndim == 1:
        boundary = np.stack([error[..., 0], error[..., -1]], axis=-1)
    else:
        boundary = np.concatenate(
            [error[..., 0, :], error[..., -1, :], error[..., 1:-1, 0], error[..., 1:-1, -1]], axis=-1
        )
    return float(np.mean(np.sqrt(np.mean(boundary, axis=(0, -1)))))


def max_error(prediction, reference, *, spatial_ndim: int = 1) -> float:
    """Largest absolute error over samples and space, per (time, channel), averaged over those."""
    p, r, space = _pdebench_arrays(prediction, reference, spatial_ndim)
    return float(np.mean(np.max(np.abs(p - r), axis=(0, *space))))


FRMSE_BANDS = {"low": (0, 4), "mid": (4, 12), "high": (12, None)}


def frmse(prediction, reference, *, spatial_ndim: int = 1, domain_length: float = 1.0) -> dict[str, float]:
    """Error spectrum in PDEBench's low / mid / high wavenumber bands ([0, 4), [4, 12), [12, n/2]).

    The error's real FFT over space is scaled by ``L / n`` per axis; each mode's magnitude is RMS-averaged over
    samples; a mode belongs to the shell ``floor(|k|)`` (k the integer wavenumber vector); a band's value is the mean
    over its modes, averaged over the middle axes.
    """
    p, r, space = _pdebench_arrays(prediction, reference, spatial_ndim)
    spatial = p.shape[-spatial_ndim:]
    spectrum = np.abs(np.fft.rfftn(p - r, axes=space)) * np.prod([domain_length / n for n in spatial])
    per_mode = np.sqrt(np.mean(spectrum**2, axis=0))
    wavenumbers = [np.abs(np.fft.fftfreq(n, 1.0 / n)) for n in spatial[:-1]] + [np.arange(spatial[-1] // 2 + 1)]
    shell = np.floor(np.sqrt(sum(k**2 for k in np.meshgrid(*wavenumbers, indexing="ij"))))
    n_max = min(spatial) // 2
    bands = {}
    for name, (low, high) in FRMSE_BANDS.items():
        selected = (shell >= low) & (shell < (high if high is not None else n_max + 1))
        bands[name] = float(np.mean(per_mode[..., selected]))
    return bands


def pdebench_metrics(prediction, reference, *, spatial_ndim: int = 1, domain_length: float = 1.0) -> dict[str, float]:
    """All PDEBench metrics: nRMSE, RMSE, cRMSE, bRMSE, max error and the three fRMSE bands."""
    args = (prediction, reference)
    bands = frmse(*args, spatial_ndim=spatial_ndim, domain_length=domain_length)
    return {
        "nrmse": nrmse(*args, spatial_ndim=spatial_ndim),
        "rmse": rmse(*args, spatial_ndim=spatial_ndim),
        "crmse": crmse(*args, spatial_ndim=spatial_ndim),
        "brmse": brmse(*args, spatial_ndim=spatial_ndim),
        "max_error": max_error(*args, spatial_ndim=spatial_ndim),
        **{f"frmse_{name}": value for name, value in bands.items()},
    }
