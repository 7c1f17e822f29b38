"""Convection u_t + beta u_x = nu u_xx (periodic, u0 = sin x) with a Lagrangian PINN, scored on the Eulerian grid.

The characteristic branch X(t, x0) and the state branch U(t, x0) carry the initial condition exactly; the loss is
the characteristic residual X_t - beta and the state residual U_t - nu U_XX (U_XX through the Jacobian of X).
Adam on resampled uniform label points, then full-batch L-BFGS in float64. The prediction is the scattered
(X, U) interpolated back onto the grid. With nu > 0 the diffusion divides by max(J, jacobian_floor) (J = 1 exactly
here); `train.clip_norm` > 0 clips the gradients' global norm.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from sciml.pinn import LagrangianLoss, LagrangianPINN, label_sampler
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.cases import Convection
from sciml.studies.pinn import predict_lagrangian as predict
from sciml.studies.pinn import report
from sciml.train import Evaluation

NAME = "convection-lpinn"
FAMILY = "pinn"
REPRODUCES = "LPINN (Mojgani et al., CMAME 2023): convection at large beta, where the Eulerian PINN fails"
SMOKE = {"train.steps": 20, "train.chunk": 10, "train.lbfgs_steps": 0, "n_points": 128, "width": 16}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=3000, learning_rate=1e-2, schedule="exponential", decay_steps=500,
                                     decay_rate=0.8, lbfgs_steps=500, chunk=500)
    beta: float = 50.0
    """Convection speed beta (> 0)."""
    nu: float = 0.0
    """Viscosity nu (>= 0; 0: pure convection)."""
    n_points: int = 1024
    """Uniform label points (t, x0) per step."""
    width: int = 50
    """Hidden units per layer of both branches (characteristic and state)."""
    jacobian_floor: float = 0.1
    """Lower bound on the Jacobian J = X_x0 the diffusion divides by (nu > 0 only)."""

    def __post_init__(self):
        if self.beta <= 0 or self.nu < 0:
            raise ValueError(f"expected beta > 0 and nu >= 0, got beta={self.beta}, nu={self.nu}")


def model_like(config: Config) -> LagrangianPINN:
    """The untrained Lagrangian PINN (key ``config.train.key(0)``)."""
    case = Convection(config.beta, config.nu)
    return LagrangianPINN(case.domain(), case.initial, speed=config.beta, characteristic_width=config.width,
                          state_width=config.width, key=config.train.key(0))


def main(config: Config, run: RunDir) -> dict:
    case = Convection(config.beta, config.nu)
    reference = case.reference()
    t, x = jnp.asarray(reference.t.values, jnp.float32), jnp.asarray(reference.x.values, jnp.float32)
    exact = reference.reference.values
    model = model_like(config)
    beta = config.beta
    loss = LagrangianLoss(lambda u: beta, nu=config.nu, jacobian_floor=config.jacobian_floor)

    def evaluate(m):
        return {"rel_l2": float(np.linalg.norm(np.asarray(m.eulerian(t, x)) - exact) / np.linalg.norm(exact))}

    result = train(model, loss, label_sampler(model, config.n_points), config.train, run,
                   evaluations=[Evaluation(evaluate, config.train.chunk)])
    run.save_model(result.model)
    prediction = predict(result.model, config, reference).prediction.values
    return report(reference, prediction, run, method="LPINN",
                  extra={**fit_summary(result), "target_rel_l2": 1e-2 if config.beta >= 50 else 5e-3})
