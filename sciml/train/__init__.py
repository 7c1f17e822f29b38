"""The one training engine: `fit`, samplers' protocol, L-BFGS stage, checkpoints, metrics log, sharding."""

from sciml.train._checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from sciml.train._fit import (
    LBFGS,
    AbstractAdaptiveLoss,
    AbstractSampler,
    Evaluation,
    FitResult,
    NonFiniteLossError,
    fit,
)
from sciml.train._sharding import data_mesh, replicate, shard_batch

__all__ = [
    "LBFGS",
    "AbstractAdaptiveLoss",
    "AbstractSampler",
    "Evaluation",
    "FitResult",
    "NonFiniteLossError",
    "data_mesh",
    "fit",
    "latest_checkpoint",
    "load_checkpoint",
    "replicate",
    "save_checkpoint",
    "shard_batch",
]
