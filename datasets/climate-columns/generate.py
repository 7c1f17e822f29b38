"""Synthetic atmospheric columns in CAM layout (sample x level) for the real-climate data path (see README.md)."""

from pathlib import Path

from sciml.data import describe_generated, synthetic_columns, write_dataset

NAME = "climate-columns"
DESCRIPTION = ("synthetic (sample, level) columns with CAM names and CF units: T, Q, PS, SOLIN, fluxes -> heating, "
               "moistening")


def generate(out_dir: Path, *, small: bool = False, seed: int = 0) -> Path:
    ds = synthetic_columns(256 if small else 4096, 26, seed=seed)
    ds = describe_generated(ds, NAME, DESCRIPTION, small=small, seed=seed)
    return write_dataset(ds, Path(out_dir) / "columns.nc")
