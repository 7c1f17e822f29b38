"""Convection u_t + beta u_x = nu u_xx (periodic, u0 = sin x) with a plain Eulerian PINN: the known failure mode.

Same problem and budget as `convection-lpinn`: an MLP on the scaled (t, x), soft initial condition and periodic
boundary terms, Adam on resampled points, then L-BFGS in float64. For large beta the PINN settles on a smooth
wrong solution (Krishnapriyan et al., 2021: relative error about 1 at beta = 30 to 50). With ``windows > 1`` the
time span is marched through (`sciml.studies.pinn.train_time_windows`): one MLP per window, each window's initial
condition the previous window's state at its end, the same total Adam and L-BFGS steps split over the windows.
"""

from __future__ import annotations

import dataclasses

import jax

from sciml.metrics import relative_l2
from sciml.nn import MLP
from sciml.pinn import PINN, PINNLoss, TimeWindows, window_edges
from sciml.studies import RunDir, TrainConfig, fit_summary, train
from sciml.studies.cases import Convection, reference_grid
from sciml.studies.pinn import predict, predict_points, report, train_time_windows, windows_summary
from sciml.train import Evaluation

NAME = "convection-pinn"
FAMILY = "pinn"
REPRODUCES = "Krishnapriyan et al. (NeurIPS 2021): the PINN failure on convection (rel. L2 about 1 at beta 30-50)"
SMOKE = {"train.steps": 20, "train.chunk": 10, "train.lbfgs_steps": 0, "n_points": 128, "n_initial": 32,
         "n_boundary": 32, "width": 16, "depth": 2}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=3000, learning_rate=1e-3, schedule="exponential", decay_steps=500,
                                     decay_rate=0.8, lbfgs_steps=500, chunk=500)
    beta: float = 50.0
    """Convection speed beta."""
    nu: float = 0.0
    """Viscosity nu (0: pure convection, whose exact solution is sin(x - beta t))."""
    n_points: int = 1024
    """Uniform residual points per step."""
    n_initial: int = 256
    """Points per step on t = 0 for the soft initial condition."""
    n_boundary: int = 128
    """Points per step for the soft periodic boundary term."""
    width: int = 50
    """Hidden units per layer of the MLP."""
    depth: int = 4
    """Hidden layers of the MLP."""
    initial_weight: float = 100.0
    """Weight of the initial-condition term in the loss."""
    windows: int = 1
    """Time windows marched through one after the other (1: one PINN over the whole span)."""


def window_model(config: Config, k: int) -> PINN:
    """The untrained PINN of time window k (key ``config.train.key(0)`` folded with k beyond the first window)."""
    t0, t1 = window_edges(0.0, 1.0, config.windows)[k : k + 2]
    domain = Convection(config.beta, config.nu).problem(1, 1, 1, window=(t0, t1))[0].domain
    key = config.train.key(0) if k == 0 else jax.random.fold_in(config.train.key(0), k)
    return PINN(domain, MLP(domain.ndim, "scalar", config.width, config.depth, key=key))


def model_like(config: Config) -> PINN | TimeWindows:
    """The untrained model: an MLP on the scaled (t, x), or one per time window."""
    if config.windows == 1:
        return window_model(config, 0)
    return TimeWindows(tuple(window_model(config, k) for k in range(config.windows)),
                       window_edges(0.0, 1.0, config.windows))


def main(config: Config, run: RunDir) -> dict:
    case = Convection(config.beta, config.nu)
    reference = case.reference()
    grid = reference_grid(reference)
    exact = reference.reference.values

    def evaluate(m):
        return {"rel_l2": relative_l2(predict_points(m, grid).reshape(exact.shape), exact)}

    def window_task(k, previous):
        edges = window_edges(0.0, 1.0, config.windows)
        # the previous window's state at t_k, a constant of this window's program (a closure, not a static field)
        initial = None if previous is None else (lambda p: previous(p))
        problem, _ = case.problem(config.n_points, config.n_initial, config.n_boundary,
                                  window=(edges[k], edges[k + 1]), initial=initial)
        return window_model(config, k), PINNLoss(problem, weights={"initial": config.initial_weight}), \
            problem.sampler()

    if config.windows == 1:
        model, loss, data = window_task(0, None)
        result = train(model, loss, data, config.train, run, evaluations=[Evaluation(evaluate, config.train.chunk)])
        model, summary = result.model, fit_summary(result)
    else:
        model, results = train_time_windows(window_task, window_edges(0.0, 1.0, config.windows), config.train, run)
        summary = windows_summary(results)
    run.save_model(model)
    return report(reference, predict(model, config, reference).prediction.values, run, method="PINN",
                  extra={**summary, "krishnapriyan_pinn_rel_l2": case.paper.get(config.beta, float("nan"))})
