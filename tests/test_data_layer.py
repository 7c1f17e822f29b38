"""Data layer: shipped references as tidy datasets, IO round trips, and clear errors on bad files and NaN."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import xarray as xr

from sciml import DataError
from sciml.data import (
    Normalization,
    check_finite,
    load_reference,
    open_dataset,
    trajectory_arrays,
    write_dataset,
)


def test_burgers_reference_is_tidy_and_starts_from_the_initial_condition():
    ds = load_reference("burgers")
    assert ds.u.dims == ("t", "x") and ds.u.shape == (100, 256)
    assert ds.attrs["nu"] == pytest.approx(0.01 / np.pi) and "MIT" in ds.attrs["source"]
    np.testing.assert_allclose(ds.u.sel(t=0.0), -np.sin(np.pi * ds.x), atol=1e-6)
    np.testing.assert_allclose(ds.u.isel(x=[0, -1]), 0.0, atol=1e-6)


def test_allen_cahn_and_poisson_references_load():
    ac = load_reference("allen-cahn")
    assert ac.u.shape == (201, 512)
    np.testing.assert_allclose(ac.u.isel(t=0), ac.x**2 * np.cos(np.pi * ac.x), atol=1e-6)
    poisson = load_reference("poisson-lshape")
    assert poisson.u.dims == ("node",) and poisson.u.size == 25921 - 6400  # the removed quadrant is dropped
    assert not ((poisson.x > 0) & (poisson.y > 0)).any()


def test_reference_of_the_wrong_shape_is_rejected(tmp_path):
    bad = tmp_path / "burgers.mat"
    scipy.io.savemat(bad, {"x": np.zeros((128, 1)), "t": np.zeros((100, 1)), "usol": np.zeros((128, 100))})
    with pytest.raises(DataError, match=r"'x' has shape \(128, 1\), expected \(256, 1\)"):
        load_reference("burgers", path=bad)


def test_nan_in_data_names_the_variable_and_place():
    ds = xr.Dataset({"u": (("t", "x"), np.array([[1.0, 2.0], [np.nan, 3.0]]))}, coords={"t": [0.0, 0.5], "x": [0, 1]})
    with pytest.raises(DataError, match=r"variable 'u' holds 1 non-finite values \(first at \{'t': 0.5, 'x': 0\}\)"):
        check_finite(ds, what="observations")


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_write_and_open_round_trip(tmp_path, suffix):
    ds = load_reference("burgers").isel(t=slice(0, 5))
    path = write_dataset(ds, tmp_path / f"burgers{suffix}")
    back = open_dataset(path)
    xr.testing.assert_allclose(back.load(), ds)
    assert back.attrs["source"] == ds.attrs["source"]
    write_dataset(ds * 2, path)  # overwriting is atomic and complete
    np.testing.assert_allclose(open_dataset(path).u.values, 2 * ds.u.values)


def test_unknown_suffix_and_missing_file_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="cannot tell the format"):
        write_dataset(xr.Dataset(), tmp_path / "data.csv")
    with pytest.raises(FileNotFoundError, match="sciml data generate"):
        open_dataset(tmp_path / "absent.nc")


def test_a_truncated_netcdf_file_is_refused_naming_the_path_and_the_fix(tmp_path):
    path = write_dataset(load_reference("burgers"), tmp_path / "burgers.nc")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"burgers.nc' cannot be read \(OSError: .*\); expected a complete netcdf "
                                        "dataset.*truncated or damaged.*sciml data generate NAME"):
        open_dataset(path)


def test_nan_in_training_trajectories_is_refused_before_normalisation(tmp_path):
    u = np.ones((3, 4, 1, 8), np.float32)
    u[1, 2, 0, 6] = np.nan
    with pytest.raises(DataError, match=r"training fields u holds 1 NaN/Inf values \(first at sample index 1, t index "
                                        r"2, channel index 0, x index 6\); expected finite numbers"):
        Normalization.fit(u, np.ones((3, 1)))
    with pytest.raises(DataError, match=r"training parameters holds 1 NaN/Inf values \(first at sample index 2"):
        Normalization.fit(np.ones_like(u), np.array([[1.0], [2.0], [np.inf]]))
    ds = xr.Dataset({"u": (("sample", "t", "x"), u[:, :, 0])},
                    coords={"sample": [10, 11, 12], "t": [0.0, 0.1, 0.2, 0.3], "x": np.arange(8) / 8,
                            "beta": ("sample", [0.2, 0.4, 0.7])})
    path = write_dataset(ds, tmp_path / "family.nc")
    with pytest.raises(DataError, match=r"family.nc: variable 'u' holds 1 NaN/Inf values \(first at sample=11, "
                                        r"t=0.2, x=0.75\)"):
        trajectory_arrays(open_dataset(path), parameters=("beta",), spatial_stride=2)


def test_a_cached_dataset_is_made_again_when_its_generator_version_changes(tmp_path, monkeypatch, capsys):
    """`ensure_dataset` reuses a cache made by the generator's current `VERSION` (1 when none is recorded or
    defined) and generates again, saying why, when the generator has moved on."""
    from sciml.data import _generated

    generator = tmp_path / "datasets" / "toy" / "generate.py"
    generator.parent.mkdir(parents=True)

    def write_generator(version_line: str) -> None:
        generator.write_text(
            f'NAME = "toy"\n{version_line}\n'
            "def generate(out_dir, *, small=False, seed=0):\n"
            "    path = out_dir / 'toy.txt'\n"
            "    runs = int(path.read_text()) + 1 if path.exists() else 1\n"
            "    path.write_text(str(runs))\n"
            "    return path\n")

    monkeypatch.setattr(_generated, "DATASETS_DIR", tmp_path / "datasets")
    monkeypatch.setattr(_generated, "GENERATED_DIR", tmp_path / "generated")
    write_generator("")
    path = _generated.ensure_dataset("toy")
    assert path.read_text() == "1" and _generated.ensure_dataset("toy").read_text() == "1"  # made once, then reused
    (path.parent / ".version").unlink()  # a cache from before versions were recorded counts as version 1
    assert _generated.ensure_dataset("toy").read_text() == "1"
    write_generator("VERSION = 2")
    assert _generated.ensure_dataset("toy").read_text() == "2"
    assert "made by version 1 of the toy generator, which is now at version 2" in capsys.readouterr().err
    assert (path.parent / ".version").read_text() == "2" and _generated.ensure_dataset("toy").read_text() == "2"


def test_processes_needing_a_dataset_at_once_wait_for_the_one_that_generates_it(tmp_path):
    """Two processes (a sweep's runs started together) ask for the same missing dataset: it is generated once, the
    other process waits for it and reads the finished file."""
    generator = tmp_path / "datasets" / "slow" / "generate.py"
    generator.parent.mkdir(parents=True)
    generator.write_text(
        'NAME = "slow"\n'
        "import time\n"
        "def generate(out_dir, *, small=False, seed=0):\n"
        "    log = out_dir.parent / 'runs.log'\n"
        "    log.write_text(log.read_text() + 'x' if log.exists() else 'x')\n"
        "    time.sleep(3.0)\n"
        "    path = out_dir / 'slow.txt'\n"
        "    path.write_text('done')\n"
        "    return path\n")
    env = {**os.environ, "SCIML_DATASETS_DIR": str(tmp_path / "datasets"), "SCIML_DATA_CACHE": str(tmp_path / "cache")}
    code = "from sciml.data import ensure_dataset; print(ensure_dataset('slow').read_text())"
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["done", "done"]
    assert (tmp_path / "cache" / "runs.log").read_text() == "x"  # generated once
    assert sum("waiting for another process to finish generating" in err for _, err in outputs) == 1
