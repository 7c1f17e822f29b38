"""Nonlinear Poisson family -((1 + u^2) u')' = z pi^2 sin(pi x) with a random-grid neural process (or a baseline).

One probabilistic surrogate answers both directions: forward, u(x) given z in [0.5, 3] (a Gaussian, Dirichlet data
built in); inverse, z given 10-50 noisy sensor readings at random points (a Gaussian from a GICNet). The RGNP trains on
the PDE residual at a fresh random collocation grid every step; `method` switches to the baselines at the same budget
(a parametric PINN, or the same networks trained on solver data only). Scored against scipy's solve_bvp on held-out
z and 100 held-out inverse cases (20 sensors, 1% noise by default).
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies.neural_process import model_like as model_like  # re-exported for sciml.load
from sciml.studies.neural_process import predict as predict  # re-exported for sciml.load
from sciml.studies.neural_process import run_study

NAME = "poisson-rgnp"
FAMILY = "neural-process"
REPRODUCES = ("Vadeboncoeur et al., Random Grid Neural Processes for Parametric PDEs (ICML 2023): the nonlinear "
              "Poisson forward/inverse experiment (own family and sizes; no published number is matched)")
SMOKE = {"train.steps": 4, "train.chunk": 2, "width": 8, "depth": 1, "n_frequencies": 2, "gic_channels": 2,
         "gic_resolution": 4, "conv_channels": 2, "conv_depth": 1, "basis": 2, "n_tasks": 2, "n_points": 4,
         "sensor_slots": 4, "min_sensors": 2, "max_sensors": 4, "test_z": 2, "n_x": 9, "inverse_cases": 3,
         "inverse_sensors": 4, "calibration_cases": 2, "data_cases": 2, "data_points": 4, "pinn_z_grid": 11}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=8000, learning_rate=3e-3, schedule="cosine", final_fraction=0.01,
                                     chunk=250)
    """Training: Adam on a cosine schedule."""
    method: str = "rgnp"
    """The surrogate: "rgnp" (random-grid ELBO), "data-np" (same networks, solver data only) or "pinn"."""
    covariance: str = "diagonal"
    """Covariance of u over points: "diagonal" or "low-rank" (the paper's diag and lr variants)."""
    rank: int = 2
    """Columns of the low-rank covariance factor."""
    width: int = 48
    """Hidden units of the forward network (and of the PINN)."""
    depth: int = 3
    """Hidden layers of the forward network (and of the PINN)."""
    n_frequencies: int = 16
    """Trainable Fourier frequencies of x in the forward network."""
    gic_channels: int = 16
    """Lifted channels of the GICNet (one kernel length-scale each)."""
    gic_resolution: int = 32
    """Nodes of the GICNet's latent grid."""
    conv_channels: int = 16
    """Channels of the GICNet's CNN."""
    conv_depth: int = 3
    """Convolution layers of the GICNet."""
    basis: int = 32
    """Width of the GICNet's DeepONet-style branch/trunk product."""
    n_tasks: int = 32
    """Parameter values z per step (and solver cases per step for data-np)."""
    n_points: int = 16
    """Random collocation points per z and step (the PINN gets n_tasks x n_points points per step)."""
    sensor_slots: int = 50
    """Sensor positions drawn per task for the inverse network (at most this many are read)."""
    min_sensors: int = 10
    """Fewest sensors the inverse network is trained on."""
    max_sensors: int = 50
    """Most sensors the inverse network is trained on."""
    noise_level: float = 0.01
    """Reading noise std as a fraction of the case's peak |u| (training and test)."""
    reference_std: float = 10.0
    """Std of the broad Gaussian reference measure of u in the ELBO's KL."""
    max_residual_std: float = 1.0
    """Cap on the residual noise std eps_r (learned from the mean field's residual)."""
    use_data: bool = False
    """Add the solver-data likelihood to the RGNP's ELBO."""
    data_cases: int = 256
    """Solver solutions of the data likelihood (data-np, or the RGNP with use_data)."""
    data_points: int = 64
    """Uniform random points per solver solution."""
    data_noise: float = 0.0
    """Std of the noise on the solver data's values in the data likelihood."""
    calibration_cases: int = 32
    """Solver solutions (z disjoint from the test set) that rescale the forward std to 90% coverage; 0: none."""
    test_z: int = 20
    """Held-out z values of the forward check."""
    n_x: int = 101
    """Points of the forward check's x grid."""
    inverse_cases: int = 100
    """Held-out inverse cases."""
    inverse_sensors: int = 20
    """Sensors per inverse case."""
    eval_seed: int = 1234
    """Seed of the held-out sets (fixed across training seeds)."""
    pinn_z_grid: int = 1001
    """Values of z in the PINN's grid posterior."""


def main(config: Config, run: RunDir) -> dict:
    return run_study(config, run)
