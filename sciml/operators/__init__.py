"""Neural PDE solvers: autoregressive rollout, the tanh curriculum, the rollout loss, CAPE training runs."""

from sciml.operators._rollout import RolloutLoss, curriculum_rollout, rollout, tanh_curriculum
from sciml.operators._training import NeuralSolverConfig, build_solver, train_and_evaluate

__all__ = ["NeuralSolverConfig", "RolloutLoss", "build_solver", "curriculum_rollout", "rollout", "tanh_curriculum",
           "train_and_evaluate"]
