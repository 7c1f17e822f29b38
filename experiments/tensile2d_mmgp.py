"""MMGP (mesh-morphing GP, gpytorch) on tensile2d: fields and scalars of notched plates, each on its own mesh.

Floater morphing (mean-value weights) onto the unit disk (plate corners as landmarks), common support = morphed
middle training mesh, mass-weighted PCA of coordinates and fields, exact anisotropic Matern-5/2 GPs per output, 95%
intervals from posterior samples pushed through the PCA decoding onto each test sample's own mesh (plus the
pipeline's reconstruction error). Scored with the paper's relative RMSE.

The GPs are fitted by torch's L-BFGS, not `sciml.train.fit`: of `train` only `seed` (the restarts' random
initialisations) and `lbfgs_steps` (L-BFGS iterations per fit) are used.
"""

from __future__ import annotations

import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml.data import ensure_dataset, open_dataset
from sciml.gp import (
    MeshMorphingGP,
    MMGPState,
    TriangleMesh,
    field_relative_rmse,
    interval_coverage,
    meshes_from_dataset,
    nodal_values,
    scalar_relative_rmse,
)
from sciml.solvers._elasticity import FIELD_NAMES, PLATE_CORNERS, SCALAR_INPUT_NAMES, SCALAR_OUTPUT_NAMES
from sciml.studies import RunDir, TrainConfig

NAME = "tensile2d-mmgp"
FAMILY = "gp"
REPRODUCES = "MMGP (Casenave, Staber & Roynard, NeurIPS 2023) Table 2: Tensile2d fields and scalars, relative RMSE"
PAPER_RELATIVE_RMSE = {"sigma22": 1.4e-3, "max_von_mises": 5.0e-3}  # Casenave et al. 2023, Table 2, on their Tensile2d
SMOKE = {"small": True, "n_train": 24, "n_test": 8, "n_shape_modes": 4, "n_field_modes": 4, "restarts": 1,
         "train.lbfgs_steps": 10, "n_samples": 50}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=0, lbfgs_steps=100)
    small: bool = False
    """Use the small version of the tensile2d dataset (tests and quick looks)."""
    n_train: int = 500
    """Training plates (the first of the dataset's train split)."""
    n_test: int = 200
    """Test plates (the first of the dataset's test split)."""
    n_shape_modes: int = 16
    """PCA modes of the morphed node coordinates (the shape descriptor)."""
    morphing_weights: str = "mean_value"
    """Neighbour weights of the morphing: "mean_value" (Floater) or "uniform" (Tutte)."""
    n_field_modes: int = 16
    """PCA modes per output field."""
    restarts: int = 3
    """Random restarts of each GP's hyperparameter optimisation."""
    n_samples: int = 1000
    """Posterior samples pushed through the PCA decoding for the std and the interval."""
    reconstruction_noise: bool = True
    """Add nodal noise with the pipeline's reconstruction-error variance to each field sample."""
    interval: float = 0.95
    """Level of the central prediction interval (0.95: 2.5 % and 97.5 % quantiles)."""
    threads: int = 1
    """Torch threads of the GP stage."""

    def __post_init__(self):
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must be in (0, 1), got {self.interval}")
        if self.train.lbfgs_steps < 1:
            raise ValueError(f"train.lbfgs_steps (the GP's L-BFGS iterations) must be >= 1, got "
                             f"{self.train.lbfgs_steps}")
        if self.morphing_weights not in ("mean_value", "uniform"):
            raise ValueError(f"morphing_weights: expected 'mean_value' or 'uniform', got {self.morphing_weights!r}")


def load_split(config: Config):
    """Training and test meshes, input scalars, fields and output scalars of tensile2d."""
    ds = open_dataset(ensure_dataset("tensile2d", small=config.small))
    meshes = meshes_from_dataset(ds)
    inputs = np.stack([ds[name].values for name in SCALAR_INPUT_NAMES], axis=1)
    fields = {name: nodal_values(ds, name) for name in FIELD_NAMES}
    outputs = {name: ds[name].values for name in SCALAR_OUTPUT_NAMES}
    split = ds.split.values
    train = np.flatnonzero(split == "train")[: config.n_train]
    test = np.flatnonzero(split == "test")[: config.n_test]

    def subset(index):
        return (
            [meshes[i] for i in index],
            inputs[index],
            {name: [values[i] for i in index] for name, values in fields.items()},
            {name: values[index] for name, values in outputs.items()},
        )

    return subset(train), subset(test), test


def gp_settings(config: Config) -> dict:
    """The `MeshMorphingGP` constructor's arguments (but the landmarks) of `config`."""
    return dict(n_shape_modes=config.n_shape_modes, morphing_weights=config.morphing_weights,
                n_field_modes=config.n_field_modes, restarts=config.restarts, max_iter=config.train.lbfgs_steps,
                n_samples=config.n_samples, reconstruction_noise=config.reconstruction_noise,
                interval=config.interval, seed=config.train.seed, threads=config.threads)


def model_like(config: Config) -> MMGPState:
    """The saved predictor's structure (`MMGPState`): its sizes from the config and the dataset's split and mesh
    sizes (the common support is the middle training mesh); no data is loaded beyond those counts."""
    ds = open_dataset(ensure_dataset("tensile2d", small=config.small))
    train = np.flatnonzero(ds.split.values == "train")[: config.n_train]
    common = train[len(train) // 2]
    return MMGPState.like(n_common=int(ds.node_count.values[common]), n_triangles=int(ds.triangle_count.values[common]),
                          n_train=len(train), n_scalar_inputs=len(SCALAR_INPUT_NAMES),
                          n_shape_modes=config.n_shape_modes, n_field_modes=config.n_field_modes,
                          field_names=FIELD_NAMES, scalar_names=SCALAR_OUTPUT_NAMES,
                          reconstruction_noise=config.reconstruction_noise)


def meshes_of(ds: xr.Dataset) -> list[TriangleMesh]:
    """The meshes of a tensile2d-layout dataset (`node_start`, `node_count`...) or of predictions.nc (`node_sample`,
    `triangle_count`), one per `sample`, in order."""
    if "node_count" in ds:
        return meshes_from_dataset(ds)
    node_counts = [int(np.sum(ds.node_sample.values == s)) for s in ds.sample.values]
    points = np.split(np.stack([ds.x.values, ds.y.values], axis=1), np.cumsum(node_counts)[:-1])
    triangles = np.split(ds.triangles.values, np.cumsum(ds.triangle_count.values)[:-1])
    return [TriangleMesh(p, t) for p, t in zip(points, triangles, strict=True)]


def predict(model: MMGPState, config: Config, inputs: xr.Dataset) -> xr.Dataset:
    """The MMGP on new plates. `inputs`: a dataset of meshes with the input scalars (load, young, poisson) on
    `sample`: tensile2d's layout or predictions.nc's (`x`, `y`, `node_sample` on `node`, `triangles`,
    `triangle_count`). Returns predictions.nc's layout without references: fields (field, node) with std and
    interval (posterior samples drawn from the run's seed, as `main`), scalars (output, sample). The gpytorch
    predictor is rebuilt from the saved arrays and hyperparameters; nothing is refitted."""
    meshes = meshes_of(inputs)
    scalars = np.stack([inputs[name].values for name in SCALAR_INPUT_NAMES], axis=1)
    gp = MeshMorphingGP.from_state(model, PLATE_CORNERS, **gp_settings(config))
    return predictions_dataset(meshes, gp.predict(meshes, scalars), inputs.sample.values, config.interval, scalars)


def predictions_dataset(meshes, prediction, test_index, interval, inputs, fields=None, outputs=None) -> xr.Dataset:
    """The output contract: fields on a flat `node` dim (test samples concatenated), scalars and the input scalars
    (s, p) on `sample`; the reference `fields` and `outputs` where given."""
    node_sample = np.concatenate([np.full(m.n_points, i) for i, m in zip(test_index, meshes, strict=True)])
    points = np.concatenate([m.points for m in meshes])
    kinds = ("mean", "std", "lower", "upper")
    stack = {key: np.stack([np.concatenate(getattr(prediction[f], key)) for f in FIELD_NAMES]) for key in kinds}
    scalar = {key: np.stack([getattr(prediction[s], key) for s in SCALAR_OUTPUT_NAMES]) for key in kinds}
    dims, sdims = ("field", "node"), ("output", "sample")
    one = {"units": "1"}  # the plate, loads and moduli are nondimensional (see datasets/tensile2d)

    def described(what):
        return {"long_name": what, **one}

    references = {}
    if fields is not None:
        references["reference"] = (dims, np.stack([np.concatenate(fields[f]) for f in FIELD_NAMES]),
                                   described("finite-element nodal field"))
    if outputs is not None:
        references["scalar_reference"] = (sdims, np.stack([outputs[s] for s in SCALAR_OUTPUT_NAMES]),
                                          described("finite-element output scalar"))
    ds = xr.Dataset(
        {
            "prediction": (dims, stack["mean"], described("MMGP predictive mean of the nodal field")),
            "prediction_std": (dims, stack["std"], described("MMGP predictive std of the nodal field")),
            "prediction_lower": (dims, stack["lower"], described("lower end of the nodal field's interval")),
            "prediction_upper": (dims, stack["upper"], described("upper end of the nodal field's interval")),
            "scalar_prediction": (sdims, scalar["mean"], described("MMGP predictive mean of the output scalar")),
            "scalar_std": (sdims, scalar["std"], described("MMGP predictive std of the output scalar")),
            "scalar_lower": (sdims, scalar["lower"], described("lower end of the output scalar's interval")),
            "scalar_upper": (sdims, scalar["upper"], described("upper end of the output scalar's interval")),
            **references,
            **{name: ("sample", np.asarray(inputs)[:, k], described(f"input scalar {name}"))
               for k, name in enumerate(SCALAR_INPUT_NAMES)},
            "triangles": (("triangle", "vertex"), np.concatenate([m.triangles for m in meshes]).astype(np.int32),
                          described("triangle vertex indices, local to the sample's nodes")),
            "triangle_count": ("sample", np.array([len(m.triangles) for m in meshes]),
                               described("triangles of the sample")),
        },
        coords={
            "field": ("field", list(FIELD_NAMES), {"long_name": "nodal field"}),
            "node": np.arange(len(points)),
            "x": ("node", points[:, 0], described("vertex x coordinate")),
            "y": ("node", points[:, 1], described("vertex y coordinate")),
            "node_sample": ("node", node_sample, described("test sample of the node")),
            "output": ("output", list(SCALAR_OUTPUT_NAMES), {"long_name": "output scalar"}),
            "sample": test_index,
        },
    )
    for name in ("prediction_lower", "prediction_upper", "scalar_lower", "scalar_upper"):
        ds[name].attrs["interval"] = interval
    ds.attrs.update(interval=interval, description="tensile2d test set; triangles index nodes local to each sample")
    return ds


def metrics_from_predictions(ds: xr.Dataset) -> dict:
    """Relative RMSE and interval coverage of every output, recomputed from predictions.nc."""
    samples = ds.node_sample.values
    starts = np.flatnonzero(np.diff(samples, prepend=samples[0] - 1))
    metrics = {}
    for field in ds.field.values:
        split = {k: np.split(ds[k].sel(field=field).values, starts[1:])
                 for k in ("prediction", "reference", "prediction_lower", "prediction_upper")}
        metrics[f"{field}_relative_rmse"] = field_relative_rmse(split["prediction"], split["reference"])
        metrics[f"{field}_coverage"] = interval_coverage(split["reference"], split["prediction_lower"],
                                                         split["prediction_upper"])
    for output in ds.output.values:
        row = ds.sel(output=output)
        reference = row.scalar_reference.values
        metrics[f"{output}_relative_rmse"] = scalar_relative_rmse(row.scalar_prediction.values, reference)
        metrics[f"{output}_coverage"] = interval_coverage(reference, row.scalar_lower.values, row.scalar_upper.values)
    return metrics


def plot_sample(ds: xr.Dataset, sample_position: int, field: str = "sigma22"):
    """Reference, prediction, absolute error and predictive std of one test sample (from predictions.nc)."""
    import matplotlib.tri as mtri

    samples = ds.node_sample.values
    order = list(dict.fromkeys(samples))
    nodes = samples == order[sample_position]
    first = int(ds.triangle_count.values[:sample_position].sum())
    triangles = ds.triangles.values[first : first + int(ds.triangle_count.values[sample_position])]
    grid = mtri.Triangulation(ds.x.values[nodes], ds.y.values[nodes], triangles)
    values = ds.sel(field=field)
    panels = {
        f"reference {field}": values.reference.values[nodes],
        "MMGP mean": values.prediction.values[nodes],
        "|error|": np.abs(values.prediction.values - values.reference.values)[nodes],
        "predictive std": values.prediction_std.values[nodes],
    }
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for ax, (title, value) in zip(axes, panels.items(), strict=True):
        image = ax.tripcolor(grid, value, shading="gouraud", cmap="viridis")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(f"test sample {order[sample_position]}")
    return fig


def plot_scalars(ds: xr.Dataset):
    """Predicted vs reference output scalars with the 95% intervals."""
    fig, axes = plt.subplots(1, len(ds.output), figsize=(5 * len(ds.output), 4.5))
    for ax, output in zip(np.atleast_1d(axes), ds.output.values, strict=True):
        row = ds.sel(output=output)
        reference, mean = row.scalar_reference.values, row.scalar_prediction.values
        error = np.stack([mean - row.scalar_lower.values, row.scalar_upper.values - mean])
        ax.errorbar(reference, mean, yerr=error, fmt=".", ms=3, alpha=0.6, elinewidth=0.6)
        limits = [reference.min(), reference.max()]
        ax.plot(limits, limits, "k--", lw=1)
        ax.set_xlabel(f"reference {output}")
        ax.set_ylabel(f"MMGP {output} (95% interval)")
    return fig


def main(config: Config, run: RunDir) -> dict:
    train_split, test_split, test_index = load_split(config)
    train_meshes, train_inputs, train_fields, train_outputs = train_split
    test_meshes, test_inputs, test_fields, test_outputs = test_split
    model = MeshMorphingGP(PLATE_CORNERS, **gp_settings(config))
    start = time.perf_counter()
    model.fit(train_meshes, train_inputs, train_fields, train_outputs)
    fit_time = time.perf_counter() - start
    run.save_model(model.state())
    start = time.perf_counter()
    prediction = model.predict(test_meshes, test_inputs)
    predict_time = time.perf_counter() - start

    ds = predictions_dataset(test_meshes, prediction, test_index, config.interval, test_inputs, test_fields,
                             test_outputs)
    run.write_predictions(ds)
    metrics = metrics_from_predictions(ds)
    errors = [np.sqrt(np.mean((p - r) ** 2)) / np.abs(r).max()
              for p, r in zip(prediction["sigma22"].mean, test_fields["sigma22"], strict=True)]
    run.save_figure(plot_sample(ds, int(np.argsort(errors)[len(errors) // 2])), "sigma22_median_sample")
    run.save_figure(plot_sample(ds, int(np.argmax(errors))), "sigma22_worst_sample")
    run.save_figure(plot_sample(ds, int(np.argsort(errors)[len(errors) // 2]), "von_mises"), "von_mises_median_sample")
    run.save_figure(plot_scalars(ds), "scalars")
    metrics.update(
        fit_time_s=fit_time,
        predict_time_s=predict_time,
        n_train=len(train_meshes),
        n_test=len(test_meshes),
        common_mesh_nodes=model.common_.n_points,
        gp_noise={name: float(v) for name, v in zip(model.train_targets_, model.gp_.noise_, strict=True)},
        paper_relative_rmse=PAPER_RELATIVE_RMSE,
    )
    return metrics
