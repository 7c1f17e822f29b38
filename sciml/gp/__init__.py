"""Mesh-morphing Gaussian-process regression (MMGP) over meshes of varying geometry; NumPy/SciPy, scikit-fem,
gpytorch."""

from sciml.gp._mesh import TriangleMesh, meshes_from_dataset, meshes_to_dataset, nodal_values, to_meshio
from sciml.gp._metrics import field_relative_rmse, interval_coverage, scalar_relative_rmse
from sciml.gp._mmgp import MeshMorphingGP, MMGPState, Prediction
from sciml.gp._morphing import interpolation_operator, mass_matrix, morph_to_disk, neighbour_weights
from sciml.gp._pca import MassWeightedPCA
from sciml.gp._regression import GroupedExactGP

__all__ = [
    "GroupedExactGP",
    "MassWeightedPCA",
    "MMGPState",
    "MeshMorphingGP",
    "Prediction",
    "TriangleMesh",
    "field_relative_rmse",
    "interpolation_operator",
    "interval_coverage",
    "mass_matrix",
    "meshes_from_dataset",
    "meshes_to_dataset",
    "morph_to_disk",
    "neighbour_weights",
    "nodal_values",
    "scalar_relative_rmse",
    "to_meshio",
]
