"""sciml: a JAX workbench for scientific-ML surrogates of PDEs and climate parametrizations."""

import os as _os
import warnings as _warnings
from pathlib import Path as _Path

import jax as _jax

from sciml._errors import ConfigError, DataError

__version__ = "0.1.0"


def _one_cpu_device_per_core() -> None:
    """Ask XLA's CPU backend, before it starts, for one device per core (``SCIML_CPU_DEVICES`` overrides the count; 1
    turns this off), unless `XLA_FLAGS` already names a device count or runs XLA on one thread. Code placed on one
    device runs as before (XLA's threads span every core); PINN residuals split their points over the devices
    (`sciml.pde._blocked.point_split`), which runs their elementwise derivative arithmetic on every core."""
    flags = _os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or "intra_op_parallelism_threads=1" in flags:
        return
    try:
        cores = len(_os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = _os.cpu_count() or 1
    requested = _os.environ.get("SCIML_CPU_DEVICES", "").strip()
    valid = requested.isdigit() and int(requested) > 0
    if requested and not valid:  # a warning, not an error: importing sciml must not fail over a speed setting
        _warnings.warn(f"SCIML_CPU_DEVICES: expected a positive number of CPU devices, got {requested!r}; using one "
                       f"device per core ({cores}). Set a number (1 for a single device) or unset it.", stacklevel=2)
    count = int(requested) if valid else cores
    if count > 1:
        _os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


# The XLA flags as the environment gave them, before sciml added its device count (None: unset); processes this one
# starts for a multi-process run get these (`sciml.train.run_local_processes`).
_XLA_FLAGS_GIVEN = _os.environ.get("XLA_FLAGS")
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
