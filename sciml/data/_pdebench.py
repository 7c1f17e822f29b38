"""PDEBench HDF5 files to and from xarray.

Three layouts of the PDEBench data release are read (and the first and third written):

- **1D scalar** (advection, Burgers, 1D diffusion-reaction): dataset ``tensor`` [sample, t, x] plus
  ``x-coordinate`` [x] and ``t-coordinate`` (PDEBench writes one entry more than there are frames); PDE parameters are
  file attributes (``beta``; ``Nu``; ``Nu`` and ``rho``).
- **CFD** (compressible Navier-Stokes): datasets ``density``, ``pressure``, ``Vx`` (, ``Vy``, ``Vz``), each
  [sample, t, x(, y, z)], with ``x-``/``y-``/``z-``/``t-coordinate``; attributes ``eta``, ``zeta`` (, ``M``).
- **Per-seed groups** (2D diffusion-reaction, shallow water, ...): groups ``"0000"``, ``"0001"``, ... each holding
  ``data`` [t, x(, y), channel] and ``grid/x`` (, ``grid/y``), ``grid/t``; parameters (when present) as file attributes.

The xarray form has dims ``sample, t, x(, y)``, one variable per physical field (``u`` for the scalar and per-seed
layouts with one channel, ``u0, u1, ...`` with several), and every PDE parameter as a coordinate along ``sample``.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from sciml._errors import DataError
from sciml.data._io import refuse_non_finite, unreadable_file_error, write_dataset

CFD_FIELDS = ("density", "pressure", "Vx", "Vy", "Vz")
_SPACE = ("x", "y", "z")
# PDEBench attribute -> coordinate name in sciml (Burgers and diffusion-reaction call the viscosity "Nu").
_PARAMETER_NAMES = {"Nu": "nu"}
_LAYOUTS = (
    "1D scalar: {'tensor', 'x-coordinate', 't-coordinate'}; "
    "CFD: {'density', 'pressure', 'Vx', ..., 'x-coordinate', 't-coordinate'}; "
    "per-seed groups: {'0000', '0001', ...} each with 'data' and 'grid/'"
)


def _parameters(attrs, n: int) -> dict[str, tuple[str, np.ndarray]]:
    coords = {}
    for name, value in attrs.items():
        value = np.asarray(value)
        if value.ndim == 0 and np.issubdtype(value.dtype, np.number):
            coords[_PARAMETER_NAMES.get(name, name)] = ("sample", np.full(n, value.item(), dtype=np.float64))
    return coords


def _times(f, n_t: int) -> np.ndarray:
    t = np.asarray(f["t-coordinate"][...], dtype=np.float64)
    if t.shape[0] < n_t:
        raise DataError(f"'t-coordinate' has {t.shape[0]} entries but the data has {n_t} frames; expected at least "
                        f"{n_t}")
    return t[:n_t]


def read_pdebench(path: str | os.PathLike) -> xr.Dataset:
    """Read a PDEBench HDF5 file (1D scalar, CFD or per-seed layout) into an `xarray.Dataset` (in memory)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no PDEBench file at {str(path)!r}")
    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            if "tensor" in keys and {"x-coordinate", "t-coordinate"} <= keys:
                ds = _read_scalar(f, keys)
            elif {"density", "Vx", "x-coordinate", "t-coordinate"} <= keys:
                ds = _read_cfd(f, keys)
            elif keys and all(k.isdigit() for k in keys):
                ds = _read_groups(f)
            else:
                raise DataError(f"{str(path)!r} holds keys {sorted(keys)}, which match no PDEBench layout; expected "
                                f"{_LAYOUTS}")
    except OSError as err:  # h5py: not HDF5, truncated, or a block that cannot be read
        raise unreadable_file_error(path, err, "a complete PDEBench HDF5 file") from None
    layout = ds.attrs["layout"]
    for name, var in ds.data_vars.items():
        stored = "tensor" if layout == "pdebench-1d" else name if layout.startswith("pdebench-cfd") else "NNNN/data"
        refuse_non_finite(var.values, what=f"PDEBench file {str(path)!r}, variable {name!r} (HDF5 {stored!r})",
                          dims=var.dims)
    return ds


def _check_known(keys: set[str], known: set[str], what: str) -> None:
    unknown = keys - known
    if unknown:
        raise DataError(f"PDEBench {what} file has unknown keys {sorted(unknown)}; expected only {sorted(known)}")


def _read_scalar(f, keys) -> xr.Dataset:
    _check_known(keys, {"tensor", "x-coordinate", "t-coordinate"}, "1D scalar")
    tensor = np.asarray(f["tensor"][...])
    if tensor.ndim != 3:
        raise DataError(f"'tensor' must be [sample, t, x], got shape {tensor.shape}")
    x = np.asarray(f["x-coordinate"][...], dtype=np.float64)
    if x.shape != (tensor.shape[2],):
        raise DataError(f"'x-coordinate' has shape {x.shape}, expected ({tensor.shape[2]},) to match 'tensor'")
    return xr.Dataset(
        {"u": (("sample", "t", "x"), tensor)},
        coords={"t": _times(f, tensor.shape[1]), "x": x, **_parameters(f.attrs, tensor.shape[0])},
        attrs={"layout": "pdebench-1d"},
    )


def _read_cfd(f, keys) -> xr.Dataset:
    fields = [name for name in CFD_FIELDS if name in keys]
    ndim = np.ndim(f["density"]) - 2
    coords_keys = {f"{axis}-coordinate" for axis in _SPACE[:ndim]} | {"t-coordinate"}
    _check_known(keys, set(CFD_FIELDS) | coords_keys, "CFD")
    dims = ("sample", "t", *_SPACE[:ndim])
    data = {name: (dims, np.asarray(f[name][...])) for name in fields}
    n, n_t = data["density"][1].shape[:2]
    coords = {axis: np.asarray(f[f"{axis}-coordinate"][...], dtype=np.float64) for axis in _SPACE[:ndim]}
    return xr.Dataset(data, coords={"t": _times(f, n_t), **coords, **_parameters(f.attrs, n)},
                      attrs={"layout": f"pdebench-cfd-{ndim}d"})


def _read_groups(f) -> xr.Dataset:
    seeds = sorted(f.keys())
    first = f[seeds[0]]
    if "data" not in first or "grid" not in first:
        raise DataError(f"per-seed group {seeds[0]!r} holds {sorted(first.keys())}; expected 'data' and 'grid'")
    data = np.stack([np.asarray(f[s]["data"][...]) for s in seeds])
    ndim = data.ndim - 3
    grid = first["grid"]
    axes = _SPACE[:ndim]
    _check_known(set(grid.keys()), {*axes, "t"}, "per-seed grid")
    coords = {axis: np.asarray(grid[axis][...], dtype=np.float64) for axis in axes}
    t = np.asarray(grid["t"][...], dtype=np.float64)[: data.shape[1]]
    dims = ("sample", "t", *axes)
    channels = data.shape[-1]
    names = ["u"] if channels == 1 else [f"u{c}" for c in range(channels)]
    variables = {name: (dims, data[..., c]) for c, name in enumerate(names)}
    return xr.Dataset(variables, coords={"t": t, **coords, **_parameters(f.attrs, len(seeds))},
                      attrs={"layout": f"pdebench-groups-{ndim}d"})


def _file_parameters(ds: xr.Dataset, names: dict[str, str]) -> dict[str, float]:
    attrs = {}
    for coord, attr in names.items():
        if coord not in ds.coords:
            raise DataError(f"dataset has no parameter coordinate {coord!r} (coords: {list(ds.coords)})")
        values = np.unique(np.asarray(ds[coord].values))
        if values.size != 1:
            raise DataError(
                f"a PDEBench file holds one parameter value, but {coord!r} takes {values.size} values; select one "
                f"first, e.g. ds.where(ds.{coord} == {values[0]}, drop=True)"
            )
        attrs[attr] = float(values[0])
    return attrs


def write_pdebench(ds: xr.Dataset, path: str | os.PathLike, *, parameters: dict[str, str] | None = None) -> Path:
    """Write `ds` (dims sample, t, x(, y), variable ``u``) in PDEBench's layout: 1D scalar for 1D, per-seed groups
    for 2D.

    Args:
        parameters: map from a coordinate of `ds` to the HDF5 attribute name (e.g. ``{"nu": "Nu"}``); each must be
            constant over the file, as in PDEBench (one file per parameter value).
    """
    path = Path(path)
    if "u" not in ds:
        raise DataError(f"write_pdebench needs a variable 'u', got {list(ds.data_vars)}")
    u = ds["u"]
    spatial = [d for d in u.dims if d in _SPACE]
    if u.dims[:2] != ("sample", "t") or len(spatial) not in (1, 2):
        raise DataError(f"'u' must have dims (sample, t, x) or (sample, t, x, y), got {u.dims}")
    attrs = _file_parameters(ds, parameters or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    t = np.asarray(ds.t.values, dtype=np.float32)
    with h5py.File(tmp, "w") as f:
        if len(spatial) == 1:
            f.create_dataset("tensor", data=np.asarray(u.values, dtype=np.float32))
            f.create_dataset("x-coordinate", data=np.asarray(ds.x.values, dtype=np.float32))
            dt = t[-1] - t[-2] if t.size > 1 else np.float32(0)
            f.create_dataset("t-coordinate", data=np.append(t, t[-1] + dt).astype(np.float32))
        else:
            values = np.asarray(u.values, dtype=np.float32)[..., None]
            for i in range(values.shape[0]):
                group = f.create_group(f"{i:04d}")
                group.create_dataset("data", data=values[i])
                for axis in (*spatial, "t"):
                    group.create_dataset(f"grid/{axis}", data=np.asarray(ds[axis].values, dtype=np.float32))
        for name, value in attrs.items():
            f.attrs[name] = value
    os.replace(tmp, path)
    return path


PDEBENCH_ATTRIBUTES = {"beta": "beta", "nu": "Nu", "rho": "rho"}


def write_family(ds: xr.Dataset, out_dir: str | os.PathLike, name: str) -> Path:
    """Write a parameter family as ``NAME.nc`` and ``NAME.zarr`` plus one PDEBench HDF5 file per parameter value.

    The HDF5 files go to ``out_dir/pdebench/`` and carry PDEBench's names (e.g. ``1D_Advection_Sols_beta0.4.hdf5``);
    returns the path of the netCDF file.
    """
    out_dir = Path(out_dir)
    names = list(ds.attrs["parameters"])
    combos = sorted({tuple(float(ds[n].values[i]) for n in names) for i in range(ds.sizes["sample"])})
    for combo in combos:
        mask = np.ones(ds.sizes["sample"], dtype=bool)
        for n, value in zip(names, combo, strict=True):
            mask &= np.asarray(ds[n].values) == value
        part = ds.isel(sample=np.flatnonzero(mask))
        label = "_".join(f"{PDEBENCH_ATTRIBUTES.get(n, n)}{v:g}" for n, v in zip(names, combo, strict=True))
        write_pdebench(part, out_dir / "pdebench" / f"{name}_Sols_{label}.hdf5",
                       parameters={n: PDEBENCH_ATTRIBUTES.get(n, n) for n in names})
    # One chunk per trajectory: a batch of random windows then reads only the trajectories it draws.
    fields = [v for v in ds.data_vars if ds[v].dims[:1] == ("sample",) and ds[v].ndim > 1]
    write_dataset(ds, out_dir / f"{name}.zarr", encoding={v: {"chunks": (1, *ds[v].shape[1:])} for v in fields})
    return write_dataset(ds, out_dir / f"{name}.nc",
                         encoding={v: {"chunksizes": (1, *ds[v].shape[1:])} for v in fields})
