"""2D Helmholtz (exact u = sin(4 pi y) sin(pi x)) with a plain tanh MLP PINN: the baseline for `helmholtz-pig`.

Same problem, points, steps and hard boundary condition as `helmholtz-pig`; the embedding is off and the MLP is the
usual 4 x 64 (the PIG paper quotes 4.02e-1 for the PINN)."""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.cases import Helmholtz
from sciml.studies.pinn import PointwiseConfig, train_pointwise

NAME = "helmholtz-pinn"
SMOKE = {"train.steps": 20, "train.chunk": 10, "width": 16, "depth": 2, "n_points": 128}


@dataclasses.dataclass(frozen=True)
class Config(PointwiseConfig):
    """Defaults of this case (the knobs: `sciml.studies.pinn.PointwiseConfig`)."""

    train: TrainConfig = TrainConfig(steps=4000, learning_rate=1e-3, schedule="exponential", decay_steps=200,
                                     decay_rate=0.9, chunk=100)
    embedding: str = "none"
    width: int = 64
    depth: int = 4


def main(config: Config, run: RunDir) -> dict:
    case = Helmholtz()
    problem, transform = case.problem(config.n_points, config.resample_every)
    return train_pointwise(case, problem, transform, config, run)
