"""Li-ion battery surrogates: physics-informed surrogates of the single-particle and P2D models, and Bayesian
calibration with them."""

from sciml.battery._calibration import CalibrationResult, calibrate, voltage_model
from sciml.battery._p2d_surrogate import (
    ExpandingTimeSampler,
    P2DSurrogate,
    P2DSurrogateLoss,
    lithium_inventory,
    solver_states,
)
from sciml.battery._surrogate import (
    ExtrapolationWarning,
    SPMSurrogate,
    SurrogateSetup,
    TrainingData,
    build_network,
    check_surrogate_inputs,
    solver_data,
    surrogate_loss,
)

__all__ = [
    "CalibrationResult",
    "ExpandingTimeSampler",
    "ExtrapolationWarning",
    "P2DSurrogate",
    "P2DSurrogateLoss",
    "SPMSurrogate",
    "SurrogateSetup",
    "TrainingData",
    "build_network",
    "calibrate",
    "check_surrogate_inputs",
    "lithium_inventory",
    "solver_data",
    "solver_states",
    "surrogate_loss",
    "voltage_model",
]
