"""1D Burgers: FNO / U-Net surrogates with CAPE parameter conditioning, scored on held-out viscosities.

u_t + (u^2/2)_x = (nu/pi) u_xx; trained on nu in {0.001, 0.004, 0.01, 0.04}, held out nu in {0.002, 0.02}
(interpolation, one value in each half of the range); 64-point grid, 40-step rollouts. The family's members with
nu >= 0.1 are left out of training and evaluation: under nu/pi diffusion their states decay to a few percent of
their initial norm or less within the 2 time units (to ~1e-11 at nu = 4), where PDEBench's per-frame nRMSE divides
by ~0 and measures nothing.
`--set base=fno|tfno|unet|mpnn --set conditioning=none|channels|cape|cape+channels --set train.steps=N`.
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.neural_solvers import NeuralSolverConfig, run_neural_solver_experiment
from sciml.studies.neural_solvers import model_like as model_like  # the saved model's structure (`sciml.load`)
from sciml.studies.neural_solvers import predict as predict  # rollouts from a dataset or predictions.nc

NAME = "burgers-cape"
FAMILY = "neural-solver"
REPRODUCES = "CAPE (Takamoto et al., ICML 2023): FNO/U-Net +- CAPE on PDEBench 1D Burgers, held-out nu"
SMOKE = {"small": True, "train.steps": 20, "train.chunk": 10, "epochs": 2, "size": 8, "modes": 4, "depth": 1,
         "cape_width": 8, "cape_modes": 4, "max_eval_samples": 2}


@dataclasses.dataclass(frozen=True)
class Config(NeuralSolverConfig):
    train: TrainConfig = TrainConfig(steps=2000, optimizer="adamw", learning_rate=3e-3, schedule="cosine",
                                     final_fraction=0.0, weight_decay=1e-4, chunk=100)
    dataset: str = "pdebench-burgers"
    parameters: tuple[str, ...] = ("nu",)
    held_out_parameter: str = "nu"
    held_out_values: tuple[float, ...] = (0.002, 0.02)
    excluded_values: tuple[float, ...] = (0.1, 0.2, 0.4, 1.0, 2.0, 4.0)


def main(config: Config, run: RunDir) -> dict:
    return run_neural_solver_experiment(config, run)
