"""Generator of the pdebench-diffreact dataset (see README.md); the numerics live in sciml.solvers."""

from __future__ import annotations

from pathlib import Path

from sciml.data import describe_generated, write_family
from sciml.solvers import family_dataset

NAME = "pdebench-diffreact"
DESCRIPTION = "1D diffusion-reaction (Fisher-KPP), nu x rho grid, PDEBench layout, 256 points x 21 frames"


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    if small:
        ds = family_dataset("diffreact", n_per_value=4, num_points=128, solver_points=128, seed=seed)
    else:
        ds = family_dataset("diffreact", n_per_value=64, num_points=256, solver_points=256, seed=seed)
    ds = describe_generated(ds, NAME, DESCRIPTION, small=small, seed=seed,
                            attrs={"u": {"long_name": "concentration u (Fisher-KPP)", "units": "1"}})
    return write_family(ds, out_dir, "ReacDiff")
