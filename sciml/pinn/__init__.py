"""Physics-informed models, their losses and the losses' balancing strategies; ensembles for inverse problems."""

from sciml.pinn._balancing import AbstractBalancing, FixedWeights, GradNormBalancing, NTKBalancing
from sciml.pinn._deeponet import PhysicsInformedDeepONetLoss, operator_derivatives
from sciml.pinn._inverse import CoefficientEstimate, EnsembleLoss, bootstrap_counts, ensemble_estimate
from sciml.pinn._lagrangian import LagrangianLoss, LagrangianPINN, label_sampler
from sciml.pinn._loss import PINNLoss
from sciml.pinn._model import PINN, HardConstraint
from sciml.pinn._recipes import CausalWeighting, RecipeLoss, ResidualAdaptiveResampling
from sciml.pinn._time_marching import TimeWindows, window_edges

__all__ = [
    "PINN",
    "AbstractBalancing",
    "CausalWeighting",
    "CoefficientEstimate",
    "EnsembleLoss",
    "FixedWeights",
    "GradNormBalancing",
    "HardConstraint",
    "LagrangianLoss",
    "LagrangianPINN",
    "NTKBalancing",
    "PINNLoss",
    "PhysicsInformedDeepONetLoss",
    "RecipeLoss",
    "ResidualAdaptiveResampling",
    "TimeWindows",
    "bootstrap_counts",
    "ensemble_estimate",
    "label_sampler",
    "operator_derivatives",
    "window_edges",
]
