"""(2+1)D Klein-Gordon u_tt - Laplace u + u^2 = f, exact u = (x+y) cos 2t + x y sin 2t, with Physics-Informed Gaussians.

t in [0, 10], (x, y) in [-1, 1]^2; initial value, initial rate and the four side faces are soft constraints
(`--set hard_initial=true` builds the initial value and rate into the model, see `KleinGordon.problem`). PIG's
script: 100 Gaussians per channel, sigma0 0.5, Adam lr 1e-2 (x0.9 every 2000) for 50k steps: 2.76e-3.
`--set embedding=none` (with width/depth of an MLP) gives the PINN baseline."""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.cases import KleinGordon
from sciml.studies.pinn import PointwiseConfig, train_pointwise
from sciml.studies.pinn import model_like as model_like  # the shared ones: re-exported for sciml.load
from sciml.studies.pinn import predict as predict

NAME = "klein-gordon-pig"
FAMILY = "pinn"
REPRODUCES = "PIG (Kang et al., ICLR 2025) Table 1: Klein-Gordon (PIG 2.76e-3)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "train.lbfgs_steps": 0, "n_gaussians": 16, "n_points": 128,
         "n_condition": 16}


@dataclasses.dataclass(frozen=True)
class Config(PointwiseConfig):
    """Defaults of this case (the knobs: `sciml.studies.pinn.PointwiseConfig`)."""

    train: TrainConfig = TrainConfig(steps=5000, learning_rate=0.01, schedule="exponential", decay_steps=500,
                                     decay_rate=0.8, lbfgs_steps=500, chunk=100)
    n_gaussians: int = 100
    sigma: float = 0.5
    sigma_units: str = "physical"  # as PIG's script: 0.5 in t units is 0.1 of the scaled t axis, 0.5 in x and y
    n_condition: int = 256
    """Points per step on t = 0 and on each side face for the soft constraints."""
    condition_weight: float = 10.0
    """Weight of every soft constraint term (initial value, initial rate, faces) in the loss."""
    hard_initial: bool = False
    """Build the initial value and rate into the model instead of soft terms (`KleinGordon.problem`)."""

    def pde(self):
        case = KleinGordon()
        return case, *case.problem(self.n_points, self.n_condition, self.resample_every,
                                   hard_initial=self.hard_initial)


def main(config: Config, run: RunDir) -> dict:
    case, problem, transform = config.pde()
    weights = {name: config.condition_weight for name in problem.constraints}
    return train_pointwise(case, problem, transform, config, run, weights=weights)
