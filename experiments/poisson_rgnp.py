"""Nonlinear Poisson family -((1 + u^2) u')' = z pi^2 sin(pi x) with a random-grid neural process (or a baseline).

One probabilistic surrogate answers both directions: forward, u(x) given z in [0.5, 3] (a Gaussian, Dirichlet data
built in); inverse, z given 10-50 noisy sensor readings at random points (a Gaussian from a GICNet). The RGNP trains on
the PDE residual at a fresh random collocation grid every step; `method` switches to the baselines at the same budget
(a parametric PINN, or the same networks trained on solver data only). Scored against scipy's solve_bvp on held-out
z and 100 held-out inverse cases (20 sensors, 1% noise by default).
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir
from sciml.studies.neural_process import NeuralProcessConfig, run_study
from sciml.studies.neural_process import model_like as model_like  # re-exported for sciml.load
from sciml.studies.neural_process import predict as predict  # re-exported for sciml.load

NAME = "poisson-rgnp"
FAMILY = "neural-process"
REPRODUCES = ("Vadeboncoeur et al., Random Grid Neural Processes for Parametric PDEs (ICML 2023): the nonlinear "
              "Poisson forward/inverse experiment (own family and sizes; no published number is matched)")
SMOKE = {"train.steps": 4, "train.chunk": 2, "width": 8, "depth": 1, "n_frequencies": 2, "gic_channels": 2,
         "gic_resolution": 4, "conv_channels": 2, "conv_depth": 1, "basis": 2, "n_tasks": 2, "n_points": 4,
         "sensor_slots": 4, "min_sensors": 2, "max_sensors": 4, "test_z": 2, "n_x": 9, "inverse_cases": 3,
         "inverse_sensors": 4, "calibration_cases": 2, "data_cases": 2, "data_points": 4, "pinn_z_grid": 11}


@dataclasses.dataclass(frozen=True)
class Config(NeuralProcessConfig):
    """The nonlinear Poisson family at the shared defaults."""


def main(config: Config, run: RunDir) -> dict:
    return run_study(config, run)
