"""Time-series datasets: construction, missing values and masks, windows, the on-device minibatch sampler."""

import jax
import numpy as np
import pytest

from sciml import DataError
from sciml.data import MinibatchSampler, drop_observations, series_arrays, series_dataset, windows


def _dataset(n=4, length=10, channels=2):
    t = np.linspace(0.0, 1.0, length)
    values = np.arange(n * length * channels, dtype=float).reshape(n, length, channels)
    return t, values, series_dataset(t, values, [f"c{i}" for i in range(channels)])


def test_series_dataset_dims_and_mask_from_nan():
    t, values, _ = _dataset()
    values[1, 3, 0] = np.nan
    ds = series_dataset(t, values, ["a", "b"])
    assert ds["values"].dims == ("sample", "time", "channel")
    assert not ds["mask"].values[1, 3, 0] and ds["mask"].values.sum() == values.size - 1
    arrays = series_arrays(ds)
    assert np.isnan(arrays["values"][1, 3, 0]) and arrays["ts"].shape == (10,)


def test_drop_observations_drops_the_fraction_and_keeps_first_point():
    _, _, ds = _dataset(n=6, length=20)
    dropped = drop_observations(ds, 0.3, seed=1)
    mask = dropped["mask"].values
    assert np.all(mask.sum(axis=1) == 14)  # 6 of 20 time points dropped per sample, in every channel
    assert np.all(mask[:, 0])
    assert np.array_equal(np.isnan(dropped["values"].values), ~mask)
    np.testing.assert_array_equal(dropped["values"].values[mask], ds["values"].values[mask])


def test_nan_without_mask_is_refused():
    _, _, ds = _dataset()
    ds = ds.drop_vars("mask")
    ds["values"][0, 2, 1] = np.nan
    with pytest.raises(DataError, match="no 'mask'"):
        series_arrays(ds)


def test_nan_marked_observed_is_refused():
    _, _, ds = _dataset()
    ds["values"][0, 2, 1] = np.nan
    with pytest.raises(DataError, match="marked observed"):
        series_arrays(ds)


def test_bad_dims_and_times_are_refused():
    t, values, ds = _dataset()
    with pytest.raises(DataError, match="dims"):
        series_arrays(ds.transpose("time", "sample", "channel"))
    with pytest.raises(DataError, match="strictly increasing"):
        series_dataset(t[::-1], values, ["a", "b"])
    with pytest.raises(DataError, match="expected values of shape"):
        series_dataset(t, values[:, :, :1], ["a", "b"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: np.where(np.arange(t.size) == 3, np.nan, t), r"'time' is nan at index 3; expected finite"),
    (lambda t: np.where(np.arange(t.size) == 4, t[2], t), r"'time' is not strictly increasing at index 4 .*sortby"),
    (lambda t: 1e8 + 10 * t, r"'time' loses its spacing in float32 at index 1 .*start at 0.*float64"),
])
def test_series_arrays_refuses_nan_unordered_and_float32_collapsing_times(change, message):
    _, _, ds = _dataset()
    bad = ds.assign_coords(time=change(ds["time"].values))
    with pytest.raises(DataError, match=message):
        series_arrays(bad)
    if "float32" in message:
        assert np.all(np.diff(series_arrays(bad, dtype=np.float64)["ts"]) > 0)
        series_arrays(bad.assign_coords(time=bad.time - bad.time[0]))


def test_windows_share_end_points_and_copy_the_series():
    t = np.linspace(0.0, 1.0, 9)
    values = np.random.default_rng(0).normal(size=(2, 9, 3))
    pieces = windows(t, values, length=3)
    assert pieces["values"].shape == (8, 3, 3) and pieces["ts"].shape == (8, 3)
    np.testing.assert_array_equal(pieces["values"][1], values[0, 2:5])
    np.testing.assert_array_equal(pieces["values"][4], values[1, 0:3])
    np.testing.assert_array_equal(pieces["ts"][1], t[2:5])
    with pytest.raises(DataError, match="length"):
        windows(t, values, length=10)


def test_minibatch_sampler_is_deterministic_without_replacement():
    arrays = {"ts": np.linspace(0, 1, 5), "values": np.arange(20.0).reshape(10, 2), "label": np.arange(10)}
    sampler = MinibatchSampler(arrays, 6, shared=("ts",))
    key = jax.random.key(3)
    a, b = sampler(key, 7), sampler(key, 7)
    np.testing.assert_array_equal(a["label"], b["label"])
    assert len(set(np.asarray(a["label"]).tolist())) == 6
    np.testing.assert_array_equal(np.asarray(a["values"])[:, 0], 2.0 * np.asarray(a["label"]))
    assert a["ts"].shape == (5,)
    with pytest.raises(DataError, match="batch_size"):
        MinibatchSampler(arrays, 11, shared=("ts",))
