"""CF conventions of what sciml writes (every run's predictions.nc, the generated datasets) and the loss curve of every
trained run. The smoke run of every experiment (`tests/test_experiments.py`) checks its own outputs with
`assert_cf_conventions` and `assert_loss_curve`, so no extra training is paid here."""

import datetime
import json
from pathlib import Path

import cf_xarray  # noqa: F401  (registers the `.cf` accessor)
import matplotlib.image
import numpy as np
import pytest
import xarray as xr

from sciml._errors import ConfigError
from sciml.data import CF_CONVENTIONS, ensure_dataset, generate_dataset, open_dataset
from sciml.data._generated import load_generator
from sciml.solvers import tensile2d_dataset
from sciml.studies import RunDir, loss_curve_figure, read_metrics, save_loss_curve

try:  # pint's registry reading UDUNITS strings ("W m-2", "kg kg-1 s-1")
    from cf_xarray.units import units as UDUNITS
except ImportError:  # without pint: the units sciml writes, spelled as UDUNITS spells them
    UDUNITS = None
KNOWN_UNITS = {"1", "s", "V", "mV", "K", "Pa", "hPa", "W m-2", "kg kg-1", "K s-1", "kg kg-1 s-1", "W m-1 K-1"}

# The CF standard names sciml writes, each checked against the CF standard-name table, with its canonical units.
STANDARD_NAMES = {
    "air_temperature": "K", "specific_humidity": "1", "surface_air_pressure": "Pa", "air_pressure": "Pa",
    "toa_incoming_shortwave_flux": "W m-2", "surface_upward_sensible_heat_flux": "W m-2",
    "surface_upward_latent_heat_flux": "W m-2", "tendency_of_air_temperature_due_to_model_physics": "K s-1",
    "tendency_of_specific_humidity_due_to_model_physics": "s-1", "realization": "1",
}


def _units_problem(units: str, standard_name: str | None) -> str | None:
    if UDUNITS is None:
        return None if units in KNOWN_UNITS else f"units {units!r} not among {sorted(KNOWN_UNITS)}"
    try:
        parsed = UDUNITS.parse_units(units)
    except Exception as err:  # pint raises several error types for a string it cannot read
        return f"units {units!r} do not parse ({type(err).__name__}: {err})"
    if standard_name is not None:
        canonical = UDUNITS.parse_units(STANDARD_NAMES[standard_name])
        if parsed.dimensionality != canonical.dimensionality:
            return f"units {units!r} do not fit standard_name {standard_name!r} ({STANDARD_NAMES[standard_name]!r})"
    return None


def assert_cf_conventions(ds: xr.Dataset, *, what: str, command: str) -> None:
    """The CF global attributes (Conventions, title, history whose last line is an ISO 8601 time and `command`,
    source with the sciml version and git commit, the config as JSON), and for every variable and coordinate a
    long_name, units (numbers) that parse, and standard names that exist and fit the units (read through cf_xarray).
    """
    attrs = ds.attrs
    assert attrs.get("Conventions") == CF_CONVENTIONS, f"{what}: Conventions {attrs.get('Conventions')!r}"
    assert str(attrs.get("title", "")).strip(), f"{what}: title"
    stamp, _, line = str(attrs.get("history", "")).splitlines()[-1].partition(" ")
    assert datetime.datetime.fromisoformat(stamp).tzinfo is not None and command in line, f"{what}: history {line!r}"
    assert attrs.get("source", "").startswith("sciml ") and "git commit" in attrs["source"], f"{what}: source"
    assert isinstance(json.loads(attrs["sciml_config"]), dict), f"{what}: sciml_config"
    problems = {}
    for name, var in ds.variables.items():
        numeric = np.issubdtype(var.dtype, np.number)
        if not str(var.attrs.get("long_name", "")).strip():
            problems[name] = "no long_name"
        elif numeric and "units" not in var.attrs:
            problems[name] = "no units"
        elif "standard_name" in var.attrs and var.attrs["standard_name"] not in STANDARD_NAMES:
            problems[name] = f"standard_name {var.attrs['standard_name']!r} is not one sciml checked against CF"
        elif numeric and (problem := _units_problem(str(var.attrs["units"]), var.attrs.get("standard_name"))):
            problems[name] = problem
    assert not problems, f"{what}: {problems}"
    standard = {name: [str(v) for v in ds.variables if ds[v].attrs.get("standard_name") == name]
                for name in {ds[v].attrs["standard_name"] for v in ds.variables if "standard_name" in ds[v].attrs}}
    assert {k: sorted(v) for k, v in ds.cf.standard_names.items()} == {k: sorted(v) for k, v in standard.items()}


def assert_loss_curve(out: Path) -> None:
    """A run that logged training has `figures/loss_curve.png`, a readable non-empty image; one that did not has
    none."""
    curve = out / "figures" / "loss_curve.png"
    logged = (out / "metrics.jsonl").exists() and read_metrics(out / "metrics.jsonl")
    assert curve.exists() == bool(logged), f"{out.name}: loss curve {curve.exists()}, metrics logged {bool(logged)}"
    if logged:
        assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
        image = matplotlib.image.imread(curve)
        assert image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0, "a drawn image"


def _predictions(**attrs) -> xr.Dataset:
    t, x = np.linspace(0.0, 1.0, 3), np.linspace(-1.0, 1.0, 4)
    values = np.outer(t, x)
    return xr.Dataset({"prediction": (("t", "x"), values, attrs), "prediction_std": (("t", "x"), 0.1 + 0 * values),
                       "reference": (("t", "x"), values, {"long_name": "exact u", "units": "1"})},
                      coords={"t": t, "x": x, "kappa": ((), 0.5)})


def test_write_predictions_adds_the_global_attributes_and_the_shared_vocabulary(tmp_path):
    run = RunDir(tmp_path, {"steps": 3, "train": {"seed": 0}}, experiment="demo", title="demo: a test",
                 references="Doe et al. (2024), figure 1")
    ds = _predictions(long_name="cell voltage", units="V").assign_coords(kappa=((), 0.5, {"long_name": "conductivity",
                                                                                          "units": "W m-1 K-1"}))
    ds = open_dataset(run.write_predictions(ds))
    assert_cf_conventions(ds, what="demo", command="demo wrote")
    assert ds.attrs["title"] == "demo: a test" and ds.attrs["references"] == "Doe et al. (2024), figure 1"
    assert json.loads(ds.attrs["sciml_config"]) == {"steps": 3, "train": {"seed": 0}}
    assert ds.t.attrs == {"long_name": "time (nondimensional)", "units": "1"}, "t from the vocabulary"
    assert ds.prediction_std.attrs == {"long_name": "standard deviation of cell voltage", "units": "V"}
    if UDUNITS is not None:
        assert UDUNITS.parse_units(ds.prediction.attrs["units"]).dimensionality == UDUNITS.parse_units(
            "W A-1").dimensionality, "a volt is a watt per ampere"


def test_write_predictions_refuses_variables_without_units_or_long_name(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(ConfigError, match=r"prediction lacks units, long_name; .*kappa lacks units, long_name"):
        run.write_predictions(_predictions())
    with pytest.raises(ConfigError, match=r"prediction lacks units; prediction_std lacks units\. .*with_cf_attr"):
        run.write_predictions(_predictions(long_name="u").assign_coords(kappa=((), 0.5, {"long_name": "k",
                                                                                        "units": "1"})))
    assert not run.predictions.exists()


def test_generated_datasets_follow_cf(tmp_path, monkeypatch):
    """One dataset of each generator family: PDE families (advection) and Lorenz-96 from the small cache the
    experiments' smoke runs share, climate columns at their small size and tensile2d on three plates."""
    for name in ("pdebench-advection", "lorenz96"):
        assert_cf_conventions(open_dataset(ensure_dataset(name, small=True)), what=name,
                              command=f"sciml data generate {name} --small")
    columns_path = generate_dataset("climate-columns", tmp_path / "columns", small=True)
    assert (tmp_path / "columns" / ".complete").read_text() == columns_path.name, "a generated folder is marked done"
    columns = open_dataset(columns_path)
    assert_cf_conventions(columns, what="climate-columns", command="sciml data generate climate-columns --small")
    assert columns.cf["air_temperature"].name == "T" and columns.cf["air_pressure"].name == "level"
    generator = load_generator("tensile2d")
    monkeypatch.setattr(generator, "tensile2d_dataset", lambda n_train, n_test, **kw: tensile2d_dataset(2, 1, **kw))
    plates = open_dataset(generator.generate(tmp_path / "tensile2d", small=True, seed=3))
    assert_cf_conventions(plates, what="tensile2d", command="sciml data generate tensile2d --small --seed 3")


def _write_metrics(path: Path) -> None:
    records = [{"step": s, "phase": "adam", "loss": 1.0 / s, "residual": 0.5 / s, "steps_per_s": 90.0,
                **({"rel_l2": 0.2 / s} if s % 20 == 0 else {})} for s in range(10, 60, 10)]
    records += [{"step": s, "phase": "lbfgs", "loss": 0.4 / s, "residual": 0.1 / s, "steps_per_s": 9.0}
                for s in (55, 60)]
    records += [{"step": 10, "phase": "adam", "non_finite": "residual", "loss": "nan"}]  # a guard's note
    records += [{"step": s, "phase": "adam", "loss": 2.0 / s, "residual": 1.0 / s, "rel_l2": 0.3 / s}
                for s in (10, 20)]  # a second training call of the same run
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 30, "phase": "ad')  # a torn line


def test_loss_curve_of_a_synthetic_log(tmp_path):
    run = RunDir(tmp_path, experiment="synthetic")
    _write_metrics(run.metrics)
    records = read_metrics(run.metrics)
    assert len(records) == 10, "the torn line is skipped, the guard's note kept for the reader"
    fig = loss_curve_figure(records, evaluation_keys={"rel_l2"})
    losses, evaluation = fig.axes

    def curves(ax):  # the stage marks are lines too, without a label
        return {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}

    assert list(curves(losses)) == ["loss", "residual"] and list(curves(evaluation)) == ["rel_l2"]
    assert losses.get_yscale() == evaluation.get_yscale() == "log"
    stages = [text.get_text() for text in losses.texts]
    assert stages == ["Adam (call 1)", "L-BFGS (call 1)", "Adam (call 2)"]
    x, y = curves(losses)["loss"].get_data()
    np.testing.assert_array_equal(x, [0, 10, 20, 30, 40, 50, 55, 60, 60, 70, 80], "calls follow one another")
    assert np.isnan(y[8]) and y[-1] == pytest.approx(2.0 / 20), "no line joins two calls"
    path = save_loss_curve(run)
    assert path == run.figures / "loss_curve.png"
    assert_loss_curve(run.path)


def test_loss_curve_of_a_log_without_numbers_or_a_run_without_log(tmp_path):
    run = RunDir(tmp_path)
    assert save_loss_curve(run) is None
    run.metrics.write_text(json.dumps({"step": 1, "phase": "adam", "note": "x"}) + "\n")
    assert save_loss_curve(run) is None and not (run.figures / "loss_curve.png").exists()
    assert loss_curve_figure([{"step": 5, "phase": "adam", "elbo": -3.0}, {"step": 10, "phase": "adam", "elbo": 2.0}]
                             ).axes[0].get_yscale() == "symlog", "a curve through zero on a symmetric log axis"
