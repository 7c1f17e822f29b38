"""The common shape of a PDE case: domain, problem builder, reference dataset, exact solution, papers' numbers."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from sciml.pde import Box, rectangle


class PDECase(abc.ABC):
    """One PDE of the PINN family.

    A case gives its `domain()`, `problem(...)` (the `Problem` and the `HardConstraint` built into the output, or
    None; Lagrangian cases, trained through `LagrangianLoss`, pose none), `reference()` (an xarray Dataset whose
    variable `reference` lies on named coordinates) and, where known, `exact(p)` at one point. `paper` holds the
    papers' relative L2 errors by method.
    """

    paper: ClassVar[dict[str, float]] = {}
    exact: ClassVar[Callable | None] = None

    @abc.abstractmethod
    def domain(self) -> Box:
        """The box the case lives on."""

    @abc.abstractmethod
    def reference(self) -> xr.Dataset:
        """The reference solution (`reference` on named coordinates)."""


def grid_dataset(coords: dict[str, np.ndarray], values: np.ndarray, **attrs) -> xr.Dataset:
    """`values` as the variable `reference` on the grid `coords` (in order), with `attrs`."""
    return xr.Dataset({"reference": (tuple(coords), values)}, coords=coords, attrs=attrs)


def meshgrid(coords: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The grid's coordinate arrays (``ij`` indexing)."""
    return tuple(np.meshgrid(*coords.values(), indexing="ij"))


def reference_grid(ds: xr.Dataset) -> Float[Array, "n d"]:
    """All points of the reference's grid (in the order of its dims; x, y for scattered nodes) as an (n, d) array."""
    if "node" in ds.dims:
        return jnp.asarray(np.stack([ds.x.values, ds.y.values], axis=1), jnp.float32)
    axes = np.meshgrid(*[ds[d].values for d in ds.reference.dims], indexing="ij")
    return jnp.asarray(np.stack([a.ravel() for a in axes], axis=1), jnp.float32)


def unit_square() -> Box:
    """``[-1, 1]^2`` with axes x, y."""
    return rectangle((-1.0, -1.0), (1.0, 1.0))
