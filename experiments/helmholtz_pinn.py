"""2D Helmholtz (exact u = sin(4 pi y) sin(pi x)) with a plain tanh MLP PINN: the baseline for `helmholtz-pig`.

Same problem, points, steps and hard boundary condition as `helmholtz-pig`; the embedding is off and the MLP is the
usual 4 x 64 (the PIG paper quotes 4.02e-1 for the PINN)."""

from __future__ import annotations

import dataclasses

from sciml.experiment import RunDir
from sciml.pinn import suite

NAME = "helmholtz-pinn"


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    embedding: str = "none"
    n_gaussians: int = 400
    channels: int = 4
    sigma: float = 0.1
    covariance: str = "diagonal"
    width: int = 64
    depth: int = 4
    n_points: int = 2048
    resample_every: int = 1
    steps: int = 4000
    learning_rate: float = 0.001
    decay_steps: int = 200
    decay_rate: float = 0.9
    lbfgs_steps: int = 0
    chunk: int = 100

    def __post_init__(self):
        if self.embedding not in ("gaussian", "none"):
            raise ValueError(f"embedding must be 'gaussian' (PIG) or 'none' (MLP PINN), got {self.embedding!r}")


def main(config: Config, run: RunDir) -> dict:
    problem, transform = suite.helmholtz_problem(config.n_points, config.resample_every)
    return suite.train_pointwise(problem, transform, suite.helmholtz_reference(), config, run,
                                 extra={"paper_pig_rel_l2": suite.PIG_PAPER["helmholtz"],
                                        "paper_pinn_rel_l2": suite.PINN_PAPER["helmholtz"]})
