"""PINN-family studies: the pointwise (PIG / MLP PINN) runner, loss-balancing names, scoring and the output contract.

Experiments take a case of `sciml.studies.cases`, build a model, train it through `sciml.studies.train` and call
`report` to score the final iterate against the case's reference and write predictions.nc (`prediction` beside
`reference`) and the figure. `predict` (pointwise PINNs) and `predict_lagrangian` are the experiments' `predict`;
`model_like` is the one of the `PointwiseConfig` experiments. `train_time_windows` trains a time-marched PINN
(`sciml.pinn.TimeWindows`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml import metrics
from sciml._errors import DataError
from sciml.data import with_cf_attributes
from sciml.nn import MLP, GaussianFeatures
from sciml.pde import Problem
from sciml.pinn import (
    PINN,
    AbstractBalancing,
    CausalWeighting,
    FixedWeights,
    GradNormBalancing,
    HardConstraint,
    LagrangianPINN,
    NTKBalancing,
    PINNLoss,
    RecipeLoss,
    ResidualAdaptiveResampling,
    TimeWindows,
)
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.cases import PDECase, reference_grid
from sciml.train import Evaluation, FitResult

__all__ = ["BALANCING", "PointwiseConfig", "balancing", "model_like", "plot_fields", "pointwise_model", "predict",
           "predict_lagrangian", "predict_points", "report", "train_pointwise"]

# Config names of the loss-balancing strategies.
BALANCING = {"fixed": FixedWeights, "grad_norm": GradNormBalancing, "ntk": NTKBalancing}


def balancing(name: str, **settings) -> AbstractBalancing:
    """The strategy a config names (``"fixed"``, ``"grad_norm"``, ``"ntk"``), built with `settings` (e.g.
    momentum)."""
    if name not in BALANCING:
        raise ValueError(f"balancing must be one of {tuple(BALANCING)}, got {name!r}")
    return BALANCING[name](**settings)


def predict_points(model, points: Float[Array, "n d"], batch_size: int = 4096) -> np.ndarray:
    """Evaluate a pointwise model on many points ``(n, d)`` in batches (host array ``(n, ...)``)."""
    apply = eqx.filter_jit(lambda m, p: jax.vmap(m)(p))
    return np.concatenate([np.asarray(apply(model, points[i : i + batch_size]))
                           for i in range(0, points.shape[0], batch_size)])


def query_points(names: Sequence[str], inputs) -> tuple[np.ndarray, tuple[str, ...], tuple[int, ...], dict]:
    """The points ``(n, d)`` a pointwise model is asked at, and the dims, shape and coordinates of its answer, from
    `inputs`, one of:

    - points ``(n, d)``, their columns in the order of `names` (e.g. t, x): answers on dim ``point``, with the axes as
      coordinates along it;
    - a dataset with the axes as coordinates of a grid (as a run's predictions.nc): answers on that grid, dims in the
      order of `names` (e.g. ``(t, x)``);
    - a dataset of scattered nodes (dim ``node`` with the axes, e.g. x and y, as coordinates along it): on the nodes.
    """
    names = tuple(names)
    if isinstance(inputs, xr.Dataset):
        missing = [name for name in names if name not in inputs.variables]
        if missing:
            raise DataError(f"predict: expected a dataset with coordinates {names}, missing {missing}; got "
                            f"{list(inputs.variables)}")
        if "node" in inputs.dims:
            points = np.stack([inputs[name].values for name in names], axis=1)
            return points, ("node",), (inputs.sizes["node"],), {
                "node": inputs["node"].values, **{name: ("node", inputs[name].values) for name in names}}
        axes = [inputs[name].values for name in names]
        points = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
        return points, names, tuple(a.size for a in axes), dict(zip(names, axes, strict=True))
    points = np.asarray(inputs, np.float64)
    if points.ndim != 2 or points.shape[1] != len(names):
        raise DataError(f"predict: expected points of shape (n, {len(names)}) (columns {names}), got shape "
                        f"{points.shape}")
    return points, ("point",), (points.shape[0],), {name: ("point", points[:, i]) for i, name in enumerate(names)}


def predict(model: PINN | TimeWindows, config, inputs) -> xr.Dataset:
    """`prediction` of a pointwise PINN or time-marched PINNs (any `config`: the model carries its domain) at
    `inputs`: points ``(n, d)``, a grid dataset or a dataset of nodes (see `query_points`)."""
    points, dims, shape, coords = query_points(model.domain.names, inputs)
    values = predict_points(model, jnp.asarray(points, jnp.float32))
    return xr.Dataset({"prediction": (dims, values.astype(np.float64).reshape(shape))}, coords=coords)


def predict_lagrangian(model: LagrangianPINN, config, inputs) -> xr.Dataset:
    """`prediction` of a Lagrangian PINN (any `config`) on the grid ``(t, x)`` that `inputs` gives: a dataset with
    coordinates t and x (as the run's predictions.nc) or a pair of 1-D arrays ``(t, x)``."""
    t, x = (inputs["t"].values, inputs["x"].values) if isinstance(inputs, xr.Dataset) else map(np.asarray, inputs)
    values = model.eulerian(jnp.asarray(t, jnp.float32), jnp.asarray(x, jnp.float32))
    return xr.Dataset({"prediction": (("t", "x"), np.asarray(values, np.float64))}, coords={"t": t, "x": x})


def report(reference: xr.Dataset, prediction: np.ndarray, run: RunDir, *, method: str, extra: dict | None = None
           ) -> dict[str, float]:
    """Write predictions.nc (`prediction` beside `reference`) and the figure; return rel. L2 and max error."""
    exact = reference.reference.values
    prediction = np.asarray(prediction, dtype=np.float64).reshape(exact.shape)
    ds = reference.copy()
    ds["prediction"] = (reference.reference.dims, prediction)
    ds.attrs["method"] = method
    if "source" in ds.attrs:  # the reference's; the file's own source is sciml (see RunDir.write_predictions)
        ds.attrs["reference_source"] = ds.attrs.pop("source")
    # The PINN-family PDEs are nondimensional: u, like t, x and y, in units "1".
    run.write_predictions(with_cf_attributes(ds, {"prediction": {"long_name": f"{method} solution u", "units": "1"},
                                                  "reference": {"long_name": "reference solution u", "units": "1"}}))
    plot_fields(ds, run)
    return {"rel_l2": metrics.relative_l2(prediction, exact), "max_abs_error": metrics.max_abs_error(prediction, exact),
            **(extra or {})}


def plot_fields(ds: xr.Dataset, run: RunDir) -> None:
    """Prediction, reference and |error| maps (the last slice along the leading dim for 3-D grids)."""
    fields = [("prediction", ds.prediction, "RdBu_r"), ("reference", ds.reference, "RdBu_r"),
              ("|error|", np.abs(ds.prediction - ds.reference), "magma")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for ax, (title, field, cmap) in zip(axes, fields, strict=True):
        if "node" in field.dims:
            image = ax.tripcolor(ds.x.values, ds.y.values, np.asarray(field), cmap=cmap, shading="gouraud")
            ax.set(title=title, xlabel="x", ylabel="y")
        else:
            if field.ndim == 3:
                leading = field.dims[0]
                field = field.isel({leading: -1})
                title = f"{title} ({leading} = {float(ds[leading][-1]):g})"
            first, second = field.dims
            image = ax.pcolormesh(ds[first].values, ds[second].values, np.asarray(field).T, cmap=cmap, shading="auto")
            ax.set(title=title, xlabel=first, ylabel=second)
        fig.colorbar(image, ax=ax)
    run.save_figure(fig, "fields")


@dataclasses.dataclass(frozen=True)
class PointwiseConfig(abc.ABC):
    """The knobs of the PIG / MLP-PINN experiments; each experiment's `Config` subclasses it with its own defaults.

    The Gaussian knobs act only with embedding "gaussian"; sigma_units "physical" reads sigma in the domain's units
    (as PIG's scripts give it), i.e. per axis sigma / half-width. Adaptive points (RAD) come beside the `n_points`
    uniform ones; causal weighting is `CausalWeighting`. Each experiment's `Config` defines `pde`: its case, problem
    and hard constraint, from which `main` trains and `model_like` rebuilds the model.
    """

    train: TrainConfig = TrainConfig(steps=4000, learning_rate=0.01, schedule="exponential", decay_steps=200,
                                     decay_rate=0.9, chunk=100)
    """Training: Adam with exponential decay, then `train.lbfgs_steps` of L-BFGS (the PIG defaults)."""
    embedding: str = "gaussian"
    """Input embedding: "gaussian" (PIG: trainable `GaussianFeatures` + small MLP) or "none" (MLP PINN)."""
    n_gaussians: int = 400
    """Gaussians per feature channel (embedding "gaussian" only)."""
    channels: int = 4
    """Feature channels of the Gaussian embedding (embedding "gaussian" only)."""
    sigma: float = 0.1
    """Initial width of every Gaussian, in the units `sigma_units` names."""
    covariance: str = "diagonal"
    """Gaussian shape: "diagonal" (one scale per axis) or "full" (a trained precision factor)."""
    sigma_units: str = "scaled"
    """Units of `sigma`: "scaled" (the model's [-1, 1] on every axis) or "physical" (the domain's units)."""
    neighbours: int = 0
    """Sum only this many nearest Gaussians per point (a cutoff; 0: all of them)."""
    width: int = 16
    """Hidden units per layer of the MLP."""
    depth: int = 1
    """Hidden layers of the MLP."""
    n_points: int = 2048
    """Uniform residual (collocation) points per step."""
    resample_every: int = 1
    """Steps between redraws of the collocation points (1: fresh points every step)."""
    adaptive_points: int = 0
    """Extra residual points drawn by residual-based adaptive resampling (RAD; 0: none)."""
    adaptive_candidates: int = 8192
    """Uniform candidates the adaptive points are drawn from, by their residual."""
    adaptive_every: int = 25
    """Steps between redraws of the adaptive points."""
    causal_chunks: int = 0
    """Time bins of causal residual weighting (time is axis 0; 0: no causal weighting)."""
    causal_tolerance: float = 1.0
    """Causal weighting's tolerance epsilon: bin i is weighted exp(-epsilon x the earlier bins' loss)."""

    def __post_init__(self):
        if self.embedding not in ("gaussian", "none"):
            raise ValueError(f"embedding must be 'gaussian' (PIG) or 'none' (MLP PINN), got {self.embedding!r}")
        if self.sigma_units not in ("scaled", "physical"):
            raise ValueError(f"sigma_units must be 'scaled' or 'physical', got {self.sigma_units!r}")

    @abc.abstractmethod
    def pde(self) -> tuple[PDECase, Problem, HardConstraint | None]:
        """The case, its `Problem` and the `HardConstraint` built into the output (or None), as this config sets
        them."""


def pointwise_model(problem: Problem, transform: HardConstraint | None, config: PointwiseConfig, *, key: jax.Array
                    ) -> PINN:
    """A PINN on the problem's domain; ``config.embedding == "gaussian"`` makes it a PIG (GaussianFeatures + small MLP).

    Reads from `config`: embedding, width, depth, and for PIG n_gaussians, channels, sigma, sigma_units, covariance,
    neighbours.
    """
    embed_key, net_key = jax.random.split(key)
    embedding = None
    if config.embedding == "gaussian":
        sigma = config.sigma
        if config.sigma_units == "physical":
            sigma = tuple(config.sigma / half for half in problem.domain.half_widths)
        embedding = GaussianFeatures(problem.domain.ndim, config.n_gaussians, config.channels,
                                     covariance=config.covariance, sigma=sigma,
                                     neighbours=config.neighbours or None, key=embed_key)
    in_size = embedding.out_size if embedding is not None else problem.domain.ndim
    net = MLP(in_size, "scalar", config.width, config.depth, key=net_key)
    return PINN(problem.domain, net, embedding=embedding, transform=transform)


def model_like(config: PointwiseConfig) -> PINN:
    """The untrained model of a `PointwiseConfig` experiment (key ``config.train.key(0)``): what `main` trains."""
    _, problem, transform = config.pde()
    return pointwise_model(problem, transform, config, key=config.train.key(0))


def train_pointwise(case: PDECase, problem: Problem, transform: HardConstraint | None, config: PointwiseConfig,
                    run: RunDir, *, weights: dict[str, float] | None = None, extra: dict | None = None
                    ) -> dict[str, float]:
    """Build the (PIG or MLP) PINN, train it as ``config.train`` says, score the final iterate on the case's
    reference and report; the summary carries the case's paper numbers as ``paper_<method>_rel_l2``.

    Keys: model ``config.train.key(0)``, training ``key(1)``, initial adaptive points ``key(2)``.
    """
    model = pointwise_model(problem, transform, config, key=config.train.key(0))
    if config.adaptive_points or config.causal_chunks:
        resampling = None
        if config.adaptive_points:
            resampling = ResidualAdaptiveResampling(config.adaptive_points, config.adaptive_candidates)
        causal = None
        if config.causal_chunks:
            causal = CausalWeighting(problem.domain.lower[0], problem.domain.upper[0], config.causal_chunks,
                                     config.causal_tolerance)
        loss = RecipeLoss(problem, weights, causal=causal, resampling=resampling, update_every=config.adaptive_every,
                          key=config.train.key(2))
    else:
        loss = PINNLoss(problem, weights=weights)
    reference = case.reference()
    grid = reference_grid(reference)
    exact = reference.reference.values

    def evaluate(m):
        return {"rel_l2": metrics.relative_l2(predict_points(m, grid).reshape(exact.shape), exact)}

    steps, chunk = config.train.steps, config.train.chunk
    result = train(model, loss, problem.sampler(), config.train, run,
                   evaluations=[Evaluation(evaluate, chunk * max(1, steps // (2 * chunk)))])
    run.save_model(result.model)
    method = "PIG" if config.embedding == "gaussian" else "PINN"
    papers = {f"paper_{name}_rel_l2": value for name, value in case.paper.items()}
    return report(reference, predict(result.model, config, reference).prediction.values, run, method=method,
                  extra={**fit_summary(result), **papers, **(extra or {})})


def train_time_windows(window_task: Callable[[int, Any], tuple[Any, Any, Any]], edges: Sequence[float],
                       config: TrainConfig, run: RunDir, *, time_axis: int = 0,
                       evaluations: Callable[[int], Sequence[Evaluation]] = lambda k: ()
                       ) -> tuple[TimeWindows, list[FitResult]]:
    """Time marching: train window after window, each from the state the previous one ends in.

    `window_task(k, previous)` gives window k's ``(model, loss, data)``; `previous` is window k-1's trained model
    (None for the first), whose end state the task makes window k's initial condition. Each window gets `config`
    with its Adam and L-BFGS steps divided by the number of windows (the whole run costs what one model's training
    does) and logs and checkpoints into ``run.path / "window<k>"`` (a killed run resumes in the window it stopped in).
    Returns the `TimeWindows` of the trained models and each window's `FitResult`.
    """
    windows = len(edges) - 1
    steps = max(1, config.steps // windows)
    window_config = dataclasses.replace(config, steps=steps, lbfgs_steps=config.lbfgs_steps // windows,
                                        chunk=min(config.chunk, steps))
    models, results = [], []
    for k in range(windows):
        model, loss, data = window_task(k, models[-1] if models else None)
        window_run = RunDir(run.path / f"window{k}", config=run.config, experiment=run.experiment)
        result = train(model, loss, data, window_config, window_run, evaluations=evaluations(k))
        models.append(result.model)
        results.append(result)
    return TimeWindows(tuple(models), tuple(float(e) for e in edges), time_axis), results


def windows_summary(results: Sequence[FitResult]) -> dict[str, float]:
    """`fit_summary` of a time-marched run: steps and times summed over the windows, the last window's loss."""
    summaries = [fit_summary(r) for r in results]
    return {"final_loss": summaries[-1]["final_loss"], "steps": sum(s["steps"] for s in summaries),
            "train_time_s": sum(s["train_time_s"] for s in summaries),
            "compile_time_s": sum(s["compile_time_s"] for s in summaries),
            "adam_steps_per_s": float(np.median([s["adam_steps_per_s"] for s in summaries])),
            "windows": len(results)}
