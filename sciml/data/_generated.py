"""Generated datasets: discovery of `datasets/<name>/generate.py` and a cache under `datasets/generated/`.

A generator file defines

    NAME = "lorenz96"
    DESCRIPTION = "two-scale Lorenz-96: slow states and subgrid tendencies"
    VERSION = 2   # optional (default 1): raise it when the generated data change, so that caches are made again
    def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path: ...   # returns the main file/store

and its folder holds the dataset card (README.md). The numerical work lives in the library (e.g. `sciml.solvers`);
`generate` passes its dataset through `describe_generated` (CF attributes and provenance) before writing it.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import importlib.util
import os
import sys
import types
from collections.abc import Mapping
from pathlib import Path

import xarray as xr

from sciml._errors import ConfigError
from sciml.data._cf import CF_CONVENTIONS, check_cf_attributes, with_cf_attributes, with_provenance
from sciml.data._io import open_dataset

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
    """Run the generator of `name` into `out_dir` (default `datasets/generated/<name>[-small]`); return its path.

    A finished run marks the folder complete (``.complete`` names the file), so `ensure_dataset` reuses it."""
    out_dir = Path(out_dir) if out_dir is not None else GENERATED_DIR / (f"{name}-small" if small else name)
    with _generation_lock(out_dir):
        return _generate(name, out_dir, small=small, seed=seed)


def _generate(name: str, out_dir: Path, *, small: bool, seed: int) -> Path:
    module = load_generator(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".complete").unlink(missing_ok=True)  # what follows overwrites it: no longer a finished dataset
    path = Path(module.generate(out_dir, small=small, seed=seed))
    (out_dir / ".version").write_text(str(generator_version(module)))
    (out_dir / ".complete").write_text(path.name)
    return path


@contextlib.contextmanager
def _generation_lock(out_dir: Path):
    """Hold the lock of the dataset folder `out_dir` (a ``.<folder>.lock`` file beside it): one process generates
    a dataset at a time, and the others wait for it (several runs of a sweep started together on one cache)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f".{out_dir.name}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"sciml: waiting for another process to finish generating {out_dir}", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def generator_version(module: types.ModuleType) -> int:
    """The generator's `VERSION` (1 where it defines none)."""
    return int(getattr(module, "VERSION", 1))


def _cached_version(out_dir: Path) -> int:
    """The generator version a cached folder was made with (1 for folders from before versions were recorded)."""
    recorded = out_dir / ".version"
    return int(recorded.read_text().strip()) if recorded.exists() else 1


def _predates_cf(path: Path) -> bool:
    """Whether the cached file `path` was written before generated datasets carried the CF attributes."""
    try:
        with open_dataset(path) as ds:
            return ds.attrs.get("Conventions") != CF_CONVENTIONS
    except (OSError, ValueError):  # missing or damaged: whoever reads it says so, with the fix
        return False


def ensure_dataset(name: str, *, small: bool = False, seed: int = 0) -> Path:
    """The cached dataset `name`, generated first if it is not there yet (or again if an older version of its
    generator, or an older sciml without the CF attributes, wrote it). Processes that need it at once wait for the one
    that generates it."""
    out_dir = GENERATED_DIR / (f"{name}-small" if small else name)
    cached = _usable_cache(name, out_dir, quiet=True)
    if cached is not None:
        return cached
    with _generation_lock(out_dir):
        cached = _usable_cache(name, out_dir, quiet=False)  # another process may have made it meanwhile
        return cached if cached is not None else _generate(name, out_dir, small=small, seed=seed)


def _usable_cache(name: str, out_dir: Path, *, quiet: bool) -> Path | None:
    """The finished dataset in `out_dir` if its generator's current version made it, else None (saying why, unless
    `quiet`)."""
    try:
        path = out_dir / (out_dir / ".complete").read_text().strip()
    except FileNotFoundError:  # never finished, or being generated again
        return None
    cached, current = _cached_version(out_dir), generator_version(load_generator(name))
    if cached != current:
        why = f"it was made by version {cached} of the {name} generator, which is now at version {current}"
    elif _predates_cf(path):
        why = f"it was written without the CF attributes of {CF_CONVENTIONS}"
    else:
        return path
    if not quiet:
        print(f"sciml: generating {path} again: {why}", file=sys.stderr)
    return None


def describe_generated(ds: xr.Dataset, name: str, description: str, *, small: bool, seed: int,
                       attrs: Mapping[str, Mapping[str, str]] | None = None) -> xr.Dataset:
    """`ds`, generated by the generator `name` (its `DESCRIPTION` as `description`), with CF attributes: per variable
    `attrs` over what it has and the shared vocabulary (see `sciml.data.with_cf_attributes`), and the global ones:
    title, history (the `sciml data generate` command), source, the generator's arguments in ``sciml_config``.
    Refuses (`ConfigError`) a variable or coordinate without units or long_name."""
    ds = with_cf_attributes(ds, attrs)
    check_cf_attributes(ds, what=f"generated dataset {name!r}")
    command = f"sciml data generate {name}{' --small' if small else ''} --seed {seed}"
    return with_provenance(ds, title=f"{name}: {description}", command=command,
                           config={"dataset": name, "small": small, "seed": seed})
