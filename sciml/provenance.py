"""Provenance of a run: package versions, the device it ran on, the git commit of the code.

A leaf module (it imports nothing of sciml), so that the engine, the study layer and the benchmarks can all record it.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

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


def device_description() -> dict[str, Any]:
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


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the git checkout holding `path` (default: this package), with ``+dirty`` when it has
    uncommitted changes; None outside a checkout or without git."""
    folder = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit
