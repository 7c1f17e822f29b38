"""Climate statistics of long runs, to judge a parametrization online against the truth (NumPy, float64).

Trajectories are (time, K) arrays of the slow state sampled every `interval` model time units, or (runs, time, K)
stacks of several runs of the same model (from different initial conditions): their PDF is pooled and their
autocorrelation and spectrum are averaged over runs.
"""

from __future__ import annotations

import numpy as np

from sciml._errors import ConfigError


def hellinger_distance(samples_a, samples_b, *, bins: int = 60,
                       value_range: tuple[float, float] | None = None) -> float:
    """Hellinger distance sqrt(1 - sum_i sqrt(p_i q_i)) between the histograms of two sample sets on common bins.

    0 for identical distributions, 1 for disjoint supports. `value_range` defaults to the range of both sets.
    """
    a, b = np.asarray(samples_a, np.float64).ravel(), np.asarray(samples_b, np.float64).ravel()
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("hellinger_distance: samples hold NaN/Inf (did the run blow up?); pass finite samples")
    lo, hi = value_range if value_range is not None else (min(a.min(), b.min()), max(a.max(), b.max()))
    p = np.histogram(a, bins=bins, range=(lo, hi))[0] / a.size
    q = np.histogram(b, bins=bins, range=(lo, hi))[0] / b.size
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q)))))


def autocorrelation(trajectory, max_lag: int):
    """Temporal autocorrelation of each variable averaged over k (and runs), for lags 0..max_lag (snapshots):
    (max_lag + 1,). `trajectory`: (time, K) or (runs, time, K)."""
    x = _runs(trajectory, "autocorrelation")
    if not 0 <= max_lag < x.shape[1]:
        raise ConfigError(f"autocorrelation: expected runs longer than max_lag={max_lag}, got {x.shape[1]} snapshots")
    x = x - x.mean(axis=1, keepdims=True)
    variance = np.mean(x**2, axis=1)
    n = x.shape[1]
    return np.array([np.mean(np.mean(x[:, : n - lag] * x[:, lag:], axis=1) / variance) for lag in range(max_lag + 1)])


def wavenumber_spectrum(trajectory):
    """Time-mean power spectrum over the periodic k direction, |FFT_k(X - mean)|^2 / K, averaged over runs:
    (K // 2 + 1,). `trajectory`: (time, K) or (runs, time, K)."""
    x = _runs(trajectory, "wavenumber_spectrum")
    anomalies = x - x.mean(axis=(1, 2), keepdims=True)
    return np.mean(np.abs(np.fft.rfft(anomalies, axis=2)) ** 2, axis=(0, 1)) / x.shape[2]


def _runs(trajectory, what: str) -> np.ndarray:
    x = np.asarray(trajectory, np.float64)
    if x.ndim not in (2, 3):
        raise ConfigError(f"{what}: expected a (time, K) trajectory or (runs, time, K) runs, got shape {x.shape}")
    return x[None] if x.ndim == 2 else x


def climate_statistics(trajectory, truth, *, max_lag: int = 40) -> dict[str, float]:
    """Compare model runs with the truth: Hellinger distance of the (pooled) X PDFs, RMS differences of the
    autocorrelation (lags 0..max_lag) and of the log wavenumber spectrum, and the means and stds of X.
    `trajectory`, `truth`: (time, K) or (runs, time, K), independently."""
    model, reference = np.asarray(trajectory, np.float64), np.asarray(truth, np.float64)
    finite = bool(np.all(np.isfinite(model)))
    stats = {"stable": float(finite), "truth_mean": float(reference.mean()), "truth_std": float(reference.std())}
    if not finite:
        return {**stats, "hellinger": float("nan"), "autocorrelation_rmse": float("nan"),
                "log_spectrum_rmse": float("nan"), "mean": float("nan"), "std": float("nan")}
    return {
        **stats,
        "hellinger": hellinger_distance(model, reference),
        "autocorrelation_rmse": float(np.sqrt(np.mean((autocorrelation(model, max_lag)
                                                       - autocorrelation(reference, max_lag)) ** 2))),
        "log_spectrum_rmse": float(np.sqrt(np.mean((np.log(wavenumber_spectrum(model))
                                                    - np.log(wavenumber_spectrum(reference))) ** 2))),
        "mean": float(model.mean()),
        "std": float(model.std()),
    }
