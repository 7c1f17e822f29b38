"""2D incompressible Navier-Stokes (vorticity, 64x64): FNO / U-Net surrogates with CAPE conditioning on viscosity.

Decaying turbulence over nu in {2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2}; nu in {5e-4, 5e-3} held out; 32x32 grid
(every 2nd point), 20-step rollouts. `--set base=fno|unet --set conditioning=none|channels|cape|cape+channels
--set train.steps=N`.
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.neural_solvers import NeuralSolverConfig, run_neural_solver_experiment
from sciml.studies.neural_solvers import model_like as model_like  # the saved model's structure (`sciml.load`)
from sciml.studies.neural_solvers import predict as predict  # rollouts from a dataset or predictions.nc

NAME = "ns2d-cape"
FAMILY = "neural-solver"
REPRODUCES = "CAPE (Takamoto et al., ICML 2023): FNO/U-Net +- CAPE on 2D Navier-Stokes vorticity, held-out nu"
SMOKE = {"small": True, "train.steps": 20, "train.chunk": 10, "epochs": 2, "size": 8, "modes": 4, "depth": 1,
         "cape_width": 8, "cape_modes": 4, "max_eval_samples": 2, "spatial_stride": 1, "batch_size": 4}


@dataclasses.dataclass(frozen=True)
class Config(NeuralSolverConfig):
    train: TrainConfig = TrainConfig(steps=400, optimizer="adamw", learning_rate=3e-3, schedule="cosine",
                                     final_fraction=0.0, weight_decay=1e-4, chunk=100)
    dataset: str = "ns2d-vorticity"
    parameters: tuple[str, ...] = ("nu",)
    held_out_parameter: str = "nu"
    held_out_values: tuple[float, ...] = (5e-4, 5e-3)
    spatial_stride: int = 2
    size: int = 12
    modes: int = 6
    depth: int = 3
    cape_width: int = 16
    cape_modes: int = 4
    batch_size: int = 8
    horizon: int = 4


def main(config: Config, run: RunDir) -> dict:
    return run_neural_solver_experiment(config, run)
