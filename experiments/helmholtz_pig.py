"""2D Helmholtz u_xx + u_yy + u = q, exact u = sin(4 pi y) sin(pi x) on [-1, 1]^2, with Physics-Informed Gaussians.

The model is a PINN whose embedding is `GaussianFeatures` (4 channels of N trainable Gaussians) feeding a small tanh
MLP; u = 0 on the boundary is built in as (1 - x^2)(1 - y^2) N. Adam on resampled uniform points (PIG: Kang et al.,
ICLR 2025, 800 Gaussians, 60k Adam steps or 2k L-BFGS steps: 4.13e-5). `--set embedding=none` gives the MLP PINN."""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir
from sciml.studies.cases import Helmholtz
from sciml.studies.pinn import PointwiseConfig, train_pointwise
from sciml.studies.pinn import model_like as model_like  # the shared ones: re-exported for sciml.load
from sciml.studies.pinn import predict as predict

NAME = "helmholtz-pig"
FAMILY = "pinn"
REPRODUCES = "PIG (Kang et al., ICLR 2025) Table 1: 2D Helmholtz (PIG 4.13e-5)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "n_gaussians": 16, "n_points": 128}


@dataclasses.dataclass(frozen=True)
class Config(PointwiseConfig):
    """Defaults of this case (the knobs: `sciml.studies.pinn.PointwiseConfig`)."""

    def pde(self):
        case = Helmholtz()
        return case, *case.problem(self.n_points, self.resample_every)


def main(config: Config, run: RunDir) -> dict:
    return train_pointwise(*config.pde(), config, run)
