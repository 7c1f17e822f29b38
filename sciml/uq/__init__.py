"""Uncertainty quantification: randomized-prior ensembles, multi-fidelity stacking, probabilistic metrics."""

from sciml.uq._metrics import (
    calibration_curve,
    central_interval,
    coverage,
    crps_ensemble,
    crps_gaussian,
    crps_gaussian_mixture,
    r2_score,
    spread_skill,
)
from sciml.uq._lorenz96 import (
    offline_metrics,
    offline_predictions,
    online_metrics,
    online_runs,
    run_lorenz96_experiment,
)
from sciml.uq._multifidelity import MultiFidelity, MultiFidelityLoss
from sciml.uq._online import autocorrelation, climate_statistics, hellinger_distance, wavenumber_spectrum
from sciml.uq._parametrization import LearnedParametrization, Standardizer, local_stencil, train_parametrization
from sciml.uq._prior import (
    BootstrapSampler,
    RandomizedPrior,
    bootstrap_subsets,
    ensemble_loss,
    ensemble_predict,
    ensemble_size,
    leaky_relu,
    make_ensemble,
    member,
    mse_member_loss,
    out_of_bag_mask,
    trainable_filter,
)

__all__ = [
    "LearnedParametrization",
    "Standardizer",
    "autocorrelation",
    "climate_statistics",
    "hellinger_distance",
    "local_stencil",
    "offline_metrics",
    "offline_predictions",
    "online_metrics",
    "online_runs",
    "run_lorenz96_experiment",
    "train_parametrization",
    "wavenumber_spectrum",
    "BootstrapSampler",
    "MultiFidelity",
    "MultiFidelityLoss",
    "RandomizedPrior",
    "bootstrap_subsets",
    "calibration_curve",
    "central_interval",
    "coverage",
    "crps_ensemble",
    "crps_gaussian",
    "crps_gaussian_mixture",
    "ensemble_loss",
    "ensemble_predict",
    "ensemble_size",
    "leaky_relu",
    "make_ensemble",
    "member",
    "mse_member_loss",
    "out_of_bag_mask",
    "r2_score",
    "spread_skill",
    "trainable_filter",
]
