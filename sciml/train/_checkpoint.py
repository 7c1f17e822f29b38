"""Checkpoints: equinox leaf serialisation (no pickle) plus JSON metadata, written atomically, verified, rotated.

Each checkpoint folder holds `state.eqx`, `meta.json` and, written last, `checksums.json` (SHA-256 of both). A folder
whose files are missing, truncated or altered fails verification: `latest_checkpoint` passes over it (with a warning
that names it) to the newest good one. In a multi-process run every process calls `save_checkpoint` (arrays sharded
over processes are gathered), process 0 writes, and all wait until the folder is in place; all read it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import equinox as eqx

from sciml._errors import ConfigError
from sciml.train._distributed import barrier, host_local, is_main_process

FORMAT_VERSION = 2
_PREFIX = "step_"
_FILES = ("state.eqx", "meta.json")


class CheckpointWarning(UserWarning):
    """A checkpoint failed verification and was passed over."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _step_dir(directory: Path, step: int) -> Path:
    return directory / f"{_PREFIX}{step:09d}"


def save_checkpoint(directory: str | os.PathLike, step: int, state, meta: dict, *, keep: int | None = 3) -> Path:
    """Write `state` (any pytree) and `meta` under `directory/step_NNNNNNNNN/`, atomically; keep the newest `keep`.

    Every process of a multi-process run calls it; process 0 writes, the others wait for the folder."""
    directory = Path(directory)
    final = _step_dir(directory, step)
    state = host_local(state)
    if is_main_process():
        _write(directory, final, step, state, meta, keep)
    barrier(f"sciml-checkpoint-{step}")
    return final


def _write(directory: Path, final: Path, step: int, state, meta: dict, keep: int | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    eqx.tree_serialise_leaves(tmp / "state.eqx", state)
    (tmp / "meta.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "step": step, **meta}, indent=2))
    (tmp / "checksums.json").write_text(json.dumps({name: _sha256(tmp / name) for name in _FILES}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep is not None:
        for old in sorted(directory.glob(f"{_PREFIX}*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why the checkpoint folder `path` cannot be trusted (missing file, checksum mismatch, bad metadata), or None."""
    path = Path(path)
    try:
        expected = json.loads((path / "checksums.json").read_text())
        for name in _FILES:
            if _sha256(path / name) != expected.get(name):
                return f"{name} does not match its checksum (truncated or altered)"
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError as err:
        return f"{Path(err.filename).name} is missing (an interrupted write or a checkpoint of an older sciml)"
    except (OSError, ValueError) as err:
        return f"unreadable ({err})"
    if meta.get("format_version") != FORMAT_VERSION:
        return f"format_version {meta.get('format_version')}, this sciml reads {FORMAT_VERSION}"
    return None


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint under `directory` that passes verification, or None; bad newer ones are reported with a
    `CheckpointWarning` and passed over."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob(f"{_PREFIX}*"), reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        warnings.warn(f"checkpoint {path} is not usable: {problem}; falling back to an older one", CheckpointWarning,
                      stacklevel=2)
    return None


def load_checkpoint(path: str | os.PathLike, like):
    """Read a verified checkpoint written by `save_checkpoint`; `like` gives the pytree structure, shapes and dtypes.

    Returns:
        (state, meta)
    """
    path = Path(path)
    problem = checkpoint_problem(path)
    if problem is not None:
        raise ConfigError(f"checkpoint {path} is not usable: {problem}. Resume from an older checkpoint (delete "
                          "this folder) or start afresh.")
    meta = json.loads((path / "meta.json").read_text())
    try:
        return eqx.tree_deserialise_leaves(path / "state.eqx", like), meta
    except (RuntimeError, ValueError, TypeError) as err:
        raise ConfigError(f"checkpoint {path} does not fit this model ({err}); it was written for another model or "
                          "optimizer. Use another output folder or start afresh.") from None
