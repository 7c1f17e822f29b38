"""Trajectory datasets for autoregressive neural solvers: parameter splits, normalisation, windowed batches.

A trajectory dataset is an `xarray.Dataset` with a field variable on dims ``(sample, t, x[, y])`` and the PDE
parameters as coordinates along ``sample`` (what `sciml.solvers.family_dataset` and `read_pdebench` return). Arrays
handed to models are channel-first per frame: ``u[sample, t, channel, *space]``, ``params[sample, n_params]``.

Two batch sources feed `sciml.train.fit`:

- `WindowSampler`: the whole training array lives on device; windows are drawn inside the compiled scan.
- `WindowLoader`: a host callable ``step -> batch`` that reads only the windows it needs from a netCDF or zarr
  file, so data larger than memory streams; deterministic in ``step`` for exact resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError
from sciml.data._io import open_dataset, refuse_non_finite, unreadable_file_error
from sciml.train import AbstractSampler


def _check_parameters(ds: xr.Dataset, parameters: Sequence[str]) -> None:
    missing = [p for p in parameters if p not in ds.coords and p not in ds.data_vars]
    if missing:
        raise DataError(
            f"PDE parameter(s) {missing} not in the dataset; it has coordinates {sorted(map(str, ds.coords))}. "
            "Pass the parameter names the dataset carries (e.g. parameters=('beta',)) or attach them as coordinates."
        )
    for p in parameters:
        if ds[p].dims != ("sample",):
            raise DataError(f"parameter {p!r} must lie along 'sample', got dims {ds[p].dims}")


def split_by_parameter(
    ds: xr.Dataset, held_out: Mapping[str, Sequence[float]], *, rtol: float = 1e-6
) -> tuple[xr.Dataset, xr.Dataset]:
    """Split samples into (seen, held-out): a sample is held out when any named parameter takes a listed value."""
    _check_parameters(ds, list(held_out))
    mask = np.zeros(ds.sizes["sample"], dtype=bool)
    for name, values in held_out.items():
        present = np.asarray(ds[name].values)
        for value in values:
            hit = np.isclose(present, value, rtol=rtol, atol=0.0)
            if not hit.any():
                raise DataError(
                    f"held-out {name}={value} does not occur in the dataset; its values are "
                    f"{sorted(set(present.tolist()))}"
                )
            mask |= hit
    if mask.all():
        raise DataError(f"holding out {dict(held_out)} leaves no samples to train on")
    return ds.isel(sample=np.flatnonzero(~mask)), ds.isel(sample=np.flatnonzero(mask))


def trajectory_arrays(
    ds: xr.Dataset, *, variables: Sequence[str] = ("u",), parameters: Sequence[str], spatial_stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Load ``u[sample, t, channel, *space]`` (float32) and ``params[sample, n_params]`` (float64) into memory."""
    _check_parameters(ds, parameters)
    missing = [v for v in variables if v not in ds]
    if missing:
        raise DataError(f"field variable(s) {missing} not in the dataset; it has {list(ds.data_vars)}")
    fields = []
    for name in variables:
        var = ds[name]
        if var.dims[:2] != ("sample", "t"):
            raise DataError(f"variable {name!r} must have dims (sample, t, *space), got {var.dims}")
        index = {d: slice(None, None, spatial_stride) for d in var.dims[2:]}
        strided = var.isel(index)
        values = np.asarray(strided.values, dtype=np.float32)
        refuse_non_finite(values, what=f"{ds.encoding.get('source', 'the dataset')}: variable {name!r}", dims=var.dims,
                          labels={d: strided[d].values for d in var.dims if d in strided.coords})
        fields.append(values)
    u = np.stack(fields, axis=2)
    params = np.stack([np.asarray(ds[p].values, dtype=np.float64) for p in parameters], axis=1)
    return u, params


class Normalization(eqx.Module):
    """Scales fields by one standard deviation per channel (no shift, so relative errors are unchanged) and maps
    parameters to ``(log p - mean) / std`` or ``(p - mean) / std`` (see `fit`); when `param_bounds` (in the log or
    linear scale) is set, parameters are clipped to it before standardising.

    A pytree of NumPy arrays (``field_scale[channel]``, ``param_mean / param_std / param_log[p]``,
    ``param_bounds[2, p]``), so it is saved with a model by `eqx.tree_serialise_leaves`.
    """

    field_scale: np.ndarray
    param_mean: np.ndarray
    param_std: np.ndarray
    param_log: np.ndarray
    spatial_ndim: int = eqx.field(static=True)
    param_bounds: np.ndarray | None = None

    @classmethod
    def like(cls, *, channels: int, n_params: int, spatial_ndim: int, clipped: bool) -> Normalization:
        """Zero statistics with `fit`'s structure, shapes and dtypes, for `sciml.load` to read saved statistics into."""
        zeros = np.zeros(n_params)
        return cls(np.zeros(channels), zeros, zeros, zeros.astype(bool), spatial_ndim,
                   np.zeros((2, n_params)) if clipped else None)

    @classmethod
    def fit(cls, u: np.ndarray, params: np.ndarray, *, parameter_scale: str = "auto", clip: float | None = None
            ) -> Normalization:
        """Statistics of the training arrays ``u[sample, t, channel, *space]`` and ``params[sample, p]``.

        `parameter_scale`: "log" (parameters spanning decades, e.g. viscosities), "linear" (parameters that enter the
        equation linearly and whose held-out values may lie near zero, e.g. an advection speed), or "auto" (log
        where all training values are positive). With `clip` (a fraction >= 0), parameters are clipped to the
        training range widened at each end by `clip` times its width (in that scale): a model extrapolates at most
        that far, and a parameter far outside the training range is treated like the nearest allowed value instead
        of driving the network where it was never trained (0: clip at the trained extremes; None: no clipping).
        """
        if parameter_scale not in ("auto", "log", "linear"):
            raise ConfigError(f"parameter_scale must be 'auto', 'log' or 'linear', got {parameter_scale!r}")
        refuse_non_finite(u, what="training fields u", dims=("sample", "t", "channel", *("xyz"[: u.ndim - 3])))
        refuse_non_finite(params, what="training parameters", dims=("sample", "parameter"))
        axes = (0, 1) + tuple(range(3, u.ndim))
        scale = np.sqrt(np.mean(np.square(u, dtype=np.float64), axis=axes))
        positive = np.all(params > 0, axis=0)
        if parameter_scale == "log" and not positive.all():
            raise DataError("parameter_scale='log' needs positive parameters; use 'linear' or 'auto'")
        log = positive if parameter_scale != "linear" else np.zeros_like(positive)
        transformed = np.where(log, np.log(np.where(log, params, 1.0)), params)
        std = transformed.std(axis=0)
        unclipped = cls(np.maximum(scale, 1e-8), transformed.mean(axis=0), np.where(std > 0, std, 1.0), log,
                        u.ndim - 3)
        return unclipped if clip is None else unclipped.clipped_to(params, clip)

    def clipped_to(self, params: np.ndarray, clip: float = 0.0) -> Normalization:
        """These statistics with parameters clipped as `fit`'s `clip` clips them for training parameters
        ``params[sample, p]``: to their range (in this scale) widened at each end by `clip` times its width. Reads a
        model trained without clipping as if trained with it (training is the same: every training value lies
        inside the bounds)."""
        if clip < 0:
            raise ConfigError(f"clip must be a fraction >= 0 of the training range (in `fit`, None: no clipping), "
                              f"got {clip}")
        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != self.param_mean.shape[0]:
            raise DataError(f"params must be (sample, {self.param_mean.shape[0]}), got shape {params.shape}")
        transformed = self._transformed(params)
        low, high = transformed.min(axis=0), transformed.max(axis=0)
        bounds = np.stack([low - clip * (high - low), high + clip * (high - low)])
        return dataclasses.replace(self, param_bounds=bounds)

    def fields(self, u):
        """Normalise ``u[..., channel, *space]``."""
        return u / self._field_shape(u)

    def fields_inverse(self, u):
        """Undo `fields`."""
        return u * self._field_shape(u)

    def _field_shape(self, u):
        shape = [1] * u.ndim
        shape[u.ndim - 1 - self.spatial_ndim] = self.field_scale.shape[0]
        return self.field_scale.reshape(shape).astype(np.float32)

    def _transformed(self, p: np.ndarray) -> np.ndarray:
        """``p[..., n_params]`` in this scale: the log of the log-scaled parameters, the others as they are."""
        return np.where(self.param_log, np.log(np.where(self.param_log, p, 1.0)), p)

    def params(self, p):
        """Normalise ``p[..., n_params]``."""
        transformed = self._transformed(np.asarray(p, dtype=np.float64))
        if self.param_bounds is not None:
            transformed = np.clip(transformed, self.param_bounds[0], self.param_bounds[1])
        return ((transformed - self.param_mean) / self.param_std).astype(np.float32)


def _check_initial_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"initial_fraction must be in [0, 1], got {fraction}")


class WindowSampler(AbstractSampler):
    """Random windows of ``horizon + 1`` consecutive frames drawn on device from in-memory arrays.

    A share `initial_fraction` of the windows (in expectation) starts at frame 0: rollouts are evaluated from the
    initial condition, whose first step (often off a rougher state than later frames) uniform starts would see in
    only one window of ``t - horizon``. The others start uniformly at random.

    Returns ``{"u": (batch, horizon + 1, channel, *space), "params": (batch, n_params)}``.
    """

    u: Float[Array, "sample t channel *space"]
    params: Float[Array, "sample p"]
    batch_size: int = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    initial_fraction: float = eqx.field(static=True)

    def __init__(self, u, params, *, batch_size: int, horizon: int, initial_fraction: float = 0.0):
        if not 1 <= horizon < u.shape[1]:
            raise ConfigError(f"horizon must be in [1, {u.shape[1] - 1}] for {u.shape[1]} frames, got {horizon}")
        if params.shape[0] != u.shape[0]:
            raise DataError(f"u has {u.shape[0]} samples but params {params.shape[0]}")
        _check_initial_fraction(initial_fraction)
        self.u, self.params = jnp.asarray(u), jnp.asarray(params, dtype=jnp.float32)
        self.batch_size, self.horizon, self.initial_fraction = batch_size, horizon, initial_fraction

    def __call__(self, key, step):
        key = jax.random.fold_in(key, step)
        k_sample, k_start, k_initial = jax.random.split(key, 3)
        n_samples, n_t = self.u.shape[:2]
        index = jax.random.randint(k_sample, (self.batch_size,), 0, n_samples)
        start = jax.random.randint(k_start, (self.batch_size,), 0, n_t - self.horizon)
        if self.initial_fraction:
            start = jnp.where(jax.random.uniform(k_initial, (self.batch_size,)) < self.initial_fraction, 0, start)

        def window(i, s):
            return jax.lax.dynamic_slice_in_dim(self.u[i], s, self.horizon + 1, axis=0)

        return {"u": jax.vmap(window)(index, start), "params": self.params[index]}


class WindowLoader:
    """Host batches of random windows streamed from a trajectory file: ``loader(step) -> batch``.

    `source` is a path to a netCDF (``.nc``, read with h5py) or zarr (``.zarr``) file, whose field variables are
    read straight from the file, or an in-memory `xarray.Dataset`. Reads are buffered: one read fetches
    `trajectories_per_read` random trajectories (one orthogonal read; a store chunked by trajectory reads only
    those), and the next ``trajectories_per_read * windows_per_trajectory // batch_size`` batches draw their windows
    from that buffer, so only the buffer is ever in memory and the per-read cost of the store is shared. `samples`
    restricts reading to those sample indices (e.g. the training split). A share `initial_fraction` of the windows
    starts at frame 0 (as in `WindowSampler`). Batches are normalised with `normalization` and are a deterministic
    function of ``(seed, step)`` (exact resume).
    """

    def __init__(self, source, *, parameters: Sequence[str], normalization: Normalization, batch_size: int,
                 horizon: int, variables: Sequence[str] = ("u",), spatial_stride: int = 1, seed: int = 0,
                 samples: Sequence[int] | None = None, trajectories_per_read: int = 32, windows_per_trajectory: int = 4,
                 initial_fraction: float = 0.0):
        ds = source if isinstance(source, xr.Dataset) else open_dataset(source)
        _check_parameters(ds, parameters)
        missing = [v for v in variables if v not in ds]
        if missing:
            raise DataError(f"field variable(s) {missing} not in the dataset; it has {list(ds.data_vars)}")
        n_t = ds.sizes["t"]
        if not 1 <= horizon < n_t:
            raise ConfigError(f"horizon must be in [1, {n_t - 1}] for {n_t} frames, got {horizon}")
        if trajectories_per_read < 1 or windows_per_trajectory < 1:
            raise ConfigError("trajectories_per_read and windows_per_trajectory must be >= 1, got "
                              f"{trajectories_per_read} and {windows_per_trajectory}")
        _check_initial_fraction(initial_fraction)
        self.initial_fraction = initial_fraction
        self.samples = np.arange(ds.sizes["sample"]) if samples is None else np.asarray(samples)
        self.fields = [_raw_array(source, v) if not isinstance(source, xr.Dataset) else ds[v].values for v in variables]
        values = np.stack([np.asarray(ds[p].values) for p in parameters], axis=1)[self.samples]
        self.params = normalization.params(values)
        self.normalization, self.batch_size, self.horizon = normalization, batch_size, horizon
        self.stride, self.seed, self.n_t = spatial_stride, seed, n_t
        self.per_read = min(trajectories_per_read, self.samples.size)
        self.batches_per_read = max(1, self.per_read * windows_per_trajectory // batch_size)
        self._buffer: tuple[int, np.ndarray, np.ndarray] | None = None

    def _read(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Trajectories of read `block`: (indices into `samples`, fields (n, t, channels, *space))."""
        if self._buffer is None or self._buffer[0] != block:
            rng = np.random.default_rng([self.seed, int(block), 1])
            chosen = rng.choice(self.samples.size, self.per_read, replace=False)
            chosen = chosen[np.argsort(self.samples[chosen])]  # h5py reads increasing indices only
            rows = self.samples[chosen]
            space = (slice(None, None, self.stride),) * (self.fields[0].ndim - 2)
            channels = []
            for field in self.fields:
                if hasattr(field, "oindex"):  # zarr: one orthogonal read
                    channels.append(np.asarray(field.oindex[(rows, slice(None), *space)], dtype=np.float32))
                else:  # h5py / NumPy: fancy indexing along the first axis (indices increasing)
                    channels.append(np.asarray(field[(rows, slice(None), *space)], dtype=np.float32))
            self._buffer = (block, chosen, np.stack(channels, axis=2))
        return self._buffer[1], self._buffer[2]

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        chosen, trajectories = self._read(int(step) // self.batches_per_read)
        rng = np.random.default_rng([self.seed, int(step)])
        which = rng.integers(0, chosen.size, self.batch_size)
        start = rng.integers(0, self.n_t - self.horizon, self.batch_size)
        if self.initial_fraction:
            start = np.where(rng.random(self.batch_size) < self.initial_fraction, 0, start)
        frames = start[:, None] + np.arange(self.horizon + 1)
        u = trajectories[which[:, None], frames]
        return {"u": self.normalization.fields(u), "params": self.params[chosen[which]]}


def _raw_array(path, variable: str):
    """The on-disk array of `variable` (h5py dataset or zarr array): slicing reads only the requested block."""
    path = Path(path)
    if path.suffix == ".zarr":
        import zarr

        return zarr.open_group(str(path), mode="r")[variable]
    import h5py

    try:
        return h5py.File(path, "r")[variable]
    except OSError as err:
        raise unreadable_file_error(path, err, f"an HDF5 / netCDF file holding {variable!r}") from None
