"""Generator of the pdebench-burgers dataset (see README.md); the numerics live in sciml.solvers."""

from __future__ import annotations

from pathlib import Path

from sciml.data import describe_generated, write_family
from sciml.solvers import BurgersFamily, family_dataset

NAME = "pdebench-burgers"
DESCRIPTION = "1D Burgers, nu in {0.001..4} (diffusion nu/pi), PDEBench layout, 256 points x 41 frames"
VERSION = 2
"""2: PDEBench's initial-state distribution and 240 trajectories per viscosity (1: two sines, 64)."""
FAMILY = BurgersFamily(initial_distribution="pdebench")
"""PDEBench's initial-state distribution over its twelve viscosities (41 frames on t in [0, 2])."""
FULL = {"n_per_value": 240, "num_points": 256, "solver_points": 1024}
"""The full size: `benchmarks/pdebench_cape.py`'s Burgers data (solved on 1024 points, every 4th kept)."""
SMALL = {"n_per_value": 4, "num_points": 128, "solver_points": 256}


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    ds = family_dataset(FAMILY, **(SMALL if small else FULL), seed=seed)
    ds = describe_generated(ds, NAME, DESCRIPTION, small=small, seed=seed,
                            attrs={"u": {"long_name": "velocity u", "units": "1"}})
    return write_family(ds, out_dir, "1D_Burgers")
