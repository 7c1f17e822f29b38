"""Open and write xarray datasets (netCDF through h5netcdf, zarr), atomically and with checks."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from sciml._errors import DataError

_NETCDF_SUFFIXES = (".nc", ".nc4", ".h5", ".hdf5")


def _format_of(path: Path) -> str:
    if path.suffix == ".zarr":
        return "zarr"
    if path.suffix in _NETCDF_SUFFIXES:
        return "netcdf"
    raise DataError(
        f"cannot tell the format of {str(path)!r}: expected a suffix in "
        f"{(*_NETCDF_SUFFIXES, '.zarr')}, got {path.suffix!r}. Rename the file or pass a path ending in .nc or .zarr."
    )


def open_dataset(path: str | os.PathLike, *, chunks: dict | None = None) -> xr.Dataset:
    """Open a netCDF (h5netcdf engine) or zarr store as an `xarray.Dataset`, lazily when `chunks` is given."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {str(path)!r}; generate it with `sciml data generate NAME` or check "
                                "the path")
    if _format_of(path) == "zarr":
        return xr.open_zarr(path, chunks=chunks)
    return xr.open_dataset(path, engine="h5netcdf", chunks=chunks)


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, encoding: dict | None = None) -> Path:
    """Write `ds` to netCDF or zarr (by suffix) atomically: a temporary sibling is renamed into place.

    `encoding` is xarray's per-variable encoding (e.g. ``{"u": {"chunks": (1, 41, 256)}}`` for one chunk per sample).
    """
    path = Path(path)
    fmt = _format_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        if fmt == "zarr":
            ds.to_zarr(tmp, mode="w", encoding=encoding)
            if path.exists():
                shutil.rmtree(path)
        else:
            ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
    return path


def check_finite(ds: xr.Dataset | xr.DataArray, *, what: str = "data") -> None:
    """Raise `DataError` naming the variable and the first coordinates where `ds` holds NaN or Inf."""
    variables = ds.data_vars.items() if isinstance(ds, xr.Dataset) else [(ds.name or "values", ds)]
    for name, var in variables:
        if not np.issubdtype(var.dtype, np.number):
            continue
        values = np.asarray(var.values)
        bad = ~np.isfinite(values)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), values.shape)
            where = {dim: var[dim].values[i].item() if dim in var.coords else int(i)
                     for dim, i in zip(var.dims, first, strict=True)}
            raise DataError(
                f"{what}: variable {name!r} holds {int(bad.sum())} non-finite values (first at {where}); expected "
                "finite numbers. Drop or mask those entries (e.g. `ds.dropna(...)`, or pass a mask) before training."
            )
