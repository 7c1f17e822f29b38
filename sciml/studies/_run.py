"""Experiments: discovery, the run folder and its output contract.

An experiment is a file in `experiments/` with one skeleton:

    NAME = "burgers-pinn"                  # the name `sciml run` takes
    FAMILY = "pinn"                        # the method family `sciml list` shows
    REPRODUCES = "Raissi et al. ..."       # the paper and result it reproduces ("-" for none)
    SMOKE = {"train.steps": 20, ...}       # overrides of a seconds-long run (the test suite runs every experiment so)
    @dataclasses.dataclass(frozen=True)
    class Config:                          # every knob, with defaults; training knobs in `train: TrainConfig`
        train: TrainConfig = TrainConfig(...)
        width: int = 20
        '''Hidden units per layer.'''       # each field's meaning (a string below it): `sciml show NAME`
    def main(config: Config, run: RunDir) -> dict: ...   # returns the summary's metrics

`run_experiment` resolves the config, takes the output folder (a lock: one process per folder; temporaries of killed
writes removed; a folder holding a run of other settings refused, or moved aside with ``fresh=True``), writes
`config.json`, calls `main`, and writes `summary.json` (metrics, wall time, device, precision, versions, git commit,
the full config and where the run resumed from). A rerun of a finished run returns at once with its folder. `main`
writes `predictions.nc` and `figures/*.png` through `RunDir`; `sciml.train.fit` (through `sciml.studies.train`) writes
`metrics.jsonl` and `checkpoints/` into it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import difflib
import fcntl
import hashlib
import importlib.util
import json
import math
import os
import shlex
import shutil
import sys
import time
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import equinox as eqx
import xarray as xr

from sciml._errors import ConfigError
from sciml.data import check_cf_attributes, check_finite, with_cf_attributes, with_provenance, write_dataset
from sciml.provenance import device_description, git_commit, package_versions
from sciml.studies._config import config_dict, jsonable, resolve_config
from sciml.train import barrier, is_main_process, matmul_precision

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"


def experiments_dir() -> Path:
    """Where experiments are found: ``$SCIML_EXPERIMENTS_DIR`` when set (a folder of your own), else `experiments/`."""
    return Path(os.environ.get("SCIML_EXPERIMENTS_DIR") or EXPERIMENTS_DIR)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (written aside, then renamed into place): a reader sees the old file or the
    new one, never half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(fig, path: Path, *, tight: bool = True, dpi: int = 120) -> Path:
    """Save a matplotlib figure as the PNG `path` at `dpi` (written aside, then renamed into place) and close it;
    `tight` crops it to what is drawn."""
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def _finite_or_null(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(v) for v in value]
    return value


def write_json(path: str | os.PathLike, payload) -> None:
    """Write `payload` (dataclasses, arrays and numpy scalars allowed) as indented JSON, atomically.

    NaN and infinities, which JSON cannot hold, are written as null.
    """
    text = json.dumps(_finite_or_null(jsonable(payload)), indent=2, sort_keys=False, allow_nan=False)
    write_text(path, text + "\n")


@dataclasses.dataclass(frozen=True)
class RunDir:
    """The output directory of one run, the files of its contract, and the run's resolved config (a JSON dict)."""

    path: Path
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    record: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    """What training reports for the summary (e.g. ``resumed_from``), filled in by `sciml.studies.train`."""
    experiment: str = ""
    """The experiment's name (for the history attribute of predictions.nc)."""
    title: str = ""
    """The title attribute of predictions.nc (default: the experiment's name, else the folder's)."""
    references: str = ""
    """What the run reproduces (the references attribute of predictions.nc; "" or "-" for none)."""

    def __post_init__(self):
        for sub in (self.path, self.figures, self.checkpoints):
            sub.mkdir(parents=True, exist_ok=True)

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files: process 0 of a multi-process run (the others compute the same
        results and write nothing), or the one process."""
        return is_main_process()

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions.nc"

    def write_predictions(self, ds: xr.Dataset) -> Path:
        """Write `predictions.nc`; it must hold `prediction` (and `reference` where known) on named coordinates, and
        every variable and coordinate a long_name and (holding numbers) units: the shared names get theirs from
        `sciml.data.CF_VOCABULARY`, the rest are the builder's to set (`sciml.data.with_cf_attributes`). The CF global
        attributes (Conventions, title, history, source, references, the config as ``sciml_config``) are added here.
        """
        if "prediction" not in ds:
            raise ConfigError(f"predictions need a variable 'prediction'; got variables {list(ds.data_vars)}")
        for name in ("prediction", "reference"):
            if name in ds:
                missing = [d for d in ds[name].dims if d not in ds.coords]
                if missing:
                    raise ConfigError(f"{name!r} has dims {missing} without coordinates; attach them so anyone can "
                                      "recompute metrics")
        check_finite(ds[["prediction"]], what="predictions")
        name = self.experiment or self.path.name
        ds = with_cf_attributes(ds)
        check_cf_attributes(ds, what=f"predictions of {name}")
        command = f"{name} wrote {self.predictions} (process: {shlex.join(sys.argv)})"
        ds = with_provenance(ds, title=self.title or f"{name}: predictions", command=command,
                             config=dict(self.config) or None,
                             references=self.references if self.references not in ("", "-") else None)
        return write_dataset(ds, self.predictions) if self.writes else self.predictions

    @property
    def model(self) -> Path:
        return self.path / "model.eqx"

    def save_model(self, model) -> Path:
        """Write the trained model (any pytree: a module, or a module with what `predict` needs) as `model.eqx`,
        atomically, with its SHA-256 beside it; `sciml.studies.load` reads it back."""
        if not self.writes:
            return self.model
        tmp = self.model.with_name(f".{self.model.name}.{os.getpid()}.tmp")
        eqx.tree_serialise_leaves(tmp, model)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, self.model)
        write_text(self.path / "model.sha256", digest + "\n")
        return self.model

    def save_figure(self, fig, name: str, *, tight: bool = True) -> Path:
        """Save a matplotlib figure as `figures/NAME.png` and close it; `tight` crops it to what is drawn (a second
        drawing pass that a figure with constrained layout does not need)."""
        import matplotlib.pyplot as plt

        out = self.figures / f"{name}.png"
        if not self.writes:
            plt.close(fig)
            return out
        return save_figure(fig, out, tight=tight)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A discovered experiment file."""

    name: str
    path: Path
    module: types.ModuleType

    @property
    def config_type(self) -> type:
        return self.module.Config

    @property
    def smoke(self) -> dict[str, Any]:
        """The overrides of the experiment's seconds-long smoke run."""
        return dict(self.module.SMOKE)

    @property
    def description(self) -> str:
        return (self.module.__doc__ or "").strip().splitlines()[0] if self.module.__doc__ else ""

    @property
    def family(self) -> str:
        """The method family (`FAMILY`: "pinn", "neural-solver", ...; "-" for a file that does not say)."""
        return getattr(self.module, "FAMILY", "-")

    @property
    def reproduces(self) -> str:
        """The paper and result the experiment reproduces (`REPRODUCES`; "-" for none)."""
        return getattr(self.module, "REPRODUCES", "-")


_LOADED: dict[Path, tuple[float, types.ModuleType]] = {}


def _load_module(path: Path) -> types.ModuleType:
    """Import an experiment file once (again only when it changed), so its `Config` class stays one class."""
    import matplotlib

    matplotlib.use("Agg")  # figures go to files; no window, whatever the environment's backend
    path = path.resolve()
    stamp = path.stat().st_mtime
    if path in _LOADED and _LOADED[path][0] == stamp:
        return _LOADED[path][1]
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    spec = importlib.util.spec_from_file_location(f"sciml_experiments.{path.stem}_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    _LOADED[path] = (stamp, module)
    return module


def _experiment_files(directory: Path) -> dict[str, Path]:
    """Map experiment names to files, reading `NAME = "..."` without importing the modules."""
    found = {}
    for path in sorted(directory.glob("*.py")):
        for line in path.read_text().splitlines():
            if line.startswith("NAME = "):
                found[line.split("=", 1)[1].strip().strip("\"'")] = path
                break
    return found


def list_experiments(directory: Path | None = None) -> list[str]:
    """Names of the experiments in `directory` (default: `experiments_dir()`)."""
    return sorted(_experiment_files(directory or experiments_dir()))


def load_experiment(name: str, directory: Path | None = None) -> Experiment:
    """Import the experiment called `name`; unknown names get the closest matches in the error."""
    files = _experiment_files(directory or experiments_dir())
    if name not in files:
        close = difflib.get_close_matches(name, files, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(
            f"unknown experiment {name!r}; expected one of: {', '.join(sorted(files))}.{hint} (`sciml list` shows "
            "them all)"
        )
    return Experiment(name, files[name], _load_module(files[name]))


def default_run_dir(name: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


class RunFolderError(ConfigError):
    """The output folder cannot be used: not writable, busy with another process, or holding another run."""


@contextlib.contextmanager
def _owned(path: Path) -> Iterator[None]:
    """Hold the run folder's lock (one process per folder) and remove temporaries that killed writes left; in a
    multi-process run, process 0 holds it for all."""
    if not is_main_process():
        yield
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = (path / ".lock").open("a+")
    except OSError as err:
        raise RunFolderError(f"cannot use {path} as the output folder: {err.strerror or err}; expected a folder you "
                             "can write to. Choose another --out.") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown"
            raise RunFolderError(f"{path} is in use by another sciml process ({holder}); wait for it to finish or "
                                 "choose another --out.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}")
        handle.flush()
        # Every hidden entry but the lock is a temporary of a write that a killed process left.
        for stale in [*path.glob(".*"), *(path / "checkpoints").glob(".tmp-*")]:
            if stale.name != ".lock":
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        yield


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _differences(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    found = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return found


def _with_new_fields(previous: Mapping, defaults: Mapping) -> dict:
    """`previous` (a stored config) with the fields it lacks at their `defaults`: fields added to the experiment's
    config since the run was made, which the run ran without, i.e. as the default does."""
    merged = dict(previous)
    for key, value in defaults.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(value, Mapping) and isinstance(merged[key], Mapping):
            merged[key] = _with_new_fields(merged[key], value)
    return merged


def _move_aside(path: Path) -> Path:
    """Move everything of the run in `path` (all but the lock) into a sibling folder; return it."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.parent / f"{path.name}.replaced-{stamp}"
    aside.mkdir()
    for entry in path.iterdir():
        if entry.name != ".lock":
            os.replace(entry, aside / entry.name)
    return aside


def _claim(path: Path, name: str, resolved: dict, fresh: bool, defaults: Mapping) -> bool:
    """Check what `path` holds before anything is written; True when it holds this very run, finished (a stored
    config lacking fields the config has gained since counts them at their `defaults`)."""
    contents = [p for p in path.iterdir() if p.name != ".lock" and not (p.is_dir() and not any(p.iterdir()))]
    previous = _read_json(path / "config.json")
    if previous is not None and previous.get("experiment") == name and isinstance(previous.get("config"), Mapping):
        previous = {**previous, "config": _with_new_fields(previous["config"], defaults)}
    if contents and previous is None and not fresh:
        raise RunFolderError(f"{path} is not empty and holds no sciml run; expected a new or empty folder, or one "
                             "of an earlier run. Choose another --out (or --fresh to move its contents aside).")
    same = previous == {"experiment": name, "config": resolved}
    if previous is not None and not same and not fresh:
        what = "; ".join(_differences(previous.get("config", {}), resolved))
        what = what or f"experiment {previous.get('experiment')!r}"
        raise RunFolderError(f"{path} holds a run of {previous.get('experiment')!r} with other settings ({what}). "
                             "Rerun with the same settings to continue it, use --fresh to move it aside and start "
                             "over, or choose another --out.")
    if fresh and contents:
        print(f"sciml: moved the earlier run of {path} to {_move_aside(path)}", file=sys.stderr)
        return False
    return same and _read_json(path / "summary.json") is not None


def run_experiment(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    *,
    fresh: bool = False,
    directory: Path | None = None,
    **values,
) -> Path:
    """Run experiment `name` with config overrides (dotted keys for sections); return its output directory.

    A folder holding this run unfinished resumes it; finished, it is returned as it is. ``fresh=True`` moves an
    earlier run aside (to ``OUT.replaced-TIMESTAMP``) and starts over.
    """
    experiment = load_experiment(name, directory)
    config = resolve_config(experiment.config_type, overrides, **values)
    resolved = config_dict(config)
    defaults = config_dict(resolve_config(experiment.config_type, {}))
    path = Path(out) if out is not None else default_run_dir(name)
    with _owned(path):
        # Process 0 claims and prepares the folder; the other processes of a multi-process run then read it.
        finished = _claim(path, name, resolved, fresh, defaults) if is_main_process() else None
        if finished is False:
            write_json(path / "config.json", {"experiment": name, "config": resolved})
        barrier("sciml-run-folder")
        if finished is None:
            finished = _claim(path, name, resolved, False, defaults)
        if finished:
            if is_main_process():
                print(f"sciml: {path} holds this run, finished; nothing to do (--fresh runs it again)",
                      file=sys.stderr)
            return path
        run = RunDir(path, resolved, experiment=name, title=f"{name}: {experiment.description}",
                     references=experiment.reproduces)
        start = time.perf_counter()
        metrics = experiment.module.main(config, run)
        summary = {
            "experiment": name,
            "metrics": metrics,
            "wall_time_s": time.perf_counter() - start,
            "seed": config.train.seed,
            "resumed_from": run.record.get("resumed_from"),
            "device": device_description(),
            "precision": run.record.get("precision") or {"matmul_precision": matmul_precision()},
            "versions": package_versions(),
            "git_commit": git_commit(),
            "config": resolved,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        if run.writes:
            write_json(run.path / "summary.json", summary)
    return path
