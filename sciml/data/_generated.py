"""Generated datasets: discovery of `datasets/<name>/generate.py` and a cache under `datasets/generated/`.

A generator file defines

    NAME = "lorenz96"
    DESCRIPTION = "two-scale Lorenz-96: slow states and subgrid tendencies"
    def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path: ...   # returns the main file/store

and its folder holds the dataset card (README.md). The numerical work lives in the library (e.g. `sciml.solvers`).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
import types
from pathlib import Path

from sciml._errors import ConfigError

DATASETS_DIR = Path(os.environ.get("SCIML_DATASETS_DIR", Path(__file__).resolve().parents[2] / "datasets"))
GENERATED_DIR = Path(os.environ.get("SCIML_DATA_CACHE", DATASETS_DIR / "generated"))


def _generators() -> dict[str, Path]:
    found = {}
    for path in sorted(DATASETS_DIR.glob("*/generate.py")):
        for line in path.read_text().splitlines():
            if line.startswith("NAME = "):
                found[line.split("=", 1)[1].strip().strip("\"'")] = path
                break
    return found


def list_generators() -> list[str]:
    """Names of the datasets that `sciml data generate` can make."""
    return sorted(_generators())


def load_generator(name: str) -> types.ModuleType:
    """Import the generator module of dataset `name`."""
    found = _generators()
    if name not in found:
        close = difflib.get_close_matches(name, found, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"unknown dataset {name!r}; expected one of: {', '.join(sorted(found)) or '(none)'}.{hint}")
    spec = importlib.util.spec_from_file_location(f"sciml_datasets.{name.replace('-', '_')}", found[name])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def generate_dataset(name: str, out_dir: str | Path | None = None, *, small: bool = False, seed: int = 0) -> Path:
    """Run the generator of `name` into `out_dir` (default `datasets/generated/<name>[-small]`); return its path."""
    module = load_generator(name)
    out_dir = Path(out_dir) if out_dir is not None else GENERATED_DIR / (f"{name}-small" if small else name)
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(module.generate(out_dir, small=small, seed=seed))


def ensure_dataset(name: str, *, small: bool = False, seed: int = 0) -> Path:
    """The cached dataset `name`, generated first if it is not there yet."""
    out_dir = GENERATED_DIR / (f"{name}-small" if small else name)
    done = out_dir / ".complete"
    if done.exists():
        return out_dir / done.read_text().strip()
    path = generate_dataset(name, out_dir, small=small, seed=seed)
    done.write_text(path.name)
    return path
