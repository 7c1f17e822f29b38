"""Checkpoints: equinox leaf serialisation (no pickle) plus JSON metadata, written atomically, rotated."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import equinox as eqx

FORMAT_VERSION = 1
_PREFIX = "step_"


def _step_dir(directory: Path, step: int) -> Path:
    return directory / f"{_PREFIX}{step:09d}"


def save_checkpoint(directory: str | os.PathLike, step: int, state, meta: dict, *, keep: int | None = 3) -> Path:
    """Write `state` (any pytree) and `meta` under `directory/step_NNNNNNNNN/`, atomically; keep the newest `keep`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = _step_dir(directory, step)
    tmp = directory / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    eqx.tree_serialise_leaves(tmp / "state.eqx", state)
    (tmp / "meta.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "step": step, **meta}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep is not None:
        for old in sorted(directory.glob(f"{_PREFIX}*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint directory under `directory`, or None."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    done = [p for p in sorted(directory.glob(f"{_PREFIX}*")) if (p / "meta.json").exists() and (p / "state.eqx").exists()]
    return done[-1] if done else None


def load_checkpoint(path: str | os.PathLike, like):
    """Read a checkpoint written by `save_checkpoint`; `like` gives the pytree structure, shapes and dtypes.

    Returns:
        (state, meta)
    """
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format_version {meta.get('format_version')}, this sciml reads {FORMAT_VERSION}; "
            "resume with the sciml version that wrote it (see meta.json 'versions')"
        )
    return eqx.tree_deserialise_leaves(path / "state.eqx", like), meta
