"""The MEDIDA study (`qg-medida`): model-error discovery from sparse, noisy observations of two-layer QG turbulence.

The reference (`sciml.solvers.TwoLayerQG`) is spun up and sampled at `snapshots` analysis times; there, one step of
the reference gives psi(t + dt). Every analysis (the full, noise-free state, or an interpolator of the observations
at a random `fraction` of the grid points with `noise`) gives psi(t) and dpsi = psi(t + dt) - psi(t) on the grid;
each error case's model takes one step from the analysis, and the increments are regressed layer by layer on the
candidate library (`sciml.discovery`) by the relevance vector machine and by STLSQ. The networks (Gaussian random
Fourier features, or a plain MLP) train through `sciml.studies.train`, one network per snapshot and quantity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError
from sciml.discovery import (
    CoordinateNetwork,
    CubicInterpolation,
    ModelError,
    Observations,
    RBFInterpolation,
    analysis_increments,
    discover,
    ensemble_mse,
    evaluate_ensemble,
    layer_problem,
    library,
    lowpass,
    network_ensemble,
    observe,
    one_step,
    one_step_increments,
    plain_network,
    rff_network,
    select_terms,
    standard_errors,
    term_names,
    true_coefficients,
)
from sciml.solvers import TwoLayerQG, initial_state, isotropic_spectrum, streamfunction, trajectory
from sciml.studies._run import RunDir
from sciml.studies._training import fit_summary, train

NEURAL = ("rff", "mlp")
CLASSICAL = ("rbf", "cubic")
QUANTITIES = ("psi", "dpsi")
REGRESSIONS = ("rvm", "stlsq")
_INTERPOLATOR_NAMES = {"rff": "MLP on Gaussian random Fourier features", "mlp": "plain MLP",
                       "rbf": "RBF (thin-plate spline)", "cubic": "cubic (Clough-Tocher)", "full": "full state"}
_TERM_UNITS = {"m2 s-1": "m-2 s-1", "s-1": "s-1", "m-2 s-1": "m2 s-1", "m-4 s-1": "m4 s-1", "m s-1": "m-1 s-1",
               "s-2": "1", "m-1 s-1": "m s-1"}  # units of a term -> units of its coefficient (increments are in s-2)


def reference_model(config) -> TwoLayerQG:
    """The reference two-layer QG model of the config."""
    return TwoLayerQG(nx=config.nx, length=config.domain_length, dt=config.dt, drag=config.drag, beta=config.beta,
                      deformation_radius=config.deformation_radius, u1=config.upper_flow, u2=0.0,
                      hyperviscosity=config.hyperviscosity, relaxation=1.0 / (config.relaxation_days * 86400.0))


def error_cases(config) -> tuple[ModelError, ...]:
    """The four error cases of the config (`sciml.discovery.standard_errors`)."""
    return standard_errors(reference_model(config), drag_factor=config.drag_factor,
                           relaxation_factor=config.relaxation_factor)


def check_config(config) -> None:
    """Raise `ConfigError` for a term, regression or interpolator that does not exist, or a degenerate size."""
    select_terms(config.terms)
    if not config.regressions or config.regressions[0] != "rvm" or not set(config.regressions) <= set(REGRESSIONS):
        raise ConfigError(f"regressions must be ('rvm',) or ('rvm', 'stlsq'), got {config.regressions}")
    unknown = sorted(set(config.interpolators) - set(NEURAL + CLASSICAL))
    if unknown or not config.interpolators or len(set(config.interpolators)) != len(config.interpolators):
        raise ConfigError(f"interpolators must be distinct names among {NEURAL + CLASSICAL} (at least one), got "
                          f"{config.interpolators}; e.g. --set interpolators=rff,mlp")
    if config.snapshots < 1 or config.snapshot_every < 1 or config.spinup_steps < 0:
        raise ConfigError(f"expected snapshots >= 1, snapshot_every >= 1, spinup_steps >= 0, got {config.snapshots}, "
                          f"{config.snapshot_every}, {config.spinup_steps}")


@dataclasses.dataclass(frozen=True)
class ReferenceSnapshots:
    """The reference at the analysis times: time (snapshot,) in s since the first, psi and its one-step change dpsi
    (snapshot, layer, y, x) in m^2 s^-1."""

    time: np.ndarray
    psi: np.ndarray
    dpsi: np.ndarray


@eqx.filter_jit
def _reference_fields(model: TwoLayerQG, q0, count: int, every: int, skip: int):
    psi = streamfunction(model, trajectory(model, q0, count, every, skip=skip))
    return psi, one_step(model, psi)


def reference_snapshots(config) -> ReferenceSnapshots:
    """Spin the reference up from a small random state (seed `spinup_seed`), sample `snapshots` states `snapshot_every`
    steps apart, and step each once (float64)."""
    with jax.enable_x64(True):
        model = reference_model(config)
        q0 = jnp.asarray(initial_state(model, config.spinup_seed))
        psi, following = _reference_fields(model, q0, config.snapshots, config.snapshot_every, config.spinup_steps)
        psi, following = np.asarray(psi), np.asarray(following)
    time = np.arange(config.snapshots) * config.snapshot_every * config.dt
    return ReferenceSnapshots(time, psi, following - psi)


def observations(config, truth: ReferenceSnapshots) -> Observations:
    """Sensors and noisy readings of psi(t) and psi(t + dt) (NumPy seed ``(train.seed, 2)``)."""
    return observe(truth.psi, truth.psi + truth.dpsi, fraction=config.fraction, noise=config.noise,
                   seed=(config.train.seed, 2))


class NeuralInterpolants(eqx.Module):
    """The trained networks of each neural interpolator (an ensemble over fields = snapshot x quantity, each network
    giving both layers) and the standardisation of each field's readings: value = offset + scale * network."""

    networks: dict[str, CoordinateNetwork]
    offset: Float[Array, "fields 2"]
    scale: Float[Array, "fields 2"]


def _build(config, kind: str):
    if kind == "rff":
        return lambda key: rff_network(2, features=config.rff_features, scale=config.rff_scale,
                                       width=config.rff_width, depth=config.rff_depth, key=key)
    return lambda key: plain_network(2, width=config.mlp_width, depth=config.mlp_depth, key=key)


def networks_like(config) -> dict[str, CoordinateNetwork]:
    """The untrained ensembles of the config's neural interpolators (keys ``train.key(0)`` folded with the index)."""
    fields = 2 * config.snapshots
    return {kind: network_ensemble(_build(config, kind), fields, jax.random.fold_in(config.train.key(0), i))
            for i, kind in enumerate(NEURAL) if kind in config.interpolators}


def model_like(config) -> NeuralInterpolants:
    """The structure `run_study` saves: the untrained networks and a unit standardisation."""
    fields = 2 * config.snapshots
    return NeuralInterpolants(networks_like(config), jnp.zeros((fields, 2)), jnp.ones((fields, 2)))


def _field_readings(obs: Observations) -> np.ndarray:
    """Readings per field (snapshot x quantity, sensor, layer): psi(t), then psi(t + dt) - psi(t)."""
    return np.stack([obs.before, obs.after - obs.before], axis=1).reshape((-1,) + obs.before.shape[1:])


def _grid_points(nx: int) -> np.ndarray:
    centres = (np.arange(nx) + 0.5) / nx
    x, y = np.meshgrid(centres, centres)
    return np.stack([x.ravel(), y.ravel()], axis=1)


def train_networks(config, obs: Observations, run: RunDir | None):
    """Train every neural interpolator of the config in one `sciml.studies.train` call (the loss is the sum of the
    ensembles' sensor misfits, so each network gets its own gradient); returns the interpolants and the fit."""
    readings = _field_readings(obs)
    offset, scale = readings.mean(axis=1), readings.std(axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    points = np.repeat(obs.points(config.nx), 2, axis=0)
    batch = {"points": jnp.asarray(points, jnp.float32),
             "values": jnp.asarray((readings - offset[:, None]) / scale[:, None], jnp.float32)}

    def loss(networks, batch, key):
        total, metrics = 0.0, {}
        for kind, ensemble in networks.items():
            value, parts = ensemble_mse(ensemble, batch, key)
            total = total + value
            metrics[f"{kind}_mse"] = parts["mse_mean"]
        return total, metrics

    result = train(networks_like(config), loss, batch, config.train, run)
    return NeuralInterpolants(result.model, jnp.asarray(offset, jnp.float32), jnp.asarray(scale, jnp.float32)), result


def _classical(config, kind: str):
    if kind == "rbf":
        return RBFInterpolation(kernel=config.rbf_kernel, neighbors=config.rbf_neighbors)
    return CubicInterpolation()


def interpolate(config, interpolants: NeuralInterpolants | None, obs: Observations) -> dict[str, np.ndarray]:
    """Each interpolator's fields on the grid: kind -> (snapshot, quantity, layer, y, x) in m^2 s^-1."""
    n, snapshots = config.nx, len(obs.sensors)
    grid = _grid_points(n)
    fields = {}
    for kind in config.interpolators:
        if kind in NEURAL:
            ensemble = interpolants.networks[kind]
            values = evaluate_ensemble(ensemble, jnp.broadcast_to(jnp.asarray(grid, jnp.float32),
                                                                  (2 * snapshots,) + grid.shape))
            values = np.asarray(values, np.float64) * np.asarray(interpolants.scale, np.float64)[:, None] \
                + np.asarray(interpolants.offset, np.float64)[:, None]
        else:
            method = _classical(config, kind)
            points, readings = obs.points(n), _field_readings(obs)
            values = np.stack([method(points[f // 2], readings[f], grid) for f in range(2 * snapshots)])
        fields[kind] = values.reshape(snapshots, 2, n, n, 2).transpose(0, 1, 4, 2, 3)
    return fields


@dataclasses.dataclass(frozen=True)
class DiscoveryArrays:
    """Every analysis's discovery: coefficients, posterior std and selection (analysis, case, regression, layer, term),
    Pareto residuals (analysis, case, regression, layer, n_terms), the truth (case, layer, term)."""

    coefficient: np.ndarray
    std: np.ndarray
    selected: np.ndarray
    pareto: np.ndarray
    truth: np.ndarray


def discover_all(config, analyses: Mapping[str, tuple[np.ndarray, np.ndarray | None]]) -> DiscoveryArrays:
    """Increments of every error case from every analysis (name -> psi, dpsi, each (snapshot, layer, y, x); dpsi
    None for the full state: the reference's own step, in PV, so that the increment of a term both models share is
    exactly zero) and their sparse regression on the library, layer by layer (low-passed to
    `regression_cutoff`). The library is built with the reference's operators and filter, which no error case
    changes (`true_coefficients` refuses a case that changes anything but drag, relaxation, beta and the Jacobian)."""
    reference = reference_model(config)
    cases = error_cases(config)
    terms = select_terms(config.terms)
    names = term_names(terms)
    thresholds = np.geomspace(1e-3, 1.0, config.stlsq_thresholds) if "stlsq" in config.regressions else None
    cutoff = config.regression_cutoff or None
    shape = (len(analyses), len(cases), len(config.regressions), 2, len(names))
    out = DiscoveryArrays(np.zeros(shape), np.zeros(shape), np.zeros(shape, np.int8),
                          np.full(shape[:-1] + (len(names) + 1,), np.nan), np.zeros((len(cases), 2, len(names))))
    with jax.enable_x64(True):
        for c, case in enumerate(cases):
            out.truth[c] = true_coefficients(reference, case.apply(reference), terms)
        for a, (psi, dpsi) in enumerate(analyses.values()):
            columns = np.asarray(library(reference, jnp.asarray(psi, jnp.float64), terms))
            for c, case in enumerate(cases):
                model = case.apply(reference).traced()
                if dpsi is None:
                    increments = np.asarray(one_step_increments(reference, model, jnp.asarray(psi, jnp.float64)))
                else:
                    increments = np.asarray(analysis_increments(model, jnp.asarray(psi, jnp.float64),
                                                                jnp.asarray(dpsi, jnp.float64)))
                for layer in range(2):
                    found = discover(layer_problem(increments, columns, layer, cutoff),
                                     tolerance=config.selection_tolerance, stlsq_thresholds=thresholds)
                    for m, regression in enumerate(config.regressions):
                        fit = found.fits[regression]
                        out.coefficient[a, c, m, layer] = fit.coefficients
                        out.std[a, c, m, layer] = fit.std
                        out.selected[a, c, m, layer] = fit.support
                        out.pareto[a, c, m, layer] = found.pareto[regression].residual
    return out


def support_correct(arrays: DiscoveryArrays) -> np.ndarray:
    """1 where the selected support of both layers is exactly the true one, (analysis, case, regression)."""
    truth = (arrays.truth != 0)[None, :, None]
    return np.all((arrays.selected != 0) == truth, axis=(-2, -1)).astype(np.int8)


def coefficient_error(arrays: DiscoveryArrays) -> np.ndarray:
    """max |c - c_true| / |c_true| over the true terms of both layers, (analysis, case, regression); 0 without a
    true term."""
    truth = arrays.truth[None, :, None]
    nonzero = truth != 0
    ratio = np.where(nonzero, np.abs(arrays.coefficient - truth) / np.where(nonzero, np.abs(truth), 1.0), 0.0)
    return ratio.max(axis=(-2, -1))


def _spectra(fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wavenumber, power = isotropic_spectrum(fields)
    return wavenumber, power.mean(axis=0)


def build_predictions(config, truth: ReferenceSnapshots, obs: Observations, fields: Mapping[str, np.ndarray],
                      arrays: DiscoveryArrays) -> xr.Dataset:
    """predictions.nc: interpolated fields and their errors, spectra, observations, and per term the true and
    discovered coefficients with 95% intervals, the selections and the Pareto curves; CF attributes throughout."""
    model = reference_model(config)
    terms = select_terms(config.terms)
    names, cases = term_names(terms), error_cases(config)
    kinds = list(fields)
    reference = np.stack([truth.psi, truth.dpsi], axis=1)
    prediction = np.stack([fields[k] for k in kinds])
    field_dims = ("interpolator", "time", "quantity", "layer", "y", "x")
    psi_units = "m2 s-1"
    wavenumber, reference_power = _spectra(reference)
    prediction_power = np.stack([_spectra(fields[k])[1] for k in kinds])
    error = prediction - reference[None]
    relative = np.sqrt(np.mean(error**2, axis=(1, 3, 4, 5)) / np.mean(reference**2, axis=(0, 2, 3, 4))[None])
    band = lowpass(error, config.regression_cutoff or config.nx)
    relative_band = np.sqrt(np.mean(band**2, axis=(1, 3, 4, 5))
                            / np.mean(lowpass(reference, config.regression_cutoff or config.nx)**2,
                                      axis=(0, 2, 3, 4))[None])
    points = obs.points(config.nx) * config.domain_length
    analysis_names = ["full", *kinds]
    data = {
        "prediction": (field_dims, prediction, {"long_name": "interpolated streamfunction psi(t) and its one-step "
                                                "change dpsi", "units": psi_units}),
        "reference": (field_dims[1:], reference, {"long_name": "reference streamfunction psi(t) and its one-step "
                                                  "change dpsi", "units": psi_units}),
        "interpolation_error": (field_dims, error, {"long_name": "interpolated minus reference field",
                                                    "units": psi_units}),
        "interpolation_relative_error": (("interpolator", "quantity"), relative,
                                         {"long_name": "RMS interpolation error relative to the RMS field",
                                          "units": "1"}),
        "interpolation_relative_error_band": (("interpolator", "quantity"), relative_band,
                                              {"long_name": "relative RMS interpolation error at |k| <= "
                                                            "regression_cutoff", "units": "1"}),
        "reference_spectrum": (("quantity", "layer", "wavenumber"), reference_power,
                               {"long_name": "isotropic power spectrum of the reference (mean over snapshots)",
                                "units": "m4 s-2"}),
        "prediction_spectrum": (("interpolator", "quantity", "layer", "wavenumber"), prediction_power,
                                {"long_name": "isotropic power spectrum of the interpolated field (mean over "
                                              "snapshots)", "units": "m4 s-2"}),
        "sensor_x": (("time", "sensor"), points[..., 0], {"long_name": "zonal position of the sensor", "units": "m"}),
        "sensor_y": (("time", "sensor"), points[..., 1],
                     {"long_name": "meridional position of the sensor", "units": "m"}),
        "observed_psi": (("time", "sensor", "layer"), obs.before,
                         {"long_name": "observed streamfunction at t (with noise)", "units": psi_units}),
        "observed_psi_next": (("time", "sensor", "layer"), obs.after,
                              {"long_name": "observed streamfunction at t + dt (with noise)", "units": psi_units}),
        "observation_noise_std": (("time", "layer"), obs.noise_std,
                                  {"long_name": "standard deviation of the observation noise", "units": psi_units}),
        "selected": (("analysis", "case", "regression", "layer", "term"), arrays.selected,
                     {"long_name": "term selected by the sparse regression (1) or not (0)", "units": "1"}),
        "pareto_residual": (("analysis", "case", "regression", "layer", "n_terms"), arrays.pareto,
                            {"long_name": "normalised squared residual of the best support of n_terms terms",
                             "units": "1"}),
        "support_correct": (("analysis", "case", "regression"), support_correct(arrays),
                            {"long_name": "selected supports of both layers equal the true ones (1) or not (0)",
                             "units": "1"}),
        "coefficient_relative_error": (("analysis", "case", "regression"), coefficient_error(arrays),
                                       {"long_name": "largest relative error of a true term's coefficient",
                                        "units": "1"}),
    }
    coefficient_dims = ("analysis", "case", "regression", "layer")
    for j, term in enumerate(terms):
        units = _TERM_UNITS[term.units]
        what = f"coefficient of {term.long_name}"
        data[f"{term.name}_coefficient"] = (coefficient_dims, arrays.coefficient[..., j],
                                            {"long_name": f"discovered {what}", "units": units})
        data[f"{term.name}_coefficient_std"] = (coefficient_dims, arrays.std[..., j],
                                                {"long_name": f"posterior standard deviation of the {what} (RVM; "
                                                              "0 for STLSQ)", "units": units})
        data[f"{term.name}_coefficient_lower"] = (coefficient_dims, arrays.coefficient[..., j] - 1.96 * arrays.std[
            ..., j], {"long_name": f"lower end of the 95% interval of the {what}", "units": units})
        data[f"{term.name}_coefficient_upper"] = (coefficient_dims, arrays.coefficient[..., j] + 1.96 * arrays.std[
            ..., j], {"long_name": f"upper end of the 95% interval of the {what}", "units": units})
        data[f"{term.name}_true_coefficient"] = (("case", "layer"), arrays.truth[:, :, j],
                                                 {"long_name": f"true {what}", "units": units})
    coords = {
        "interpolator": ("interpolator", kinds, {"long_name": "interpolator of the observations"}),
        "analysis": ("analysis", analysis_names, {"long_name": "analysis the increments come from"}),
        "density": ("analysis", [1.0] + [config.fraction] * len(kinds),
                    {"long_name": "fraction of grid points observed", "units": "1"}),
        "case": ("case", [c.name for c in cases], {"long_name": "model error case"}),
        "case_description": ("case", [c.description for c in cases], {"long_name": "what the model gets wrong"}),
        "regression": ("regression", list(config.regressions), {"long_name": "sparse regression method"}),
        "term": ("term", names, {"long_name": "library term"}),
        "term_long_name": ("term", [t.long_name for t in terms], {"long_name": "library term, in words"}),
        "n_terms": ("n_terms", np.arange(len(names) + 1), {"long_name": "number of terms", "units": "1"}),
        "quantity": ("quantity", list(QUANTITIES), {"long_name": "psi(t), or dpsi = psi(t + dt) - psi(t)"}),
        "layer": ("layer", np.array([1, 2]), {"long_name": "layer (1 upper, 2 lower)", "units": "1"}),
        "time": ("time", truth.time, {"long_name": "time since the first analysis", "units": "s"}),
        "y": ("y", model.grid, {"long_name": "meridional distance", "units": "m"}),
        "x": ("x", model.grid, {"long_name": "zonal distance", "units": "m"}),
        "sensor": ("sensor", np.arange(obs.sensors.shape[1]), {"long_name": "sensor index", "units": "1"}),
        "wavenumber": ("wavenumber", wavenumber, {"long_name": "isotropic wavenumber in cycles per domain side",
                                                  "units": "1"}),
    }
    return xr.Dataset(data, coords=coords, attrs={"increment_units": "s-2", "interval_level": 0.95,
                                                  "regression_cutoff_cycles": float(config.regression_cutoff)})


def observations_of(ds: xr.Dataset, nx: int, length: float) -> Observations:
    """The observations stored in a predictions file (sensor positions snapped back to grid indices)."""
    for name in ("sensor_x", "sensor_y", "observed_psi", "observed_psi_next", "observation_noise_std"):
        if name not in ds:
            raise DataError(f"expected {name!r} among the inputs' variables (a qg-medida predictions.nc), got "
                            f"{sorted(map(str, ds.data_vars))}")
    cols = np.rint(ds["sensor_x"].values / length * nx - 0.5).astype(int)
    rows = np.rint(ds["sensor_y"].values / length * nx - 0.5).astype(int)
    return Observations(rows * nx + cols, ds["observed_psi"].values, ds["observed_psi_next"].values,
                        ds["observation_noise_std"].values)


def predict(model: NeuralInterpolants, config, inputs) -> xr.Dataset:
    """`inputs`: a dataset holding the observations (a run's predictions.nc). Returns `prediction`: each interpolator's
    psi and dpsi on the grid (the trained networks; the classical interpolators rerun on the observations)."""
    if not isinstance(inputs, xr.Dataset):
        raise DataError(f"predict: expected an xarray Dataset with the observations (a qg-medida predictions.nc), "
                        f"got {type(inputs).__name__}")
    obs = observations_of(inputs, config.nx, config.domain_length)
    fields = interpolate(config, model, obs)
    grid = reference_model(config).grid
    return xr.Dataset(
        {"prediction": (("interpolator", "time", "quantity", "layer", "y", "x"), np.stack(list(fields.values())),
                        {"long_name": "interpolated streamfunction psi(t) and its one-step change dpsi",
                         "units": "m2 s-1"})},
        coords={"interpolator": list(fields), "time": inputs["time"].values, "quantity": list(QUANTITIES),
                "layer": [1, 2], "y": grid, "x": grid})


def coefficients_from_predictions(config, ds: xr.Dataset) -> DiscoveryArrays:
    """Recompute every discovered coefficient from a predictions file: the analyses are its `reference` psi (the
    full state, stepped by the reference) and its `prediction` (each interpolator)."""
    analyses = {"full": (ds["reference"].sel(quantity="psi").values, None)}
    for kind in ds["interpolator"].values:
        field = ds["prediction"].sel(interpolator=kind)
        analyses[str(kind)] = (field.sel(quantity="psi").values, field.sel(quantity="dpsi").values)
    return discover_all(config, analyses)


def run_study(config, run: RunDir) -> dict:
    """The whole study into `run`; returns the summary metrics."""
    check_config(config)
    truth = reference_snapshots(config)
    obs = observations(config, truth)
    metrics = {}
    if any(k in NEURAL for k in config.interpolators):
        interpolants, result = train_networks(config, obs, run)
        metrics.update(fit_summary(result))
    else:
        interpolants = model_like(config)
    run.save_model(interpolants)
    fields = interpolate(config, interpolants, obs)
    arrays = discover_all(config, {"full": (truth.psi, None), **{k: (f[:, 0], f[:, 1]) for k, f in fields.items()}})
    predictions = build_predictions(config, truth, obs, fields, arrays)
    run.write_predictions(predictions)
    plot(predictions, run)
    correct, error = support_correct(arrays), coefficient_error(arrays)
    for a, analysis in enumerate(predictions["analysis"].values):
        for m, regression in enumerate(config.regressions):
            metrics[f"{analysis}_{regression}_cases_found"] = int(correct[a, :, m].sum())
            for c, case in enumerate(predictions["case"].values):
                metrics[f"{analysis}_{regression}_{case}_found"] = int(correct[a, c, m])
                metrics[f"{analysis}_{regression}_{case}_coefficient_error"] = float(error[a, c, m])
    for kind in predictions["interpolator"].values:
        for quantity in QUANTITIES:
            value = predictions["interpolation_relative_error"].sel(interpolator=kind, quantity=quantity)
            metrics[f"{kind}_{quantity}_relative_error"] = float(value)
    return metrics


def plot(predictions: xr.Dataset, run: RunDir) -> None:
    """`figures/interpolation.png` (error maps of the first snapshot's upper layer, spectra) and
    `figures/discovery.png` (coefficients against the truth, RVM Pareto curves)."""
    kinds = list(predictions["interpolator"].values)
    first = predictions.isel(time=0).sel(layer=1)
    columns = ["reference", *kinds]
    mosaic = [[f"{q}:{c}" for c in columns] for q in QUANTITIES]
    mosaic.append(["spectrum:psi"] * (len(columns) // 2 + 1) + ["spectrum:dpsi"] * (len(columns) - len(columns) // 2
                                                                                     - 1))
    fig, axes = plt.subplot_mosaic(mosaic, figsize=(2.8 * len(columns), 8.4),
                                   gridspec_kw={"hspace": 0.35, "wspace": 0.25, "height_ratios": [1, 1, 1.2]})
    for quantity in QUANTITIES:
        field = first["reference"].sel(quantity=quantity)
        scale = float(np.abs(field).max()) or 1.0
        axes[f"{quantity}:reference"].imshow(field, origin="lower", cmap="RdBu_r", vmin=-scale, vmax=scale)
        axes[f"{quantity}:reference"].set_title(f"reference {quantity}, layer 1")
        for kind in kinds:
            error = first["interpolation_error"].sel(interpolator=kind, quantity=quantity)
            axes[f"{quantity}:{kind}"].imshow(error, origin="lower", cmap="RdBu_r", vmin=-scale / 2, vmax=scale / 2)
            relative = float(predictions["interpolation_relative_error"].sel(interpolator=kind, quantity=quantity))
            axes[f"{quantity}:{kind}"].set_title(f"{kind} error ({relative:.1%})")
        for column in columns:
            axes[f"{quantity}:{column}"].set_xticks([])
            axes[f"{quantity}:{column}"].set_yticks([])
        ax = axes[f"spectrum:{quantity}"]
        k = predictions["wavenumber"].values[1:]
        ax.loglog(k, predictions["reference_spectrum"].sel(quantity=quantity, layer=1).values[1:], "k-", lw=2,
                  label="reference")
        for kind in kinds:
            ax.loglog(k, predictions["prediction_spectrum"].sel(interpolator=kind, quantity=quantity,
                                                                layer=1).values[1:], label=kind)
        ax.set(xlabel="wavenumber (cycles per domain)", ylabel="power", title=f"spectrum of {quantity}, layer 1")
    axes["spectrum:psi"].legend(fontsize=8)
    run.save_figure(fig, "interpolation")
    run.save_figure(discovery_figure(predictions), "discovery")


def discovery_figure(predictions: xr.Dataset):
    """Left: discovered / true coefficient of every true term (RVM, 95% intervals) for each analysis and case, a red
    cross where the selected support is wrong. Right: the RVM Pareto curve of each case's perturbed layer."""
    analyses = list(predictions["analysis"].values)
    cases = list(predictions["case"].values)
    mosaic = [["coefficients"] * 2 + cases[:2], ["coefficients"] * 2 + cases[2:4]]
    fig, axes = plt.subplot_mosaic(mosaic, figsize=(15, 6.5), gridspec_kw={"hspace": 0.45, "wspace": 0.6})
    ax = axes["coefficients"]
    for a, analysis in enumerate(analyses):
        offset = (a - (len(analyses) - 1) / 2) * 0.8 / len(analyses)
        label = str(analysis)
        for c, case in enumerate(cases):
            for term in predictions["term"].values:
                for layer in (1, 2):
                    true = float(predictions[f"{term}_true_coefficient"].sel(case=case, layer=layer))
                    if true == 0:
                        continue
                    sel = dict(analysis=analysis, case=case, regression="rvm", layer=layer)
                    value = float(predictions[f"{term}_coefficient"].sel(sel)) / true
                    spread = 1.96 * float(predictions[f"{term}_coefficient_std"].sel(sel)) / abs(true)
                    ax.errorbar(c + offset + 0.03 * (layer - 1.5), value, yerr=spread, fmt="o", ms=4,
                                color=f"C{a}", label=label)
                    label = None
            if not predictions["support_correct"].sel(analysis=analysis, case=case, regression="rvm"):
                ax.plot(c + offset, 0.85, "x", color="red", ms=9, mew=2)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(cases)), cases)
    ax.set(ylabel="discovered / true coefficient", title="RVM: coefficient of each true term (x: wrong support)")
    ax.legend(fontsize=8)
    for case in cases[:4]:
        layer = 2 if float(np.abs(predictions["laplacian_true_coefficient"].sel(case=case, layer=2))) > 0 else 1
        for a, analysis in enumerate(analyses):
            curve = predictions["pareto_residual"].sel(analysis=analysis, case=case, regression="rvm", layer=layer)
            axes[case].plot(predictions["n_terms"], curve, "o-", ms=3, color=f"C{a}")
        axes[case].set(title=f"{case}: RVM Pareto, layer {layer}", xlabel="terms", ylabel="residual / power",
                       yscale="log")
    return fig
