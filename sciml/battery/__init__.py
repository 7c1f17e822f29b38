"""Li-ion battery surrogates: the PINN surrogate of the single-particle model and Bayesian calibration with it."""

from sciml.battery._calibration import CalibrationResult, calibrate, voltage_model
from sciml.battery._surrogate import (
    ExtrapolationWarning,
    SPMSurrogate,
    SurrogateSetup,
    TrainingConfig,
    TrainingData,
    solver_data,
    train_surrogate,
)

__all__ = [
    "CalibrationResult",
    "ExtrapolationWarning",
    "SPMSurrogate",
    "SurrogateSetup",
    "TrainingConfig",
    "TrainingData",
    "calibrate",
    "solver_data",
    "train_surrogate",
    "voltage_model",
]
