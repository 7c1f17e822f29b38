"""Lorenz-96 subgrid closure with a randomized prior network ensemble trained on high-fidelity data only.

Baseline of the MF-RPN study: the same RPN members trained on the scarce two-scale truth at F 18-20 only.
Test: independent two-scale runs at F = 18, 20 (historical) and 24 (warmer); online: the one-scale model coupled
to the closure against the two-scale truth (protocol and knobs: sciml.studies.lorenz96.Lorenz96Config).
See docs/guides/mfrpn.md. `--set data.path=FILE` (and the roles `data.dims.*`, `data.variables.*`) trains and
scores the ensemble offline on (state, tendency) pairs of your own instead (docs/tutorials/own-data.md).
"""

from __future__ import annotations

import dataclasses

import xarray as xr

from sciml.studies import RunDir
from sciml.studies.lorenz96 import Lorenz96Config, closure_like, predict_closure, run_lorenz96
from sciml.uq import LearnedParametrization

NAME = "lorenz96-rpn"
FAMILY = "parametrization"
REPRODUCES = "MF-RPN (Bhouri et al., arXiv 2309.10231) on two-scale Lorenz-96: the HF-only RPN baseline"
SMOKE = {"train.steps": 200, "train.decay_steps": 50, "train.chunk": 200, "members": 4, "width": 16, "depth": 2,
         "small": True, "online_duration": 2.0, "online_runs": 2, "online_forcings": (20.0,)}


@dataclasses.dataclass(frozen=True)
class Config(Lorenz96Config):
    """Every knob and its default: the base class (sciml.studies.lorenz96)."""


def model_like(config: Config) -> LearnedParametrization:
    """The trained closure's structure (ensemble, scalings, noise std), built from the config alone."""
    return closure_like("rpn", config)


def predict(model: LearnedParametrization, config: Config, inputs) -> xr.Dataset:
    """`inputs`: slow states X (sample, k) as an array, or a dataset with `state` such as predictions.nc. Returns the
    ensemble-mean tendency `prediction`, its std, 90 % interval (noise drawn with the key `main` uses) and members."""
    return predict_closure(model, config, inputs)


def main(config: Config, run: RunDir) -> dict:
    return run_lorenz96("rpn", config, run)
