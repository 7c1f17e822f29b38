"""(2+1)D flow mixing u_t + a u_x + b u_y = 0 (a rotating vortex), exact solution known, with Physics-Informed Gaussians.

t in [0, 4], (x, y) in [-4, 4]^2; the initial value is built in (u = u0 + (t/4) N), the side faces are soft
Dirichlet terms. PIG's script: 4000 Gaussians per channel, sigma0 0.1, lr 1e-2, 50k steps, residual weight 10:
4.51e-4. `--set embedding=none` gives the PINN baseline."""

from __future__ import annotations

import dataclasses

from sciml.experiment import RunDir
from sciml.pinn import suite

NAME = "flow-mixing-pig"


@dataclasses.dataclass(frozen=True)
class Config(suite.PointwiseConfig):
    """Defaults of this case (the knobs: `suite.PointwiseConfig`)."""

    n_gaussians: int = 400
    n_points: int = 1024
    adaptive_points: int = 1024
    n_condition: int = 256
    residual_weight: float = 10.0
    steps: int = 18000
    decay_steps: int = 1500


def main(config: Config, run: RunDir) -> dict:
    problem, transform = suite.flow_mixing_problem(config.n_points, config.n_condition, config.resample_every)
    return suite.train_pointwise(problem, transform, suite.flow_mixing_reference(), config, run,
                                 weights={"residual": config.residual_weight},
                                 extra={"paper_pig_rel_l2": suite.PIG_PAPER["flow-mixing"]})
