"""Model-error discovery (MEDIDA) on two-layer QG turbulence: increments from sparse noisy observations, regressed
on a library of 9 terms.

Reference: pyqg-jax's two-layer QGModel (64^2, float64) with hyperviscosity and eddy-interface relaxation; four models
each get one thing wrong (drag x 0.5, relaxation rate x 3, beta = 0, Jacobian x 0.5). At `snapshots` analysis times
each takes one step from the analysis: the full state, or the observations at a random 25 % of the grid points (0.1 %
noise) interpolated by an MLP on Gaussian random Fourier features, a plain MLP, RBF or cubic interpolation. The
increments are regressed layer by layer by a relevance vector machine and STLSQ; the support is read off the Pareto
curve. See docs/guides/medida.md.
"""

from __future__ import annotations

import dataclasses

import xarray as xr

from sciml.discovery import DEFAULT_TERMS
from sciml.studies import RunDir, TrainConfig
from sciml.studies.medida import NeuralInterpolants, run_study
from sciml.studies.medida import model_like as _model_like
from sciml.studies.medida import predict as _predict

NAME = "qg-medida"
FAMILY = "model-error"
REPRODUCES = ("Mojgani, Chattopadhyay & Hassanzadeh, MEDIDA on two-layer QG (JAMES 2024): discovery of structural "
              "and parametric model errors from full and from 25 % noisy observations, RFF vs plain MLP "
              "interpolators (own pyqg-jax test bed and error cases; no published number is matched)")
SMOKE = {"nx": 16, "spinup_steps": 20, "snapshots": 1, "snapshot_every": 2, "train.steps": 4, "train.chunk": 2,
         "interpolators": ("rff", "rbf"), "rff_features": 4, "rff_width": 4, "rff_depth": 1, "rbf_neighbors": 16,
         "regressions": ("rvm",)}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=1500, learning_rate=3e-3, schedule="cosine", final_fraction=0.01,
                                     chunk=250)
    """Training of the networks: full-batch Adam on a cosine schedule, all networks in one call."""
    nx: int = 64
    """Grid points per side of the doubly periodic domain."""
    domain_length: float = 1e6
    """Side of the domain in m."""
    dt: float = 7200.0
    """Model time step in s (also the step of every increment)."""
    deformation_radius: float = 20e3
    """Rossby deformation radius in m."""
    upper_flow: float = 0.06
    """Background zonal flow of the upper layer in m/s (the lower layer's is 0): the baroclinic forcing."""
    beta: float = 1.5e-11
    """Meridional gradient of the Coriolis parameter in 1/(m s)."""
    drag: float = 5.787e-7
    """Linear bottom drag of the reference in 1/s."""
    relaxation_days: float = 100.0
    """Time scale tau_d of the reference's eddy-interface relaxation in days."""
    hyperviscosity: float = 1.1e28
    """nu of the reference's -nu lap^4 q dissipation in m^6/s (damps 12 cycles per domain at 1/day)."""
    spinup_steps: int = 8760
    """Steps from pyqg's random initial state to the first analysis (8760 = 2 years)."""
    spinup_seed: int = 0
    """Seed of the initial state (the reference flow is the same for every training seed)."""
    snapshots: int = 8
    """Analysis times."""
    snapshot_every: int = 60
    """Steps between analysis times."""
    drag_factor: float = 0.5
    """The drag case's model drag, as a multiple of the reference's."""
    relaxation_factor: float = 3.0
    """The relaxation case's model relaxation rate, as a multiple of the reference's."""
    fraction: float = 0.25
    """Fraction of the grid points observed (new random sensors at each analysis time)."""
    noise: float = 0.001
    """Observation noise std as a fraction of the field's spatial std."""
    interpolators: tuple[str, ...] = ("rff", "mlp", "rbf", "cubic")
    """Interpolators of the observations: "rff", "mlp" (networks), "rbf", "cubic" (scipy)."""
    rff_features: int = 128
    """Gaussian random Fourier features (the embedding has twice as many outputs)."""
    rff_scale: float = 2.0
    """Standard deviation of the Fourier frequencies in cycles per domain side."""
    rff_width: int = 64
    """Hidden units of the MLP on the Fourier features."""
    rff_depth: int = 2
    """Hidden layers of the MLP on the Fourier features."""
    mlp_width: int = 64
    """Hidden units of the plain MLP."""
    mlp_depth: int = 3
    """Hidden layers of the plain MLP."""
    rbf_kernel: str = "thin_plate_spline"
    """Kernel of scipy's RBFInterpolator."""
    rbf_neighbors: int = 64
    """Sensors per local RBF fit."""
    regression_cutoff: float = 10.0
    """Increments and library are low-passed to |k| <= this many cycles per domain before the regression (0: none)."""
    terms: tuple[str, ...] = DEFAULT_TERMS
    """Library terms (names from sciml.discovery.QG_TERMS; q_x is left out by default, see DEFAULT_TERMS)."""
    regressions: tuple[str, ...] = ("rvm", "stlsq")
    """Sparse regressions: "rvm" (relevance vector machine) and optionally "stlsq" (pysindy)."""
    selection_tolerance: float = 0.02
    """The selected support is the smallest whose residual is within this fraction of the best one's."""
    stlsq_thresholds: int = 24
    """STLSQ thresholds, log-spaced from 1e-3 to 1 (on standardised coefficients)."""


def model_like(config: Config) -> NeuralInterpolants:
    """The untrained networks and a unit standardisation (what `main` saves, trained)."""
    return _model_like(config)


def predict(model: NeuralInterpolants, config: Config, inputs) -> xr.Dataset:
    """`inputs`: a qg-medida predictions.nc (its observations); returns each interpolator's fields as `prediction`."""
    return _predict(model, config, inputs)


def main(config: Config, run: RunDir) -> dict:
    return run_study(config, run)
