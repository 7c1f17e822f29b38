"""The study layer: where a config becomes models, losses, data and a `fit` call, and where predictions, reports and
figures are written.

Method packages (`sciml.nn`, `pde`, `pinn`, `operators`, `dynamics`, `uq`, `gp`, `battery`, `solvers`, `data`) hold
methods only; each experiment file in `experiments/` has one skeleton (see `sciml.studies._run`) and nests one
`TrainConfig`.
"""

from sciml.studies._config import TrainConfig, config_dict, parse_overrides, resolve_config
from sciml.studies._load import TrainedRun, load
from sciml.studies._run import (
    EXPERIMENTS_DIR,
    Experiment,
    RunDir,
    RunFolderError,
    default_run_dir,
    experiments_dir,
    list_experiments,
    load_experiment,
    run_experiment,
    write_json,
)
from sciml.studies._training import fit_summary, train

__all__ = [
    "EXPERIMENTS_DIR",
    "Experiment",
    "RunDir",
    "RunFolderError",
    "TrainConfig",
    "TrainedRun",
    "config_dict",
    "default_run_dir",
    "experiments_dir",
    "fit_summary",
    "list_experiments",
    "load",
    "load_experiment",
    "parse_overrides",
    "resolve_config",
    "run_experiment",
    "train",
    "write_json",
]
