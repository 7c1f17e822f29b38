"""Snapshot PCA (POD) with the finite-element mass matrix as inner product."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from jaxtyping import Float

from sciml._errors import DataError


class MassWeightedPCA:
    """PCA of nodal snapshots in the L2 inner product ``<u, v> = sum_c u_c^T M v_c`` of a mesh.

    Snapshots have shape (s, n, c): s samples, n nodes, c components (2 for coordinates, 1 for a scalar field).
    Modes are M-orthonormal, so the L2 norm of a field equals the Euclidean norm of its coefficients.

    Args:
        n_components: number of modes kept.
        mass: the (n, n) mass matrix of the common mesh.
    """

    def __init__(self, n_components: int, mass: sp.spmatrix):
        self.n_components = n_components
        self.mass = sp.csr_matrix(mass)

    def _inner(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return sum(a[:, :, c] @ (self.mass @ b[:, :, c].T) for c in range(a.shape[2]))

    def fit(self, snapshots: Float[np.ndarray, "s n c"]) -> MassWeightedPCA:
        if snapshots.ndim != 3 or snapshots.shape[1] != self.mass.shape[0]:
            raise DataError(f"PCA snapshots: expected shape (samples, {self.mass.shape[0]}, components), got "
                            f"{snapshots.shape}")
        if self.n_components > len(snapshots) - 1:
            raise DataError(f"PCA: {self.n_components} modes need at least {self.n_components + 1} snapshots, got "
                            f"{len(snapshots)}")
        self.mean_ = snapshots.mean(axis=0)
        centred = snapshots - self.mean_
        eigenvalues, eigenvectors = np.linalg.eigh(self._inner(centred, centred))
        order = np.argsort(eigenvalues)[::-1][: self.n_components]
        eigenvalues, eigenvectors = np.maximum(eigenvalues[order], 1e-300), eigenvectors[:, order]
        self.modes_ = np.einsum("sk,snc->knc", eigenvectors / np.sqrt(eigenvalues), centred)
        self.explained_variance_ratio_ = eigenvalues / np.trace(self._inner(centred, centred))
        return self

    def transform(self, snapshots: Float[np.ndarray, "s n c"]) -> Float[np.ndarray, "s k"]:
        return self._inner(snapshots - self.mean_, self.modes_)

    def inverse_transform(self, coefficients: Float[np.ndarray, "s k"]) -> Float[np.ndarray, "s n c"]:
        return self.mean_ + np.einsum("sk,knc->snc", coefficients, self.modes_)
