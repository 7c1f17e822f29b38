"""Convection u_t + beta u_x = nu u_xx (periodic, u0 = sin x) with a plain Eulerian PINN: the known failure mode.

Same problem and budget as `convection-lpinn`: an MLP on the scaled (t, x), soft initial condition and periodic
boundary terms, Adam on resampled points, then L-BFGS in float64. For large beta the PINN settles on a smooth
wrong solution (Krishnapriyan et al., 2021: relative error about 1 at beta = 30 to 50).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from sciml.experiment import RunDir
from sciml.pde import FacePoints, Periodic, InitialCondition, Problem, UniformPoints, interval
from sciml.pinn import PINN, PINNLoss, suite
from sciml.metrics import relative_l2
from sciml.train import LBFGS, Evaluation, fit

NAME = "convection-pinn"
KRISHNAPRIYAN_PINN_REL_L2 = {30.0: 0.9, 40.0: 0.96}  # notes section 2.4, [R]


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    beta: float = 50.0
    nu: float = 0.0
    n_points: int = 1024
    n_initial: int = 256
    n_boundary: int = 128
    adam_steps: int = 3000
    learning_rate: float = 1e-3
    decay_steps: int = 500
    decay_rate: float = 0.8
    lbfgs_steps: int = 500
    width: int = 50
    depth: int = 4
    initial_weight: float = 100.0
    chunk: int = 500


def main(config: Config, run: RunDir) -> dict:
    reference = suite.convection_reference(config.beta, config.nu)
    grid = suite.reference_grid(reference)
    exact = reference.reference.values
    domain = suite.convection_domain()
    key = jax.random.key(config.seed)
    model = PINN(domain, "scalar", config.width, config.depth, key=jax.random.fold_in(key, 0))
    beta, nu = config.beta, config.nu
    problem = Problem(
        domain,
        residual=lambda u: u.t + beta * u.x - nu * u.xx,
        interior=UniformPoints(domain, config.n_points),
        constraints={
            "initial": InitialCondition(FacePoints(UniformPoints(interval(0.0, 2 * np.pi), config.n_initial), 0, 0.0),
                                        lambda p: jnp.sin(p[1])),
            "periodic": Periodic(UniformPoints(domain, config.n_boundary), axis=1, lower=0.0, upper=2 * np.pi),
        },
    )
    loss = PINNLoss(problem, weights={"initial": config.initial_weight})

    def evaluate(m):
        return {"rel_l2": relative_l2(suite.predict(m, grid).reshape(exact.shape), exact)}

    schedule = suite.Schedule(config.learning_rate, config.decay_steps, config.decay_rate)
    result = fit(model, loss, problem.sampler(), schedule.optimizer(), config.adam_steps,
                 key=jax.random.fold_in(key, 1), lbfgs=LBFGS(config.lbfgs_steps, dtype="float64") if config.lbfgs_steps else None,
                 chunk=config.chunk, evaluations=[Evaluation(evaluate, config.chunk)], out_dir=run.path,
                 meta={"config": dataclasses.asdict(config)})
    return suite.report(reference, suite.predict(result.model, grid), run, method="PINN",
                        extra={**suite.fit_summary(result),
                               "krishnapriyan_pinn_rel_l2": KRISHNAPRIYAN_PINN_REL_L2.get(config.beta, float("nan"))})
