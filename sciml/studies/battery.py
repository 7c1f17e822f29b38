"""The battery surrogate studies (`battery-spm`, `battery-p2d`): how the SPM surrogate is built and trained through
`sciml.studies.train`, and the calibration figures of both."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import matplotlib.pyplot as plt
import xarray as xr

from sciml._errors import ConfigError
from sciml.battery import SPMSurrogate, SurrogateSetup, TrainingData, build_network, surrogate_loss
from sciml.studies._config import TrainConfig
from sciml.studies._run import RunDir
from sciml.studies._training import train
from sciml.train import Evaluation, FitResult


@dataclasses.dataclass(frozen=True)
class CalibrationSettings:
    """The Bayesian calibration settings both battery surrogate experiments share (their `Config`s inherit them)."""

    calibrate: bool = True
    """Calibrate the two scales from a noisy synthetic voltage curve with NUTS after training."""
    calibrate_with_solver: bool = True
    """Also calibrate with the solver in the likelihood (the surrogate's reference posterior)."""
    true_i0_scale: float = 1.7
    """Anode exchange-current scale that generates the synthetic observations."""
    true_diffusivity_scale: float = 3.4
    """Cathode diffusivity scale that generates the synthetic observations."""
    noise_mv: float = 5.0
    """Standard deviation of the observation noise in mV."""
    n_observations: int = 100
    """Observed voltages, uniform over [0, t_end]."""
    num_warmup: int = 300
    """NUTS warm-up iterations per calibration."""
    num_samples: int = 300
    """NUTS posterior samples per calibration."""

    def __post_init__(self):
        if self.noise_mv <= 0:
            raise ConfigError(f"noise_mv must be > 0, got {self.noise_mv}; the likelihood needs a positive noise")


@dataclasses.dataclass(frozen=True)
class SurrogateConfig:
    """The surrogate's network (width x depth), collocation points, data weight, and its training (Adam with the
    learning rate times 0.6 every 1000 steps, then float64 L-BFGS)."""

    train: TrainConfig = TrainConfig(steps=6000, learning_rate=2e-3, schedule="exponential", decay_steps=1000,
                                     decay_rate=0.6, lbfgs_steps=1000, lbfgs_dtype="float64", chunk=250)
    """Training: Adam, learning rate x 0.6 every 1000 steps, then float64 L-BFGS."""
    width: int = 48
    """Hidden units per layer of the surrogate's MLP."""
    depth: int = 4
    """Hidden layers of the surrogate's MLP."""
    n_residual: int = 1024
    """Sobol points per step for the particle diffusion residual."""
    n_surface: int = 256
    """Sobol points per step for the surface-flux condition."""
    data_weight: float = 1e4
    """Weight of the solver-data misfit in the loss."""


def surrogate_like(setup: SurrogateSetup, config: SurrogateConfig = SurrogateConfig()) -> SPMSurrogate:
    """The structure of the surrogate `train_surrogate(setup, ..., config)` gives: its untrained network (drawn, not
    traced abstractly: the hard constraint closes over arrays of the setup)."""
    return SPMSurrogate(build_network(setup, config.width, config.depth, key=config.train.key(0)), setup)


def train_surrogate(setup: SurrogateSetup, data: TrainingData, config: SurrogateConfig = SurrogateConfig(),
                    run: RunDir | None = None, *,
                    evaluations: Sequence[Evaluation] = ()) -> tuple[SPMSurrogate, FitResult]:
    """Train the surrogate of `setup` on the loss of `sciml.battery.surrogate_loss` with `data`; the network from
    ``config.train.key(0)``, the Sobol points from a seed drawn with the run's root key. Returns (SPMSurrogate,
    FitResult)."""
    seed = int(jax.random.randint(jax.random.key(config.train.seed), (), 0, 2**30))
    loss = surrogate_loss(setup, data, n_residual=config.n_residual, n_surface=config.n_surface,
                          data_weight=config.data_weight, seed=seed)
    network = build_network(setup, config.width, config.depth, key=config.train.key(0))
    result = train(network, loss, loss.problem.sampler(), config.train, run, evaluations=evaluations)
    return SPMSurrogate(result.model, setup), result


def plot_calibration(predictions: xr.Dataset, run: RunDir, solver: str, surrogate: str) -> None:
    """Held-out voltage curves and errors of a surrogate against its `solver` (`figures/voltage.png`); posterior
    draws against the truth when the run calibrated (`figures/posterior.png`)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
    for case in predictions.case.values:
        label = f"i0 x{float(predictions.i0_scale[case]):.2f}, D x{float(predictions.diffusivity_scale[case]):.2f}"
        line, = axes[0].plot(predictions.t, predictions.reference[case], lw=2, alpha=0.4)
        axes[0].plot(predictions.t, predictions.prediction[case], "--", color=line.get_color(), label=label)
        axes[1].plot(predictions.t, 1e3 * (predictions.prediction[case] - predictions.reference[case]),
                     color=line.get_color())
    axes[0].set(xlabel="t [s]", ylabel="voltage [V]",
                title=f"held-out parameters: {solver} (solid), {surrogate} (dashed)")
    axes[0].legend(fontsize=7)
    axes[1].set(xlabel="t [s]", ylabel=f"{surrogate} - {solver} [mV]", title="surrogate error")
    run.save_figure(fig, "voltage")
    if "sampler" not in predictions.coords:
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for sampler in predictions.sampler.values:
        i0 = predictions.posterior_i0_scale.sel(sampler=sampler)
        d = predictions.posterior_diffusivity_scale.sel(sampler=sampler)
        axes[0].scatter(i0, d, s=4, alpha=0.4, label=str(sampler))
        axes[1].hist(i0, bins=30, alpha=0.5, density=True, label=str(sampler))
        axes[2].hist(d, bins=30, alpha=0.5, density=True, label=str(sampler))
    truth = (predictions.attrs["true_i0_scale"], predictions.attrs["true_diffusivity_scale"])
    axes[0].plot(*truth, "k*", ms=14, label="truth")
    axes[1].axvline(truth[0], color="k")
    axes[2].axvline(truth[1], color="k")
    axes[0].set(xlabel="anode i0 scale", ylabel="cathode diffusivity scale", title="posterior draws")
    axes[1].set(xlabel="anode i0 scale", title="marginal")
    axes[2].set(xlabel="cathode diffusivity scale", title="marginal")
    axes[0].legend()
    run.save_figure(fig, "posterior")
