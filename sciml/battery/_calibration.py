"""Bayesian calibration of the SPM's two scales from a noisy voltage curve with numpyro's NUTS.

The model: uniform priors over the parameter box, and ``V_obs(t_i) ~ Normal(V(t_i; i0_scale, diffusivity_scale),
sigma)`` with V from the surrogate or from the solver (any differentiable ``voltage_fn(i0_scale,
diffusivity_scale) -> (n_t,)``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import NUTS

from sciml._errors import ConfigError

PARAMETERS = ("i0_scale", "diffusivity_scale")


def voltage_model(voltage_fn: Callable, observed, sigma, i0_range, diffusivity_range):
    """The numpyro model: uniform priors on the two scales and a Gaussian voltage likelihood."""
    i0_scale = numpyro.sample("i0_scale", dist.Uniform(*i0_range))
    diffusivity_scale = numpyro.sample("diffusivity_scale", dist.Uniform(*diffusivity_range))
    numpyro.sample("voltage", dist.Normal(voltage_fn(i0_scale, diffusivity_scale), sigma), obs=observed)


@dataclasses.dataclass
class CalibrationResult:
    """Posterior samples and how the sampler did.

    Attributes:
        samples: {name: (num_samples,)} posterior draws.
        ess: {name: effective sample size}.
        r_hat: {name: split R-hat (one chain split in halves)}.
        divergences: number of divergent transitions after warm-up.
        wall_time_s: warm-up plus sampling, compilation excluded.
        compile_run_s: compilation plus the first transition.
        gradient_evaluations: leapfrog steps (each one likelihood gradient) over warm-up and sampling: the
            machine-independent cost of the chain.
    """

    samples: dict[str, np.ndarray]
    ess: dict[str, float]
    r_hat: dict[str, float]
    divergences: int
    wall_time_s: float
    compile_run_s: float
    gradient_evaluations: int

    @property
    def min_ess(self) -> float:
        return float(min(self.ess.values()))

    @property
    def seconds_per_effective_sample(self) -> float:
        return self.wall_time_s / self.min_ess

    @property
    def gradients_per_effective_sample(self) -> float:
        return self.gradient_evaluations / self.min_ess

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Central credible interval of one parameter."""
        tail = 50.0 * (1.0 - level)
        low, high = np.percentile(self.samples[name], [tail, 100.0 - tail])
        return float(low), float(high)

    def covers(self, truth: dict[str, float], level: float = 0.95) -> dict[str, bool]:
        out = {}
        for name in PARAMETERS:
            low, high = self.interval(name, level)
            out[name] = bool(low <= truth[name] <= high)
        return out


def calibrate(voltage_fn: Callable, observed, sigma: float, *, i0_range=(0.5, 4.0), diffusivity_range=(1.0, 10.0),
              num_warmup: int = 500, num_samples: int = 500, target_accept: float = 0.9,
              key: jax.Array) -> CalibrationResult:
    """Sample the posterior of (i0_scale, diffusivity_scale) with NUTS (one chain, adapted during warm-up).

    One NUTS transition is compiled once; the first call (compilation plus one transition) is timed apart, the
    remaining warm-up and sampling transitions give `wall_time_s` (scaled to all transitions).
    """
    observed = jnp.asarray(observed)
    if observed.ndim != 1 or not bool(jnp.all(jnp.isfinite(observed))):
        raise ConfigError(f"calibrate: observed must be a finite 1-D voltage array, got shape {observed.shape}")
    if not sigma > 0:
        raise ConfigError(f"calibrate: sigma (the noise standard deviation, V) must be > 0, got {sigma}")
    if num_warmup < 1 or num_samples < 4:
        raise ConfigError(f"calibrate: need num_warmup >= 1 and num_samples >= 4, got {num_warmup}, {num_samples}")
    args = (voltage_fn, observed, sigma, i0_range, diffusivity_range)
    kernel = NUTS(voltage_model, target_accept_prob=target_accept)
    start = time.perf_counter()
    state = kernel.init(key, num_warmup, model_args=args)
    transition = jax.jit(lambda current: kernel.sample(current, args, {}))
    state = jax.block_until_ready(transition(state))
    compile_run = time.perf_counter() - start
    draws, divergences, steps = [], 0, int(state.num_steps)
    start = time.perf_counter()
    for i in range(1, num_warmup + num_samples):
        state = transition(state)
        steps += int(state.num_steps)
        if i >= num_warmup:
            draws.append(state.z)
            divergences += int(state.diverging)
    jax.block_until_ready(state)
    wall = (time.perf_counter() - start) * (num_warmup + num_samples) / (num_warmup + num_samples - 1)
    constrain = kernel.postprocess_fn(args, {})
    stacked = jax.tree_util.tree_map(lambda *zs: jnp.stack(zs), *draws)
    samples = {name: np.asarray(value) for name, value in jax.vmap(constrain)(stacked).items() if name in PARAMETERS}
    ess = {name: float(effective_sample_size(samples[name][None])) for name in PARAMETERS}
    r_hat = {name: float(split_gelman_rubin(samples[name][None])) for name in PARAMETERS}
    return CalibrationResult(samples, ess, r_hat, divergences, wall, compile_run, steps)
