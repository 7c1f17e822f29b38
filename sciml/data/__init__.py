"""xarray data layer: open/write datasets, shipped reference solutions, predictions files."""

from sciml.data._generated import ensure_dataset, generate_dataset, list_generators
from sciml.data._io import check_finite, open_dataset, write_dataset
from sciml.data._reference import REFERENCES, load_reference

__all__ = [
    "REFERENCES",
    "check_finite",
    "ensure_dataset",
    "generate_dataset",
    "list_generators",
    "load_reference",
    "open_dataset",
    "write_dataset",
]
