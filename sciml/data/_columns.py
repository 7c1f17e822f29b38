"""Atmospheric column data for learned parametrizations (the real-climate path of MF-RPN).

A column dataset has dims ``sample`` x ``level`` (pressure levels, hPa): profiles such as temperature and specific
humidity on ``(sample, level)``, scalars such as surface pressure, insolation and surface fluxes on ``(sample,)``,
and the targets, heating and moistening tendencies, on ``(sample, level)``. Variable names follow CAM history
files (T, Q, PS, SOLIN, SHFLX, LHFLX; TPHYSTND, PHQ) and carry CF standard names and units, so CAM/SPCAM output
reshaped to (sample, level) loads unchanged. `load_columns` flattens the chosen variables into (sample, features)
matrices and refuses mismatched levels, missing variables, wrong units and NaN with errors that say the fix.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from sciml._errors import DataError
from sciml.data._io import check_finite, open_dataset


@dataclasses.dataclass(frozen=True)
class ColumnVariable:
    """What a column variable is: CF standard name, units, and whether it is a profile (on `level`)."""

    standard_name: str
    units: str
    profile: bool


COLUMN_VARIABLES: dict[str, ColumnVariable] = {
    "T": ColumnVariable("air_temperature", "K", True),
    "Q": ColumnVariable("specific_humidity", "kg kg-1", True),
    "PS": ColumnVariable("surface_air_pressure", "Pa", False),
    "SOLIN": ColumnVariable("toa_incoming_shortwave_flux", "W m-2", False),
    "SHFLX": ColumnVariable("surface_upward_sensible_heat_flux", "W m-2", False),
    "LHFLX": ColumnVariable("surface_upward_latent_heat_flux", "W m-2", False),
    "TPHYSTND": ColumnVariable("tendency_of_air_temperature_due_to_model_physics", "K s-1", True),
    "PHQ": ColumnVariable("tendency_of_specific_humidity_due_to_model_physics", "kg kg-1 s-1", True),
}
DEFAULT_INPUTS = ("T", "Q", "PS", "SOLIN", "SHFLX", "LHFLX")
DEFAULT_OUTPUTS = ("TPHYSTND", "PHQ")


@dataclasses.dataclass(frozen=True)
class ColumnData:
    """Column samples flattened for training: `inputs` (sample, d_in), `outputs` (sample, d_out) float32, and the
    name of every feature (``"T@500.0"`` for a profile level, ``"PS"`` for a scalar) and the pressure levels."""

    inputs: np.ndarray
    outputs: np.ndarray
    input_features: tuple[str, ...]
    output_features: tuple[str, ...]
    levels: np.ndarray


def load_columns(
    source: str | os.PathLike | xr.Dataset,
    inputs: Sequence[str] = DEFAULT_INPUTS,
    outputs: Sequence[str] = DEFAULT_OUTPUTS,
    *,
    output_source: str | os.PathLike | xr.Dataset | None = None,
) -> ColumnData:
    """Load a (sample, level) column dataset (path or `xarray.Dataset`) into flat input/output matrices.

    Args:
        source: the column file (or dataset) holding the inputs, and the outputs unless `output_source` is given.
        inputs, outputs: variable names (CAM names; see `COLUMN_VARIABLES`).
        output_source: a separate file (or dataset) for the outputs, sample-aligned with `source`.

    Every profile variable (inputs and outputs) must lie on the same ``level`` coordinate; units, where the file
    states them, must match `COLUMN_VARIABLES`; values must be finite. Raises `DataError` naming the variable,
    what was expected, what came and the fix.
    """
    ds_in = _open(source)
    ds_out = ds_in if output_source is None else _open(output_source)
    located = [(name, ds_in) for name in inputs] + [(name, ds_out) for name in outputs]
    missing = [name for name, ds in located if name not in ds.data_vars]
    if missing:
        found = sorted(set(ds_in.data_vars) | set(ds_out.data_vars))
        raise DataError(
            f"column data lacks variables {missing}; expected inputs {list(inputs)} and outputs {list(outputs)}, "
            f"found {found}. Rename your history-file variables to these CAM names (e.g. ds.rename({{'temp': 'T'}})) "
            "or pass inputs=/outputs= naming the variables you have."
        )
    for ds in (ds_in, ds_out):
        if "sample" not in ds.dims:
            raise DataError(f"column data needs a 'sample' dimension, got dims {dict(ds.sizes)}; stack time and the "
                            "horizontal grid first, e.g. ds.stack(sample=('time', 'lat', 'lon')).reset_index('sample')")
    if ds_in.sizes["sample"] != ds_out.sizes["sample"]:
        raise DataError(f"inputs hold {ds_in.sizes['sample']} samples but outputs {ds_out.sizes['sample']}; the two "
                        "sources must be aligned sample by sample")
    levels, first = None, None
    for name, ds in located:
        var = ds[name]
        spec = COLUMN_VARIABLES.get(name)
        profile = spec.profile if spec is not None else var.ndim == 2
        if profile and var.ndim == 2 and var.dims[0] == "sample" and var.dims[1] != "level":
            raise DataError(
                f"levels mismatch: {name!r} lies on dimension {var.dims[1]!r} ({var.shape[1]} levels), but every "
                "profile must share the 'level' dimension and coordinate. Interpolate it onto the common levels "
                "(ds.interp(...)) or select the common ones, and name the dimension 'level'."
            )
        expected_dims = ("sample", "level") if profile else ("sample",)
        if var.dims != expected_dims:
            raise DataError(f"column variable {name!r} has dims {var.dims}, expected {expected_dims}; transpose or "
                            f"rename its dimensions (profiles on 'level', scalars on 'sample' only)")
        if spec is not None and "units" in var.attrs and var.attrs["units"] != spec.units:
            raise DataError(f"column variable {name!r} is in {var.attrs['units']!r}, expected {spec.units!r} "
                            f"({spec.standard_name}); convert it before loading")
        if profile:
            these = np.asarray(var["level"].values if "level" in var.coords else np.arange(var.sizes["level"]))
            if levels is None:
                levels, first = these, name
            elif these.shape != levels.shape or not np.allclose(these, levels):
                raise DataError(
                    f"levels mismatch: {name!r} lies on {these.size} levels {_short(these)} but {first!r} on "
                    f"{levels.size} levels {_short(levels)}; every profile must share one 'level' coordinate. "
                    "Interpolate onto common levels (ds.interp(level=...)) or select them (ds.sel(level=...))."
                )
    check_finite(ds_in[list(inputs)], what="column inputs")
    check_finite(ds_out[list(outputs)], what="column outputs")
    input_matrix, input_features = _flatten(ds_in, inputs)
    output_matrix, output_features = _flatten(ds_out, outputs)
    return ColumnData(input_matrix, output_matrix, input_features, output_features,
                      levels if levels is not None else np.zeros(0))


def _open(source) -> xr.Dataset:
    return source if isinstance(source, xr.Dataset) else open_dataset(source)


def _short(values: np.ndarray) -> str:
    return f"[{values[0]:g} .. {values[-1]:g}]" if values.size else "[]"


def _flatten(ds: xr.Dataset, names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    columns, features = [], []
    for name in names:
        var = ds[name]
        if "level" in var.dims:
            values = np.asarray(var.values, np.float32)
            level_values = var["level"].values if "level" in var.coords else np.arange(var.sizes["level"])
            columns.append(values)
            features.extend(f"{name}@{float(p):g}" for p in level_values)
        else:
            columns.append(np.asarray(var.values, np.float32)[:, None])
            features.append(name)
    return np.concatenate(columns, axis=1), tuple(features)


def synthetic_columns(n_samples: int = 512, n_levels: int = 26, *, seed: int = 0) -> xr.Dataset:
    """A small synthetic column dataset with the layout, names and units of CAM output (for tests and demos).

    Profiles follow a moist-adiabat-like lapse rate with random surface temperature and humidity; heating is
    radiative cooling plus convective heating that grows with low-level moisture and insolation, moistening removes
    moisture where heating is released. The physics is schematic: it exists to exercise the data path.
    """
    if n_samples < 1 or n_levels < 2:
        raise DataError(f"synthetic_columns needs n_samples >= 1 and n_levels >= 2, got {n_samples}, {n_levels}")
    rng = np.random.default_rng(seed)
    pressure = np.linspace(50.0, 1000.0, n_levels)
    sigma = pressure / 1000.0
    surface_t = 288.0 + 12.0 * rng.standard_normal(n_samples)
    surface_q = np.clip(0.012 + 0.004 * rng.standard_normal(n_samples), 1e-4, None)
    ps = 1.0e5 + 800.0 * rng.standard_normal(n_samples)
    solin = 1361.0 * np.clip(rng.uniform(-0.3, 1.0, n_samples), 0.0, None)
    shflx = 15.0 + 10.0 * rng.standard_normal(n_samples)
    lhflx = 2.5e6 * 4e-3 * surface_q / 0.012 * (1.0 + 0.3 * rng.standard_normal(n_samples))
    temperature = surface_t[:, None] * sigma[None, :] ** 0.19 + 0.5 * rng.standard_normal((n_samples, n_levels))
    humidity = surface_q[:, None] * sigma[None, :] ** 3.0
    instability = (surface_q / 0.012)[:, None] * np.exp(-(((sigma - 0.6) / 0.2) ** 2))[None, :]
    heating_k_per_day = -1.5 + 4.0 * instability * (0.5 + solin[:, None] / 1361.0) + 0.02 * shflx[:, None] * sigma**8
    heating = heating_k_per_day / 86400.0
    moistening = -heating * 1004.6 / 2.26e6 * np.clip(humidity / surface_q[:, None], 0.0, 1.0) * 2.0
    coords = {"sample": np.arange(n_samples),
              "level": ("level", pressure, {"units": "hPa", "standard_name": "air_pressure",
                                            "long_name": "pressure level"})}

    def var(name, dims, values):
        spec = COLUMN_VARIABLES[name]
        return dims, values.astype(np.float32), {"standard_name": spec.standard_name, "units": spec.units,
                                                 "long_name": spec.standard_name.replace("_", " ")}

    return xr.Dataset(
        {
            "T": var("T", ("sample", "level"), temperature),
            "Q": var("Q", ("sample", "level"), humidity),
            "PS": var("PS", ("sample",), ps),
            "SOLIN": var("SOLIN", ("sample",), solin),
            "SHFLX": var("SHFLX", ("sample",), shflx),
            "LHFLX": var("LHFLX", ("sample",), lhflx),
            "TPHYSTND": var("TPHYSTND", ("sample", "level"), heating),
            "PHQ": var("PHQ", ("sample", "level"), moistening),
        },
        coords=coords,
        attrs={"title": "synthetic atmospheric columns (schematic physics) in CAM layout",
               "source": "sciml.data.synthetic_columns", "seed": seed},
    )
