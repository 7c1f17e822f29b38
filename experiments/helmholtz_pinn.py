"""2D Helmholtz (exact u = sin(4 pi y) sin(pi x)) with a plain tanh MLP PINN: the baseline for `helmholtz-pig`.

Same problem, points, steps and hard boundary condition as `helmholtz-pig`; the embedding is off and the MLP is the
usual 4 x 64 (the PIG paper quotes 4.02e-1 for the PINN)."""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.cases import Helmholtz
from sciml.studies.pinn import PointwiseConfig, train_pointwise
from sciml.studies.pinn import model_like as model_like  # the shared ones: re-exported for sciml.load
from sciml.studies.pinn import predict as predict

NAME = "helmholtz-pinn"
FAMILY = "pinn"
REPRODUCES = "PIG (Kang et al., ICLR 2025) Table 1: 2D Helmholtz, the PINN baseline (4.02e-1)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "width": 16, "depth": 2, "n_points": 128}


@dataclasses.dataclass(frozen=True)
class Config(PointwiseConfig):
    """Defaults of this case (the knobs: `sciml.studies.pinn.PointwiseConfig`)."""

    train: TrainConfig = TrainConfig(steps=4000, learning_rate=1e-3, schedule="exponential", decay_steps=200,
                                     decay_rate=0.9, chunk=100)
    embedding: str = "none"
    width: int = 64
    depth: int = 4

    def pde(self):
        case = Helmholtz()
        return case, *case.problem(self.n_points, self.resample_every)


def main(config: Config, run: RunDir) -> dict:
    return train_pointwise(*config.pde(), config, run)
