"""Neural-solver studies: one training-and-evaluation run of a (parameter-conditioned) autoregressive neural solver on
a PDE family, its predictions file, figures and summary (the `*-cape` experiments and `benchmarks/cape.py`).

Load the family, hold out parameter values, train with `RolloutLoss` through `sciml.studies.train`, roll out
autoregressively from the first frame (the first `frames` frames: PDEBench's per-parameter baseline protocol with
`frames=10`, `conditioning="none"` and every other parameter value excluded) on unseen trajectories of seen parameters
and on held-out parameters, score with PDEBench's metrics. The config's strings (`base`, `conditioning`,
`curriculum`) name the method objects (`FNOBase` / `UNetBase` / `MPNNBase`, `NoConditioning` /
`ParameterChannelConditioning` / `CAPEConditioning`, `TanhCurriculum` / `TeacherForcing` / `Autoregressive`); this
module maps them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml import metrics
from sciml._errors import ConfigError, DataError
from sciml.data import (
    CF_VOCABULARY,
    FieldData,
    Normalization,
    WindowLoader,
    WindowSampler,
    ensure_dataset,
    open_dataset,
    split_by_parameter,
    trajectory_arrays,
)
from sciml.nn import (
    CAPEConditioning,
    Conditioning,
    FNOBase,
    MPNNBase,
    NoConditioning,
    ParameterChannelConditioning,
    UNetBase,
    parameter_count,
)
from sciml.nn._cape import CAPE_GAINS, matched_size
from sciml.operators import (
    Autoregressive,
    Curriculum,
    ParameterGradientPenalty,
    RolloutLoss,
    TanhCurriculum,
    TeacherForcing,
    rollout,
    stack_frames,
)
from sciml.studies._config import TrainConfig
from sciml.studies._run import RunDir
from sciml.studies._training import train

BASES = ("fno", "tfno", "unet", "mpnn")
CONDITIONINGS = ("none", "channels", "cape", "cape+channels")
CAPE_CONDITIONINGS = ("cape", "cape+channels")  # those with a CAPE module (and its auxiliary loss)
CURRICULA: dict[str, Curriculum] = {"tanh": TanhCurriculum(), "teacher_forcing": TeacherForcing(),
                                    "autoregressive": Autoregressive()}


@dataclasses.dataclass(frozen=True)
class NeuralSolverConfig:
    """Every knob of a neural-solver run (experiments subclass it to change the defaults per PDE family).

    `base`, `conditioning` and `curriculum` name the method objects (`base_network`, `conditioning`, `CURRICULA`);
    `parameter_scale` and `parameter_clip` are `Normalization.fit`'s.
    """

    train: TrainConfig = TrainConfig(steps=2000, optimizer="adamw", learning_rate=3e-3, schedule="cosine",
                                     final_fraction=0.0, weight_decay=1e-4, chunk=100)
    """Training: AdamW on a cosine schedule (the neural-solver defaults)."""
    dataset: str = "pdebench-advection"
    """Registered trajectory dataset trained and scored on (`sciml data list`), generated on first use."""
    small: bool = False
    """Use the dataset's small version (a few trajectories on a coarse grid: tests and quick looks)."""
    parameters: tuple[str, ...] = ("beta",)
    """PDE parameters (coordinates along `sample`) fed to the model as its conditioning inputs."""
    held_out_parameter: str = "beta"
    """Parameter whose `held_out_values` are held out of training (evaluation only)."""
    held_out_values: tuple[float, ...] = (0.1, 1.0, 7.0)
    """Values of `held_out_parameter` held out of training and scored as the held-out split."""
    excluded_values: tuple[float, ...] = ()
    """Values of `held_out_parameter` dropped altogether (neither trained on nor scored)."""
    parameter_scale: str = "auto"
    """How parameters are standardised: "log", "linear" or "auto" (log when all are positive)."""
    parameter_clip: float | None = None
    """Parameters are clipped to the training range widened by this fraction of its width ("none": no clipping)."""
    seen_test_fraction: float = 0.125
    """Share of the seen-parameter trajectories kept out of training as the seen test split."""
    base: str = "fno"
    """Base network: "fno" (Fourier neural operator), "tfno" (the FNO with CP-factorized spectral weights), "unet" or
    "mpnn" (message-passing solver, 1D only)."""
    conditioning: str = "cape"
    """How the parameters enter: "none", "channels" (as constant input channels), "cape" (CAPE module) or
    "cape+channels" (CAPE, its base also reading the parameter channels)."""
    match_parameters: bool = True
    """Widen a non-CAPE baseline until its parameter count matches the CAPE model's."""
    size: int = 16
    """Width of the FNO (channels), first-stage features of the U-Net or node features of the MPNN."""
    modes: int = 8
    """Fourier modes kept per dimension in each FNO layer."""
    depth: int = 4
    """FNO layers, U-Net down/up stages or MPNN message-passing rounds."""
    factorization: float = 0.42
    """TFNO: the fraction of the dense spectral weights' parameters its CP factors keep."""
    cape_width: int = 32
    """Channels of the CAPE module."""
    cape_modes: int = 8
    """Fourier modes of the CAPE module's spectral branch."""
    cape_residual: str = "add"
    """How the CAPE update meets the state: "add" (u + y) or "multiply" (u (1 + y))."""
    cape_pool: int = 1
    """Average-pooling factor of the grid the CAPE spectral branch works on (1: full grid)."""
    cape_normalize: bool = False
    """Normalise the CAPE update per channel over space (GroupNorm)."""
    cape_update_cap: float = 0.0
    """In place of the normalisation: bound the CAPE update's RMS softly at this many times the state's (0: off)."""
    cape_gains: str = "mlp"
    """How the CAPE module maps the parameters to its branch gains: "mlp" (the paper's) or "affine" (as the 1D
    families' equations are affine in their parameters)."""
    cape_detach: bool = False
    """Only CAPE's auxiliary loss trains the CAPE module: the base reads its guess with the gradient stopped, so the
    guess stays a one-step prediction (the paper trains both on both losses)."""
    cape_weight: float = 1.0
    """Weight of CAPE's auxiliary loss (its first guess against the next frame)."""
    gradient_penalty: float = 0.0
    """Weight of CAPE's gradient penalty on the parameter input (`ParameterGradientPenalty`; the paper's 1D: 5.16e-4;
    0: off)."""
    gradient_penalty_target: float = ParameterGradientPenalty.target
    """RMS over the grid of d(next state)/d(standardised parameters) the penalty pulls towards."""
    gradient_penalty_widen: float = ParameterGradientPenalty.widen
    """The penalty's parameters are drawn over the batch's range widened by this fraction of its width each side."""
    spatial_stride: int = 4
    """Keep every n-th grid point of the dataset (1: full resolution)."""
    horizon: int = 5
    """Frames predicted per training window (windows hold frames + horizon frames)."""
    frames: int = 1
    """Input frames the solver sees (PDEBench's `initial_step`, 10 in its baselines); above 1 the base network maps the
    last `frames` frames to the change of the newest (with any conditioning; CAPE sees the newest frame) and rollouts
    start from the first `frames` frames."""
    initial_window_fraction: float = 0.0
    """Share of training windows that start at the initial condition (the rest start at random)."""
    batch_size: int = 32
    """Windows per training batch."""
    epochs: int = 20
    """Epochs of the curriculum; train.steps is split evenly over them."""
    warmup_epochs: int = 0
    """First epochs that train the CAPE module alone (on its auxiliary loss)."""
    curriculum: str = "tanh"
    """Rollout curriculum: "tanh" (autoregressive steps grow over the epochs), "teacher_forcing" or "autoregressive"."""
    pushforward: bool = False
    """Stop gradients through fed-back predictions (the pushforward trick) instead of backpropagating through time."""
    input_noise: float = 1e-3
    """Standard deviation of Gaussian noise added to the training windows (normalised units)."""
    loader: str = "device"
    """Where training windows come from: "device" (arrays in memory) or "host" (streamed from the zarr store)."""
    max_eval_samples: int = 32
    """At most this many trajectories per split are rolled out for the scores."""
    data: FieldData = FieldData()
    """A trajectory file of your own in place of `dataset` (docs/tutorials/own-data.md; empty path: `dataset`)."""

    def __post_init__(self):
        if self.base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {self.base!r}")
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {self.conditioning!r}")
        if self.curriculum not in CURRICULA:
            raise ValueError(f"curriculum must be one of {sorted(CURRICULA)}, got {self.curriculum!r}")
        if self.loader not in ("device", "host"):
            raise ValueError(f"loader must be 'device' (in-memory sampler) or 'host' (streaming), got {self.loader!r}")
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got frames={self.frames}")
        if self.cape_gains not in CAPE_GAINS:
            raise ValueError(f"cape_gains must be 'mlp' (the paper's) or 'affine', got {self.cape_gains!r}")
        if self.cape_update_cap < 0 or (self.cape_update_cap and (self.cape_normalize or self.cape_residual != "add")):
            raise ValueError(f"cape_update_cap={self.cape_update_cap} must be >= 0 (0: off) and caps an additive, "
                             f"unnormalised update; got cape_normalize={self.cape_normalize}, cape_residual="
                             f"{self.cape_residual!r}. Set cape_normalize=false and cape_residual=add with a cap")
        penalty = (self.gradient_penalty, self.gradient_penalty_target, self.gradient_penalty_widen)
        if min(penalty) < 0:
            raise ValueError("gradient_penalty, gradient_penalty_target and gradient_penalty_widen must be >= 0 "
                             f"(gradient_penalty=0 turns the penalty off), got {penalty}")
        steps, chunk = self.train.steps, self.train.chunk
        if steps % chunk:
            raise ValueError(f"train.steps={steps} must be a multiple of train.chunk={chunk} (steps fused per "
                             f"compiled call); set train.chunk to a divisor of it, e.g. --set train.chunk="
                             f"{np.gcd(steps, chunk)}")
        if steps < self.epochs:
            raise ValueError(f"train.steps={steps} must be >= epochs={self.epochs} (the curriculum's stages); set "
                             f"fewer epochs, e.g. --set epochs={steps}")


def base_network(config: NeuralSolverConfig, size: int) -> FNOBase | UNetBase | MPNNBase:
    """The base network maker of `config` at width (FNO, TFNO), first-stage features (U-Net) or node features (MPNN)
    `size`."""
    if config.base == "unet":
        return UNetBase(size=size, depth=config.depth)
    if config.base == "mpnn":
        return MPNNBase(size=size, depth=config.depth)
    return FNOBase(size=size, modes=config.modes, depth=config.depth,
                   factorization=config.factorization if config.base == "tfno" else None)


def conditioning(config: NeuralSolverConfig, name: str | None = None) -> Conditioning:
    """The conditioning object named `name` (default: the config's), with the config's CAPE settings."""
    name = name or config.conditioning
    if name in CAPE_CONDITIONINGS:
        return CAPEConditioning(width=config.cape_width, modes=config.cape_modes, pool=config.cape_pool,
                                residual=config.cape_residual, normalize=config.cape_normalize,
                                update_cap=config.cape_update_cap, gains=config.cape_gains,
                                parameter_channels=name == "cape+channels", detach_guess=config.cape_detach)
    return ParameterChannelConditioning() if name == "channels" else NoConditioning()


def _solver(config: NeuralSolverConfig, size: int, *, channels: int, n_params: int, ndim: int, key: jax.Array):
    """The solver of `config` at base size `size`: the conditioned base network on states of `config.frames`
    frames."""
    return conditioning(config)(base_network(config, size), channels=channels, n_params=n_params, ndim=ndim, key=key,
                                frames=config.frames)


def build_solver(config: NeuralSolverConfig, *, channels: int, ndim: int, key: jax.Array):
    """The model of `config` and its base size; baselines are widened to the CAPE model's parameter count if asked."""
    common = dict(channels=channels, n_params=len(config.parameters), ndim=ndim, key=key)
    size = config.size
    if config.conditioning not in CAPE_CONDITIONINGS and config.match_parameters:
        target = parameter_count(eqx.filter_eval_shape(
            lambda: conditioning(config, "cape")(base_network(config, config.size), **common,
                                                 frames=config.frames)))
        size = matched_size(target, lambda s: _solver(config, s, **common), range(config.size, 4 * config.size + 1))
    return _solver(config, size, **common), size


class TrainedSolver(eqx.Module):
    """What a run saves (`RunDir.save_model`): the trained solver and the normalisation of its training data."""

    solver: eqx.Module
    normalization: Normalization


def model_like(config: NeuralSolverConfig) -> TrainedSolver:
    """The saved `TrainedSolver`'s structure, shapes and dtypes, from `config` and the dataset's spatial dims (shapes
    only: nothing is trained or initialised)."""
    if config.data.path:
        ndim = config.data.open()["u"].ndim - 2
    else:
        with open_dataset(ensure_dataset(config.dataset, small=config.small)) as ds:
            ndim = ds["u"].ndim - 2
    solver = eqx.filter_eval_shape(lambda: build_solver(config, channels=1, ndim=ndim, key=config.train.key(0))[0])
    return TrainedSolver(solver, Normalization.like(channels=1, n_params=len(config.parameters), spatial_ndim=ndim,
                                                    clipped=config.parameter_clip is not None))


@eqx.filter_jit
def _rollout_batch(solver, u0: Float[Array, "sample c *space"], params: Float[Array, "sample p"], steps: int):
    """`rollout` of every sample (normalised inputs): frames 1..steps, (sample, steps, c, *space)."""
    return jax.vmap(lambda x, p: rollout(solver, x, p, steps))(u0, params)


def predict(model: TrainedSolver, config: NeuralSolverConfig, inputs: xr.Dataset) -> xr.Dataset:
    """Autoregressive rollouts from the first frame of every trajectory in `inputs`, which is either

    - a trajectory dataset in PDEBench's layout (`read_pdebench`, the generated families): ``u`` on
      ``(sample, t, *space)`` at the data's resolution, the parameters of `config` as coordinates along ``sample``;
      the rollout starts from ``u`` at the first ``frames`` times on every ``spatial_stride``-th point and runs to
      the last frame; or
    - a run's ``predictions.nc``: ``initial`` on ``(sample, *space)`` (frame 0, already subsampled; with ``frames`` >
      1 on ``(sample, t_input, *space)``, the input frames), ``t`` the frames to predict; or
    - with ``config.data.path`` set, a dataset named as that file is (the roles of ``config.data``).

    Returns ``prediction`` on ``(sample, t, *space)`` (the frames after the input ones) with the parameters (and,
    where given, ``split``) as coordinates along ``sample``. Samples are rolled out in one batch per ``split`` (as the
    run did: the batch size changes XLA's rounding), so a predictions.nc gives back its stored ``prediction`` exactly.
    """
    if "initial" not in inputs and config.data.path:
        inputs = config.data.conform(inputs, source="predict's inputs")
    if "initial" in inputs:
        first = inputs["initial"]
        t = inputs["t"].values
        history = (first.rename(t_input="t") if "t_input" in first.dims else
                   first.drop_vars("t", errors="ignore").expand_dims("t", axis=1))
    else:
        if "u" not in inputs or inputs["u"].dims[:2] != ("sample", "t"):
            raise DataError(f"predict needs a dataset with 'u' on (sample, t, *space) or a predictions.nc with "
                            f"'initial'; got variables {list(inputs.data_vars)}")
        history = inputs["u"].isel(t=slice(0, config.frames)).isel(
            {d: slice(None, None, config.spatial_stride) for d in inputs["u"].dims[2:]})
        t = inputs["t"].values[config.frames:]
    u, params = trajectory_arrays(history.drop_vars("t", errors="ignore").to_dataset(name="u"),
                                  parameters=config.parameters)
    if u.shape[1] != config.frames:
        raise DataError(f"the model takes frames={config.frames} input frames, the inputs hold {u.shape[1]}; give "
                        f"a trajectory dataset (or the predictions.nc of a run with frames={u.shape[1]})")
    norm = model.normalization
    state, params = stack_frames(jnp.asarray(norm.fields(u)), config.frames), norm.params(params)
    groups = inputs["split"].values if "split" in inputs.coords else np.zeros(u.shape[0])
    prediction = np.empty((u.shape[0], t.size, *u.shape[2:]), np.float32)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        prediction[rows] = _rollout_batch(model.solver, state[rows], params[rows], t.size)[:, :, -u.shape[2]:]
    space = list(history.dims[2:])
    coords = {"t": t, **{d: history[d].values for d in space if d in history.coords}}
    coords.update({name: ("sample", np.asarray(inputs[name].values))
                   for name in (*config.parameters, "split", "sample") if name in inputs.coords})
    return xr.Dataset({"prediction": (("sample", "t", *space), norm.fields_inverse(prediction)[:, :, 0])},
                      coords=coords)


def _seen_split(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(12345).permutation(n)
    n_test = max(1, int(round(fraction * n)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _subsample(ds: xr.Dataset, limit: int) -> xr.Dataset:
    if ds.sizes["sample"] <= limit:
        return ds
    return ds.isel(sample=np.linspace(0, ds.sizes["sample"] - 1, limit).round().astype(int))


def _trajectories(config: NeuralSolverConfig) -> tuple[xr.Dataset, xr.Dataset | Path]:
    """The trajectories `config` trains on and what `WindowLoader` streams them from: the registered `dataset`
    (opened lazily; its zarr store) or, with ``data.path`` set, the user's file in the canonical layout (in memory,
    checked against the config's parameters, held-out values and horizon)."""
    if not config.data.path:
        path = ensure_dataset(config.dataset, small=config.small)
        return open_dataset(path), path.with_suffix(".zarr")
    ds = config.data.open()
    source = repr(config.data.path)
    along = {str(name) for name, c in ds.coords.items() if c.dims == ("sample",) and name != "sample"}
    missing = [p for p in (*config.parameters, config.held_out_parameter) if p not in along]
    if missing:
        raise ConfigError(
            f"parameters={config.parameters}, held_out_parameter={config.held_out_parameter!r}: {missing} are not "
            f"values along the sample dimension {config.data.dims.sample!r} of {source}, which holds {sorted(along)}. "
            "Name the PDE parameter(s) the trajectories differ by: --set parameters=NAME --set "
            "held_out_parameter=NAME --set held_out_values=V1,V2 (a file without any: attach one, e.g. "
            "ds.assign_coords(nu=('sample', values)))")
    present = np.unique(ds[config.held_out_parameter].values)
    for key in ("held_out_values", "excluded_values"):
        absent = [v for v in getattr(config, key) if not np.isclose(present, v, rtol=1e-6, atol=0.0).any()]
        if absent:
            raise ConfigError(f"{key}={getattr(config, key)}: {absent} do not occur in {config.held_out_parameter!r} "
                              f"of {source}, whose values are {present.tolist()}; name some of those: --set "
                              f"{key}={','.join(f'{v:g}' for v in present[-1:])} (or hold out none: --set {key}=)")
    values = np.asarray(ds[config.held_out_parameter].values)[:, None]
    held = np.isclose(values, [*config.held_out_values, *config.excluded_values], rtol=1e-6, atol=0.0).any(axis=1)
    if int((~held).sum()) < 2:
        raise DataError(f"too few samples for the split: {source} holds {ds.sizes['sample']} trajectories, "
                        f"{int((~held).sum())} of them outside held_out_values / excluded_values; need at least 2 "
                        "(one to train on, one to test). Hold out fewer values or use a file with more trajectories")
    if ds.sizes["t"] < config.horizon + config.frames:
        raise ConfigError(f"{source} holds {ds.sizes['t']} frames along {config.data.dims.time!r}; training windows "
                          f"need frames + horizon = {config.horizon + config.frames}. Lower it: --set "
                          f"horizon={ds.sizes['t'] - config.frames}")
    return ds, ds


def train_and_evaluate(config: NeuralSolverConfig, run: RunDir | None = None) -> tuple[dict, xr.Dataset]:
    """Train the configured solver (logging into `run` and saving the `TrainedSolver` there when given) and evaluate
    full rollouts; returns (summary metrics, predictions dataset). The field is the dataset's single variable ``u``;
    rollouts start from frame 0 and run to the last frame. Model initialisation uses ``config.train.key(0)``,
    training ``key(1)``."""
    lazy, stream = _trajectories(config)
    lazy = lazy.assign_coords(sample=np.arange(lazy.sizes["sample"]))  # the file's rows, through every split
    if config.excluded_values:
        lazy, _ = split_by_parameter(lazy, {config.held_out_parameter: config.excluded_values})
    seen, held_out = split_by_parameter(lazy, {config.held_out_parameter: config.held_out_values})
    train_index, seen_test_index = _seen_split(seen.sizes["sample"], config.seen_test_fraction)
    train_ds = seen.isel(sample=train_index)
    u_train, p_train = trajectory_arrays(train_ds, parameters=config.parameters, spatial_stride=config.spatial_stride)
    normalization = Normalization.fit(u_train, p_train, parameter_scale=config.parameter_scale,
                                      clip=config.parameter_clip)
    channels, ndim = u_train.shape[2], u_train.ndim - 3
    model, size = build_solver(config, channels=channels, ndim=ndim, key=config.train.key(0))

    if config.loader == "host":
        data = WindowLoader(stream, parameters=config.parameters, normalization=normalization,
                            samples=seen.sample.values[train_index],
                            batch_size=config.batch_size, horizon=config.horizon + config.frames - 1,
                            spatial_stride=config.spatial_stride, seed=config.train.seed,
                            initial_fraction=config.initial_window_fraction)
    else:
        data = WindowSampler(normalization.fields(u_train), normalization.params(p_train),
                             batch_size=config.batch_size, horizon=config.horizon + config.frames - 1,
                             initial_fraction=config.initial_window_fraction)
    gradient_penalty = (ParameterGradientPenalty(config.gradient_penalty, config.gradient_penalty_target,
                                                 config.gradient_penalty_widen) if config.gradient_penalty else None)
    loss = RolloutLoss(steps_per_epoch=config.train.steps // config.epochs, epochs=config.epochs,
                       curriculum=CURRICULA[config.curriculum], warmup=config.warmup_epochs,
                       cape_weight=config.cape_weight, input_noise=config.input_noise, pushforward=config.pushforward,
                       frames=config.frames, gradient_penalty=gradient_penalty)
    result = train(model, loss, data, config.train, run)
    trained = TrainedSolver(result.model, normalization)
    if run is not None:
        run.save_model(trained)

    splits = {"seen": _subsample(seen.isel(sample=seen_test_index), config.max_eval_samples),
              "held_out": _subsample(held_out, config.max_eval_samples)}
    splits = {name: ds for name, ds in splits.items() if ds.sizes["sample"]}  # no held-out values: seen only
    parts, summary = [], {}
    n_eval = min(ds.sizes["sample"] for ds in splits.values())
    for name, ds in splits.items():
        ds = _subsample(ds, n_eval)
        prediction, reference, seconds_per_step = _rollout_split(trained, ds, config)
        scores = metrics.pdebench_metrics(prediction, reference, spatial_ndim=ndim)
        summary.update({f"{name}_{k}": v for k, v in scores.items()})
        values = np.asarray(ds[config.held_out_parameter].values)
        for value in np.unique(values):
            rows = np.flatnonzero(values == value)
            summary[f"{name}_nrmse_{config.held_out_parameter}={value:g}"] = metrics.nrmse(
                prediction[rows], reference[rows], spatial_ndim=ndim)
        summary[f"{name}_inference_ms_per_step"] = 1e3 * seconds_per_step
        parts.append(_predictions(ds, prediction, reference, name, config))
    summary.update({
        "parameter_count": parameter_count(result.model), "model_size": size,
        "train_time_s": result.train_time_s, "compile_time_s": result.compile_time_s,
        "steps_per_s": result.steps_per_s, "train_samples_per_s": result.steps_per_s * config.batch_size,
        "final_loss": result.history[-1]["loss"], "n_train_trajectories": int(u_train.shape[0]),
        "grid_points": int(np.prod(u_train.shape[3:])),
    })
    predictions = xr.concat(parts, dim="sample")
    family = lazy.attrs.get("family", config.data.path or config.dataset)
    predictions.attrs.update({"family": str(family), "base": config.base,
                              "conditioning": config.conditioning, "held_out": f"{config.held_out_parameter} in "
                              f"{list(config.held_out_values)}", "metric_note": "nRMSE etc. from sciml.metrics"})
    return summary, predictions


def _rollout_split(trained: TrainedSolver, ds: xr.Dataset, config: NeuralSolverConfig):
    """Roll `trained` out from the first `config.frames` frames of every trajectory of `ds` (as `predict` does);
    returns (prediction, reference, seconds per step of the compiled rollout)."""
    u, params = trajectory_arrays(ds, parameters=config.parameters, spatial_stride=config.spatial_stride)
    steps = u.shape[1] - config.frames
    norm = trained.normalization
    u0, p = stack_frames(jnp.asarray(norm.fields(u)), config.frames), norm.params(params)
    jax.block_until_ready(_rollout_batch(trained.solver, u0, p, steps))
    start = time.perf_counter()
    prediction = np.asarray(jax.block_until_ready(_rollout_batch(trained.solver, u0, p, steps)))[:, :, -u.shape[2]:]
    seconds_per_step = (time.perf_counter() - start) / steps
    return norm.fields_inverse(prediction)[:, :, 0], u[:, config.frames:, 0], seconds_per_step


def _attrs(ds: xr.Dataset, name: str, fallback: dict[str, str]) -> dict[str, str]:
    """The CF attributes of `name` in the data: its own, else the shared vocabulary's, else `fallback` (a file of
    one's own may carry none)."""
    return {**fallback, **CF_VOCABULARY.get(name, {}), **ds[name].attrs}


def _predictions(ds: xr.Dataset, prediction, reference, split: str, config: NeuralSolverConfig) -> xr.Dataset:
    """The split's rollouts as the predictions contract; the field keeps the data's long_name and units of ``u``."""
    space = list(ds["u"].dims[2:])
    coords = {d: (d, ds[d].values[:: config.spatial_stride], _attrs(ds, d, {"long_name": d, "units": "1"}))
              for d in space}
    coords["t"] = ("t", ds["t"].values[config.frames:], _attrs(ds, "t", {}))
    dims = ("sample", "t", *space)
    sample_coords = {p: ("sample", np.asarray(ds[p].values), _attrs(ds, p, {"long_name": f"PDE parameter {p}",
                                                                             "units": "1"}))
                     for p in config.parameters}
    sample_coords["split"] = ("sample", np.asarray([split] * prediction.shape[0]))
    sample_coords["sample"] = ("sample", np.asarray(ds["sample"].values))
    field = _attrs(ds, "u", {"long_name": "u", "units": "1"})
    name, units = field["long_name"], field["units"]
    strided = {d: slice(None, None, config.spatial_stride) for d in space}
    if config.frames > 1:
        coords["t_input"] = ("t_input", ds["t"].values[:config.frames], {**_attrs(ds, "t", {}),
                                                                          "long_name": "time of the input frames"})
        initial = ("sample", "t_input", *space), np.asarray(ds["u"].isel(t=slice(0, config.frames), **strided).values,
                                                            np.float32), {"long_name": f"input frames of {name}"}
    else:
        initial = ("sample", *space), np.asarray(ds["u"].isel(t=0, **strided).values, np.float32), {
            "long_name": f"initial state (frame 0) of {name}"}
    return xr.Dataset({"prediction": (dims, prediction, {"long_name": f"rollout prediction of {name}", "units": units}),
                       "reference": (dims, reference, {"long_name": f"reference {name}", "units": units}),
                       "initial": (*initial[:2], {**initial[2], "units": units})},
                      coords={**coords, **sample_coords})


def run_neural_solver_experiment(config: NeuralSolverConfig, run: RunDir) -> dict:
    """Train and evaluate `config`, write ``predictions.nc`` and figures into `run`, return the summary metrics."""
    summary, predictions = train_and_evaluate(config, run)
    run.write_predictions(predictions)
    plot_error_by_parameter(predictions, config, run)
    plot_rollout(predictions, run)
    return summary


def error_by_parameter(predictions: xr.Dataset, parameter: str) -> dict[str, dict[float, float]]:
    """Rollout nRMSE per split and per value of `parameter`, recomputed from a predictions dataset."""
    ndim = predictions.prediction.ndim - 2
    table: dict[str, dict[float, float]] = {}
    for split in np.unique(predictions.split.values):
        part = predictions.where(predictions.split == split, drop=True)
        for value in np.unique(part[parameter].values):
            rows = part.where(part[parameter] == value, drop=True)
            table.setdefault(str(split), {})[float(value)] = metrics.nrmse(
                rows.prediction.values, rows.reference.values, spatial_ndim=ndim)
    return table


def plot_error_by_parameter(predictions: xr.Dataset, config: NeuralSolverConfig, run: RunDir) -> None:
    """nRMSE of the full rollout against the held-out parameter, seen and held-out values marked apart."""
    table = error_by_parameter(predictions, config.held_out_parameter)
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for split, marker in (("seen", "o"), ("held_out", "s")):
        if split in table:
            values = sorted(table[split])
            ax.plot(values, [table[split][v] for v in values], marker, label=split.replace("_", "-"))
    ax.set(xscale="log", yscale="log", xlabel=config.held_out_parameter, ylabel="rollout nRMSE",
           title=f"{config.base} + {config.conditioning}")
    ax.legend()
    run.save_figure(fig, "nrmse_by_parameter")


def plot_rollout(predictions: xr.Dataset, run: RunDir) -> None:
    """Reference, prediction and error of the first held-out trajectory (the first one when none is held out;
    space-time for 1D, last frame for 2D)."""
    held_out = np.flatnonzero(predictions.split.values == "held_out")
    sample = predictions.isel(sample=int(held_out[0]) if held_out.size else 0)
    fields = [("reference", sample.reference), ("prediction", sample.prediction),
              ("|error|", np.abs(sample.prediction - sample.reference))]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for ax, (title, field) in zip(axes, fields, strict=True):
        if field.ndim == 2:
            mesh = ax.pcolormesh(field.x, field.t, field.values, shading="auto",
                                 cmap="magma" if title == "|error|" else "RdBu_r")
            ax.set(xlabel="x", ylabel="t", title=title)
        else:
            last = field.isel(t=-1)
            mesh = ax.pcolormesh(last.x, last.y, last.values.T, shading="auto",
                                 cmap="magma" if title == "|error|" else "RdBu_r")
            ax.set(xlabel="x", ylabel="y", title=f"{title}, t = {float(last.t):.2f}")
        fig.colorbar(mesh, ax=ax)
    run.save_figure(fig, "rollout_held_out")
