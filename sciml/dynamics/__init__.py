"""Neural differential equations on diffrax: neural ODE/SDE/CDE, latent ODE/SDE and hybrid mechanistic models."""

from sciml.dynamics._cde import NeuralCDE, cde_coefficients
from sciml.dynamics._checks import solve_failed, with_failure_metric
from sciml.dynamics._latent import LatentODE, LatentSDE, SeriesEncoder, elbo_loss
from sciml.dynamics._ode import HybridVectorField, MLPVectorField, NeuralODE, trajectory_mse
from sciml.dynamics._sde import (
                                 DiagonalDiffusion,
                                 GridBrownianPath,
                                 NeuralSDE,
                                 energy_score,
                                 path_mmd,
                                 sde_energy_loss,
                                 sde_mmd_loss,
                                 stationary_standard_errors,
                                 stationary_statistics,
)

__all__ = [
    "DiagonalDiffusion",
    "GridBrownianPath",
    "HybridVectorField",
    "LatentODE",
    "LatentSDE",
    "MLPVectorField",
    "NeuralCDE",
    "NeuralODE",
    "NeuralSDE",
    "SeriesEncoder",
    "cde_coefficients",
    "elbo_loss",
    "energy_score",
    "path_mmd",
    "sde_energy_loss",
    "sde_mmd_loss",
    "stationary_standard_errors",
    "stationary_statistics",
    "solve_failed",
    "trajectory_mse",
    "with_failure_metric",
]
