"""sciml: a JAX workbench for scientific-ML surrogates of PDEs and climate parametrizations."""

import os as _os
from pathlib import Path as _Path

import jax as _jax

from sciml._cpu_devices import one_cpu_device_per_core as _one_cpu_device_per_core
from sciml._errors import ConfigError, DataError

__version__ = "0.1.0"

_one_cpu_device_per_core()


def set_precision(precision: str) -> None:
    """Choose the default float width of this process: ``"float32"`` (default) or ``"float64"``."""
    if precision not in ("float32", "float64"):
        raise ConfigError(f"precision must be 'float32' or 'float64', got {precision!r}")
    _jax.config.update("jax_enable_x64", precision == "float64")


def enable_compilation_cache(path: str | _os.PathLike | None = None) -> _Path:
    """Keep compiled XLA programs on disk so that a rerun (another seed, a resumed job) skips compilation.

    The folder is `path`, else ``$SCIML_COMPILATION_CACHE``, else ``~/.cache/sciml/jax``; programs that took under
    a second to compile are not stored. Returns the folder.
    """
    folder = _Path(path or _os.environ.get("SCIML_COMPILATION_CACHE") or _Path.home() / ".cache" / "sciml" / "jax")
    folder.mkdir(parents=True, exist_ok=True)
    _jax.config.update("jax_compilation_cache_dir", str(folder))
    _jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return folder


def load(run_dir: str | _os.PathLike):
    """A finished run folder back as its trained model, config and `predict` (see `sciml.studies.load`)."""
    from sciml.studies import load as load_run

    return load_run(run_dir)


__all__ = ["ConfigError", "DataError", "enable_compilation_cache", "load", "set_precision"]
