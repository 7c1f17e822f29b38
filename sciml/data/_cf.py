"""CF conventions for the files sciml writes: the shared vocabulary of coordinate names, the check that every
variable says what it is, and the global attributes (Conventions, title, history, source, config).

Every data variable and coordinate carries ``long_name`` and, when it holds numbers, ``units`` (a UDUNITS string,
``"1"`` for a dimensionless or nondimensionalised quantity), plus ``standard_name`` where the CF standard-name table
has one that is true of it. The names every study shares (``sample``, ``member``, ``t``, ``x``, ...) get their
attributes from `CF_VOCABULARY`; whoever builds a dataset sets the rest (e.g. a battery voltage in ``"V"``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

import numpy as np
import xarray as xr

from sciml._errors import ConfigError
from sciml.provenance import git_commit, package_versions

CF_CONVENTIONS = "CF-1.11"

_INDEX = {"units": "1"}
# sciml's PDEs and dynamical systems are nondimensional; a study whose t or x has units sets them itself.
CF_VOCABULARY: dict[str, dict[str, str]] = {
    "sample": {"long_name": "sample index", **_INDEX},
    "member": {"long_name": "ensemble member", "standard_name": "realization", **_INDEX},
    "seed": {"long_name": "random seed", **_INDEX},
    "node": {"long_name": "mesh node index", **_INDEX},
    "point": {"long_name": "evaluation point index", **_INDEX},
    "run": {"long_name": "run index", **_INDEX},
    "case": {"long_name": "case index", **_INDEX},
    "k": {"long_name": "grid point index k", **_INDEX},
    "channel": {"long_name": "state component", **_INDEX},
    "split": {"long_name": "evaluation split"},
    "t": {"long_name": "time (nondimensional)", "units": "1"},
    "time": {"long_name": "time (nondimensional)", "units": "1"},
    "x": {"long_name": "x coordinate (nondimensional)", "units": "1"},
    "y": {"long_name": "y coordinate (nondimensional)", "units": "1"},
    "z": {"long_name": "z coordinate (nondimensional)", "units": "1"},
    "beta": {"long_name": "advection speed beta", "units": "1"},
    "nu": {"long_name": "viscosity or diffusion coefficient nu", "units": "1"},
    "rho": {"long_name": "reaction rate rho", "units": "1"},
    "F": {"long_name": "Lorenz-96 forcing F", "units": "1"},
}
"""Coordinate (and shared variable) name -> its CF attributes."""

# Statistics of a variable V named V_<statistic>: same units as V, long_name "<what> of <V's long_name>".
_STATISTICS = {"mean": "mean", "std": "standard deviation", "lower": "lower bound of the central interval",
               "upper": "upper bound of the central interval", "members": "ensemble members"}


def _derived(name: str, ds: xr.Dataset, given: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    base, _, statistic = name.rpartition("_")
    if statistic not in _STATISTICS or base not in ds.variables:
        return {}
    parent = {**ds[base].attrs, **given.get(base, {})}
    attrs = {}
    if "long_name" in parent:
        attrs["long_name"] = f"{_STATISTICS[statistic]} of {parent['long_name']}"
    if "units" in parent:
        attrs["units"] = parent["units"]
    return attrs


def with_cf_attributes(ds: xr.Dataset, attrs: Mapping[str, Mapping[str, str]] | None = None) -> xr.Dataset:
    """A copy of `ds` whose variables and coordinates carry CF attributes.

    Per variable, in order of precedence: `attrs[name]` (what the caller says), the attributes it already has, for
    a statistic ``V_std`` / ``V_lower`` / ``V_upper`` / ``V_mean`` / ``V_members`` the units of ``V`` and a
    long_name built from V's, and `CF_VOCABULARY[name]`.

    Example: ``with_cf_attributes(ds, {"prediction": {"long_name": "cell voltage", "units": "V"}})``.
    """
    given = dict(attrs or {})
    unknown = sorted(set(given) - set(ds.variables))
    if unknown:
        raise ConfigError(f"CF attributes given for {unknown}, which the dataset does not hold; expected names among "
                          f"{sorted(map(str, ds.variables))}")
    out = ds.copy()
    for name in ds.variables:
        merged = {**CF_VOCABULARY.get(str(name), {}), **_derived(str(name), ds, given), **ds[name].attrs,
                  **given.get(name, {})}
        out.variables[name].attrs = merged
    return out


def missing_cf_attributes(ds: xr.Dataset) -> dict[str, list[str]]:
    """The variables and coordinates of `ds` that lack ``long_name`` or, holding numbers, ``units``: name -> the
    attributes missing."""
    missing = {}
    for name, var in ds.variables.items():
        needed = ["units", "long_name"] if np.issubdtype(var.dtype, np.number) else ["long_name"]
        lacking = [attr for attr in needed if not str(var.attrs.get(attr, "")).strip()]
        if lacking:
            missing[str(name)] = lacking
    return missing


def check_cf_attributes(ds: xr.Dataset, *, what: str) -> None:
    """Raise `ConfigError` naming every variable or coordinate of `ds` (written as `what`) that lacks ``units`` or
    ``long_name``."""
    missing = missing_cf_attributes(ds)
    if missing:
        listed = "; ".join(f"{name} lacks {', '.join(attrs)}" for name, attrs in missing.items())
        raise ConfigError(
            f"{what}: {listed}. Every variable and coordinate needs a long_name and, holding numbers, units (UDUNITS, "
            "'1' for dimensionless): set them where the dataset is built, e.g. "
            "`with_cf_attributes(ds, {'prediction': {'long_name': ..., 'units': ...}})` (sciml.data)."
        )


def source_description() -> str:
    """What produced a file: the sciml version and git commit of the code, for the CF ``source`` attribute."""
    return f"sciml {package_versions().get('sciml', 'unknown version')}, git commit {git_commit() or 'unknown'}"


def with_provenance(ds: xr.Dataset, *, title: str, command: str, config: Mapping | None = None,
                    references: str | None = None) -> xr.Dataset:
    """A copy of `ds` with the CF global attributes: ``Conventions``, ``title``, ``history`` (its earlier lines kept,
    one line appended: the UTC time in ISO 8601 and `command`), ``source`` (sciml version and git commit),
    ``references`` when given, and `config` as JSON in ``sciml_config``."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    history = "\n".join(line for line in (str(ds.attrs.get("history", "")).strip(), f"{now} {command}") if line)
    attrs = {"Conventions": CF_CONVENTIONS, "title": title, "history": history, "source": source_description()}
    if references:
        attrs["references"] = references
    if config is not None:
        attrs["sciml_config"] = json.dumps(config, sort_keys=False, default=str)
    return ds.assign_attrs(attrs)
