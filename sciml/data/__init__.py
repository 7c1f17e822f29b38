"""xarray data layer: open/write datasets, shipped reference solutions, predictions files."""

from sciml.data._cf import (
    CF_CONVENTIONS,
    CF_VOCABULARY,
    check_cf_attributes,
    missing_cf_attributes,
    with_cf_attributes,
    with_provenance,
)
from sciml.data._columns import COLUMN_VARIABLES, ColumnData, load_columns, synthetic_columns
from sciml.data._generated import (
    describe_generated,
    ensure_dataset,
    generate_dataset,
    list_generators,
    load_generator,
)
from sciml.data._io import check_finite, open_dataset, write_dataset
from sciml.data._reference import REFERENCES, load_reference
from sciml.data._timeseries import MinibatchSampler, drop_observations, series_arrays, series_dataset, windows

__all__ = [
    "REFERENCES",
    "MinibatchSampler",
    "check_finite",
    "describe_generated",
    "drop_observations",
    "ensure_dataset",
    "generate_dataset",
    "list_generators",
    "load_generator",
    "load_reference",
    "open_dataset",
    "series_arrays",
    "series_dataset",
    "windows",
    "write_dataset",
]
__all__ += ["COLUMN_VARIABLES", "ColumnData", "load_columns", "synthetic_columns"]
__all__ += ["CF_CONVENTIONS", "CF_VOCABULARY", "check_cf_attributes", "missing_cf_attributes", "with_cf_attributes",
            "with_provenance"]

from sciml.data._loaders import (  # noqa: E402
    Normalization,
    WindowLoader,
    WindowSampler,
    split_by_parameter,
    trajectory_arrays,
)
from sciml.data._pdebench import read_pdebench, write_family, write_pdebench  # noqa: E402

__all__ += ["Normalization", "WindowLoader", "WindowSampler", "read_pdebench", "split_by_parameter",
            "trajectory_arrays", "write_family", "write_pdebench"]

from sciml.data._user import (  # noqa: E402
    FieldData,
    FieldDims,
    FieldVariables,
    SeriesData,
    SeriesDims,
    SeriesVariables,
    TendencyData,
    TendencyDims,
    TendencyVariables,
    UserData,
)

__all__ += ["FieldData", "FieldDims", "FieldVariables", "SeriesData", "SeriesDims", "SeriesVariables", "TendencyData",
            "TendencyDims", "TendencyVariables", "UserData"]
