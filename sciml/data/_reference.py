"""Reference solutions shipped in `datasets/reference/`, converted into tidy `xarray.Dataset`s.

Each entry records the PDE, its parameters and the provenance of the file (see `datasets/reference/README.md`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
import xarray as xr

from sciml._errors import DataError
from sciml.data._io import check_finite

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "datasets" / "reference"


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """A shipped reference file: where it is, what it solves, and how to read it."""

    file: str
    equation: str
    source: str
    reader: Callable[[Path], xr.Dataset]


def _expect_shape(name: str, array: np.ndarray, shape: tuple[int, ...], file: Path) -> np.ndarray:
    if array.shape != shape:
        raise DataError(
            f"{file.name}: {name!r} has shape {array.shape}, expected {shape}. The file is not the published "
            "reference; restore it from datasets/reference (see its README for the source)."
        )
    return array


def _space_time(file: Path, x: np.ndarray, t: np.ndarray, u: np.ndarray, **attrs) -> xr.Dataset:
    ds = xr.Dataset(
        {"u": (("t", "x"), u)},
        coords={"t": ("t", t, {"long_name": "time"}), "x": ("x", x, {"long_name": "space"})},
        attrs={"file": file.name, **attrs},
    )
    check_finite(ds, what=file.name)
    return ds


def _read_burgers(file: Path) -> xr.Dataset:
    data = scipy.io.loadmat(file)
    x = _expect_shape("x", data["x"], (256, 1), file)[:, 0]
    t = _expect_shape("t", data["t"], (100, 1), file)[:, 0]
    u = _expect_shape("usol", data["usol"], (256, 100), file).T
    return _space_time(file, x, t, u, nu=0.01 / np.pi)


def _read_allen_cahn(file: Path) -> xr.Dataset:
    data = scipy.io.loadmat(file)
    x = _expect_shape("x", data["x"], (1, 512), file)[0]
    t = _expect_shape("tt", data["tt"], (1, 201), file)[0]
    u = _expect_shape("uu", data["uu"], (512, 201), file).T
    return _space_time(file, x, t, u, diffusion=1e-4, reaction=5.0)


def _read_poisson_lshape(file: Path) -> xr.Dataset:
    """The file's grid covers [-1, 1]^2 and holds NaN on the removed quadrant (0, 1]^2; only L-shape nodes are kept."""
    data = np.load(file)
    points = _expect_shape("X_test", data["X_test"], (25921, 2), file)
    u = _expect_shape("y_ref", data["y_ref"], (25921, 1), file)[:, 0]
    removed = (points[:, 0] > 0) & (points[:, 1] > 0)
    if np.isfinite(u[removed]).any() or not np.isfinite(u[~removed]).all():
        raise DataError(f"{file.name}: expected NaN exactly on the removed quadrant (0, 1]^2; the file differs")
    points, u = points[~removed], u[~removed]
    ds = xr.Dataset(
        {"u": (("node",), u)},
        coords={"x": ("node", points[:, 0]), "y": ("node", points[:, 1])},
        attrs={"file": file.name},
    )
    check_finite(ds, what=file.name)
    return ds


REFERENCES: dict[str, ReferenceSpec] = {
    "burgers": ReferenceSpec(
        "raissi_burgers_shock.mat",
        "u_t + u u_x = (0.01/pi) u_xx, x in [-1, 1], t in [0, 1], u0 = -sin(pi x), u(+-1, t) = 0",
        "maziarraissi/PINNs, appendix/Data (MIT)",
        _read_burgers,
    ),
    "allen-cahn": ReferenceSpec(
        "raissi_AC.mat",
        "u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0, x in [-1, 1], t in [0, 1], u0 = x^2 cos(pi x), periodic",
        "maziarraissi/PINNs, main/Data (MIT)",
        _read_allen_cahn,
    ),
    "poisson-lshape": ReferenceSpec(
        "deepxde_Poisson_Lshape.npz",
        "-Laplace(u) = 1 on the L-shaped domain [-1, 1]^2 minus [0, 1]^2, u = 0 on the boundary",
        "lululxvi/deepxde, examples/dataset (LGPL-2.1)",
        _read_poisson_lshape,
    ),
}


def load_reference(name: str, *, path: str | Path | None = None) -> xr.Dataset:
    """Load the shipped reference solution `name` (a key of `REFERENCES`) as a tidy dataset.

    Args:
        name: the reference, e.g. ``"burgers"``.
        path: read this file instead of the shipped one (it must have the same layout).
    Returns:
        A dataset with variable ``u`` on named dims (``t``, ``x`` or ``node``), PDE parameters and provenance in attrs.
    """
    if name not in REFERENCES:
        raise DataError(f"unknown reference {name!r}; expected one of {sorted(REFERENCES)}")
    spec = REFERENCES[name]
    file = Path(path) if path is not None else REFERENCE_DIR / spec.file
    if not file.exists():
        raise FileNotFoundError(f"reference file {str(file)!r} is missing; it ships in datasets/reference/")
    ds = spec.reader(file)
    ds.attrs.update(equation=spec.equation, source=spec.source, reference=name)
    return ds
