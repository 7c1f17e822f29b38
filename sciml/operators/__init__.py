"""Neural PDE solvers: autoregressive rollout, curricula and the rollout loss (CAPE-style training)."""

from sciml.operators._rollout import (
    Autoregressive,
    Curriculum,
    FrameHistory,
    ParameterGradientPenalty,
    RolloutLoss,
    TanhCurriculum,
    TeacherForcing,
    curriculum_rollout,
    frame_states,
    rollout,
    stack_frames,
)

__all__ = ["Autoregressive", "Curriculum", "FrameHistory", "ParameterGradientPenalty", "RolloutLoss", "TanhCurriculum",
           "TeacherForcing", "curriculum_rollout", "frame_states", "rollout", "stack_frames"]
