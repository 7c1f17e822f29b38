"""`load`: a finished run folder back as its trained model, its config and a `predict` that returns xarray."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import equinox as eqx
import xarray as xr

from sciml._errors import ConfigError, DataError
from sciml.studies._config import resolve_config
from sciml.studies._run import Experiment, load_experiment


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A run folder read back: `model` (as `main` saved it), the resolved `config`, the `experiment` it came from."""

    path: Path
    experiment: Experiment
    config: Any
    model: Any

    def predict(self, inputs) -> xr.Dataset:
        """The model on `inputs` (points, or a dataset of the experiment's kind) as an xarray dataset with coordinates.

        What `inputs` may be is the experiment's `predict` docstring's to say.
        """
        return self.experiment.module.predict(self.model, self.config, inputs)


def load(run_dir: str | Path) -> TrainedRun:
    """Read the run in `run_dir`: rebuild the experiment's config, then its model's structure (`model_like`), and fill
    it with the saved weights (`model.eqx`, checked against its SHA-256)."""
    path = Path(run_dir)
    try:
        record = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        raise DataError(f"{path} holds no sciml run: expected a readable config.json there (the folder given to "
                        "`sciml run --out`)") from None
    experiment = load_experiment(record["experiment"])
    config = resolve_config(experiment.config_type, **record["config"])
    if not hasattr(experiment.module, "model_like"):
        raise ConfigError(f"experiment {experiment.name!r} does not say how to rebuild its model (no model_like)")
    model_file = path / "model.eqx"
    if not model_file.exists():
        raise DataError(f"{path} has no trained model yet (model.eqx is written when the run finishes); finish it "
                        f"with: sciml run {experiment.name} --out {path} and the same --set options")
    expected = (path / "model.sha256").read_text().strip() if (path / "model.sha256").exists() else None
    if expected != hashlib.sha256(model_file.read_bytes()).hexdigest():
        raise DataError(f"{model_file} does not match its checksum (model.sha256): the file is damaged; rerun with "
                        "--fresh to train again, or restore it")
    like = experiment.module.model_like(config)
    try:
        model = eqx.tree_deserialise_leaves(model_file, like)
    except (RuntimeError, ValueError, TypeError) as err:
        raise DataError(f"{model_file} does not fit the model that {experiment.name!r} builds from its config "
                        f"({err}); was it written by another version of the experiment?") from None
    return TrainedRun(path, experiment, config, model)
