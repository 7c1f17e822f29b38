"""1D Burgers: FNO / U-Net surrogates with CAPE parameter conditioning, scored on held-out viscosities.

u_t + (u^2/2)_x = (nu/pi) u_xx; trained on nu in {0.002, 0.02, 0.04, 0.2, 0.4, 2}, held out nu in
{0.001, 0.004, 0.01, 0.1, 1, 4} (CAPE's split as far as its configs show); 64-point grid, 40-step rollouts.
`--set base=fno|unet --set conditioning=none|channels|cape`.
"""

from __future__ import annotations

import dataclasses

from sciml.experiment import RunDir
from sciml.operators import NeuralSolverConfig
from sciml.operators._report import run_neural_solver_experiment

NAME = "burgers-cape"


@dataclasses.dataclass(frozen=True)
class Config(NeuralSolverConfig):
    dataset: str = "pdebench-burgers"
    parameters: tuple[str, ...] = ("nu",)
    held_out_parameter: str = "nu"
    held_out_values: tuple[float, ...] = (0.001, 0.004, 0.01, 0.1, 1.0, 4.0)


def main(config: Config, run: RunDir) -> dict:
    return run_neural_solver_experiment(config, run)
