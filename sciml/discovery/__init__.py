"""Model-error discovery (MEDIDA): increments of a model against a reference, sparse noisy observations, interpolators
from sensors to the grid, a candidate library of terms, and sparse regression (relevance vector machine, STLSQ)."""

from sciml.discovery._increments import (
    Observations,
    analysis_increments,
    observe,
    one_step,
    one_step_increments,
)
from sciml.discovery._interpolation import (
    CoordinateNetwork,
    CubicInterpolation,
    RBFInterpolation,
    ensemble_mse,
    evaluate_ensemble,
    network_ensemble,
    plain_network,
    rff_network,
)
from sciml.discovery._library import (
    QG_TERMS,
    ModelError,
    Term,
    library,
    standard_errors,
    term_names,
    true_coefficients,
)
from sciml.discovery._regression import (
    Discovery,
    ParetoCurve,
    RelevanceVectorMachine,
    SparseFit,
    Standardized,
    discover,
    layer_problem,
    lowpass,
    stlsq_path,
)

__all__ = [
    "QG_TERMS",
    "CoordinateNetwork",
    "CubicInterpolation",
    "Discovery",
    "ModelError",
    "Observations",
    "ParetoCurve",
    "RBFInterpolation",
    "RelevanceVectorMachine",
    "SparseFit",
    "Standardized",
    "Term",
    "analysis_increments",
    "discover",
    "ensemble_mse",
    "evaluate_ensemble",
    "layer_problem",
    "library",
    "lowpass",
    "network_ensemble",
    "observe",
    "one_step",
    "one_step_increments",
    "plain_network",
    "rff_network",
    "standard_errors",
    "stlsq_path",
    "term_names",
    "true_coefficients",
]
