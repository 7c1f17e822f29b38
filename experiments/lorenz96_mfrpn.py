"""Lorenz-96 subgrid closure with a multi-fidelity randomized prior network (MF-RPN), judged offline and online.

HF net fed by the detached LF prediction (and the stencil when use_state); LF net trained on the one-scale
cubic-closure model at every forcing, HF net on the scarce two-scale truth at F 18-20.
Test: independent two-scale runs at F = 18, 20 (historical) and 24 (warmer); online: the one-scale model coupled
to the closure against the two-scale truth (protocol and knobs: sciml.uq.Lorenz96Config). See docs/guides/mfrpn.md.
"""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

from sciml.experiment import RunDir
from sciml.uq import MultiFidelityConfig, run_lorenz96_experiment

NAME = "lorenz96-mfrpn"


@dataclasses.dataclass(frozen=True)
class Config(MultiFidelityConfig):
    """Every knob and its default: the base class (sciml.uq)."""


def main(config: Config, run: RunDir) -> dict:
    return run_lorenz96_experiment("mfrpn", config, run)
