"""Column data loader: layout, CF names and units, and clear errors on bad input."""

import numpy as np
import pytest
import xarray as xr

from sciml import DataError
from sciml.data import COLUMN_VARIABLES, load_columns, synthetic_columns, write_dataset


def test_synthetic_columns_round_trip(tmp_path):
    ds = synthetic_columns(32, 10, seed=3)
    for name, var in ds.data_vars.items():
        assert var.attrs["units"] == COLUMN_VARIABLES[name].units
        assert var.attrs["standard_name"] == COLUMN_VARIABLES[name].standard_name
    path = write_dataset(ds, tmp_path / "columns.nc")
    data = load_columns(path)
    assert data.inputs.shape == (32, 2 * 10 + 4) and data.outputs.shape == (32, 2 * 10)
    assert data.input_features[0] == f"T@{ds.level.values[0]:g}" and data.input_features[-1] == "LHFLX"
    np.testing.assert_array_equal(data.inputs[:, :10], ds["T"].values)
    np.testing.assert_array_equal(data.outputs[:, 10:], ds["PHQ"].values)
    np.testing.assert_array_equal(data.levels, ds.level.values)


def test_missing_variable_is_named():
    ds = synthetic_columns(8, 5).drop_vars("SOLIN")
    with pytest.raises(DataError, match=r"lacks variables \['SOLIN'\].*rename"):
        load_columns(ds)


def test_mismatched_levels_between_inputs_and_outputs():
    inputs = synthetic_columns(8, 26)
    outputs = synthetic_columns(8, 22)[["TPHYSTND", "PHQ"]]
    with pytest.raises(DataError, match="levels mismatch: 'TPHYSTND' lies on 22 levels .* 'T' on 26 levels"):
        load_columns(inputs, output_source=outputs)
    renamed = inputs.assign(PHQ=inputs["PHQ"].isel(level=slice(4, None)).rename(level="level_q"))
    with pytest.raises(DataError, match="levels mismatch: 'PHQ' lies on dimension 'level_q'"):
        load_columns(renamed)


def test_nan_in_a_column_is_located():
    ds = synthetic_columns(8, 5)
    ds["Q"][3, 2] = np.nan
    with pytest.raises(DataError, match=r"'Q' holds 1 non-finite values \(first at \{'sample': 3"):
        load_columns(ds)


def test_wrong_units_and_dims():
    ds = synthetic_columns(8, 5)
    ds["TPHYSTND"].attrs["units"] = "K day-1"
    with pytest.raises(DataError, match="'TPHYSTND' is in 'K day-1', expected 'K s-1'"):
        load_columns(ds)
    flipped = synthetic_columns(8, 5)
    flipped["T"] = flipped["T"].transpose("level", "sample")
    with pytest.raises(DataError, match=r"'T' has dims \('level', 'sample'\), expected \('sample', 'level'\)"):
        load_columns(flipped)
    with pytest.raises(DataError, match="'sample' dimension"):
        load_columns(xr.Dataset({name: ("time", np.zeros(3)) for name in ("T", "Q", "PS", "SOLIN", "SHFLX", "LHFLX",
                                                                          "TPHYSTND", "PHQ")}))
