"""Generator of the pdebench-advection dataset (see README.md); the numerics live in sciml.solvers."""

from __future__ import annotations

from pathlib import Path

from sciml.data import describe_generated, write_family
from sciml.solvers import family_dataset

NAME = "pdebench-advection"
DESCRIPTION = "1D advection, beta in {0.1..7}, PDEBench layout, 256 points x 41 frames"


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    if small:
        ds = family_dataset("advection", n_per_value=4, num_points=128, solver_points=128, seed=seed)
    else:
        ds = family_dataset("advection", n_per_value=64, num_points=256, solver_points=256, seed=seed)
    ds = describe_generated(ds, NAME, DESCRIPTION, small=small, seed=seed,
                            attrs={"u": {"long_name": "advected scalar u", "units": "1"}})
    return write_family(ds, out_dir, "1D_Advection")
