"""Random-grid neural processes (Vadeboncoeur et al., ICML 2023): probabilistic physics-informed surrogates of
parametric PDEs, trained on a fresh random collocation grid every step, with an amortised inverse model (GICNet)."""

from sciml.rgnp._gaussian import (
    AbstractCovariance,
    DiagonalCovariance,
    Gaussian,
    LowRankCovariance,
    kl_divergence,
)
from sciml.rgnp._loss import (
    DataELBO,
    RandomGridELBO,
    RandomGridTasks,
    SensorData,
    noise_query,
    observe,
    residual_log_likelihood,
    residual_noise_std,
    sensor_mask,
)
from sciml.rgnp._networks import RGNP, ForwardNetwork, InverseNetwork, ParametricProblem

__all__ = [
    "RGNP",
    "AbstractCovariance",
    "DataELBO",
    "DiagonalCovariance",
    "ForwardNetwork",
    "Gaussian",
    "InverseNetwork",
    "LowRankCovariance",
    "ParametricProblem",
    "RandomGridELBO",
    "RandomGridTasks",
    "SensorData",
    "kl_divergence",
    "noise_query",
    "observe",
    "residual_log_likelihood",
    "residual_noise_std",
    "sensor_mask",
]
