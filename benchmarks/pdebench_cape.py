"""CAPE on PDEBench's baseline protocol: one model across parameter values, scored on held-out values, beside the
per-parameter FNO of `benchmarks/pdebench_fno.py` trained on that very value.

The data are those of `pdebench_fno.py` (PDEBench's initial-state distribution, solved on 1024 points and kept at
256; advection and Burgers 41 frames on t in [0, 2], diffusion-reaction 101 on [0, 1]) for every parameter value of
the family, written once to `runs/pdebench_cape/data/<family>.nc` and trained on through the neural-solver study
(`run_experiment` of the family's `*-cape` experiment with ``data.path``; each run's folder holds its
predictions.nc). The training values and the held-out ones are CAPE's released 1D configurations
(`/work/shared/notes/cape_pdebench_nde.md` A2.6): advection trains on beta in {0.2, 0.4, 0.7, 2, 4} and holds out
{0.1, 1, 7}; Burgers trains on nu in {0.002, 0.02, 0.04, 0.2, 0.4, 2} (CAPE's 0.007 is not among PDEBench's public
files, nor ours) and holds out {0.001, 0.004, 0.01, 0.1, 1, 4}. CAPE has no diffusion-reaction configuration: on
PDEBench's grid nu in {0.5, 1, 2, 5} x rho in {1, 2, 5, 10} the models take both parameters and rho = 5 is held out at
every nu (as `diffreact-cape`). The study's parameter scaling and clipping are the experiment's (advection: linear,
clipped to the trained range, unless ``--no-clip``; Burgers and diffusion-reaction: log). Burgers' held-out nu = 0.001
and 4 lie outside its trained range: each run trained without clipping whose held-out values lie outside (Burgers,
advection with ``--no-clip``) is also scored with them clipped to that range (the same model; `clipped.nc`).
``--gradient-penalty W`` adds CAPE's gradient penalty on the parameter input (`ParameterGradientPenalty`) at weight W;
``--cape-module paper`` sizes the CAPE module as the paper's released 1D configuration (width 64, a Fourier layer of
16 modes on the 4x pooled grid, the update normalised over space) instead of the study's defaults (width 32, 8 modes
on the full grid, not normalised), and widens the other conditionings to that CAPE model's parameter count;
``paper-unnormalised``, ``paper-capped`` and ``paper-affine`` are that size without the normalisation, with a soft
cap on the update in its place, or unnormalised with gains affine in the parameters, and ``paper-affine-detached``
the last trained on CAPE's auxiliary loss alone (`CAPE_MODULES`).

The protocol of `pdebench_fno.py`'s CPU budget, across values: 10 input frames (CAPE reads the newest), FNO width 20
and 12 modes as the base, the model predicting the change of the newest frame; teacher-forced single steps
(``curriculum=teacher_forcing``, ``horizon=1``, the study's relative-L2 loss plus CAPE's auxiliary one; or, with
``--training curriculum``, CAPE's own: windows of 5 steps whose autoregressive part grows along a tanh curve;
``one-step-noise``: one-step with input noise 1e-2 of the normalised field (CAPE's 1e-3 otherwise); ``pushforward``:
the curriculum with the fed-back predictions' gradients stopped, Brandstetter et al.'s trick, and that noise;
``one-step-warmup``: one-step after the paper's warm-up of the CAPE module, its first epoch on the auxiliary loss
alone, against the one-step channel runs), batch 50,
AdamW 1e-3 with weight decay 1e-4 halved 5 times over the run; conditionings ``none``, ``channels`` (the parameter as
a constant input channel, widened to CAPE's parameter count), ``cape`` and ``cape+channels`` (CAPE whose base also
reads the parameter channels). The score is the study's nRMSE of the full autoregressive rollout from the first 10
frames (PDEBench's definition), on 64 trajectories per split. With
``--frames 1`` the models read one frame, as in CAPE's own configurations (``initial_step: 1``): the parameter is then
the only source of the speed or viscosity, where 10 frames already show it (with 10 frames, the parameter-channel
FNO's first held-out step at beta = 1 is equally wrong whatever beta its channel is given).

    .venv/bin/python benchmarks/pdebench_cape.py [--families advection burgers]
        [--conditionings none channels cape cape+channels] [--seeds 0 1 2] [--samples 240] [--steps 15000]
        [--training one-step|one-step-warmup|one-step-noise|curriculum|pushforward] [--frames 10|1] [--cape-weight W]
        [--parameter-scale log|linear] [--gradient-penalty W] [--no-clip]
        [--cape-module study|paper|paper-unnormalised|paper-capped|paper-affine|paper-affine-detached]
    .venv/bin/python benchmarks/pdebench_cape.py --table     # rewrite the table from the JSON only

Runs already finished in their folders are read back, not rerun, so invocations resume and may run in parallel
(each merges its runs into the JSON under a lock; a run whose folder another invocation is training is skipped, and
that invocation records it).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import functools
import itertools
import json
import time
from pathlib import Path

import numpy as np
import xarray as xr
from pdebench_fno import PROTOCOL, PUBLISHED, TRANSFER_POINTS, parse_case, record_case

from sciml import DataError, metrics
from sciml.benchmarking import Benchmark, render_table, trained_run, xla_cpu_threads
from sciml.data import FieldData, check_cf_attributes, ensure_dataset, load_generator, with_provenance, write_dataset
from sciml.provenance import package_versions
from sciml.solvers import AdvectionFamily, BurgersFamily, DiffusionReactionFamily, family_dataset
from sciml.studies import RunFolderError, load, load_experiment
from sciml.studies.neural_solvers import CAPE_CONDITIONINGS, NeuralSolverConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pdebench_cape.json"
PER_PARAMETER = ROOT / "benchmarks" / "results" / "pdebench_fno.json"
TABLE = ROOT / "docs" / "results" / "pdebench_cape.md"
RUNS = ROOT / "runs" / "pdebench_cape"
BASES = {"fno": "FNO", "tfno": "TFNO", "unet": "U-Net", "mpnn": "MPNN"}
CONDITIONINGS = {"none": "", "channels": " + parameter channels", "cape": " + CAPE",
                 "cape+channels": " + CAPE + parameter channels"}
BASE_SIZES = {"fno": {"size": PROTOCOL["width"], "depth": PROTOCOL["depth"]},
              "tfno": {"size": PROTOCOL["width"], "depth": PROTOCOL["depth"],
                       "factorization": PROTOCOL["tfno_fraction"]},
              "unet": {"size": PROTOCOL["unet_features"], "depth": PROTOCOL["unet_levels"]},
              "mpnn": {"size": PROTOCOL["mpnn_hidden"], "depth": PROTOCOL["mpnn_layers"]}}
"""Each base network's size in the protocol: `pdebench_fno.py`'s per-parameter models."""


@dataclasses.dataclass(frozen=True)
class FamilySetting:
    """A family's data (every value of each of its parameters, trained and held out; the trajectories cover their
    grid), the values of `parameter` held out, the experiment whose study and scaling it uses, and PDEBench's frames
    of the family (`n_frames` over [0, `t_end`])."""

    family: type
    parameter: str
    values: tuple[float, ...]
    held_out: tuple[float, ...]
    experiment: str
    other_parameters: tuple[tuple[str, tuple[float, ...]], ...] = ()
    n_frames: int = 41
    t_end: float = 2.0
    reference_at: tuple[tuple[str, float], ...] = ()
    """The other parameters' values of the per-parameter FNO set beside each held-out value (PDEBench's
    diffusion-reaction case nu = 0.5); the held-out error it is compared with is the one at those values."""

    @property
    def parameters(self) -> dict[str, tuple[float, ...]]:
        """Every parameter of the family and its values (the held-out one first)."""
        return {self.parameter: self.values, **dict(self.other_parameters)}

    @property
    def trained(self) -> list[float]:
        """The values of `parameter` trained on (those not held out)."""
        return [v for v in self.values if v not in self.held_out]

    @property
    def held_out_outside(self) -> list[float]:
        """The held-out values of `parameter` outside the trained range (none where every one lies inside)."""
        return [v for v in self.held_out if v < min(self.trained) or v > max(self.trained)]

    @functools.cached_property
    def parameter_clip(self) -> float | None:
        """The experiment's clipping of the parameters (`NeuralSolverConfig.parameter_clip`; None: not clipped)."""
        return load_experiment(self.experiment).config_type().parameter_clip

    def reference_point(self, value: float) -> dict[str, float]:
        """Where the per-parameter FNO beside the held-out `value` is trained: every parameter's value."""
        return {**dict(self.reference_at), self.parameter: value}

    def reference_key(self, value: float) -> str:
        """The record's metric of the held-out error at `reference_point`: ``held_out_nrmse_beta=1`` for one
        parameter, ``held_out_nrmse_nu=0.5,rho=5`` with `reference_at`."""
        point = self.reference_point(value)
        return "held_out_nrmse_" + ",".join(f"{name}={point[name]:g}" for name in sorted(point))


FAMILIES = {
    "advection": FamilySetting(AdvectionFamily, "beta", (0.1, 0.2, 0.4, 0.7, 1.0, 2.0, 4.0, 7.0), (0.1, 1.0, 7.0),
                               "advection-cape"),
    "burgers": FamilySetting(BurgersFamily, "nu", (0.001, 0.002, 0.004, 0.01, 0.02, 0.04, 0.1, 0.2, 0.4, 1.0, 2.0,
                                                   4.0), (0.001, 0.004, 0.01, 0.1, 1.0, 4.0), "burgers-cape"),
    # PDEBench's 1D diffusion-reaction grid (CAPE has no configuration for it): the reaction rate rho = 5 held out
    # at every diffusivity, as `diffreact-cape`; 101 frames over t in [0, 1]
    "diffreact": FamilySetting(DiffusionReactionFamily, "rho", (1.0, 2.0, 5.0, 10.0), (5.0,), "diffreact-cape",
                               (("nu", (0.5, 1.0, 2.0, 5.0)),), n_frames=101, t_end=1.0,
                               reference_at=(("nu", 0.5),)),
}


def protocol_family(name: str):
    """The family of `name` over all its values (trained and held out), on PDEBench's frames of that family."""
    setting = FAMILIES[name]
    return setting.family(parameters=setting.parameters, n_frames=setting.n_frames, t_end=setting.t_end,
                          initial_distribution="pdebench")


def data_file(name: str, samples: int, runs: Path = RUNS) -> Path:
    """The family's trajectories, `samples` per value, on PDEBench's grid and frames (written once, atomically).
    Where the family's experiment's registered dataset is generated as exactly these trajectories (its generator's
    `FAMILY` and `FULL` size), that dataset's file (`sciml.data.ensure_dataset`), so the two share one cache."""
    dataset = load_experiment(FAMILIES[name].experiment).config_type().dataset
    generator = load_generator(dataset)
    full = {"n_per_value": samples, "num_points": PROTOCOL["points"], "solver_points": PROTOCOL["solver_points"]}
    if getattr(generator, "FAMILY", None) == protocol_family(name) and getattr(generator, "FULL", None) == full:
        return ensure_dataset(dataset)
    path = runs / "data" / f"{name}-{samples}.nc"
    if path.exists():
        return path
    ds = family_dataset(protocol_family(name), n_per_value=samples, num_points=PROTOCOL["points"],
                        solver_points=PROTOCOL["solver_points"], seed=0)
    ds["u"].attrs.update(long_name=f"u of {name}", units="1")
    return write_dataset(ds, path)


def solver_grid_rows(name: str, samples: int, rows: np.ndarray, runs: Path = RUNS) -> xr.Dataset:
    """Rows `rows` of the data file (its ``sample`` numbers) on the solver's 1024 points, of which the file keeps
    every 4th: the same trajectories, for zero-shot resolution transfer. Solved once and kept in
    ``data/<family>-<samples>-solver-grid.nc`` (only the rows asked for; checked against the data file)."""
    path = runs / "data" / f"{name}-{samples}-solver-grid.nc"
    wanted = np.unique(rows)
    if path.exists():
        kept = xr.load_dataset(path)
        if np.isin(rows, kept["sample"].values).all():
            return kept.sel(sample=rows)
        wanted = np.union1d(wanted, kept["sample"].values)  # keep the rows cached before
    kept = family_dataset(protocol_family(name), n_per_value=samples, num_points=PROTOCOL["solver_points"], seed=0,
                          rows=wanted).assign_coords(sample=wanted)
    coarse = xr.load_dataset(data_file(name, samples, runs))["u"].values[wanted]
    stride = PROTOCOL["solver_points"] // PROTOCOL["points"]
    if not np.allclose(kept["u"].values[..., ::stride], coarse, rtol=1e-5, atol=1e-6):
        raise DataError(f"{path.name}: the solver-grid trajectories do not restrict to those of the data file "
                        f"{data_file(name, samples, runs)}; expected equal values on every 4th point. Delete both "
                        "files and run again")
    kept["u"].attrs.update(long_name=f"u of {name} on the solver's grid", units="1")
    kept["sample"].attrs.update(long_name="row of the data file", units="1")
    write_dataset(kept, path)
    return kept.sel(sample=rows)


def trained_model(folder: Path):
    """The run's `TrainedSolver`, loaded once per process for the zero-shot and the clipped read-outs."""
    return _load_once(folder, (folder / "model.eqx").stat().st_mtime)


@functools.lru_cache(maxsize=1)
def _load_once(folder: Path, saved: float):  # `saved`, the model file's time, keys the cache: a retrained run reloads
    return load(folder)


def zero_shot(name: str, samples: int, folder: Path, runs: Path = RUNS) -> dict[str, float]:
    """The run's model, trained at 256 points, rolled out at 512 and 1024 points on the trajectories its
    predictions.nc scores (both splits, the same rows): nRMSE per split and resolution. Writes the rollouts and
    their references to ``zero_shot.nc`` in the run's folder (each figure recomputable from it); a run's file newer
    than its model is read back instead."""
    written = folder / "zero_shot.nc"
    if written.exists() and written.stat().st_mtime >= (folder / "model.eqx").stat().st_mtime:
        with xr.open_dataset(written) as ds:
            return _zero_shot_scores(ds)
    trained = trained_model(folder)
    frames = trained.config.frames
    with xr.open_dataset(folder / "predictions.nc") as stored:
        rows, splits = stored["sample"].values, stored["split"].values
    fine = solver_grid_rows(name, samples, rows, runs).assign_coords(split=("sample", splits))
    variables, coords = {}, {}
    for points in TRANSFER_POINTS:
        ds = fine.isel(x=slice(None, None, PROTOCOL["solver_points"] // points))
        prediction = trained.predict(ds)["prediction"].values
        reference = ds["u"].values[:, frames:]
        dim = f"x_{points}"
        coords[dim] = (dim, ds["x"].values, {"long_name": f"x on {points} points", "units": "1"})
        field = {"long_name": f"rollout of u on {points} points (zero-shot)", "units": "1"}
        variables[f"prediction_{points}"] = (("sample", "t", dim), prediction, field)
        variables[f"reference_{points}"] = (("sample", "t", dim), reference,
                                             {**field, "long_name": f"reference u on {points} points"})
    coords.update(sample=("sample", rows, {"long_name": "row of the data file", "units": "1"}),
                  split=("sample", splits, {"long_name": "seen or held-out parameter value"}),
                  t=("t", fine["t"].values[frames:], {"long_name": "time of the predicted frames", "units": "1"}))
    for parameter in FAMILIES[name].parameters:
        coords[parameter] = ("sample", fine[parameter].values, {"long_name": f"PDE parameter {parameter}",
                                                                 "units": "1"})
    ds = with_provenance(xr.Dataset(variables, coords=coords),
                         title=f"zero-shot resolution transfer of {folder.name}",
                         command=f"benchmarks/pdebench_cape.py wrote {folder / 'zero_shot.nc'}")
    check_cf_attributes(ds, what="zero-shot rollouts")
    write_dataset(ds, written)
    return _zero_shot_scores(ds)


def clipped_held_out(name: str, folder: Path) -> dict[str, float]:
    """A run trained without parameter clipping, in a family with held-out values outside the trained range (Burgers'
    nu = 0.001 and 4): its held-out rollouts again with the parameters clipped to the trained range
    (`Normalization.clipped_to`; the model is unchanged, as clipping leaves every trained value as it is), so that a
    value outside is read as the nearest trained one. Returns the held-out nRMSE (``held_out_nrmse_clipped``) and per
    held-out value (``held_out_nrmse_clipped_<parameter>=<value>``); writes the rollouts and their references to
    ``clipped.nc`` in the run's folder (a file newer than the model is read back). Empty for the other runs."""
    setting = FAMILIES[name]
    if not setting.held_out_outside:
        return {}
    written = folder / "clipped.nc"
    if not written.exists() or written.stat().st_mtime < (folder / "model.eqx").stat().st_mtime:
        trained = trained_model(folder)
        if trained.model.normalization.param_bounds is not None:
            return {}
        ranges = {**setting.parameters, setting.parameter: setting.trained}
        grid = np.asarray(list(itertools.product(*(ranges[p] for p in trained.config.parameters))))
        clipped = dataclasses.replace(trained.model, normalization=trained.model.normalization.clipped_to(grid))
        with xr.open_dataset(folder / "predictions.nc") as stored:
            held_out = stored.isel(sample=stored["split"].values == "held_out").load()
        prediction = trained.experiment.module.predict(clipped, trained.config, held_out)["prediction"]
        ds = held_out[["reference"]].assign(prediction=(held_out["reference"].dims, prediction.values, {
            "long_name": f"rollout of u, {setting.parameter} clipped to the trained range {min(setting.trained):g} "
                         f"to {max(setting.trained):g}", "units": held_out["prediction"].attrs.get("units", "1")}))
        ds = with_provenance(ds, title=f"held-out rollouts of {folder.name}, parameters clipped to the trained range",
                             command=f"benchmarks/pdebench_cape.py wrote {written}")
        check_cf_attributes(ds, what="clipped rollouts")
        write_dataset(ds, written)
    with xr.open_dataset(written) as ds:
        values = ds[setting.parameter].values
        scores = {"held_out_nrmse_clipped": metrics.nrmse(ds["prediction"].values, ds["reference"].values)}
        for value in setting.held_out:
            at = np.isclose(values, value)
            scores[f"held_out_nrmse_clipped_{setting.parameter}={value:g}"] = metrics.nrmse(
                ds["prediction"].values[at], ds["reference"].values[at])
    return scores


def _zero_shot_scores(ds: xr.Dataset) -> dict[str, float]:
    """nRMSE per split and resolution of a ``zero_shot.nc``."""
    splits = ds["split"].values
    return {f"{split}_nrmse_{points}": metrics.nrmse(ds[f"prediction_{points}"].values[splits == split],
                                                     ds[f"reference_{points}"].values[splits == split])
            for points in TRANSFER_POINTS for split in np.unique(splits)}


# The CAPE module's sizes (`--cape-module`), each set in full (an experiment's defaults may pick another): the
# study's defaults (`NeuralSolverConfig`'s); the paper's released 1D configuration (notes
# A2.2: W = 64, a Fourier layer of 16 modes on the 4x average-pooled grid, the update normalised over space); or that
# size without the normalisation (which fixes the update's size whatever the parameters: on diffusion-reaction the
# reaction's growth per step scales with rho); or, in its place, the update's RMS softly capped at the state's
# (`CAPEBlock.update_cap`: the size kept where the update is small against the state, as on diffusion-reaction,
# bounded where it is not); or, unnormalised, with gains affine in the parameters (`CAPEBlock` gains="affine", as the
# families' equations are), trained jointly or on its auxiliary loss alone (`CAPEConditioned` detach_guess: the base
# reads its guess with the gradient stopped). Each but the study's is named in the table's labels as given here.
_STUDY_MODULE = {name: getattr(NeuralSolverConfig, name) for name in (
    "cape_width", "cape_modes", "cape_pool", "cape_normalize", "cape_update_cap", "cape_gains", "cape_detach")}
_PAPER_MODULE = {**_STUDY_MODULE, "cape_width": 64, "cape_modes": 16, "cape_pool": 4, "cape_normalize": True}
_UNNORMALISED = {**_PAPER_MODULE, "cape_normalize": False}
CAPE_MODULES = {"study": _STUDY_MODULE, "paper": _PAPER_MODULE, "paper-unnormalised": _UNNORMALISED,
                "paper-capped": {**_UNNORMALISED, "cape_update_cap": 1.0},
                "paper-affine": {**_UNNORMALISED, "cape_gains": "affine"},
                "paper-affine-detached": {**_UNNORMALISED, "cape_gains": "affine", "cape_detach": True}}
CAPE_MODULE_LABELS = {"paper": "paper's CAPE module", "paper-unnormalised": "paper's CAPE module, not normalised",
                      "paper-capped": "paper's CAPE module, update capped at the state's RMS",
                      "paper-affine": "paper's CAPE module, not normalised, affine gains",
                      "paper-affine-detached": "paper's CAPE module, not normalised, affine gains, trained on its "
                                               "auxiliary loss only"}
# The module whose parameter-matched channel model a module's CAPE rows are set against: without its normalisation
# (2 parameters fewer) the paper's module matches the same channel network (width 34), so its runs serve both; the
# detached module is the affine one trained otherwise.
MATCHED_CHANNELS = {"paper-unnormalised": "paper", "paper-capped": "paper", "paper-affine-detached": "paper-affine"}
# The training whose channel runs a CAPE training's rows are set against: a warm-up trains the CAPE module alone, so
# a model without one trains as without the warm-up, and those runs serve both.
MATCHED_TRAINING = {"one-step-warmup": "one-step"}

# The trainings (`--training`): the study's loss settings of each. Input noise is on the normalised fields (the
# study's default is CAPE's 1e-3). ``one-step-warmup`` is one-step after the paper's warm-up: the first of the 10
# epochs trains the CAPE module alone on its auxiliary loss (the paper: 3 of 100 epochs).
TRAININGS = {"one-step": {"horizon": 1, "curriculum": "teacher_forcing"},
             "one-step-warmup": {"horizon": 1, "curriculum": "teacher_forcing", "warmup_epochs": 1},
             "one-step-noise": {"horizon": 1, "curriculum": "teacher_forcing", "input_noise": 1e-2},
             "curriculum": {"horizon": 5, "curriculum": "tanh"},
             "pushforward": {"horizon": 5, "curriculum": "tanh", "pushforward": True, "input_noise": 1e-2}}


def overrides(name: str, conditioning: str, seed: int, steps: int, training: str = "one-step",
              frames: int = PROTOCOL["frames"], base: str = "fno", cape_weight: float | None = None,
              parameter_scale: str | None = None, gradient_penalty: float = 0.0, clip: bool = True,
              cape_module: str = "study") -> dict:
    """The study's settings of the protocol (module docstring) for one run; `cape_weight` (CAPE runs only) sets the
    auxiliary loss's weight (None: the study's, 1, whatever the experiment's), `parameter_scale` how the parameters
    are standardised (None: the experiment's), `gradient_penalty` the weight of CAPE's gradient penalty (0: off),
    `clip` False turns off the experiment's clipping of the parameters to the trained range and `cape_module` picks
    the CAPE module's size (`CAPE_MODULES`, set in full; the other conditionings take it too, as their widening
    matches the CAPE model's parameter count)."""
    setting = FAMILIES[name]
    if cape_weight is None and conditioning in CAPE_CONDITIONINGS:
        cape_weight = NeuralSolverConfig.cape_weight
    chosen = {"cape_weight": cape_weight if conditioning in CAPE_CONDITIONINGS else None,
              "parameter_scale": parameter_scale, "gradient_penalty": gradient_penalty or None,
              "parameter_clip": None if clip else "none"}
    return {**{k: v for k, v in chosen.items() if v is not None}, **CAPE_MODULES[cape_module], "base": base,
            "conditioning": conditioning,
            "train.seed": seed, "frames": frames, **TRAININGS[training], "spatial_stride": 1, **BASE_SIZES[base],
            "modes": PROTOCOL["modes"], "batch_size": PROTOCOL["batch"], "train.steps": steps,
            "train.chunk": min(500, steps), "epochs": 10, "train.learning_rate": PROTOCOL["learning_rate"],
            "train.weight_decay": PROTOCOL["weight_decay"], "train.schedule": "exponential",
            "train.decay_steps": steps // PROTOCOL["halvings"], "train.decay_rate": 0.5,
            "held_out_parameter": setting.parameter, "held_out_values": setting.held_out, "excluded_values": (),
            "parameters": tuple(setting.parameters), "max_eval_samples": 64}


def run(name: str, conditioning: str, seed: int, samples: int, steps: int, runs: Path = RUNS,
        training: str = "one-step", frames: int = PROTOCOL["frames"], base: str = "fno",
        cape_weight: float | None = None, parameter_scale: str | None = None, gradient_penalty: float = 0.0,
        clip: bool = True, cape_module: str = "study") -> dict:
    """Train and score one model (or read back its finished folder); returns its record (``cape_weight``: the CAPE
    auxiliary weight the run trained with, None for the other conditionings; ``parameter_scale``: the study's;
    ``gradient_penalty``: its weight, 0 when off; ``parameter_clip``: the study's clipping, None when not clipped;
    ``cape_module``: the CAPE module's size (`CAPE_MODULES`; a channel model's is that of the module it is matched
    to, `MATCHED_CHANNELS`); ``read_back``: the folder held the trained model
    already, so the record's date and load are not the training's)."""
    if conditioning not in CAPE_CONDITIONINGS:  # the channel network and training of another run: it serves both
        cape_module = MATCHED_CHANNELS.get(cape_module, cape_module)
        training = MATCHED_TRAINING.get(training, training)
    bench = Benchmark(f"pdebench_cape {name} {base} {conditioning} seed {seed}", timed=False)
    bench.declare_threads(sciml=xla_cpu_threads())
    suffix = "" if frames == PROTOCOL["frames"] else f"-f{frames}"
    prefix = "" if base == "fno" else f"{base}-"
    if cape_weight is not None and conditioning in CAPE_CONDITIONINGS:
        suffix += f"-w{cape_weight:g}"
    if parameter_scale is not None:
        suffix += f"-{parameter_scale}"
    if gradient_penalty:
        suffix += f"-gp{gradient_penalty:g}"
    if not clip:
        suffix += "-noclip"
    if cape_module != "study":
        suffix += f"-{cape_module}-module"
    folder = runs / f"{name}-{prefix}{conditioning}-{training}-{samples}-{steps}{suffix}-s{seed}"
    read_back = (folder / "model.eqx").exists()
    summary = trained_run(FAMILIES[name].experiment,
                          overrides(name, conditioning, seed, steps, training, frames, base, cape_weight,
                                    parameter_scale, gradient_penalty, clip, cape_module),
                          folder, data=FieldData.of(str(data_file(name, samples, runs))))
    transfer = zero_shot(name, samples, folder, runs)
    bench.sample("after the run")
    summary["metrics"].update(reference_point_errors(name, folder / "predictions.nc"))
    summary["metrics"].update(clipped_held_out(name, folder))
    config = summary["config"]
    weight = config["cape_weight"] if conditioning in CAPE_CONDITIONINGS else None
    return {"family": name, "base": base, "conditioning": conditioning, "cape_weight": weight,
            "parameter_scale": effective_scale(config["parameter_scale"]), "parameter_clip": config["parameter_clip"],
            "gradient_penalty": config["gradient_penalty"], "cape_module": cape_module, "training": training,
            "seed": seed, "samples": samples, "steps": steps, "frames": frames,
            "metrics": summary["metrics"], "zero_shot": transfer, "wall_time_s": summary["wall_time_s"],
            "predictions": summary["predictions"],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": bench.record(), "read_back": read_back}


def reference_point_errors(name: str, predictions: Path) -> dict[str, float]:
    """A family with `reference_at`: the held-out nRMSE at each held-out value and those other parameter values,
    from the run's predictions.nc (keys `FamilySetting.reference_key`); none for the others."""
    setting = FAMILIES[name]
    if not setting.reference_at:
        return {}
    with xr.open_dataset(predictions) as ds:
        rows = ds["split"].values == "held_out"
        for parameter, value in setting.reference_at:
            rows &= np.isclose(ds[parameter].values, value)
        errors = {}
        for value in setting.held_out:
            at = rows & np.isclose(ds[setting.parameter].values, value)
            errors[setting.reference_key(value)] = metrics.nrmse(ds["prediction"].values[at],
                                                                 ds["reference"].values[at])
    return errors


def effective_scale(parameter_scale: str) -> str:
    """The study's parameter scale as it acts on these families (every parameter positive: "auto" is "log")."""
    return "log" if parameter_scale == "auto" else parameter_scale


def per_parameter_fno(name: str, value: float) -> float | None:
    """Mean nRMSE over seeds of the per-parameter FNO at `value` (and the family's `reference_at`;
    `pdebench_fno.py`, one-step training, PDEBench's initial states; the largest budget run), or None when it has not
    been run."""
    if not PER_PARAMETER.exists():
        return None
    point = FAMILIES[name].reference_point(value)
    runs = [r for r in json.loads(PER_PARAMETER.read_text())["runs"]
            if r.get("model", "fno") == "fno" and parse_case(record_case(r)) == (name, point)
            and r.get("training") == "one-step" and r.get("initial_distribution") == "pdebench"]
    if not runs:
        return None
    budget = max((r["samples"], r["epochs"]) for r in runs)
    return float(np.mean([r["nrmse"] for r in runs if (r["samples"], r["epochs"]) == budget]))


def ratio_verdict(pairs: list[tuple[float, float]], target: float = 0.8) -> tuple[list[float], bool, str]:
    """CAPE's held-out nRMSE over the parameter-channel baseline's, seed by seed, from (CAPE, baseline) pairs;
    whether the issue's criterion is met (the median of those ratios <= `target` over at least 3 seeds, and no result
    where in some seed a rollout is no better than predicting zero, nRMSE >= 1: both, the ratio would compare diverged
    rollouts; the baseline's, a win over a diverged baseline is no win); and the verdict in words."""
    per_seed = [ours / theirs for ours, theirs in pairs]
    if len(per_seed) < 3:
        return per_seed, False, f"{len(per_seed)} seed(s): the target needs 3"
    if max(min(pair) for pair in pairs) >= 1.0:
        return per_seed, False, ("no result: in some seed both held-out errors exceed 1, worse than predicting zero, "
                                 "so the ratio compares diverged rollouts")
    diverged = [seed for seed, (_, theirs) in enumerate(pairs) if theirs >= 1.0]
    if diverged:
        return per_seed, False, (f"no result: the baseline's held-out error exceeds 1, worse than predicting zero, in "
                                 f"{len(diverged)} of {len(pairs)} seeds; a ratio over a diverged baseline is no win")
    met = bool(np.median(per_seed) <= target)
    return per_seed, met, f"target <= {target:g}: {'met' if met else 'not met'}"


def _stats(values: list[float]) -> str:
    v = np.asarray(values)
    return f"{v.mean():.3g} ± {v.std():.2g} (median {np.median(v):.3g}; {', '.join(f'{x:.3g}' for x in v)})"


def _transfer(group: list[dict], split: str) -> str:
    """Mean over the seeds of the zero-shot nRMSE at 512 and 1024 points ('-' where a run predates it)."""
    if not all("zero_shot" in r for r in group):
        return "-"
    return " / ".join(f"{np.mean([r['zero_shot'][f'{split}_nrmse_{p}'] for r in group]):.3g}"
                      for p in TRANSFER_POINTS)


SETUP_HEADER = "training, trajectories per value, steps, input frames, parameter scale, clipping"
"""The table's column of `_setup_label`."""


def _model_label(base: str, conditioning: str, cape_weight: float, gradient_penalty: float = 0.0,
                 cape_module: str = "study") -> str:
    """The table's name of a model; a CAPE model's names its auxiliary weight, a penalised one the penalty's, and
    one of another CAPE module size than the study's that size (the other conditionings: matched to it)."""
    cape = conditioning in CAPE_CONDITIONINGS
    weights = [f"aux. weight {cape_weight:g}"] if cape else []
    weights += [f"gradient penalty {gradient_penalty:g}"] if gradient_penalty else []
    if cape_module != "study":
        label = CAPE_MODULE_LABELS[cape_module]
        weights += [label if cape else f"matched to the {label}"]
    return f"{BASES[base]}{CONDITIONINGS[conditioning]}" + (f" ({', '.join(weights)})" if weights else "")


def _setup_label(training: str, samples: int, steps: int, frames: int, parameter_scale: str,
                 parameter_clip: float | None) -> str:
    clip = "not clipped" if parameter_clip is None else "clipped" if parameter_clip == 0 else f"clip {parameter_clip:g}"
    return f"{training}, {samples}, {steps}, {frames}, {parameter_scale}, {clip}"


MODEL_KEYS = 5
"""A `_groups` key's first fields name the model (`_model_label`), the rest its setup (`_setup_label`)."""


def _groups(runs: list[dict]) -> dict[tuple, list[dict]]:
    """The runs by model, ``(base, conditioning, cape weight, gradient penalty, CAPE module)`` (`MODEL_KEYS`), and
    setup, ``(training, samples, steps, frames, parameter scale, parameter clip)``: one table row each, its runs
    sorted by seed."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["base"], r["conditioning"], r["cape_weight"] or 0.0, r["gradient_penalty"],
                           r["cape_module"], r["training"], r["samples"], r["steps"], r["frames"], r["parameter_scale"],
                           r["parameter_clip"]), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: r["seed"])
    return groups


def _sorted(groups: dict[tuple, list[dict]]) -> list[tuple[tuple, list[dict]]]:
    """The items of `_groups` in the order of their keys, an unclipped run's clipping (None) first."""
    return sorted(groups.items(), key=lambda item: tuple(-1.0 if v is None else v for v in item[0]))


def _baseline_label(channel_key: tuple, setup: list) -> str:
    """The name of a parameter-channel baseline group, with its setup where it differs from the CAPE group's."""
    label = _model_label(*channel_key[:MODEL_KEYS])
    if list(channel_key[MODEL_KEYS:]) == list(setup):
        return label
    return f"{label} ({_setup_label(*channel_key[MODEL_KEYS:])})"


def _channel_baselines(setting: FamilySetting, groups: dict[tuple, list[dict]], key: tuple) -> list[tuple]:
    """The parameter-channel groups a CAPE group `key` is compared with: trained alike (same penalty and clipping)
    and, where that differs, the plain one (no penalty, the experiment's clipping), each matched to the same CAPE
    module's parameter count and where it ran."""
    base, _, _, penalty, module, training, *setup, clip = key
    module, training = MATCHED_CHANNELS.get(module, module), MATCHED_TRAINING.get(training, training)
    setup = [training, *setup]
    alike = (base, "channels", 0.0, penalty, module, *setup, clip)
    plain = (base, "channels", 0.0, 0.0, module, *setup, setting.parameter_clip)
    return [k for k in dict.fromkeys([alike, plain]) if k in groups]


def _over_channels(setting: FamilySetting, groups: dict[tuple, list[dict]], key: tuple,
                   metric: str) -> list[tuple[str, str]]:
    """CAPE group `key` over each of its parameter-channel baselines (`_channel_baselines`) on `metric`, seed by
    seed: (the baseline's name, "ratio per seed; median m (verdict)") for each baseline sharing a seed with it."""
    compared = []
    for channel_key in _channel_baselines(setting, groups, key):
        channels = {r["seed"]: r for r in groups[channel_key]}
        pairs = [(r["metrics"][metric], channels[r["seed"]]["metrics"][metric])
                 for r in groups[key] if r["seed"] in channels]
        if pairs:
            per_seed, _, verdict = ratio_verdict(pairs)
            ratios = ", ".join(f"{x:.3g}" for x in per_seed)
            compared.append((_baseline_label(channel_key, list(key[MODEL_KEYS:])),
                             f"{ratios}; median {np.median(per_seed):.3g} ({verdict})"))
    return compared


def markdown(payload: dict) -> str:
    """Per family: each conditioning's seen and held-out nRMSE (mean ± std, median, per seed) and per held-out value,
    beside the per-parameter FNO at that value; then CAPE over the parameter-channel FNO, seed by seed."""
    lines = ["# CAPE on PDEBench's baseline protocol: held-out parameters against per-parameter FNOs", "",
             "Generated by `benchmarks/pdebench_cape.py` (its docstring gives the protocol). One model across the "
             "training values of CAPE's 1D configurations (diffusion-reaction: PDEBench's grid), scored by the nRMSE "
             "of the full autoregressive rollout "
             "from the first input frames (10, PDEBench's; or 1, CAPE's own setting) to the last frame on the held-out "
             "values; 'per-parameter FNO' is `benchmarks/pdebench_fno.py`'s "
             "model trained on that value alone (one-step training, mean over its seeds; '-': not run), and 'x' our "
             "held-out nRMSE over it (target <= 3 for FNO + CAPE; diffusion-reaction: both at nu = 0.5, the other "
             "parameter of the per-parameter model, our error recomputed from predictions.nc; '-' for runs whose "
             "folder went before it was recorded); 'zero-shot': the model trained at 256 points rolled "
             "out on the same trajectories at 512 and 1024 points (mean over seeds). Each run's folder "
             "(`runs/pdebench_cape/`) holds its predictions.nc and the zero-shot rollouts (zero_shot.nc). PDEBench's "
             "published per-parameter FNO is in the last column where it exists.", ""]
    for name, setting in FAMILIES.items():
        runs = [r for r in payload["runs"] if r["family"] == name]
        if not runs:
            continue
        others = "".join(f" at every {p} in {list(v)}" for p, v in setting.other_parameters)
        lines += [f"## {name}: trained on {setting.parameter} in "
                  f"{setting.trained}, held out {list(setting.held_out)}"
                  + others,
                  "", "| model | seeds | " + SETUP_HEADER + " | "
                  "nRMSE seen | nRMSE held-out | zero-shot 512 / 1024, seen | zero-shot 512 / 1024, held-out | "
                  "train time (min) |",
                  "|---|---|---|---|---|---|---|---|"]
        groups = _groups(runs)
        for key, group in _sorted(groups):
            model, setup = key[:MODEL_KEYS], key[MODEL_KEYS:]
            lines.append(f"| {_model_label(*model)} | {len(group)} | "
                         f"{_setup_label(*setup)} | "
                         f"{_stats([r['metrics']['seen_nrmse'] for r in group])} | "
                         f"{_stats([r['metrics']['held_out_nrmse'] for r in group])} | "
                         f"{_transfer(group, 'seen')} | {_transfer(group, 'held_out')} | "
                         f"{np.mean([r['metrics']['train_time_s'] for r in group]) / 60:.1f} |")
        lines += ["", "Per held-out value:", "",
                  "| model | " + SETUP_HEADER + " | " + " | ".join(
                      f"{setting.parameter}={v:g}" for v in setting.held_out) + " |",
                  "|---|---|" + "---|" * len(setting.held_out)]
        for key, group in _sorted(groups):
            model, setup = key[:MODEL_KEYS], key[MODEL_KEYS:]
            cells = [_stats([r["metrics"][f"held_out_nrmse_{setting.parameter}={v:g}"] for r in group])
                     for v in setting.held_out]
            lines.append(f"| {_model_label(*model)} | {_setup_label(*setup)} | "
                         + " | ".join(cells) + " |")
        reference = [per_parameter_fno(name, v) for v in setting.held_out]
        where = "".join(f", {name} = {value:g}" for name, value in setting.reference_at)
        lines.append(f"| per-parameter FNO{where} | | "
                     + " | ".join("-" if x is None else f"{x:.3g}" for x in reference) + " |")
        published = [PUBLISHED.get(f"{name}:{setting.parameter}={v:g}", (float("nan"),))[0] for v in setting.held_out]
        lines.append("| PDEBench FNO (v7) | | " + " | ".join("-" if np.isnan(x) else f"{x:.2g}" for x in published)
                     + " |")
        notes = []
        for key, group in _sorted(groups):
            model, setup = _model_label(*key[:MODEL_KEYS]), key[MODEL_KEYS:]
            if key[1] not in CAPE_CONDITIONINGS:
                continue
            ratios = [np.mean([r["metrics"][setting.reference_key(v)] for r in group]) / x
                      if x and all(setting.reference_key(v) in r["metrics"] for r in group) else None
                      for v, x in zip(setting.held_out, reference, strict=True)]
            lines.append(f"| x ({model} / per-parameter FNO{where}) | {_setup_label(*setup)} | " + " | ".join(
                "-" if x is None else f"{x:.2g} ({'yes' if x <= 3 else 'no'})" for x in ratios) + " |")
            for baseline, ratios in _over_channels(setting, groups, key, "held_out_nrmse"):
                notes += ["", f"{model} over {baseline}, held-out nRMSE seed by seed ({_setup_label(*setup)}): "
                          f"{ratios}."]
        lines += notes + _clipped_section(setting, groups)
        lines.append("")
    return "\n".join(lines)


def _clipped_section(setting: FamilySetting, groups: dict[tuple, list[dict]]) -> list[str]:
    """The held-out nRMSE of the runs read again with the parameters clipped to the trained range
    (`clipped_held_out`), overall and at the held-out values outside that range, and CAPE over the parameter
    channels on those; none where no run has them."""
    key = "held_out_nrmse_clipped"
    clipped = {k: g for k, g in groups.items() if all(key in r["metrics"] for r in g)}
    if not clipped:
        return []
    outside = setting.held_out_outside
    lines = ["", f"Read again with {setting.parameter} clipped to the trained range [{min(setting.trained):g}, "
             f"{max(setting.trained):g}] (the same models, each run's clipped.nc; the held-out values inside the range "
             "are unchanged):", "",
             "| model | " + SETUP_HEADER + " | nRMSE held-out | "
             "nRMSE held-out, clipped | " + " | ".join(f"{setting.parameter}={v:g}, clipped" for v in outside) + " |",
             "|---|---|---|---|" + "---|" * len(outside)]
    for group_key, group in _sorted(clipped):
        model, setup = group_key[:MODEL_KEYS], group_key[MODEL_KEYS:]
        cells = [_stats([r["metrics"][f"{key}_{setting.parameter}={v:g}"] for r in group]) for v in outside]
        lines.append(f"| {_model_label(*model)} | {_setup_label(*setup)} | "
                     f"{_stats([r['metrics']['held_out_nrmse'] for r in group])} | "
                     f"{_stats([r['metrics'][key] for r in group])} | " + " | ".join(cells) + " |")
    for group_key, _ in _sorted(clipped):
        model, setup = group_key[:MODEL_KEYS], group_key[MODEL_KEYS:]
        if group_key[1] not in CAPE_CONDITIONINGS:
            continue
        for baseline, ratios in _over_channels(setting, clipped, group_key, key):
            lines += ["", f"Clipped: {_model_label(*model)} over {baseline}, seed by "
                      f"seed ({_setup_label(*setup)}): {ratios}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--bases", nargs="+", default=["fno"], choices=list(BASES),
                        help="base networks, each at its per-parameter size in pdebench_fno.py's protocol")
    parser.add_argument("--conditionings", nargs="+", default=list(CONDITIONINGS), choices=list(CONDITIONINGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=240, help="trajectories per parameter value")
    parser.add_argument("--steps", type=int, default=15000, help="optimizer steps (a multiple of 500)")
    parser.add_argument("--training", choices=tuple(TRAININGS), default="one-step",
                        help="teacher-forced single steps, or CAPE's tanh curriculum over 5-step windows (each "
                        "also with input noise 1e-2; the curriculum then with pushforward)")
    parser.add_argument("--frames", type=int, default=PROTOCOL["frames"],
                        help="input frames (PDEBench's 10; CAPE's own configurations read 1)")
    parser.add_argument("--cape-weight", type=float, default=None,
                        help="weight of CAPE's auxiliary loss (default: the study's, 1); CAPE's 1D "
                        "configurations use 5.7e-5")
    parser.add_argument("--parameter-scale", choices=("log", "linear"), default=None,
                        help="how the parameters are standardised (default: the experiment's; CAPE's 1D "
                        "configurations feed them raw, i.e. linear)")
    parser.add_argument("--gradient-penalty", type=float, default=0.0,
                        help="weight of CAPE's gradient penalty on the parameter input (0: off; CAPE's 1D "
                        "configurations use 5.16e-4)")
    parser.add_argument("--no-clip", action="store_true",
                        help="do not clip the parameters to the trained range (advection's experiment clips)")
    parser.add_argument("--cape-module", choices=tuple(CAPE_MODULES), default="study",
                        help="the CAPE module's size: the study's (width 32, 8 modes, no pooling or normalisation), "
                        "the paper's (width 64, 16 modes on a 4x pooled grid, normalised update) or the paper's "
                        "without the normalisation; the other conditionings are widened to the CAPE model's "
                        "parameter count either way")
    parser.add_argument("--table", action="store_true", help="only rewrite the table from the JSON")
    args = parser.parse_args()
    if args.table:
        render_table(RESULTS, TABLE, markdown)
        return
    bench = Benchmark("pdebench_cape", timed=False)  # accuracy; the wall times are noted with the load
    bench.declare_threads(sciml=xla_cpu_threads())
    for seed in args.seeds:
        for name, base, conditioning in itertools.product(args.families, args.bases, args.conditionings):
            try:
                record = run(name, conditioning, seed, args.samples, args.steps, training=args.training,
                             frames=args.frames, base=base, cape_weight=args.cape_weight,
                             parameter_scale=args.parameter_scale, gradient_penalty=args.gradient_penalty,
                             clip=not args.no_clip, cape_module=args.cape_module)
            except RunFolderError as error:  # a parallel invocation trains it and merges its record
                print(f"skipped: {error}", flush=True)
                continue
            print(json.dumps({k: record[k] for k in ("family", "base", "conditioning", "seed", "wall_time_s")}
                             | {k: v for k, v in record["metrics"].items() if "nrmse" in k}), flush=True)
            with open(RESULTS.with_suffix(".lock"), "w") as lock:  # merge with parallel invocations' runs
                fcntl.flock(lock, fcntl.LOCK_EX)
                stored = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
                kept = {_key(r): r for r in stored}
                if record.pop("read_back") and _key(record) in kept:  # a finished run re-scored: keep when it trained
                    record.update({k: kept[_key(record)][k] for k in ("date", "load")})
                kept[_key(record)] = record
                payload = {"benchmark": "pdebench_cape", "protocol": PROTOCOL, "versions": package_versions(),
                           "runs": list(kept.values())}
                bench.write(RESULTS, payload, TABLE, markdown(payload))


def _key(record: dict) -> tuple:
    return (record["family"], record["base"], record["conditioning"], record["cape_weight"],
            record["gradient_penalty"], record["cape_module"], record["training"], record["seed"], record["samples"],
            record["steps"], record["frames"], record["parameter_scale"], record["parameter_clip"])


if __name__ == "__main__":
    main()
