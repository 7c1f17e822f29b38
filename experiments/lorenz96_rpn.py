"""Lorenz-96 subgrid closure with a randomized prior network ensemble trained on high-fidelity data only.

Baseline of the MF-RPN study: the same RPN members trained on the scarce two-scale truth at F 18-20 only.
Test: independent two-scale runs at F = 18, 20 (historical) and 24 (warmer); online: the one-scale model coupled
to the closure for online_duration time units against the two-scale truth. See docs/guides/mfrpn.md.
"""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

from sciml.experiment import RunDir
from sciml.uq import run_lorenz96_experiment

NAME = "lorenz96-rpn"


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    members: int = 16
    width: int = 64
    depth: int = 3
    prior_scale: float = 1.0
    half_width: int = 2
    use_state: bool = True
    alpha: float = 1.0
    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 1e-3
    subset_fraction: float = 0.8
    small: bool = False
    online_duration: float = 100.0
    online_forcings: tuple[float, ...] = (20.0, 24.0)


def main(config: Config, run: RunDir) -> dict:
    return run_lorenz96_experiment("rpn", config, run)
