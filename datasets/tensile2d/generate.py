"""Generator of the tensile2d dataset (numerics in `sciml.solvers._elasticity`)."""

from __future__ import annotations

import os
from pathlib import Path

from sciml.data import describe_generated, write_dataset
from sciml.solvers import tensile2d_dataset

NAME = "tensile2d"
DESCRIPTION = "plane-stress elasticity on plates with random smooth notches, one Triangle mesh per sample (MMGP)"


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    n_train, n_test = (24, 8) if small else (500, 200)
    workers = 1 if small else min(2, os.cpu_count() or 1)
    ds = tensile2d_dataset(n_train, n_test, seed=seed, small=small, workers=workers)
    ds = describe_generated(ds, NAME, DESCRIPTION, small=small, seed=seed)
    return write_dataset(ds, Path(out_dir) / "tensile2d.nc")
