"""2D Helmholtz (exact u = sin(4 pi y) sin(pi x)) with a plain tanh MLP PINN: the baseline for `helmholtz-pig`.

Same problem, points, steps and hard boundary condition as `helmholtz-pig`; the embedding is off and the MLP is the
usual 4 x 64 (the PIG paper quotes 4.02e-1 for the PINN)."""

from __future__ import annotations

import dataclasses

from sciml.experiment import RunDir
from sciml.pinn import suite

NAME = "helmholtz-pinn"


@dataclasses.dataclass(frozen=True)
class Config(suite.PointwiseConfig):
    """Defaults of this case (the knobs: `suite.PointwiseConfig`)."""

    embedding: str = "none"
    width: int = 64
    depth: int = 4
    learning_rate: float = 0.001


def main(config: Config, run: RunDir) -> dict:
    problem, transform = suite.helmholtz_problem(config.n_points, config.resample_every)
    return suite.train_pointwise(problem, transform, suite.helmholtz_reference(), config, run,
                                 extra={"paper_pig_rel_l2": suite.PIG_PAPER["helmholtz"],
                                        "paper_pinn_rel_l2": suite.PINN_PAPER["helmholtz"]})
