"""The one training engine: `fit`, samplers' protocol, L-BFGS stage, checkpoints, metrics log, progress, sharding,
mixed precision and multi-process runs."""

from sciml.train._checkpoint import (
    CheckpointWarning,
    checkpoint_problem,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from sciml.train._distributed import (
    barrier,
    cluster_from_environment,
    host_local,
    is_main_process,
    join_cluster,
    run_local_processes,
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
from sciml.train._precision import AbstractPrecision, FullPrecision, MixedPrecision, matmul_precision
from sciml.train._progress import AbstractProgress, NoProgress, ProgressBar
from sciml.train._sharding import data_mesh, data_space_mesh, replicate, shard_batch, tracing_under

__all__ = [
    "LBFGS",
    "AbstractAdaptiveLoss",
    "AbstractPrecision",
    "AbstractProgress",
    "AbstractSampler",
    "CheckpointWarning",
    "Evaluation",
    "FitResult",
    "FullPrecision",
    "MixedPrecision",
    "NoProgress",
    "barrier",
    "checkpoint_problem",
    "cluster_from_environment",
    "NonFiniteLossError",
    "ProgressBar",
    "data_mesh",
    "data_space_mesh",
    "fit",
    "host_local",
    "is_main_process",
    "join_cluster",
    "latest_checkpoint",
    "load_checkpoint",
    "matmul_precision",
    "replicate",
    "run_local_processes",
    "save_checkpoint",
    "shard_batch",
    "tracing_under",
]
