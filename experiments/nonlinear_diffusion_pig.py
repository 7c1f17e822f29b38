"""(2+1)D nonlinear diffusion u_t = 0.05 (|grad u|^2 + u Laplace u), Dirichlet u = 0, with Physics-Informed Gaussians.

t in [0, 1], (x, y) in [-1, 1]^2, u0 three Gaussian bumps (built in: u = u0 + t N); zero Dirichlet faces are soft.
The reference is our finite-difference solution (201^2 points, RK4). PIG's script: 4000 Gaussians, lr 1e-3,
100k steps: 2.69e-3. `--set embedding=none` gives the PINN baseline."""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.cases import NonlinearDiffusion
from sciml.studies.pinn import PointwiseConfig, train_pointwise
from sciml.studies.pinn import model_like as model_like  # the shared ones: re-exported for sciml.load
from sciml.studies.pinn import predict as predict

NAME = "nonlinear-diffusion-pig"
FAMILY = "pinn"
REPRODUCES = "PIG (Kang et al., ICLR 2025) Table 1: nonlinear diffusion (PIG 2.69e-3)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_gaussians": 16, "n_points": 128, "n_condition": 16}


@dataclasses.dataclass(frozen=True)
class Config(PointwiseConfig):
    """Defaults of this case (the knobs: `sciml.studies.pinn.PointwiseConfig`)."""

    train: TrainConfig = TrainConfig(steps=3000, learning_rate=1e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.9, chunk=100)
    n_gaussians: int = 300
    n_points: int = 1024
    n_condition: int = 256
    """Points per step on each side face for the soft zero-Dirichlet terms."""

    def pde(self):
        case = NonlinearDiffusion()
        return case, *case.problem(self.n_points, self.n_condition, self.resample_every)


def main(config: Config, run: RunDir) -> dict:
    return train_pointwise(*config.pde(), config, run)
