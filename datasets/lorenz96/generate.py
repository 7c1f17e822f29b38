"""Two-scale Lorenz-96 multi-fidelity parametrization dataset (see README.md)."""

from pathlib import Path

from sciml.data import describe_generated, write_dataset
from sciml.solvers import lorenz96_dataset

NAME = "lorenz96"
DESCRIPTION = "two-scale Lorenz-96: slow states and subgrid tendencies, LF (cubic closure) + HF (truth), F 18-24"


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    durations = dict(hf_duration=10.0, lf_duration=20.0, test_duration=10.0) if small else {}
    ds = describe_generated(lorenz96_dataset(seed=seed, **durations), NAME, DESCRIPTION, small=small, seed=seed)
    return write_dataset(ds, Path(out_dir) / "lorenz96.nc")
