"""1D advection: FNO / U-Net surrogates with CAPE parameter conditioning, scored on held-out beta in {0.1, 1, 7}.

Trained on beta in {0.2, 0.4, 0.7, 2, 4} (CAPE's released split of PDEBench's advection family, generated locally
with exponax: 240 trajectories per speed from PDEBench's initial-state distribution, solved on 1024 points and kept
at 256, 41 frames on t in [0, 2]); evaluated by full 40-step rollouts from one frame. The defaults are the setting
validated in `benchmarks/pdebench_cape.py` (``--families advection --training curriculum --frames 1 --steps 3000``,
whose runs on the same data these defaults repeat): PDEBench's FNO (width 20, 12 modes), CAPE's tanh curriculum over
windows of 5 steps, batch 50, AdamW 1e-3 halved 5 times over 3000 steps. beta enters the equation linearly (the
update is about -beta dt u_x), so it is standardised on a linear scale. Parameters outside the trained range are
clipped to it (beta = 0.1 is seen as 0.2, beta = 7 as 4): the conditioned models' rollouts blow up when fed a speed
beyond the largest trained one. Both choices were first checked on validation splits without the held-out speeds by
`benchmarks/cape_validation.py`. In this setting CAPE does not beat the parameter channels on the held-out speeds
(docs/results/pdebench_cape.md).
`--set base=fno|tfno|unet|mpnn --set conditioning=none|channels|cape|cape+channels --set train.steps=N`;
`--set data.path=FILE` (and the roles `data.dims.*`, `data.variables.u`) trains on trajectories of your own
(docs/tutorials/own-data.md).
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.neural_solvers import NeuralSolverConfig, run_neural_solver_experiment
from sciml.studies.neural_solvers import model_like as model_like  # the saved model's structure (`sciml.load`)
from sciml.studies.neural_solvers import predict as predict  # rollouts from a dataset or predictions.nc

NAME = "advection-cape"
FAMILY = "neural-solver"
REPRODUCES = "CAPE (Takamoto et al., ICML 2023): FNO/U-Net +- CAPE on PDEBench 1D advection, held-out beta"
SMOKE = {"small": True, "train.steps": 20, "train.chunk": 10, "epochs": 2, "size": 8, "modes": 4, "depth": 1,
         "cape_width": 8, "cape_modes": 4, "max_eval_samples": 2}


@dataclasses.dataclass(frozen=True)
class Config(NeuralSolverConfig):
    train: TrainConfig = TrainConfig(steps=3000, optimizer="adamw", learning_rate=1e-3, schedule="exponential",
                                     decay_steps=600, decay_rate=0.5, weight_decay=1e-4, chunk=500)
    dataset: str = "pdebench-advection"
    parameters: tuple[str, ...] = ("beta",)
    held_out_parameter: str = "beta"
    held_out_values: tuple[float, ...] = (0.1, 1.0, 7.0)
    parameter_scale: str = "linear"
    parameter_clip: float | None = 0.0
    size: int = 20
    modes: int = 12
    spatial_stride: int = 1
    batch_size: int = 50
    epochs: int = 10
    max_eval_samples: int = 64


def main(config: Config, run: RunDir) -> dict:
    return run_neural_solver_experiment(config, run)
