"""Neural PDE solvers: autoregressive rollout, curricula and the rollout loss (CAPE-style training)."""

from sciml.operators._rollout import (
    Autoregressive,
    Curriculum,
    RolloutLoss,
    TanhCurriculum,
    TeacherForcing,
    curriculum_rollout,
    rollout,
)

__all__ = ["Autoregressive", "Curriculum", "RolloutLoss", "TanhCurriculum", "TeacherForcing", "curriculum_rollout",
           "rollout"]
