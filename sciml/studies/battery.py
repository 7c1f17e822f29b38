"""The SPM surrogate study (`battery-spm`): how the surrogate is built and trained through `sciml.studies.train`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax

from sciml.battery import SPMSurrogate, SurrogateSetup, TrainingData, build_network, surrogate_loss
from sciml.studies._config import TrainConfig
from sciml.studies._run import RunDir
from sciml.studies._training import train
from sciml.train import Evaluation, FitResult


@dataclasses.dataclass(frozen=True)
class SurrogateConfig:
    """The surrogate's network (width x depth), collocation points, data weight, and its training (Adam with the
    learning rate times 0.6 every 1000 steps, then float64 L-BFGS)."""

    train: TrainConfig = TrainConfig(steps=6000, learning_rate=2e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.6, lbfgs_steps=1000, lbfgs_dtype="float64", chunk=250)
    """Training: Adam, learning rate x 0.6 every 1000 steps, then float64 L-BFGS."""
    width: int = 48
    """Hidden units per layer of the surrogate's MLP."""
    depth: int = 4
    """Hidden layers of the surrogate's MLP."""
    n_residual: int = 1024
    """Sobol points per step for the particle diffusion residual."""
    n_surface: int = 256
    """Sobol points per step for the surface-flux condition."""
    data_weight: float = 1e4
    """Weight of the solver-data misfit in the loss."""


def surrogate_like(setup: SurrogateSetup, config: SurrogateConfig = SurrogateConfig()) -> SPMSurrogate:
    """The structure of the surrogate `train_surrogate(setup, ..., config)` gives: its untrained network (drawn, not
    traced abstractly: the hard constraint closes over arrays of the setup)."""
    return SPMSurrogate(build_network(setup, config.width, config.depth, key=config.train.key(0)), setup)


def train_surrogate(setup: SurrogateSetup, data: TrainingData, config: SurrogateConfig = SurrogateConfig(),
                    run: RunDir | None = None, *,
                    evaluations: Sequence[Evaluation] = ()) -> tuple[SPMSurrogate, FitResult]:
    """Train the surrogate of `setup` on the loss of `sciml.battery.surrogate_loss` with `data`; the network from
    ``config.train.key(0)``, the Sobol points from a seed drawn with the run's root key. Returns (SPMSurrogate,
    FitResult)."""
    seed = int(jax.random.randint(jax.random.key(config.train.seed), (), 0, 2**30))
    loss = surrogate_loss(setup, data, n_residual=config.n_residual, n_surface=config.n_surface,
                          data_weight=config.data_weight, seed=seed)
    network = build_network(setup, config.width, config.depth, key=config.train.key(0))
    result = train(network, loss, loss.problem.sampler(), config.train, run, evaluations=evaluations)
    return SPMSurrogate(result.model, setup), result
