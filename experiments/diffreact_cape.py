"""1D diffusion-reaction (Fisher-KPP): FNO / U-Net surrogates with CAPE conditioning on (nu, rho), held-out rho = 5.

u_t = nu u_xx + rho u (1 - u) over nu in {0.5, 1, 2, 5} x rho in {1, 2, 5, 10}; every (nu, rho = 5) pair is held
out (interpolation in the reaction rate); 64-point grid, 20-step rollouts. A quarter of the training windows start
at the initial condition: the rollout's error is set by its first step off the rough initial state, which uniform
window starts would show in only one window of 16.
`--set base=fno|tfno|unet|mpnn --set conditioning=none|channels|cape|cape+channels --set train.steps=N`.
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.neural_solvers import NeuralSolverConfig, run_neural_solver_experiment
from sciml.studies.neural_solvers import model_like as model_like  # the saved model's structure (`sciml.load`)
from sciml.studies.neural_solvers import predict as predict  # rollouts from a dataset or predictions.nc

NAME = "diffreact-cape"
FAMILY = "neural-solver"
REPRODUCES = "CAPE (Takamoto et al., ICML 2023): FNO/U-Net +- CAPE on PDEBench 1D diffusion-reaction, held-out rho"
SMOKE = {"small": True, "train.steps": 20, "train.chunk": 10, "epochs": 2, "size": 8, "modes": 4, "depth": 1,
         "cape_width": 8, "cape_modes": 4, "max_eval_samples": 2}


@dataclasses.dataclass(frozen=True)
class Config(NeuralSolverConfig):
    train: TrainConfig = TrainConfig(steps=2000, optimizer="adamw", learning_rate=3e-3, schedule="cosine",
                                     final_fraction=0.0, weight_decay=1e-4, chunk=100)
    dataset: str = "pdebench-diffreact"
    parameters: tuple[str, ...] = ("nu", "rho")
    held_out_parameter: str = "rho"
    held_out_values: tuple[float, ...] = (5.0,)
    initial_window_fraction: float = 0.25


def main(config: Config, run: RunDir) -> dict:
    return run_neural_solver_experiment(config, run)
