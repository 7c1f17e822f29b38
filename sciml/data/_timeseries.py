"""Time-series datasets: xarray with dims (sample, time, channel), NaN for missing values plus a mask, random
dropping of observations, windows for training on long series, and an on-device minibatch sampler for `fit`."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml._errors import DataError
from sciml.train import AbstractSampler

DIMS = ("sample", "time", "channel")


def check_times(time: np.ndarray, dtype=None, what: str = "'time'") -> None:
    """Raise a `DataError` unless `time` (time,) is finite, strictly increasing and (given `dtype`) keeps its spacing
    to 1% once cast to `dtype`; the message names the first bad index and the fix."""
    time = np.asarray(time, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(time))
    if bad.size:
        raise DataError(f"{what} is {time[bad[0]]} at index {bad[0]}; expected finite times. Drop or fill those "
                        "time points (ds.isel(time=np.isfinite(ds.time)))")
    steps = np.diff(time)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = bad[0]
        raise DataError(f"{what} is not strictly increasing at index {i + 1} (time[{i}]={time[i]}, "
                        f"time[{i + 1}]={time[i + 1]}); expected strictly increasing times. Sort them and drop "
                        "duplicates (ds.sortby('time').drop_duplicates('time'))")
    if dtype is not None:
        cast_steps = np.diff(time.astype(dtype).astype(np.float64))
        bad = np.flatnonzero(np.abs(cast_steps - steps) > 0.01 * steps)
        if bad.size:
            i = bad[0]
            raise DataError(f"{what} loses its spacing in {np.dtype(dtype).name} at index {i + 1} (step "
                            f"{steps[i]:g} becomes {cast_steps[i]:g} near time {time[i]:g}); expected times whose "
                            f"steps {np.dtype(dtype).name} can hold. Shift them to start at 0 "
                            "(ds.assign_coords(time=ds.time - ds.time[0])) or use dtype=np.float64 (with jax x64)")


def series_dataset(time: np.ndarray, values: np.ndarray, channels: Sequence[str], *, mask: np.ndarray | None = None,
                   attrs: dict | None = None, **extra: tuple) -> xr.Dataset:
    """Build a time-series dataset: variable `values` on (sample, time, channel), `mask` (True = observed).

    Args:
        time: (time,) strictly increasing times.
        values: (sample, time, channel); NaN marks a missing entry (and then `mask` is derived from it).
        channels: one name per channel.
        mask: optional (sample, time, channel) booleans; where False, `values` are set to NaN.
        attrs: dataset attributes (system, parameters, provenance).
        extra: further variables as ``name=(dims, array)`` (e.g. labels on ``("sample",)``).
    """
    time, values = np.asarray(time), np.asarray(values, dtype=float)
    if values.ndim != 3 or values.shape[1] != time.shape[0] or values.shape[2] != len(channels):
        raise DataError(f"series_dataset: expected values of shape (sample, time={time.shape[0]}, "
                        f"channel={len(channels)}), got {values.shape}")
    check_times(time, what="series_dataset: 'time'")
    if mask is None:
        mask = ~np.isnan(values)
    else:
        mask = np.asarray(mask, bool)
        values = np.where(mask, values, np.nan)
    return xr.Dataset(
        {"values": (DIMS, values), "mask": (DIMS, mask), **extra},
        coords={"sample": np.arange(values.shape[0]), "time": time, "channel": list(channels)},
        attrs=attrs or {},
    )


def drop_observations(ds: xr.Dataset, fraction: float, *, seed: int = 0, keep_first: bool = True) -> xr.Dataset:
    """Drop `fraction` of the time points of every sample at random (all channels of a dropped time go NaN).

    `keep_first` keeps each series' first time observed (models started from an observed state need it).
    """
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"drop_observations: fraction must be in [0, 1), got {fraction}")
    n_sample, n_time = ds.sizes["sample"], ds.sizes["time"]
    rng = np.random.default_rng(seed)
    candidates = np.arange(1 if keep_first else 0, n_time)
    n_drop = int(round(fraction * n_time))
    keep = np.ones((n_sample, n_time), bool)
    for i in range(n_sample):
        keep[i, rng.choice(candidates, size=n_drop, replace=False)] = False
    mask = ds["mask"].values & keep[:, :, None]
    out = ds.copy()
    out["mask"] = (DIMS, mask)
    out["values"] = (DIMS, np.where(mask, ds["values"].values, np.nan))
    out.attrs = {**ds.attrs, "dropped_fraction": fraction, "drop_seed": seed}
    return out


def series_arrays(ds: xr.Dataset, dtype=np.float32) -> dict[str, np.ndarray]:
    """Check a time-series dataset and return `{ts (time,), values (sample, time, channel), mask}` arrays.

    Missing entries must be NaN with `mask` False; NaN without a mask (or where the mask says observed) is refused.
    Values come back with missing entries still NaN (models zero them through the mask).
    """
    if "values" not in ds:
        raise DataError(f"expected a variable 'values' on dims {DIMS}; got variables {list(ds.data_vars)}")
    if tuple(ds["values"].dims) != DIMS:
        raise DataError(f"'values' must have dims {DIMS}, got {ds['values'].dims}; use .transpose(*{DIMS})")
    time = ds["time"].values
    check_times(time, dtype, what="series_arrays: 'time'")
    values = ds["values"].values
    missing = np.isnan(values)
    if "mask" not in ds:
        if missing.any():
            raise DataError(
                f"'values' contain {int(missing.sum())} NaN entries but the dataset has no 'mask' variable; add "
                "mask = ~isnan(values) (series_dataset does this) so that NaN means 'not observed'"
            )
        mask = np.ones(values.shape, bool)
    else:
        mask = ds["mask"].values.astype(bool)
        if np.any(missing & mask):
            raise DataError(f"{int(np.sum(missing & mask))} NaN entries of 'values' are marked observed in 'mask'; "
                            "set mask False there")
    return {"ts": time.astype(dtype), "values": values.astype(dtype), "mask": mask}


def windows(ts: np.ndarray, values: np.ndarray, length: int, stride: int | None = None,
            mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Cut long series into overlapping windows for windowed (multiple-shooting style) training.

    Args:
        ts: (time,) times; values: (sample, time, channel); mask: optional, like values.
        length: points per window; stride: offset between window starts (default `length - 1`: windows share
            their end points, so the pieces chain into the whole series).

    Returns `{ts (window, length), values (window, length, channel), mask}` where windows run over samples and
    start positions; each window keeps its absolute times.
    """
    stride = length - 1 if stride is None else stride
    n_time = ts.shape[0]
    if not 2 <= length <= n_time or stride < 1:
        raise DataError(f"windows: need 2 <= length <= {n_time} and stride >= 1, got length={length}, stride={stride}")
    starts = np.arange(0, n_time - length + 1, stride)
    index = starts[:, None] + np.arange(length)[None, :]
    mask = np.ones(values.shape, bool) if mask is None else mask
    return {
        "ts": np.tile(ts[index], (values.shape[0], 1)),
        "values": values[:, index].reshape(-1, length, values.shape[2]),
        "mask": mask[:, index].reshape(-1, length, values.shape[2]),
    }


class MinibatchSampler(AbstractSampler):
    """On-device minibatches for `fit`: `batch_size` samples drawn without replacement at every step.

    Args:
        arrays: dict of arrays (or pytrees of arrays, e.g. CDE coefficients) sharing the leading (sample) axis;
            entries listed in `shared` (e.g. a common ``ts``) are passed whole.
        batch_size: samples per step.
        shared: keys not indexed by sample.
    """

    arrays: dict
    batch_size: int
    shared: tuple[str, ...]

    def __init__(self, arrays: dict, batch_size: int, shared: Sequence[str] = ()):
        self.arrays = {k: jax.tree_util.tree_map(jnp.asarray, v) for k, v in arrays.items()}
        self.shared = tuple(shared)
        sizes = {f"{k}{jax.tree_util.keystr(path)}": leaf.shape[0] for k, v in self.arrays.items()
                 if k not in self.shared for path, leaf in jax.tree_util.tree_leaves_with_path(v)}
        if len(set(sizes.values())) != 1:
            raise DataError(f"MinibatchSampler: arrays must share the sample axis, got leading sizes {sizes}")
        n = next(iter(sizes.values()))
        if not 1 <= batch_size <= n:
            raise DataError(f"MinibatchSampler: batch_size must be in [1, {n}], got {batch_size}")
        self.batch_size = batch_size

    def __call__(self, key: jax.Array, step: int | jax.Array) -> dict:
        n = jax.tree_util.tree_leaves({k: v for k, v in self.arrays.items() if k not in self.shared})[0].shape[0]
        index = jax.random.choice(jax.random.fold_in(key, step), n, (self.batch_size,), replace=False)
        return {k: v if k in self.shared else jax.tree_util.tree_map(lambda x: x[index], v)
                for k, v in self.arrays.items()}
