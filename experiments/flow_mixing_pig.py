"""(2+1)D flow mixing u_t + a u_x + b u_y = 0 (a rotating vortex), exact u known, with Physics-Informed Gaussians.

t in [0, 4], (x, y) in [-4, 4]^2; the initial value is built in (u = u0 + (t/4) N), the side faces are soft
Dirichlet terms. PIG's script: 4000 Gaussians per channel, sigma0 0.1, lr 1e-2, 50k steps, residual weight 10:
4.51e-4. `--set embedding=none` gives the PINN baseline."""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.cases import FlowMixing
from sciml.studies.pinn import PointwiseConfig, train_pointwise
from sciml.studies.pinn import model_like as model_like  # the shared ones: re-exported for sciml.load
from sciml.studies.pinn import predict as predict

NAME = "flow-mixing-pig"
FAMILY = "pinn"
REPRODUCES = "PIG (Kang et al., ICLR 2025) Table 1: flow mixing (PIG 4.51e-4)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_gaussians": 16, "n_points": 64, "adaptive_points": 32,
         "adaptive_candidates": 256, "adaptive_every": 10, "n_condition": 16}


@dataclasses.dataclass(frozen=True)
class Config(PointwiseConfig):
    """Defaults of this case (the knobs: `sciml.studies.pinn.PointwiseConfig`)."""

    train: TrainConfig = TrainConfig(steps=18000, learning_rate=0.01, schedule="exponential", decay_steps=1500,
                                     decay_rate=0.9, chunk=100)
    n_gaussians: int = 400
    n_points: int = 1024
    adaptive_points: int = 1024
    n_condition: int = 256
    """Points per step on each side face for the soft Dirichlet terms."""
    residual_weight: float = 10.0
    """Weight of the residual term in the loss (PIG's script: 10)."""

    def pde(self):
        case = FlowMixing()
        return case, *case.problem(self.n_points, self.n_condition, self.resample_every)


def main(config: Config, run: RunDir) -> dict:
    return train_pointwise(*config.pde(), config, run, weights={"residual": config.residual_weight})
