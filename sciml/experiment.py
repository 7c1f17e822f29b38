"""Experiments: discovery, typed config overrides, and the output-directory contract.

An experiment is a file in `experiments/` that defines

    NAME = "burgers-pinn"                  # the name `sciml run` takes
    @dataclasses.dataclass(frozen=True)
    class Config: ...                      # every knob, with defaults
    def main(config: Config, run: RunDir) -> dict: ...   # returns the summary's metrics

`run_experiment` resolves the config, makes the output directory, writes `config.json`, calls `main`, and writes
`summary.json` (metrics, wall time, device, versions, seed). `main` writes `predictions.nc` and `figures/*.png`
through `RunDir`; `sciml.train.fit` writes `metrics.jsonl` and `checkpoints/` into it.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import importlib.util
import json
import os
import platform
import sys
import time
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from sciml._errors import ConfigError
from sciml.data import check_finite, write_dataset

EXPERIMENTS_DIR = Path(os.environ.get("SCIML_EXPERIMENTS_DIR", Path(__file__).resolve().parents[1] / "experiments"))
_VERSIONED = ("sciml", "jax", "jaxlib", "equinox", "optax", "diffrax", "xarray", "numpy", "torch", "gpytorch")


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers (absent ones are skipped)."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def device_description() -> dict[str, typing.Any]:
    """The JAX backend and devices this process runs on, plus the host."""
    import jax

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
        "device_count": len(devices),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)) or type(value).__module__.startswith("jax"):
        array = np.asarray(value)
        return array.item() if array.ndim == 0 else array.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, payload) -> None:
    """Write `payload` (dataclasses, arrays and numpy scalars allowed) as indented JSON, atomically."""
    _atomic_write_text(Path(path), json.dumps(_jsonable(payload), indent=2, sort_keys=False) + "\n")


@dataclasses.dataclass(frozen=True)
class RunDir:
    """The output directory of one run and the files of its contract."""

    path: Path

    def __post_init__(self):
        for sub in (self.path, self.figures, self.checkpoints):
            sub.mkdir(parents=True, exist_ok=True)

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
        """Write `predictions.nc`; it must hold `prediction` (and `reference` where known) on named coordinates."""
        if "prediction" not in ds:
            raise ConfigError(f"predictions need a variable 'prediction'; got variables {list(ds.data_vars)}")
        for name in ("prediction", "reference"):
            if name in ds:
                missing = [d for d in ds[name].dims if d not in ds.coords]
                if missing:
                    raise ConfigError(f"{name!r} has dims {missing} without coordinates; attach them so anyone can recompute metrics")
        check_finite(ds[["prediction"]], what="predictions")
        return write_dataset(ds, self.predictions)

    def save_figure(self, fig, name: str) -> Path:
        """Save a matplotlib figure as `figures/NAME.png` and close it."""
        import matplotlib.pyplot as plt

        out = self.figures / f"{name}.png"
        tmp = out.with_name(f".{out.name}.tmp.png")
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, out)
        return out


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
    def description(self) -> str:
        return (self.module.__doc__ or "").strip().splitlines()[0] if self.module.__doc__ else ""


def _load_module(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"sciml_experiments.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
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


def list_experiments(directory: Path = EXPERIMENTS_DIR) -> list[str]:
    """Names of the experiments in `directory`."""
    return sorted(_experiment_files(directory))


def load_experiment(name: str, directory: Path = EXPERIMENTS_DIR) -> Experiment:
    """Import the experiment called `name`; unknown names get the closest matches in the error."""
    files = _experiment_files(directory)
    if name not in files:
        close = difflib.get_close_matches(name, files, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(
            f"unknown experiment {name!r}; expected one of: {', '.join(sorted(files))}.{hint} (`sciml list` shows them all)"
        )
    return Experiment(name, files[name], _load_module(files[name]))


def _parse_value(key: str, text: str, annotation, default):
    hint = typing.get_origin(annotation) or annotation
    try:
        if hint is bool or isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if hint is int or (isinstance(default, int) and not isinstance(default, bool)):
            return int(float(text)) if float(text).is_integer() else int(text)
        if hint is float or isinstance(default, float):
            return float(text)
        if hint in (tuple, list, Sequence) or isinstance(default, (tuple, list)):
            items = [item for item in text.strip("()[] ").split(",") if item.strip()]
            element = type(default[0]) if default else float
            return tuple(element(item.strip()) for item in items)
        if hint in (types.UnionType, typing.Union):
            choices = [a for a in typing.get_args(annotation) if a is not type(None)]
            if text.lower() == "none":
                return None
            return _parse_value(key, text, choices[0], None)
    except ValueError:
        expected = getattr(hint, "__name__", str(hint))
        raise ConfigError(f"--set {key}={text}: expected a value of type {expected}, got {text!r}") from None
    return text


def resolve_config(config_type: type, overrides: Mapping[str, str] | None = None, **values):
    """Build `config_type` from its defaults, `values` (typed) and `overrides` (strings from the command line).

    Unknown keys raise `ConfigError` listing the valid ones and the closest match.
    """
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    hints = typing.get_type_hints(config_type)
    merged = dict(values)
    for key, text in (overrides or {}).items():
        if key not in fields:
            continue
        default = fields[key].default if fields[key].default is not dataclasses.MISSING else None
        merged[key] = _parse_value(key, text, hints[key], default)
    unknown = [k for k in {**merged, **(overrides or {})} if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown config key {key!r} for {config_type.__qualname__}; valid keys: {', '.join(fields)}.{hint}"
        )
    try:
        return config_type(**merged)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid config for {config_type.__qualname__}: {err}") from err


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """Parse `key=value` strings from `--set`."""
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}; e.g. --set steps=2000")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def default_run_dir(name: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


def run_experiment(
    name: str,
    overrides: Mapping[str, str] | None = None,
    out: str | Path | None = None,
    *,
    directory: Path = EXPERIMENTS_DIR,
    **values,
) -> Path:
    """Run experiment `name` with config overrides; return its output directory (see module docstring)."""
    experiment = load_experiment(name, directory)
    config = resolve_config(experiment.config_type, overrides, **values)
    run = RunDir(Path(out) if out is not None else default_run_dir(name))
    write_json(run.path / "config.json", {"experiment": name, "config": config})
    start = time.perf_counter()
    metrics = experiment.module.main(config, run)
    summary = {
        "experiment": name,
        "metrics": metrics,
        "wall_time_s": time.perf_counter() - start,
        "seed": getattr(config, "seed", None),
        "device": device_description(),
        "versions": package_versions(),
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(run.path / "summary.json", summary)
    return run.path
