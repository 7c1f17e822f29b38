"""2D Helmholtz u_xx + u_yy + u = q, exact u = sin(4 pi y) sin(pi x) on [-1, 1]^2, with Physics-Informed Gaussians.

The model is a PINN whose embedding is `GaussianFeatures` (4 channels of N trainable Gaussians) feeding a small tanh
MLP; u = 0 on the boundary is built in as (1 - x^2)(1 - y^2) N. Adam on resampled uniform points (PIG: Kang et al.,
ICLR 2025, 800 Gaussians, 60k Adam steps or 2k L-BFGS steps: 4.13e-5). `--set embedding=none` gives the MLP PINN."""

from __future__ import annotations

import dataclasses

from sciml.experiment import RunDir
from sciml.pinn import suite

NAME = "helmholtz-pig"


@dataclasses.dataclass(frozen=True)
class Config(suite.PointwiseConfig):
    """Defaults of this case (the knobs: `suite.PointwiseConfig`)."""


def main(config: Config, run: RunDir) -> dict:
    problem, transform = suite.helmholtz_problem(config.n_points, config.resample_every)
    return suite.train_pointwise(problem, transform, suite.helmholtz_reference(), config, run,
                                 extra={"paper_pig_rel_l2": suite.PIG_PAPER["helmholtz"],
                                        "paper_pinn_rel_l2": suite.PINN_PAPER["helmholtz"]})
