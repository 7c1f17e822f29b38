"""Viscous Burgers with unknown viscosity nu, recovered by a PINN ensemble from noisy sensors of the reference.

u_t + u u_x = nu u_xx on x in [-1, 1], t in [0, 1], u(0, x) = -sin(pi x), u(t, +-1) = 0, true nu = 0.01/pi (Raissi's
published reference solution, which also gives the sensor values). The initial and boundary values are built into
the output (hard constraint); `n_sensors` sensors at random nodes of the reference's 100 x 256 grid observe u with
Gaussian noise. Each ensemble member has its own initialisation and bootstrap of the sensors and trains nu
(log-parametrised) with its network; the members give nu's mean and a 95 % interval.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml._errors import ConfigError
from sciml.data import load_reference
from sciml.pde import interval, time_space
from sciml.pinn import HardConstraint
from sciml.studies import RunDir, TrainConfig
from sciml.studies.pinn_inverse import InverseConfig, InverseSetup, train_inverse
from sciml.studies.pinn_inverse import model_like as model_like  # re-exported for sciml.load
from sciml.studies.pinn_inverse import predict as predict  # re-exported for sciml.load

NAME = "burgers-viscosity-inverse-pinn"
FAMILY = "pinn"
REPRODUCES = ("Raissi, Perdikaris & Karniadakis (JCP 2019), Burgers identification: nu from scattered data (here with "
              "the known initial and boundary values and their 2000 sensors)")
SMOKE = {"train.steps": 20, "train.lbfgs_steps": 5, "train.chunk": 10, "n_residual": 64, "n_residual_lbfgs": 64,
         "n_sensors": 32, "width": 8, "depth": 1, "members": 2, "noise": 0.01}

NU = 0.01 / np.pi
"""The viscosity of the reference solution."""


@dataclasses.dataclass(frozen=True)
class Config(InverseConfig):
    train: TrainConfig = TrainConfig(steps=3000, learning_rate=5e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.8, lbfgs_steps=4000, lbfgs_dtype="float64", chunk=100)
    """Training of the whole ensemble: Adam with exponential decay, then L-BFGS in float64 (nu settles only once the
    network resolves the shock, which takes thousands of full-batch steps, as in the forward `burgers-pinn`)."""
    width: int = 20
    depth: int = 5
    n_residual: int = 2048
    n_residual_lbfgs: int = 4096
    n_sensors: int = 2000
    """Sensors at random nodes of the reference grid (as many as Raissi et al.'s identification used: with 500, few
    lie in the shock, where nu acts, and the members' nu scatter several times more)."""
    data_weight: float = 10.0
    nu_initial: float = 0.006
    """Initial guess of nu, the same in every member (the truth is 0.01/pi = 0.00318)."""

    def setup(self) -> InverseSetup:
        domain = time_space(0.0, 1.0, interval(-1.0, 1.0, "x"))
        transform = HardConstraint(particular=lambda p: -jnp.sin(jnp.pi * p[1]),
                                   distance=lambda p: p[0] * (1 - p[1] ** 2))
        data = load_reference("burgers")
        reference = xr.Dataset({"reference": (("t", "x"), data.u.values)},
                               coords={"t": data.t.values, "x": data.x.values},
                               attrs={"pde": data.attrs["equation"], "reference_source": data.attrs["source"]})
        t, x, u = data.t.values, data.x.values, data.u.values

        def sensors(rng, n):
            if n > u.size:
                raise ConfigError(f"n_sensors must be at most the reference's {u.size} grid nodes, got {n}")
            index = rng.choice(u.size, size=n, replace=False)
            i, j = np.unravel_index(index, u.shape)
            return np.stack([t[i], x[j]], axis=1), u[i, j]

        return InverseSetup(domain, lambda u, p: u.t + u.value * u.x - p["nu"] * u.xx, transform, {"nu": NU},
                            {"nu": self.nu_initial}, {"nu": "viscosity nu"}, reference, sensors)


def main(config: Config, run: RunDir) -> dict:
    return train_inverse(config, run)
