"""PDEBench HDF5 layouts: files written with h5py exactly as PDEBench ships them load identically."""

import h5py
import numpy as np
import pytest
from conftest import assert_close

from sciml import DataError
from sciml.data import read_pdebench, write_pdebench
from sciml.data._loaders import _raw_array


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_1d_pdebench_file_loads_identically(tmp_path, rng):
    tensor = rng.normal(size=(3, 5, 8)).astype(np.float32)
    x = ((np.arange(8) + 0.5) / 8).astype(np.float32)
    t = np.linspace(0, 0.05, 6).astype(np.float32)  # PDEBench writes one time more than there are frames
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=tensor)
        f.create_dataset("x-coordinate", data=x)
        f.create_dataset("t-coordinate", data=t)
        f.attrs["Nu"] = 0.01
    ds = read_pdebench(path)
    assert ds.u.dims == ("sample", "t", "x")
    np.testing.assert_array_equal(ds.u.values, tensor)
    np.testing.assert_array_equal(ds.x.values, x.astype(np.float64))
    np.testing.assert_array_equal(ds.t.values, t[:5].astype(np.float64))
    assert_close(ds.nu.values, np.full(3, 0.01), rtol=1e-12, what="Nu attribute as a coordinate")


def test_2d_cfd_file_loads_identically(tmp_path, rng):
    fields = {name: rng.normal(size=(2, 3, 4, 6)).astype(np.float32) for name in ("density", "pressure", "Vx", "Vy")}
    path = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_128_Train.hdf5"
    with h5py.File(path, "w") as f:
        for name, value in fields.items():
            f.create_dataset(name, data=value)
        f.create_dataset("x-coordinate", data=np.arange(4, dtype=np.float32))
        f.create_dataset("y-coordinate", data=np.arange(6, dtype=np.float32))
        f.create_dataset("t-coordinate", data=np.arange(4, dtype=np.float32))
        f.attrs.update({"eta": 0.01, "zeta": 0.01, "M": 0.1})
    ds = read_pdebench(path)
    for name, value in fields.items():
        assert ds[name].dims == ("sample", "t", "x", "y")
        np.testing.assert_array_equal(ds[name].values, value)
    assert ds.sizes == {"sample": 2, "t": 3, "x": 4, "y": 6}
    assert float(ds.M[0]) == pytest.approx(0.1) and float(ds.eta[1]) == pytest.approx(0.01)


def test_per_seed_group_file_loads_and_round_trips(tmp_path, rng):
    data = rng.normal(size=(2, 3, 4, 4, 1)).astype(np.float32)
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(2):
            group = f.create_group(f"{i:04d}")
            group.create_dataset("data", data=data[i])
            group.create_dataset("grid/x", data=np.linspace(0, 1, 4, dtype=np.float32))
            group.create_dataset("grid/y", data=np.linspace(0, 1, 4, dtype=np.float32))
            group.create_dataset("grid/t", data=np.linspace(0, 1, 3, dtype=np.float32))
    ds = read_pdebench(path)
    np.testing.assert_array_equal(ds.u.values, data[..., 0])
    again = read_pdebench(write_pdebench(ds, tmp_path / "copy.h5"))
    np.testing.assert_array_equal(again.u.values, ds.u.values)


def test_writer_produces_the_exact_1d_layout(tmp_path, rng):
    import xarray as xr

    u = rng.normal(size=(2, 4, 8)).astype(np.float32)
    ds = xr.Dataset({"u": (("sample", "t", "x"), u)},
                    coords={"t": np.arange(4) * 0.1, "x": np.arange(8) / 8, "beta": ("sample", [0.4, 0.4])})
    path = write_pdebench(ds, tmp_path / "1D_Advection_Sols_beta0.4.hdf5", parameters={"beta": "beta"})
    with h5py.File(path, "r") as f:
        assert set(f.keys()) == {"tensor", "x-coordinate", "t-coordinate"}
        assert dict(f.attrs) == {"beta": 0.4}
        assert f["tensor"].dtype == np.float32 and f["t-coordinate"].shape == (5,)
    np.testing.assert_array_equal(read_pdebench(path).u.values, u)
    mixed = ds.assign_coords(beta=("sample", [0.4, 0.7]))
    with pytest.raises(DataError, match="one parameter value"):
        write_pdebench(mixed, tmp_path / "bad.hdf5", parameters={"beta": "beta"})


def test_unknown_keys_are_refused(tmp_path):
    path = tmp_path / "odd.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=np.zeros((1, 2, 4), np.float32))
        f.create_dataset("x-coordinate", data=np.zeros(4, np.float32))
        f.create_dataset("t-coordinate", data=np.zeros(3, np.float32))
        f.create_dataset("velocity", data=np.zeros(3, np.float32))
    with pytest.raises(DataError, match=r"unknown keys \['velocity'\]"):
        read_pdebench(path)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        f.create_dataset("solution", data=np.zeros(3))
    with pytest.raises(DataError, match="match no PDEBench layout"):
        read_pdebench(other)


def _write_1d(path, tensor):
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=tensor)
        f.create_dataset("x-coordinate", data=np.linspace(0, 1, tensor.shape[2], dtype=np.float32))
        f.create_dataset("t-coordinate", data=np.linspace(0, 1, tensor.shape[1] + 1, dtype=np.float32))
        f.attrs["beta"] = 0.4
    return path


def test_nan_in_a_tensor_is_refused_naming_the_file_variable_and_place(tmp_path, rng):
    tensor = rng.normal(size=(3, 5, 8)).astype(np.float32)
    tensor[1, 2, 4], tensor[2, 0, 0] = np.nan, np.inf
    path = _write_1d(tmp_path / "1D_Advection_Sols_beta0.4.hdf5", tensor)
    with pytest.raises(DataError, match=r"1D_Advection_Sols_beta0.4.hdf5', variable 'u' \(HDF5 'tensor'\) holds 2 "
                                        r"NaN/Inf values \(first at sample index 1, t index 2, x index 4\); expected "
                                        "finite numbers. Regenerate"):
        read_pdebench(path)


@pytest.mark.parametrize("damage", ["truncated", "not_hdf5"])
def test_a_damaged_hdf5_file_is_refused_naming_the_path_and_the_fix(tmp_path, rng, damage):
    folder = tmp_path / "generated" / "pdebench-advection-small"
    folder.mkdir(parents=True)
    path = _write_1d(folder / "1D_Advection_Sols_beta0.4.hdf5", rng.normal(size=(4, 6, 64)).astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not an HDF5 file" * 10)
    with pytest.raises(DataError, match=r"1D_Advection_Sols_beta0.4.hdf5' cannot be read \(OSError: .*\); expected a "
                                        r"complete PDEBench HDF5 file\..*`sciml data generate pdebench-advection "
                                        "--small`"):
        read_pdebench(path)
    with pytest.raises(DataError, match=r"1D_Advection_Sols_beta0.4.hdf5' cannot be read .*expected an HDF5 / netCDF "
                                        "file holding 'tensor'"):
        _raw_array(path, "tensor")  # what `WindowLoader` streams from
