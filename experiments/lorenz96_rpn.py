"""Lorenz-96 subgrid closure with a randomized prior network ensemble trained on high-fidelity data only.

Baseline of the MF-RPN study: the same RPN members trained on the scarce two-scale truth at F 18-20 only.
Test: independent two-scale runs at F = 18, 20 (historical) and 24 (warmer); online: the one-scale model coupled
to the closure against the two-scale truth (protocol and knobs: sciml.uq.Lorenz96Config). See docs/guides/mfrpn.md.
"""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

from sciml.experiment import RunDir
from sciml.uq import Lorenz96Config, run_lorenz96_experiment

NAME = "lorenz96-rpn"


@dataclasses.dataclass(frozen=True)
class Config(Lorenz96Config):
    """Every knob and its default: the base class (sciml.uq)."""


def main(config: Config, run: RunDir) -> dict:
    return run_lorenz96_experiment("rpn", config, run)
