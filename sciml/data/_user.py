"""A user's own netCDF / zarr file read through named roles, into the layout a study trains on.

The user names which of the file's dimensions and variables plays each role; `open` (or `conform` for a dataset in
memory) checks the file against the roles and returns the canonical layout of one kind of data:

- `FieldData` (neural PDE solvers): a field ``u`` on ``(sample, t, x[, y])``, the PDE parameters as coordinates
  along ``sample`` (what `trajectory_arrays` reads);
- `SeriesData` (neural differential equations): trajectories ``values`` on ``(sample, time, channel)`` (what
  `series_arrays` reads);
- `TendencyData` (learned parametrizations): a state ``X`` and its subgrid tendency ``U`` on ``(sample, k)``, ``k``
  a periodic grid (what `sciml.uq.parametrization_training` reads).

Each class is also a config section (``Config.data`` of the experiments that accept a file), so the roles are set
from the command line as ``--set data.path=my.nc --set data.dims.time=t_days --set data.variables.u=vorticity``, or
in Python as ``FieldData.of("my.nc", dims={"time": "t_days"}, variables={"u": "vorticity"})``. An empty ``path``
means the experiment's built-in data. Everything that does not fit (a missing file, a role naming nothing in the
file, a variable of the wrong rank, NaN, times that do not increase, too few samples for a split) is a
`DataError` / `ConfigError` that names what the file has and the ``--set`` that fixes it. The file is read into
memory.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import os
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sciml._errors import ConfigError, DataError
from sciml.data._timeseries import check_times, series_dataset


@dataclasses.dataclass(frozen=True)
class FieldDims:
    """The file's dimensions behind the roles of a trajectory field (`FieldData`)."""

    sample: str = "sample"
    """Dimension of the trajectories (one initial condition and parameter set each)."""
    time: str = "t"
    """Dimension of the frames, evenly spaced in time."""
    x: str = "x"
    """First space dimension (a periodic grid)."""
    y: str = "y"
    """Second space dimension of 2-D fields (ignored when the file has no dimension "y"; "": none)."""


@dataclasses.dataclass(frozen=True)
class FieldVariables:
    """The file's variables behind the roles of a trajectory field (`FieldData`)."""

    u: str = "u"
    """The field the solver steps forward, on (sample, time, x[, y])."""


@dataclasses.dataclass(frozen=True)
class SeriesDims:
    """The file's dimensions behind the roles of trajectories over time (`SeriesData`)."""

    sample: str = "sample"
    """Dimension of the trajectories (one initial state each)."""
    time: str = "time"
    """Dimension of the observation times (strictly increasing)."""
    channel: str = "channel"
    """Dimension of the state components within one variable (ignored when the file has no "channel"; "": none)."""


@dataclasses.dataclass(frozen=True)
class SeriesVariables:
    """The file's variables behind the roles of trajectories over time (`SeriesData`)."""

    states: tuple[str, ...] = ("values",)
    """Variables that together form the state, each on (sample, time) or (sample, time, channel)."""


@dataclasses.dataclass(frozen=True)
class TendencyDims:
    """The file's dimensions behind the roles of state-tendency pairs (`TendencyData`)."""

    sample: str = "sample"
    """Dimension of the snapshots (e.g. time steps)."""
    k: str = "k"
    """Periodic grid dimension the closure's stencil slides along (Lorenz-96's k; e.g. longitude)."""


@dataclasses.dataclass(frozen=True)
class TendencyVariables:
    """The file's variables behind the roles of state-tendency pairs (`TendencyData`)."""

    state: str = "X"
    """Resolved state the closure reads, on (sample, k)."""
    tendency: str = "U"
    """Subgrid tendency the closure predicts, on (sample, k)."""


def _fix(section: str, role: str, value: str) -> str:
    return f"--set data.{section}.{role}={value} (in Python: {section}={{{role!r}: {value!r}}})"


def _listing(ds: xr.Dataset) -> str:
    """The file's dimensions (with sizes) and variables (with dims), for error messages."""
    dims = ", ".join(f"{d}: {n}" for d, n in ds.sizes.items())
    variables = ", ".join(f"{name}{tuple(map(str, var.dims))}" for name, var in ds.data_vars.items())
    return f"dimensions {{{dims}}} and variables [{variables}]"


def _guess(name: str, candidates: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.4)
    return close[0] if close else (candidates[0] if candidates else None)


def _open_file(path: str) -> xr.Dataset:
    """The file at `path` as a dataset (zarr for a ``.zarr`` store or folder, netCDF 3/4 otherwise)."""
    file = Path(path).expanduser()
    if not file.exists():
        where = "" if file.is_absolute() else f" (relative to the working directory {os.getcwd()})"
        raise DataError(f"data.path={path!r}: no such file or folder{where}; expected a netCDF file or a zarr store. "
                        "Give its full path: --set data.path=/full/path/to/file.nc")
    try:
        if file.suffix == ".zarr" or file.is_dir():
            return xr.open_zarr(file)
        return xr.open_dataset(file)
    except Exception as err:  # any reader failure: the file is not a dataset xarray can read
        raise DataError(f"data.path={path!r} cannot be opened as a netCDF file or zarr store ({type(err).__name__}: "
                        f"{err}); expected a file that `xarray.open_dataset` (or `open_zarr` for .zarr) reads. "
                        "Check the file is complete and in one of these formats.") from None


def _dims_of(ds: xr.Dataset, roles: Mapping[str, str], optional: Mapping[str, str], source: str
             ) -> dict[str, str | None]:
    """Each dim role's dimension in `ds`: None for an `optional` role (role -> default name) the file lacks under its
    default name or that is named ""; errors name the fix."""
    named = [name for name in roles.values() if name]
    repeated = sorted({name for name in named if named.count(name) > 1})
    if repeated:
        raise ConfigError(f"data.dims: {repeated} is named for more than one role ({dict(roles)}); each role needs "
                          "its own dimension")
    found: dict[str, str | None] = {}
    for role, name in roles.items():
        if name in ds.dims:
            found[role] = name
        elif role in optional and name in ("", optional[role]):
            found[role] = None
        else:
            free = [str(d) for d in ds.dims if d not in named]
            guess = _guess(name, free) if name else (free[0] if free else None)
            fix = f" Name the file's {role} dimension: {_fix('dims', role, guess)}" if guess else ""
            raise DataError(f"data.dims.{role}={name!r} is not a dimension of {source}; the file has "
                            f"{_listing(ds)}.{fix}")
    return found


def _variable(ds: xr.Dataset, role: str, name: str, dims: Sequence[tuple[str, str | None, bool]], source: str,
              kind: str) -> xr.DataArray:
    """Variable `name` (role `role`) of `ds`, transposed to `dims` ((role, file dim or None, required) in canonical
    order) with the optional roles the file lacks left out; errors name the variable, its dims and the fix."""
    if name not in ds.data_vars:
        free = [str(v) for v in ds.data_vars]
        guess = _guess(name, free)
        fix = f" Name the file's variable: {_fix('variables', role, guess)}" if guess else ""
        raise DataError(f"data.variables.{role}={name!r} is not a variable of {source}; the file has "
                        f"{_listing(ds)}.{fix}")
    var = ds[name]
    wanted = [(r, d) for r, d, _ in dims if d is not None]
    expected = "(" + ", ".join(r if required else f"[{r}]" for r, _, required in dims) + ")"
    extra = [str(d) for d in var.dims if d not in {d for _, d in wanted}]
    if extra:
        unset = [r for r, d, required in dims if d is None and not required]
        fix = (f"If {extra[0]!r} is the {unset[0]} dimension: {_fix('dims', unset[0], extra[0])}; otherwise select "
               f"or stack it away first (ds.isel({extra[0]}=0), or ds.stack(...) into the sample dimension)."
               if unset else f"Select or stack it away first (ds.isel({extra[0]}=0), or ds.stack(...) into the "
               "sample dimension).")
        raise DataError(f"variable {name!r} (data.variables.{role}) of {source} lies on {tuple(map(str, var.dims))}"
                        f", rank {var.ndim}; {kind} needs {expected}, and {extra} match no role. {fix}")
    missing = [f"{d!r} (data.dims.{r})" for r, d, required in dims if required and d not in var.dims]
    if missing:
        raise DataError(f"variable {name!r} (data.variables.{role}) of {source} lies on "
                        f"{tuple(map(str, var.dims))}, rank {var.ndim}; {kind} needs {expected} and it lacks "
                        f"{', '.join(missing)}. Name the variable that lies on those dimensions or the roles of "
                        f"its dimensions (data.dims.*).")
    return var.transpose(*[d for _, d in wanted if d in var.dims])


def _finite(var: xr.DataArray, role: str, source: str, sample: str) -> np.ndarray:
    """The values of `var` (role `role`); a `DataError` naming the first NaN/Inf by its coordinates, and the fix."""
    values = np.asarray(var.values)
    if not np.issubdtype(values.dtype, np.number):
        raise DataError(f"variable {var.name!r} (data.variables.{role}) of {source} holds {values.dtype} values; "
                        "expected numbers")
    bad = ~np.isfinite(values)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), values.shape)
        where = ", ".join(f"{d}={var[d].values[i].item()}" if d in var.coords else f"{d} index {int(i)}"
                          for d, i in zip(map(str, var.dims), first, strict=True))
        raise DataError(f"variable {var.name!r} (data.variables.{role}) of {source} holds {int(bad.sum())} NaN/Inf "
                        f"values (first at {where}); expected finite numbers. Drop the samples that hold them "
                        f"(ds.dropna({sample!r})) or fill them (ds.interpolate_na(...), ds.fillna(...)) first")
    return values


def _described(name: str, attrs: Mapping, source: str) -> dict:
    """`attrs` of the file's variable `name` with the CF ``long_name`` and ``units`` it lacks filled in: the name
    and file, and units "1" with a ``comment`` saying the file does not state them."""
    out = dict(attrs)
    if not str(out.get("long_name", "")).strip():
        out["long_name"] = f"{name} (from {source})"
    if not str(out.get("units", "")).strip():
        out.update(units="1", comment=f"units not stated in {source}")
    return out


def _times(ds: xr.Dataset, dim: str, source: str) -> tuple[np.ndarray, dict]:
    """The coordinate of time dimension `dim` as float64 (dates: days since the first; none: the step index) and
    its attrs; a `DataError` unless strictly increasing."""
    if dim not in ds.coords:
        return np.arange(ds.sizes[dim], dtype=np.float64), {"long_name": "time step index", "units": "1"}
    coordinate = ds[dim]
    values = np.asarray(coordinate.values)
    attrs = _described(dim, coordinate.attrs, source)
    if np.issubdtype(values.dtype, np.datetime64):
        first = np.datetime_as_string(values[0], unit="s")
        values = (values - values[0]) / np.timedelta64(1, "D")
        attrs = {"long_name": f"time since {first}", "units": "d"}
    elif np.issubdtype(values.dtype, np.timedelta64):
        values = values / np.timedelta64(1, "D")
        attrs = {"long_name": attrs.get("long_name", "time"), "units": "d"}
    elif not np.issubdtype(values.dtype, np.number):
        raise DataError(f"the time coordinate {dim!r} (data.dims.time) of {source} holds {values.dtype} values; "
                        "expected numbers or dates")
    values = values.astype(np.float64)
    what = f"the time coordinate {dim!r} (data.dims.time) of {source}"
    if not np.isfinite(values).all():
        i = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{what} is {values[i]} at index {i}; expected finite times. Drop those frames first: "
                        f"ds.isel({dim}=np.isfinite(ds[{dim!r}]))")
    bad = np.flatnonzero(np.diff(values) <= 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{what} is not strictly increasing at index {i + 1} ({dim}[{i}]={values[i]:g}, "
                        f"{dim}[{i + 1}]={values[i + 1]:g}); expected strictly increasing times. Sort them and drop "
                        f"repeats first: ds.sortby({dim!r}).drop_duplicates({dim!r})")
    return values, attrs


def _sample_coordinates(ds: xr.Dataset, sample: str, taken: Sequence[str], source: str) -> dict[str, tuple]:
    """Every numeric coordinate or variable of `ds` on the sample dimension alone (e.g. PDE parameters), as
    coordinates along the canonical ``sample``; names in `taken` (the canonical ones) are left out."""
    found = {}
    for name, var in {**ds.coords, **ds.data_vars}.items():
        if var.dims == (sample,) and name != sample and name not in taken and np.issubdtype(var.dtype, np.number):
            found[str(name)] = ("sample", np.asarray(var.values), _described(str(name), var.attrs, source))
    return found


def _space_coordinate(ds: xr.Dataset, dim: str, source: str) -> tuple[np.ndarray, dict]:
    """The values and attrs of the coordinate of dimension `dim` (the grid index where the file has none)."""
    if dim in ds.coords:
        return np.asarray(ds[dim].values), _described(dim, ds[dim].attrs, source)
    return np.arange(ds.sizes[dim], dtype=np.float64), {"long_name": "grid index", "units": "1"}


@dataclasses.dataclass(frozen=True)
class UserData(abc.ABC):
    """A user's file and the roles of its dimensions and variables (the ``data`` section of an experiment's config).

    Subclasses add the ``dims`` and ``variables`` sections of one kind of data and `conform`.
    """

    path: str = ""
    """netCDF file or zarr store to train on ("": the experiment's built-in data)."""

    @classmethod
    def of(cls, path: str | os.PathLike, *, dims: Mapping[str, str] | None = None,
           variables: Mapping[str, str | Sequence[str]] | None = None, **options):
        """The section for the file at `path` with roles given as mappings, e.g. ``dims={"time": "tt"}`` (roles left
        out keep their default names); `options` sets the section's other fields. Unknown roles are a
        `ConfigError` listing the valid ones."""
        hints = typing.get_type_hints(cls)
        sections = {}
        for section, given in (("dims", dims or {}), ("variables", variables or {})):
            roles = [f.name for f in dataclasses.fields(hints[section])]
            unknown = sorted(set(given) - set(roles))
            if unknown:
                raise ConfigError(f"{cls.__name__}: unknown {section} role(s) {unknown}; its {section} roles are "
                                  f"{roles}")
            values = {role: tuple(value) if isinstance(value, list) else value for role, value in given.items()}
            sections[section] = hints[section](**values)
        return cls(path=str(path), **sections, **options)

    def open(self) -> xr.Dataset:
        """Read the file at `path` and return it in the canonical layout (`conform`)."""
        if not self.path:
            raise ConfigError("data.path is empty: there is no file to open; set it: --set data.path=my.nc")
        with _open_file(self.path) as ds:
            return self.conform(ds, source=repr(self.path))

    @abc.abstractmethod
    def conform(self, ds: xr.Dataset, *, source: str = "the dataset") -> xr.Dataset:
        """`ds` (the user's names) in the canonical layout of this kind of data, loaded and checked."""

    def _role_names(self) -> tuple[dict[str, str], dict[str, typing.Any]]:
        dims = dataclasses.asdict(self.dims)
        variables = dataclasses.asdict(self.variables)
        for section, roles in (("dims", dims), ("variables", variables)):
            for role, value in roles.items():
                names = value if isinstance(value, tuple) else (value,)
                if not all(isinstance(n, str) for n in names):
                    raise ConfigError(f"data.{section}.{role} must name the file's {section[:-1]} by a string, got "
                                      f"{value!r}")
        return dims, variables


@dataclasses.dataclass(frozen=True)
class FieldData(UserData):
    """A file of trajectories of a field on a grid, for a neural PDE solver.

    `conform` returns ``u`` (sample, t, x[, y]) float32 with coordinates ``t`` (float64; dates become days since the
    first), ``x`` (and ``y``; the grid index where the file has none) and, along ``sample``, every numeric
    coordinate or variable the file holds on its sample dimension alone (the PDE parameters), under its own name.
    Frames must be evenly spaced in time.
    """

    dims: FieldDims = FieldDims()
    """Which of the file's dimensions plays each role."""
    variables: FieldVariables = FieldVariables()
    """Which of the file's variables plays each role."""

    def conform(self, ds: xr.Dataset, *, source: str = "the dataset") -> xr.Dataset:
        dim_roles, variable_roles = self._role_names()
        found = _dims_of(ds, dim_roles, {"y": FieldDims.y}, source)
        layout = [("sample", found["sample"], True), ("time", found["time"], True), ("x", found["x"], True),
                  ("y", found["y"], False)]
        var = _variable(ds, "u", variable_roles["u"], layout, source, "a trajectory field")
        values = _finite(var, "u", source, found["sample"])
        if values.shape[1] < 2:
            raise DataError(f"{source} holds {values.shape[1]} frame along {found['time']!r} (data.dims.time); "
                            "a solver needs at least 2 frames to learn a step")
        t, t_attrs = _times(ds, found["time"], source)
        steps = np.diff(t)
        if not np.allclose(steps, steps[0], rtol=1e-3, atol=0.0):
            i = int(np.argmax(np.abs(steps - steps[0]) > 1e-3 * abs(steps[0])))
            raise DataError(f"the frames of {source} are unevenly spaced along {found['time']!r} (step "
                            f"{steps[0]:g} at the start, {steps[i]:g} at index {i}); an autoregressive solver "
                            f"steps a fixed dt. Select evenly spaced frames first (ds.sel({found['time']}=...)) or "
                            f"interpolate (ds.interp({found['time']}=...))")
        space = [role for role in ("x", "y") if found[role] is not None and found[role] in var.dims]
        coords = {"t": ("t", t, t_attrs), "sample": np.arange(values.shape[0])}
        for role in space:
            coords[role] = (role, *_space_coordinate(ds, found[role], source))
        coords.update(_sample_coordinates(ds, found["sample"], ("sample", "t", "x", "y", "u"), source))
        field = xr.Variable(("sample", "t", *space), values.astype(np.float32), _described(var.name, var.attrs, source))
        return xr.Dataset({"u": field}, coords=coords, attrs={**ds.attrs, "source_file": source})


@dataclasses.dataclass(frozen=True)
class SeriesData(UserData):
    """A file of trajectories over time, for a neural differential equation.

    `conform` returns `series_dataset`'s layout: ``values`` (sample, time, channel) and ``mask``, ``time`` float64
    (dates become days since the first), one ``channel`` per state component: a variable on (sample, time) is one
    channel named after it; a variable with a channel dimension gives one per entry (named by its coordinate).
    """

    dims: SeriesDims = SeriesDims()
    """Which of the file's dimensions plays each role."""
    variables: SeriesVariables = SeriesVariables()
    """Which of the file's variables plays each role."""
    train_fraction: float = 0.5
    """Share of each trajectory's times, from the start, trained on; the rest is forecast and scored."""

    def __post_init__(self):
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(f"data.train_fraction must be in (0, 1], got {self.train_fraction}")

    def conform(self, ds: xr.Dataset, *, source: str = "the dataset") -> xr.Dataset:
        dim_roles, variable_roles = self._role_names()
        if not variable_roles["states"]:
            raise ConfigError("data.variables.states is empty; name the state variables: --set "
                              "data.variables.states=NAME1,NAME2")
        found = _dims_of(ds, dim_roles, {"channel": SeriesDims.channel}, source)
        layout = [("sample", found["sample"], True), ("time", found["time"], True),
                  ("channel", found["channel"], False)]
        columns, names, units = [], [], []
        for name in variable_roles["states"]:
            var = _variable(ds, "states", name, layout, source, "a state variable")
            values = _finite(var, "states", source, found["sample"]).astype(np.float64)
            width = var.sizes[found["channel"]] if var.ndim == 3 else 1
            units += [_described(name, var.attrs, source)["units"]] * width
            if var.ndim == 2:
                columns.append(values[:, :, None])
                names.append(str(name))
            else:
                channel = found["channel"]
                labels = ds[channel].values if channel in ds.coords else np.arange(var.sizes[channel])
                columns.append(values)
                single = len(variable_roles["states"]) == 1
                names.extend(str(label) if single else f"{name}[{label}]" for label in labels)
        time, time_attrs = _times(ds, found["time"], source)
        check_times(time, np.float32, what=f"the time coordinate {found['time']!r} (data.dims.time) of {source}")
        series = series_dataset(time, np.concatenate(columns, axis=2), names, attrs={**ds.attrs,
                                                                                    "source_file": source})
        series["time"].attrs.update(time_attrs)
        same = len(set(units)) == 1
        series["values"].attrs.update(long_name=f"state ({', '.join(names)}) from {source}",
                                      units=units[0] if same else "1",
                                      **({} if same else {"comment": f"units per channel: {units}"}))
        return series.assign_coords(_sample_coordinates(ds, found["sample"], ("sample", "time", "channel"), source))

    def training_times(self, n_times: int) -> int:
        """How many of `n_times` times (from the start) are trained on; at least 2."""
        n = int(round(self.train_fraction * n_times))
        if n < 2:
            raise DataError(f"too few times to train on: data.train_fraction={self.train_fraction} of {n_times} "
                            f"times is {n}; need at least 2. Raise it: --set data.train_fraction=1.0, or use a "
                            "file with more times")
        return n


@dataclasses.dataclass(frozen=True)
class TendencyData(UserData):
    """A file of (state, subgrid tendency) pairs on a periodic grid, for a learned parametrization.

    `conform` returns ``X`` and ``U`` (sample, k) float32 with the file's ``k`` coordinate (the grid index where it
    has none) and every numeric coordinate or variable on the sample dimension alone as coordinates along
    ``sample``.
    """

    dims: TendencyDims = TendencyDims()
    """Which of the file's dimensions plays each role."""
    variables: TendencyVariables = TendencyVariables()
    """Which of the file's variables plays each role."""
    test_fraction: float = 0.2
    """Share of the samples, the last ones along the sample dimension, held out for testing."""

    def __post_init__(self):
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"data.test_fraction must be in (0, 1), got {self.test_fraction}")

    def conform(self, ds: xr.Dataset, *, source: str = "the dataset") -> xr.Dataset:
        dim_roles, variable_roles = self._role_names()
        found = _dims_of(ds, dim_roles, {}, source)
        layout = [("sample", found["sample"], True), ("k", found["k"], True)]
        arrays = {}
        for role, canonical in (("state", "X"), ("tendency", "U")):
            var = _variable(ds, role, variable_roles[role], layout, source, f"the {role}")
            values = _finite(var, role, source, found["sample"]).astype(np.float32)
            arrays[canonical] = (("sample", "k"), values, _described(var.name, var.attrs, source))
        coords = {"sample": np.arange(ds.sizes[found["sample"]]),
                  "k": ("k", *_space_coordinate(ds, found["k"], source))}
        coords.update(_sample_coordinates(ds, found["sample"], ("sample", "k", "X", "U"), source))
        return xr.Dataset(arrays, coords=coords, attrs={**ds.attrs, "source_file": source})

    def split(self, pairs: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
        """(train, test) of a conformed dataset: the last `test_fraction` of the samples are the test split."""
        n = pairs.sizes["sample"]
        n_test = int(round(self.test_fraction * n))
        if n_test < 1 or n - n_test < 2:
            raise DataError(f"too few samples for the split: {n} along the sample dimension "
                            f"{self.dims.sample!r} with data.test_fraction={self.test_fraction} leave {n - n_test} to "
                            f"train on and {n_test} to test; need at least 2 and 1. Use a file with more samples "
                            "or change --set data.test_fraction=...")
        return pairs.isel(sample=slice(0, n - n_test)), pairs.isel(sample=slice(n - n_test, None))
