"""Physics-informed models and their losses."""

from sciml.pinn._lagrangian import LagrangianLoss, LagrangianPINN, label_sampler
from sciml.pinn._loss import PINNLoss
from sciml.pinn._model import PINN, HardConstraint
from sciml.pinn._recipes import CausalWeighting, RecipeLoss, ResidualAdaptiveResampling

__all__ = [
    "PINN",
    "CausalWeighting",
    "HardConstraint",
    "LagrangianLoss",
    "LagrangianPINN",
    "PINNLoss",
    "RecipeLoss",
    "ResidualAdaptiveResampling",
    "label_sampler",
]
