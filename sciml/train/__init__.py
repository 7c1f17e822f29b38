"""The one training engine: `fit`, samplers' protocol, L-BFGS stage, checkpoints, metrics log, progress, sharding."""

from sciml.train._checkpoint import (
    CheckpointWarning,
    checkpoint_problem,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from sciml.train._fit import (
    LBFGS,
    AbstractAdaptiveLoss,
    AbstractSampler,
    Evaluation,
    FitResult,
    NonFiniteLossError,
    fit,
)
from sciml.train._progress import AbstractProgress, NoProgress, ProgressBar
from sciml.train._sharding import data_mesh, replicate, shard_batch

__all__ = [
    "LBFGS",
    "AbstractAdaptiveLoss",
    "AbstractProgress",
    "AbstractSampler",
    "CheckpointWarning",
    "Evaluation",
    "FitResult",
    "NoProgress",
    "checkpoint_problem",
    "NonFiniteLossError",
    "ProgressBar",
    "data_mesh",
    "fit",
    "latest_checkpoint",
    "load_checkpoint",
    "replicate",
    "save_checkpoint",
    "shard_batch",
]
