"""Allen-Cahn u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0 (periodic, u0 = x^2 cos(pi x)) with a PINN and the training recipes.

Scored against Raissi's raissi_AC.mat. The model is exactly periodic (periodic embedding of x) and carries the
initial condition (u = u0 + t N); the net is a random-weight-factorized MLP; the residual is causally weighted over
time chunks and the terms are balanced by the strategy `balancing` names (`RecipeLoss`); Adam on resampled points,
then L-BFGS in float64. Papers: jaxpi 5.37e-5 (300k steps), PIG 1.04e-4.
"""

from __future__ import annotations

import dataclasses

from sciml import metrics
from sciml.nn import FactorizedMLP, PeriodicEmbedding
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


def model_like(config: Config) -> PINN:
    """The untrained PINN: periodic embedding of x, factorized MLP, initial condition built in."""
    problem, transform = AllenCahn().problem(config.n_points)
    embedding = PeriodicEmbedding(2, axes=(1,), harmonics=config.harmonics)
    # key(2) for the net: the key its factorized MLP has always been drawn with, so earlier results reproduce.
    net = FactorizedMLP(embedding.out_size, "scalar", config.width, config.depth, key=config.train.key(2))
    return PINN(problem.domain, net, embedding=embedding, transform=transform)


def main(config: Config, run: RunDir) -> dict:
    case = AllenCahn()
    reference = case.reference()
    grid = reference_grid(reference)
    exact = reference.reference.values
    problem, _ = case.problem(config.n_points)
    model = model_like(config)
    loss = RecipeLoss(problem, balancing=balancing(config.balancing),
                      causal=CausalWeighting(0.0, 1.0, config.causal_chunks, config.causal_tolerance))

    def evaluate(m):
        return {"rel_l2": metrics.relative_l2(predict_points(m, grid).reshape(exact.shape), exact)}

    steps, chunk = config.train.steps, config.train.chunk
    result = train(model, loss, problem.sampler(), config.train, run,
                   evaluations=[Evaluation(evaluate, chunk * max(1, steps // (10 * chunk)))])
    run.save_model(result.model)
    prediction = predict(result.model, config, reference).prediction.values
    return report(reference, prediction, run, method="PINN (periodic, RWF, causal)",
                  extra={**fit_summary(result), "jaxpi_rel_l2": case.paper["jaxpi"],
                         "paper_pig_rel_l2": case.paper["pig"], "target_rel_l2": 5e-3})
