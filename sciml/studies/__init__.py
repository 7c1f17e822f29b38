"""The study layer: where a config becomes models, losses, data and a `fit` call, and where predictions, reports and
figures are written.

Method packages (`sciml.nn`, `pde`, `pinn`, `operators`, `dynamics`, `uq`, `gp`, `battery`, `solvers`, `data`) hold
methods only; each experiment file in `experiments/` has one skeleton (see `sciml.studies._run`) and nests one
`TrainConfig`.
"""

from sciml.studies._config import (
    ConfigKey,
    TrainConfig,
    config_dict,
    config_toml,
    describe_config,
    field_docs,
    flatten_config,
    parse_overrides,
    read_config_file,
    resolve_config,
)
from sciml.studies._figures import loss_curve_figure, read_metrics, save_loss_curve
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
    save_figure,
    write_json,
    write_text,
)
from sciml.studies._sweep import (
    LocalPool,
    MemberOutcome,
    Submitit,
    Sweep,
    SweepMember,
    best_member,
    parse_grid,
    plan_sweep,
    run_sweep,
)
from sciml.studies._training import fit_summary, train

__all__ = [
    "ConfigKey",
    "EXPERIMENTS_DIR",
    "Experiment",
    "LocalPool",
    "MemberOutcome",
    "RunDir",
    "RunFolderError",
    "Submitit",
    "Sweep",
    "SweepMember",
    "TrainConfig",
    "TrainedRun",
    "best_member",
    "config_dict",
    "config_toml",
    "default_run_dir",
    "describe_config",
    "experiments_dir",
    "field_docs",
    "fit_summary",
    "flatten_config",
    "list_experiments",
    "load",
    "load_experiment",
    "loss_curve_figure",
    "parse_grid",
    "parse_overrides",
    "plan_sweep",
    "read_config_file",
    "read_metrics",
    "resolve_config",
    "run_experiment",
    "save_figure",
    "run_sweep",
    "save_loss_curve",
    "train",
    "write_json",
    "write_text",
]
