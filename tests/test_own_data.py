"""Bring your own data: the tutorial (docs/tutorials/own-data.md) run as it stands on files with names of their own,
the roles mapping the file's data to the right places, and the errors a file that does not fit gets."""

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sciml
from sciml import cli
from sciml._errors import ConfigError, DataError
from sciml.data import FieldData, SeriesData, TendencyData
from sciml.studies import load_experiment, resolve_config, run_experiment

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "own-data.md"


def _blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced code blocks of `markdown` as (language, code), in order."""
    return re.findall(r"^```(\w+)\n(.*?)^```", markdown, re.S | re.M)


def _commands(script: str) -> list[list[str]]:
    """The commands of a shell block, continuation lines joined."""
    return [shlex.split(line) for line in script.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_tutorial_runs_as_written_and_maps_the_files_roles(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(TUTORIAL.read_text())
    assert [language for language, _ in blocks].count("bash") == 3, "one command-line form per kind"
    namespace, printed = {}, ""
    for i, (language, code) in enumerate(blocks):
        if language == "python":
            capsys.readouterr()
            exec(compile(code, f"{TUTORIAL.name}, block {i}", "exec"), namespace)
            printed = capsys.readouterr().out
        elif language == "bash":
            for command in _commands(code):
                assert command[0] == "sciml", command
                # Each command is the run its Python form made: the same config, so it finds the run finished.
                assert cli.main(command[1:]) == 0, " ".join(command)
                assert "finished; nothing to do" in capsys.readouterr().err, " ".join(command)
        elif language == "text":
            assert printed.strip() == code.strip(), "the output the page shows is what its code prints"

    for run in ("own-cape", "own-node", "own-rpn"):  # each run loads back and reproduces its predictions
        stored = xr.open_dataset(tmp_path / "runs" / run / "predictions.nc")
        np.testing.assert_allclose(sciml.load(tmp_path / "runs" / run).predict(stored).prediction, stored.prediction,
                                   rtol=1e-5, atol=1e-6, err_msg=run)
    cape = xr.open_dataset(tmp_path / "runs/own-cape/predictions.nc")
    vort = xr.open_dataset(tmp_path / "vort.nc")
    np.testing.assert_array_equal(cape["x"], vort["lon"])
    np.testing.assert_array_equal(cape["t"], vort["tt"][1:])
    assert cape["speed"].attrs["units"] == "m s-1" and cape["prediction"].attrs["units"] == "s-1"
    held = cape["split"].values == "held_out"
    assert held.any() and np.all(cape["speed"].values[held] == 0.6) and np.all(cape["speed"].values[~held] != 0.6)
    rows = cape["sample"].values  # the file's trajectories, by index
    np.testing.assert_allclose(cape["reference"], vort["vort"].values[rows, 1:], rtol=1e-6)

    node = xr.open_dataset(tmp_path / "runs/own-node/predictions.nc")
    oscillator = xr.open_dataset(tmp_path / "oscillator.nc")
    assert list(node["state"].values) == ["pos", "vel"] and node.attrs["training_times"] == 20
    np.testing.assert_array_equal(node["reference"], np.stack([oscillator["pos"], oscillator["vel"]], axis=-1))
    summary = json.loads((tmp_path / "runs/own-node/summary.json").read_text())["metrics"]
    # A linear oscillator: 1000 steps forecast the untrained second half to a few percent (misplaced times or states
    # leave errors near 100 %).
    assert summary["extrapolation_rel_l2"] < 0.2 and summary["train_window_rel_l2"] < 0.2, summary

    rpn = xr.open_dataset(tmp_path / "runs/own-rpn/predictions.nc")
    ring = xr.open_dataset(tmp_path / "ring.nc")
    np.testing.assert_array_equal(rpn["k"], ring["lon"])
    np.testing.assert_allclose(rpn["reference"], ring["heating"].values[-60:], rtol=1e-6)  # the last 20 %
    assert rpn["prediction"].attrs["units"] == "K d-1" and rpn["state"].attrs["units"] == "K"
    summary = json.loads((tmp_path / "runs/own-rpn/summary.json").read_text())["metrics"]
    # The heating is a tanh of the local temperature plus a neighbour difference and 5 % noise: a closure fed the
    # wrong variable or misaligned samples explains none of it (R^2 ~ 0); the quick ensemble explains nearly all.
    assert summary["r2_test"] > 0.8, summary


def _field_file(path: Path, *, n_sample: int = 4, n_time: int = 6, n_lon: int = 8, **changes) -> Path:
    rng = np.random.default_rng(1)
    ds = xr.Dataset({"vort": (("sample", "tt", "lon"), rng.standard_normal((n_sample, n_time, n_lon)))},
                    coords={"tt": np.linspace(0.0, 1.0, n_time), "lon": np.arange(n_lon) * 0.5,
                            "speed": ("sample", np.linspace(0.1, 0.4, n_sample))})
    for name, (dims, values) in changes.items():
        ds[name] = (dims, values)
    ds.to_netcdf(path)
    return path


ROLES = {"dims": {"time": "tt", "x": "lon"}, "variables": {"u": "vort"}}


def test_a_zarr_store_and_dates_read_like_the_netcdf_file(tmp_path):
    nc = _field_file(tmp_path / "f.nc")
    store = tmp_path / "f.zarr"
    xr.open_dataset(nc).assign_coords(tt=np.datetime64("2000-01-01") + np.arange(6) * np.timedelta64(6, "h")
                                      ).to_zarr(store, zarr_format=2)
    from_nc, from_zarr = FieldData.of(nc, **ROLES).open(), FieldData.of(store, **ROLES).open()
    np.testing.assert_array_equal(from_zarr["u"], from_nc["u"])
    np.testing.assert_allclose(from_zarr["t"], np.arange(6) * 0.25)  # 6-hourly dates: days since the first
    assert from_zarr["t"].attrs["units"] == "d" and from_nc["speed"].dims == ("sample",)


@pytest.mark.parametrize(("roles", "message"), [
    ({"dims": {"time": "tt"}, "variables": {"u": "vort"}}, "--set data.dims.x=lon"),
    ({"dims": {"time": "tt", "x": "lon"}}, r"'u' is not a variable .* variables \[vort\('sample', 'tt', 'lon'\)\].*"
                                           r"--set data.variables.u=vort"),
    ({"dims": {"time": "time_days", "x": "lon"}, "variables": {"u": "vort"}}, "--set data.dims.time=tt"),
])
def test_a_role_naming_nothing_in_the_file_lists_what_it_has_and_the_fix(tmp_path, roles, message):
    with pytest.raises(DataError, match=message):
        FieldData.of(_field_file(tmp_path / "f.nc"), **roles).open()


def test_a_variable_of_the_wrong_rank_or_with_an_unnamed_dimension_is_refused(tmp_path):
    flat = _field_file(tmp_path / "flat.nc", flat=(("sample", "lon"), np.zeros((4, 8))))
    with pytest.raises(DataError, match=r"lies on \('sample', 'lon'\), rank 2; .* lacks 'tt' \(data.dims.time\)"):
        FieldData.of(flat, dims={"time": "tt", "x": "lon"}, variables={"u": "flat"}).open()
    levels = _field_file(tmp_path / "levels.nc", deep=(("sample", "tt", "lon", "lev"), np.zeros((4, 6, 8, 3))))
    with pytest.raises(DataError, match=r"\['lev'\] match no role. If 'lev' is the y dimension: --set data.dims.y=lev"):
        FieldData.of(levels, dims={"time": "tt", "x": "lon"}, variables={"u": "deep"}).open()
    with pytest.raises(DataError, match="data.dims.y='lat' is not a dimension of .* --set data.dims.y=lev"):
        FieldData.of(levels, dims={"time": "tt", "x": "lon", "y": "lat"}, variables={"u": "deep"}).open()


def test_bad_values_and_times_are_refused_where_they_occur(tmp_path):
    values = np.random.default_rng(0).standard_normal((4, 6, 8))
    values[2, 2, 5] = np.nan
    with pytest.raises(DataError, match=r"1 NaN/Inf values \(first at sample index 2, tt=0.4, lon=2.5\).*dropna"):
        FieldData.of(_field_file(tmp_path / "nan.nc", vort=(("sample", "tt", "lon"), values)), **ROLES).open()
    backwards = xr.open_dataset(_field_file(tmp_path / "f.nc")).assign_coords(tt=[0.0, 0.2, 0.4, 0.3, 0.8, 1.0])
    with pytest.raises(DataError, match=r"'tt' .* not strictly increasing at index 3 .*sortby\('tt'\)"):
        FieldData.of("f.nc", **ROLES).conform(backwards)
    uneven = backwards.assign_coords(tt=[0.0, 0.2, 0.4, 0.6, 0.8, 1.3])
    with pytest.raises(DataError, match="unevenly spaced along 'tt'"):
        FieldData.of("f.nc", **ROLES).conform(uneven)


def test_missing_or_unreadable_files_and_unknown_roles(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        FieldData.of(tmp_path / "absent.nc").open()
    (tmp_path / "broken.nc").write_bytes(b"not a netCDF file")
    with pytest.raises(DataError, match="cannot be opened as a netCDF file or zarr store"):
        FieldData.of(tmp_path / "broken.nc").open()
    with pytest.raises(ConfigError, match=r"unknown dims role\(s\) \['lat'\]; its dims roles are \['sample', 'time'"):
        FieldData.of("f.nc", dims={"lat": "y"})
    config_type = load_experiment("advection-cape").config_type
    with pytest.raises(ConfigError, match="unknown config key 'data.dims.lat'.*valid keys: data.dims.sample"):
        resolve_config(config_type, {"data.dims.lat": "y"})
    assert resolve_config(config_type).data.path == "", "no file: the built-in dataset"


def test_too_few_samples_or_times_for_the_split(tmp_path):
    ring = xr.Dataset({"X": (("sample", "k"), np.ones((3, 8))), "U": (("sample", "k"), np.ones((3, 8)))})
    data = TendencyData(test_fraction=0.2)
    with pytest.raises(DataError, match="too few samples for the split: 2 .* leave 2 to train on and 0 to test"):
        data.split(data.conform(ring.isel(sample=slice(0, 2))))
    assert [part.sizes["sample"] for part in data.split(data.conform(ring))] == [2, 1]
    with pytest.raises(DataError, match=r"too few times to train on: data.train_fraction=0.1 of 11 times is 1"):
        SeriesData(train_fraction=0.1).training_times(11)
    path = _field_file(tmp_path / "f.nc")
    base = {"data.path": str(path), "data.dims.time": "tt", "data.dims.x": "lon", "data.variables.u": "vort",
            "parameters": "speed", "held_out_parameter": "speed"}
    with pytest.raises(DataError, match="too few samples for the split: .* 4 trajectories, 1 of them outside"):
        run_experiment("advection-cape", {**base, "held_out_values": "0.1,0.2,0.3"}, tmp_path / "run1")
    with pytest.raises(ConfigError, match=r"held_out_values=\(0.6,\): \[0.6\] do not occur in 'speed'"):
        run_experiment("advection-cape", {**base, "held_out_values": "0.6"}, tmp_path / "run2")
    with pytest.raises(ConfigError, match=r"\['beta'\] are not values along the sample dimension .* --set parameters"):
        run_experiment("advection-cape", {**base, "parameters": "beta"}, tmp_path / "run3")


def test_the_command_line_prints_the_fix_and_exits_2_without_a_traceback(tmp_path, capsys):
    path = _field_file(tmp_path / "f.nc")
    code = cli.main(["run", "advection-cape", "--set", f"data.path={path}", "--set", "data.dims.time=tt",
                     "--set", "data.variables.u=vort", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "sciml: error: data.dims.x='x' is not a dimension of" in err and "--set data.dims.x=lon" in err
