"""Li-ion battery surrogates: the PINN surrogate of the single-particle model and Bayesian calibration with it."""

from sciml.battery._calibration import CalibrationResult, calibrate, voltage_model
from sciml.battery._surrogate import (
    ExtrapolationWarning,
    SPMSurrogate,
    SurrogateSetup,
    TrainingData,
    build_network,
    solver_data,
    surrogate_loss,
)

__all__ = [
    "CalibrationResult",
    "ExtrapolationWarning",
    "SPMSurrogate",
    "SurrogateSetup",
    "TrainingData",
    "build_network",
    "calibrate",
    "solver_data",
    "surrogate_loss",
    "voltage_model",
]
