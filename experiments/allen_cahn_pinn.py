"""Allen-Cahn u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0 (periodic, u0 = x^2 cos(pi x)) with a PINN and the training recipes.

Scored against Raissi's raissi_AC.mat. The model is exactly periodic (periodic embedding of x) and carries the
initial condition (u = u0 + t N); the net N is the architecture `net` names (`NETS`: a random-weight-factorized
MLP by default, jaxpi's modified MLP or a PirateNet, all with factorized layers); the residual is causally weighted
over time chunks and the terms are balanced by the strategy `balancing` names (`RecipeLoss`); Adam on resampled
points, then L-BFGS in float64. Papers: jaxpi 5.37e-5 (300k steps), PirateNet 2.24e-5, PIG 1.04e-4.
`allen-cahn-piratenet` is the PirateNet preset.
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp

from sciml import ConfigError, metrics
from sciml.nn import FactorizedLinear, FactorizedMLP, ModifiedMLP, PeriodicEmbedding, PirateNet, least_squares_readout
from sciml.pinn import PINN, CausalWeighting, RecipeLoss
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.cases import AllenCahn, reference_grid
from sciml.studies.pinn import balancing, predict, predict_points, report
from sciml.train import Evaluation

NAME = "allen-cahn-pinn"
FAMILY = "pinn"
REPRODUCES = "PIG (Kang et al., ICLR 2025) Table 1 and jaxpi: Allen-Cahn relative L2 (jaxpi 5.37e-5, PIG 1.04e-4)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "train.lbfgs_steps": 0, "n_points": 128, "width": 16, "depth": 2,
         "causal_chunks": 4}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=10000, learning_rate=1e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.9, lbfgs_steps=14000, chunk=100)
    width: int = 64
    """Hidden units per layer of the factorized MLP."""
    depth: int = 4
    """Hidden layers of the factorized MLP."""
    harmonics: int = 2
    """Fourier harmonics of the periodic embedding of x (the model is exactly periodic)."""
    n_points: int = 2048
    """Uniform residual points per step."""
    causal_chunks: int = 16
    """Time bins of the causal residual weighting."""
    causal_tolerance: float = 10.0
    """Causal weighting's tolerance epsilon: bin i is weighted exp(-epsilon x the earlier bins' loss)."""
    balancing: str = "fixed"
    """Loss-balancing strategy: "fixed", "grad_norm" or "ntk" (`sciml.studies.pinn.BALANCING`)."""
    net: str = "factorized-mlp"
    """Architecture of N (`NETS`): "factorized-mlp" (width x depth), "modified-mlp" (`ModifiedMLP`, width x depth)
    or "piratenet" (`PirateNet`: width, blocks, fourier_scale); all with factorized (RWF) layers."""
    blocks: int = 3
    """Residual blocks of the PirateNet (net "piratenet" only)."""
    fourier_scale: float = 0.3
    """Standard deviation of the PirateNet's random Fourier frequencies, in cycles per unit of its input (net
    "piratenet" only)."""
    pi_init: bool = False
    """Fit the PirateNet's readout by least squares so that N(0, x) is the PDE's u_t at t = 0, i.e. the model
    starts as u0 + t u_t(0) (the paper's physics-informed initialisation, for the built-in initial condition;
    net "piratenet" only)."""
    pi_ridge: float = 1e-3
    """Tikhonov weight of that fit (`least_squares_readout`'s ridge), keeping the readout small."""

    def __post_init__(self):
        if self.net not in NETS:
            raise ConfigError(f"net must be one of {tuple(NETS)}, got {self.net!r}; e.g. --set net=piratenet")


# Random weight factorization of every dense layer (jaxpi's setting: s ~ N(1, 0.1)).
RWF_LAYER = functools.partial(FactorizedLinear, mean=1.0, std=0.1)


def factorized_mlp(in_size: int, config: Config, key: jax.Array) -> eqx.Module:
    """A `FactorizedMLP` width x depth."""
    return FactorizedMLP(in_size, "scalar", config.width, config.depth, key=key)


def modified_mlp(in_size: int, config: Config, key: jax.Array) -> eqx.Module:
    """A `ModifiedMLP` width x depth with factorized layers."""
    return ModifiedMLP(in_size, "scalar", config.width, config.depth, layer=RWF_LAYER, key=key)


def piratenet(in_size: int, config: Config, key: jax.Array) -> eqx.Module:
    """A `PirateNet` of `config.blocks` blocks, width `config.width`, Fourier features and factorized layers."""
    return PirateNet(in_size, "scalar", config.width, config.blocks, config.fourier_scale, layer=RWF_LAYER, key=key)


# Config names of the architectures of N: name -> builder ``(in_size, config, key) -> module``.
NETS = {"factorized-mlp": factorized_mlp, "modified-mlp": modified_mlp, "piratenet": piratenet}


def model_like(config: Config) -> PINN:
    """The untrained PINN: periodic embedding of x, the net `config.net` names, initial condition built in."""
    problem, transform = AllenCahn().problem(config.n_points)
    embedding = PeriodicEmbedding(2, axes=(1,), harmonics=config.harmonics)
    # key(2) for the net: the key its factorized MLP has always been drawn with, so earlier results reproduce.
    net = NETS[config.net](embedding.out_size, config, config.train.key(2))
    return PINN(problem.domain, net, embedding=embedding, transform=transform)


def initial_model(config: Config) -> PINN:
    """`model_like`, with the PirateNet's readout fitted when `config.pi_init` (on 256 points at t = 0)."""
    model = model_like(config)
    if not config.pi_init:
        return model
    if not isinstance(model.net, PirateNet):
        raise ConfigError(f"pi_init fits a PirateNet's readout; net {config.net!r} has none: set net=piratenet or "
                          "pi_init=false")
    case = AllenCahn()
    x = jnp.linspace(-1.0, 1.0, 256)
    points = jnp.stack([jnp.zeros_like(x), x], axis=1)
    inputs = jax.vmap(lambda p: model.embedding(model.domain.normalise(p)))(points)
    net = least_squares_readout(model.net, inputs, jax.vmap(case.initial_rate)(x), config.pi_ridge)
    return eqx.tree_at(lambda m: m.net, model, net)


def main(config: Config, run: RunDir) -> dict:
    case = AllenCahn()
    reference = case.reference()
    grid = reference_grid(reference)
    exact = reference.reference.values
    problem, _ = case.problem(config.n_points)
    model = initial_model(config)
    loss = RecipeLoss(problem, balancing=balancing(config.balancing),
                      causal=CausalWeighting(0.0, 1.0, config.causal_chunks, config.causal_tolerance))

    def evaluate(m):
        return {"rel_l2": metrics.relative_l2(predict_points(m, grid).reshape(exact.shape), exact)}

    steps, chunk = config.train.steps, config.train.chunk
    result = train(model, loss, problem.sampler(), config.train, run,
                   evaluations=[Evaluation(evaluate, chunk * max(1, steps // (10 * chunk)))])
    run.save_model(result.model)
    prediction = predict(result.model, config, reference).prediction.values
    return report(reference, prediction, run, method=f"PINN ({config.net}, periodic, RWF, causal)",
                  extra={**fit_summary(result), "jaxpi_rel_l2": case.paper["jaxpi"],
                         "paper_pig_rel_l2": case.paper["pig"], "target_rel_l2": 5e-3})
