"""Physics-informed models and their losses."""

from sciml.pinn._loss import PINNLoss
from sciml.pinn._model import PINN, HardConstraint

__all__ = ["PINN", "HardConstraint", "PINNLoss"]
