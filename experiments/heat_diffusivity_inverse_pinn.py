"""1D heat equation with unknown diffusivity kappa, recovered by a PINN ensemble from noisy sensors.

u_t = kappa u_xx on x in [0, 1], t in [0, 1], exact solution u = sum_k a_k exp(-kappa k^2 pi^2 t) sin(k pi x) with
a = (1, 0.5, 0.25) for k = 1, 2, 3 and kappa = 0.1. The initial and boundary values are built into the output (hard
constraint); `n_sensors` sensors at random (t, x) observe u with Gaussian noise. Each ensemble member has its own
initialisation and bootstrap of the sensors and trains kappa (log-parametrised) with its network; the members give
kappa's mean and a 95 % interval (`sciml.pinn.ensemble_estimate`).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml.pde import interval, time_space
from sciml.pinn import HardConstraint
from sciml.studies import RunDir, TrainConfig
from sciml.studies.pinn_inverse import InverseConfig, InverseSetup, train_inverse
from sciml.studies.pinn_inverse import model_like as model_like  # re-exported for sciml.load
from sciml.studies.pinn_inverse import predict as predict  # re-exported for sciml.load

NAME = "heat-diffusivity-inverse-pinn"
FAMILY = "pinn"
REPRODUCES = "-"
SMOKE = {"train.steps": 20, "train.lbfgs_steps": 5, "train.chunk": 10, "n_residual": 64, "n_residual_lbfgs": 64,
         "n_sensors": 32, "width": 8, "depth": 1, "members": 2, "n_t": 11, "n_x": 11, "noise": 0.01}

AMPLITUDES = (1.0, 0.5, 0.25)
"""a_k of the exact solution's modes sin(k pi x), k = 1, 2, 3."""


def exact(t, x, kappa: float):
    """The exact solution at t, x (NumPy or JAX arrays, broadcast together)."""
    xp = jnp if isinstance(t, jnp.ndarray) or isinstance(x, jnp.ndarray) else np
    return sum(a * xp.exp(-kappa * (k * np.pi) ** 2 * t) * xp.sin(k * np.pi * x)
               for k, a in enumerate(AMPLITUDES, start=1))


@dataclasses.dataclass(frozen=True)
class Config(InverseConfig):
    train: TrainConfig = TrainConfig(steps=3000, learning_rate=5e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.7, lbfgs_steps=600, lbfgs_dtype="float64", chunk=100)
    """Training of the whole ensemble: Adam with exponential decay, then L-BFGS in float64."""
    width: int = 32
    depth: int = 3
    n_residual: int = 1024
    n_residual_lbfgs: int = 2048
    n_sensors: int = 200
    """Sensors at uniformly random (t, x)."""
    data_weight: float = 10.0
    kappa: float = 0.1
    """True diffusivity (generates the data; the model does not see it)."""
    kappa_initial: float = 0.05
    """Initial guess of kappa, the same in every member."""
    n_t: int = 101
    """Time levels of the reference grid (t in [0, 1])."""
    n_x: int = 101
    """Points of the reference grid in x (x in [0, 1])."""

    def setup(self) -> InverseSetup:
        domain = time_space(0.0, 1.0, interval(0.0, 1.0, "x"))
        transform = HardConstraint(particular=lambda p: exact(0.0, p[1], self.kappa),
                                   distance=lambda p: p[0] * p[1] * (1 - p[1]))
        t, x = np.linspace(0.0, 1.0, self.n_t), np.linspace(0.0, 1.0, self.n_x)
        reference = xr.Dataset({"reference": (("t", "x"), exact(t[:, None], x[None, :], self.kappa))},
                               coords={"t": t, "x": x})

        def sensors(rng, n):
            points = rng.uniform(0.0, 1.0, size=(n, 2))
            return points, exact(points[:, 0], points[:, 1], self.kappa)

        return InverseSetup(domain, lambda u, p: u.t - p["kappa"] * u.xx, transform, {"kappa": self.kappa},
                            {"kappa": self.kappa_initial}, {"kappa": "diffusivity kappa"}, reference, sensors)


def main(config: Config, run: RunDir) -> dict:
    return train_inverse(config, run)
