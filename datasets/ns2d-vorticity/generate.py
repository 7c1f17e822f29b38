"""Generator of the ns2d-vorticity dataset (see README.md); the numerics live in sciml.solvers."""

from __future__ import annotations

from pathlib import Path

from sciml.data import describe_generated, write_family
from sciml.solvers import family_dataset

NAME = "ns2d-vorticity"
DESCRIPTION = "2D incompressible Navier-Stokes (vorticity), 6 viscosities, 64x64 x 21 frames"


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    if small:
        ds = family_dataset("ns2d", n_per_value=2, num_points=32, solver_points=32, seed=seed)
    else:
        ds = family_dataset("ns2d", n_per_value=32, num_points=64, solver_points=64, seed=seed)
    ds = describe_generated(ds, NAME, DESCRIPTION, small=small, seed=seed,
                            attrs={"u": {"long_name": "vorticity", "units": "1"}})
    return write_family(ds, out_dir, "2D_NS_Vorticity")
