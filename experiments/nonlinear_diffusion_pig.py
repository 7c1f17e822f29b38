"""(2+1)D nonlinear diffusion u_t = 0.05 (|grad u|^2 + u Laplace u), u = 0 on the boundary, with Physics-Informed Gaussians.

t in [0, 1], (x, y) in [-1, 1]^2, u0 three Gaussian bumps (built in: u = u0 + t N); zero Dirichlet faces are soft.
The reference is our finite-difference solution (201^2 points, RK4). PIG's script: 4000 Gaussians, lr 1e-3,
100k steps: 2.69e-3. `--set embedding=none` gives the PINN baseline."""

from __future__ import annotations

import dataclasses

from sciml.experiment import RunDir
from sciml.pinn import suite

NAME = "nonlinear-diffusion-pig"


@dataclasses.dataclass(frozen=True)
class Config(suite.PointwiseConfig):
    """Defaults of this case (the knobs: `suite.PointwiseConfig`)."""

    n_gaussians: int = 300
    n_points: int = 1024
    n_condition: int = 256
    learning_rate: float = 1e-3
    steps: int = 3000
    decay_steps: int = 1000


def main(config: Config, run: RunDir) -> dict:
    problem, transform = suite.nonlinear_diffusion_problem(config.n_points, config.n_condition, config.resample_every)
    return suite.train_pointwise(problem, transform, suite.nonlinear_diffusion_reference(), config, run,
                                 extra={"paper_pig_rel_l2": suite.PIG_PAPER["nonlinear-diffusion"],
                                        "paper_pinn_rel_l2": suite.PINN_PAPER["nonlinear-diffusion"]})
