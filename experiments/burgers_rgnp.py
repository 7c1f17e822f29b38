"""Viscous Burgers family u_t + u u_x = nu u_xx with a random-grid neural process (or a baseline), nu the parameter.

x in (-1, 1), t in (0, 1], u(x, 0) = -sin(pi x), u(+-1, t) = 0, nu uniform in [0.02, 0.1]. One probabilistic surrogate
answers both directions: forward, u(t, x) given nu (a Gaussian; the initial and boundary data built in as
u = -sin(pi x) + t (1 - x^2) N); inverse, nu given 10-50 noisy readings at random (t, x) points (a Gaussian from a 2-D
GICNet). The RGNP trains on the Burgers residual at a fresh random (t, x) collocation grid every step; `method` switches
to the baselines (a parametric PINN u(t, x, nu), or the same networks on Cole-Hopf data only). Scored against the
exact Cole-Hopf solution on held-out nu and 100 held-out inverse cases (20 sensors, 1% noise by default).

Why nu in [0.02, 0.1]: the front at x = 0 is about 2 nu / |u| wide (~0.05 at nu = 0.02 and t = 1), so a few dozen random
collocation points per task and step still land in it often enough for a 2-core CPU to learn the family in minutes;
the paper's setting (nu in [0.005, 0.01] with an advection coefficient and a family of initial values, 9 x 400 networks
on a GPU) has fronts five times thinner, which this budget does not resolve. Over [0.02, 0.1] the front's width and
the decay of u change several-fold, so readings of u identify nu.
"""

from __future__ import annotations

import dataclasses

from sciml.studies import RunDir, TrainConfig
from sciml.studies import neural_process as study
from sciml.studies.neural_process import NeuralProcessConfig

NAME = "burgers-rgnp"
FAMILY = "neural-process"
REPRODUCES = ("Vadeboncoeur et al., Random Grid Neural Processes for Parametric PDEs (ICML 2023): the Burgers "
              "forward/inverse experiment, with viscosity as the parameter (own family and sizes; no published number "
              "is matched)")
SMOKE = {"train.steps": 4, "train.chunk": 2, "width": 8, "depth": 1, "n_frequencies": 2, "gic_channels": 2,
         "gic_resolution": 4, "conv_channels": 2, "conv_depth": 1, "basis": 2, "n_tasks": 2, "n_points": 4,
         "sensor_slots": 4, "min_sensors": 2, "max_sensors": 4, "test_z": 2, "n_t": 3, "n_x": 9, "inverse_cases": 3,
         "inverse_sensors": 4, "calibration_cases": 2, "data_cases": 2, "data_points": 4, "pinn_z_grid": 11}


@dataclasses.dataclass(frozen=True)
class Config(NeuralProcessConfig):
    """The shared neural-process settings with the Burgers family's sizes (see the module docstring)."""

    train: TrainConfig = TrainConfig(steps=3000, learning_rate=3e-3, schedule="cosine", final_fraction=0.01,
                                     chunk=250)
    gic_channels: int = 8
    gic_resolution: int = 12
    conv_channels: int = 8
    conv_depth: int = 2
    basis: int = 16
    n_tasks: int = 16
    n_points: int = 32
    data_points: int = 128
    test_z: int = 10
    pinn_z_grid: int = 401
    n_t: int = 21
    """Points of the forward check's t grid (including t = 0)."""

def model_like(config: Config) -> study.Surrogate:
    """The untrained surrogate of the config's method (for `sciml.load`)."""
    return study.model_like(config, study.VISCOUS_BURGERS)


def predict(model: study.Surrogate, config: Config, inputs):
    """The forward prediction on a grid: `inputs` has coordinates ``nu``, ``t`` and ``x`` (as the run's
    predictions.nc); returns `prediction` (and `prediction_std`) on ``(nu, t, x)``."""
    return study.predict(model, config, inputs, study.VISCOUS_BURGERS)


def main(config: Config, run: RunDir) -> dict:
    return study.run_study(config, run, study.VISCOUS_BURGERS)
