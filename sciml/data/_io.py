"""Open and write xarray datasets (netCDF through h5netcdf, zarr), atomically and with checks."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
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


def regenerate_hint(path: str | os.PathLike) -> str:
    """How to rebuild the data file `path`: the `sciml data generate` command of a generated dataset's folder."""
    for folder in Path(path).parents:
        if folder.parent.name == "generated":
            name, small = folder.name.removesuffix("-small"), folder.name.endswith("-small")
            return f"regenerate it with `sciml data generate {name}{' --small' if small else ''}`"
    return "download or write it again (a generated dataset: `sciml data generate NAME`)"


def unreadable_file_error(path: str | os.PathLike, err: Exception, expected: str) -> DataError:
    """The `DataError` for a file h5py / netCDF / zarr cannot read (`err`): the file, what was expected, the fix."""
    return DataError(f"{str(path)!r} cannot be read ({type(err).__name__}: {err}); expected {expected}. The file is "
                     f"truncated or damaged (an interrupted download or write?): {regenerate_hint(path)}")


def refuse_non_finite(values: np.ndarray, *, what: str, dims: Sequence[str], labels: Mapping | None = None) -> None:
    """Raise `DataError` when `values` (axes named `dims`) holds NaN or Inf, naming `what` and the first place: the
    index along each axis, or its label where `labels` maps the axis name to one label per index (coordinates)."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), values.shape)
        labels = labels or {}
        where = ", ".join(f"{dim}={np.asarray(labels[dim])[i].item()}" if dim in labels else f"{dim} index {int(i)}"
                          for dim, i in zip(dims, first, strict=True))
        raise DataError(f"{what} holds {int(bad.sum())} NaN/Inf values (first at {where}); expected finite "
                        "numbers. Regenerate or re-download the data, or drop the broken samples (e.g. "
                        "`ds.drop_isel(sample=[...])`) before training.")


def open_dataset(path: str | os.PathLike, *, chunks: dict | None = None) -> xr.Dataset:
    """Open a netCDF (h5netcdf engine) or zarr store as an `xarray.Dataset`, lazily when `chunks` is given."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {str(path)!r}; generate it with `sciml data generate NAME` or check "
                                "the path")
    fmt = _format_of(path)
    try:
        if fmt == "zarr":
            return xr.open_zarr(path, chunks=chunks)
        return xr.open_dataset(path, engine="h5netcdf", chunks=chunks)
    except OSError as err:
        raise unreadable_file_error(path, err, f"a complete {fmt} dataset") from None


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
