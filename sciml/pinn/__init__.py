"""Physics-informed models, their losses and the losses' balancing strategies."""

from sciml.pinn._balancing import AbstractBalancing, FixedWeights, GradNormBalancing, NTKBalancing
from sciml.pinn._lagrangian import LagrangianLoss, LagrangianPINN, label_sampler
from sciml.pinn._loss import PINNLoss
from sciml.pinn._model import PINN, HardConstraint
from sciml.pinn._recipes import CausalWeighting, RecipeLoss, ResidualAdaptiveResampling

__all__ = [
    "PINN",
    "AbstractBalancing",
    "CausalWeighting",
    "FixedWeights",
    "GradNormBalancing",
    "HardConstraint",
    "LagrangianLoss",
    "LagrangianPINN",
    "NTKBalancing",
    "PINNLoss",
    "RecipeLoss",
    "ResidualAdaptiveResampling",
    "label_sampler",
]
