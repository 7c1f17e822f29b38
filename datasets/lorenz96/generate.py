"""Two-scale Lorenz-96 multi-fidelity parametrization dataset (see README.md)."""

from pathlib import Path

from sciml.data import write_dataset
from sciml.solvers import lorenz96_dataset

NAME = "lorenz96"
DESCRIPTION = "two-scale Lorenz-96: slow states and subgrid tendencies, LF (cubic closure) + HF (truth), F 18-24"


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    durations = dict(hf_duration=10.0, lf_duration=20.0, test_duration=10.0) if small else {}
    return write_dataset(lorenz96_dataset(seed=seed, **durations), Path(out_dir) / "lorenz96.nc")
