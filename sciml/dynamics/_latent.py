"""Latent ODE / latent SDE: an encoder reads an irregular masked series into an initial latent state, a differential
equation evolves it, a decoder maps it back; trained on the evidence lower bound (ELBO)."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax
import numpy as np
from jaxtyping import Array, Bool, Float

from sciml.dynamics._checks import (
    check_observations,
    check_save_times,
    is_concrete,
    solve_failed,
    with_failure_metric,
)
from sciml.dynamics._ode import MLPVectorField, NeuralODE
from sciml.dynamics._sde import DiagonalDiffusion
from sciml.nn import MLP


class SeriesEncoder(eqx.Module):
    """A GRU run backwards in time over the observed points `[values * mask, mask, gap]`: reads an irregular, partly
    missing series into a Gaussian over the initial latent state (and a context vector).

    `gap` is the time from each observed point to the next observed one (the one the GRU read just before), so the
    encoder sees the true irregular spacing; times with no observed channel are skipped.

    Args:
        channels: data channels.
        latent_size: size of the latent state.
        hidden_size: GRU state size.
        context_size: size of the extra context vector returned (0 for none).
        key: PRNG key.
    """

    cell: eqx.nn.GRUCell
    head: eqx.nn.Linear
    latent_size: int = eqx.field(static=True)
    context_size: int = eqx.field(static=True)

    def __init__(self, channels: int, latent_size: int, hidden_size: int = 32, context_size: int = 0, *,
                 key: jax.Array):
        k_cell, k_head = jax.random.split(key)
        self.cell = eqx.nn.GRUCell(2 * channels + 1, hidden_size, key=k_cell)
        self.head = eqx.nn.Linear(hidden_size, 2 * latent_size + context_size, key=k_head)
        self.latent_size = latent_size
        self.context_size = context_size

    def __call__(self, ts: Float[Array, " time"], values: Float[Array, "time channel"],
                 mask: Bool[Array, "time channel"]) -> tuple[Array, Array, Array]:
        """`(mean, std, context)` of the initial latent state, shapes `(latent,)`, `(latent,)`, `(context,)`."""
        inputs = jnp.concatenate([jnp.where(mask, values, 0.0), mask.astype(values.dtype)], axis=1)
        observed_any = jnp.any(mask, axis=1)

        def step(carry, x):
            hidden, next_time = carry
            inp, seen, t = x
            updated = self.cell(jnp.concatenate([inp, jnp.reshape(next_time - t, (1,)).astype(inp.dtype)]), hidden)
            return (jnp.where(seen, updated, hidden), jnp.where(seen, t, next_time)), None

        hidden0 = jnp.zeros(self.cell.hidden_size, values.dtype)
        (hidden, _), _ = jax.lax.scan(step, (hidden0, ts[-1]), (inputs, observed_any, ts), reverse=True)
        out = self.head(hidden)
        n = self.latent_size
        return out[:n], jax.nn.softplus(out[n:2 * n]) + 1e-4, out[2 * n:]


def _gaussian_nll(prediction, values, mask, obs_std):
    residual = jnp.where(mask, (prediction - jnp.where(mask, values, 0.0)) / obs_std, 0.0)
    per_entry = 0.5 * residual**2 + jnp.log(obs_std) + 0.5 * jnp.log(2 * jnp.pi)
    return jnp.sum(jnp.where(mask, per_entry, 0.0))


def _kl_standard_normal(mean, std):
    return jnp.sum(0.5 * (mean**2 + std**2 - 1.0) - jnp.log(std))


class LatentODE(eqx.Module):
    """Encoder -> `z0 ~ q(z0 | series)` -> neural ODE in latent space -> linear decoder (Rubanova et al. 2019, with a
    GRU-dt encoder).

    Args:
        channels: data channels.
        latent_size: latent state size.
        hidden_size: encoder GRU size.
        width, depth: latent vector-field MLP.
        obs_std: observation noise standard deviation of the Gaussian likelihood.
        ode_kwargs: passed to `NeuralODE` (solver, stepsize_controller, adjoint, dt0, max_steps).
        key: PRNG key.
    """

    encoder: SeriesEncoder
    dynamics: NeuralODE
    decoder: eqx.nn.Linear
    obs_std: float

    def __init__(self, channels: int, latent_size: int = 8, hidden_size: int = 32, width: int = 64, depth: int = 2,
                 obs_std: float = 0.05, *, ode_kwargs: dict | None = None, key: jax.Array):
        k_enc, k_ode, k_dec = jax.random.split(key, 3)
        self.encoder = SeriesEncoder(channels, latent_size, hidden_size, key=k_enc)
        self.dynamics = NeuralODE(MLPVectorField(latent_size, width, depth, key=k_ode), **(ode_kwargs or {}))
        self.decoder = eqx.nn.Linear(latent_size, channels, key=k_dec)
        self.obs_std = obs_std

    def __call__(self, ts: Float[Array, " time"], values: Float[Array, "time channel"],
                 mask: Bool[Array, "time channel"], query_ts: Float[Array, " query"], *,
                 key: jax.Array | None = None) -> Float[Array, "query channel"]:
        """Decode at `query_ts` (which must start at `ts[0]`) from the observed entries of `(ts, values, mask)`.

        With `key`, `z0` is sampled from the posterior; without, its mean is used.
        """
        values = check_observations(values, mask)
        if is_concrete(ts) and is_concrete(query_ts):
            first, query_first = np.asarray(ts)[0], np.asarray(query_ts)[0]
            if query_first != first:
                raise ValueError(f"LatentODE: query_ts must start at the series' first time ts[0]={first} (where z0 "
                                 f"lives), got {query_first}; prepend ts[0] to the query times")
        mean, std, _ = self.encoder(check_save_times(ts), values, mask)
        z0 = mean if key is None else mean + std * jax.random.normal(key, mean.shape, mean.dtype)
        return jax.vmap(self.decoder)(self.dynamics(query_ts, z0))

    def elbo_terms(self, ts, values, mask, *, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """`(negative log-likelihood of the observed entries, KL(q(z0) || N(0, I)), failed)` for one series;
        `failed` is True when the latent solve failed (the likelihood then uses a zero path and stays finite)."""
        values = check_observations(values, mask)
        mean, std, _ = self.encoder(check_save_times(ts), values, mask)
        z0 = mean + std * jax.random.normal(key, mean.shape, mean.dtype)
        solution = self.dynamics.solve(ts, z0)
        failed = solve_failed(solution)
        prediction = jax.vmap(self.decoder)(jnp.where(failed, 0.0, solution.ys))
        return _gaussian_nll(prediction, values, mask, self.obs_std), _kl_standard_normal(mean, std), failed


class _PosteriorDrift(eqx.Module):
    mlp: MLP

    def __call__(self, t, z, context):
        return self.mlp(jnp.concatenate([z, context]))


class LatentSDE(eqx.Module):
    """Latent SDE (Li et al. 2020): posterior `dz = f(z, ctx) dt + g(z) dW` against prior `dz = h(z) dt + g(z) dW`;
    the ELBO's path KL is `int 0.5 |(f - h) / g|^2 dt`, integrated alongside the state.

    Args:
        channels: data channels.
        latent_size, context_size, hidden_size: latent state, encoder context and encoder GRU sizes.
        width, depth: drift/diffusion MLPs.
        obs_std: observation noise standard deviation.
        dt0: fixed Euler-Maruyama step (Ito).
        key: PRNG key.
    """

    encoder: SeriesEncoder
    posterior_drift: _PosteriorDrift
    prior_drift: MLPVectorField
    diffusion: DiagonalDiffusion
    decoder: eqx.nn.Linear
    prior_mean: Array
    prior_log_std: Array
    obs_std: float
    dt0: float
    max_steps: int = eqx.field(static=True)

    def __init__(self, channels: int, latent_size: int = 4, context_size: int = 8, hidden_size: int = 32,
                 width: int = 32, depth: int = 2, obs_std: float = 0.05, dt0: float = 0.01, max_steps: int = 4096,
                 *, key: jax.Array):
        keys = jax.random.split(key, 5)
        self.encoder = SeriesEncoder(channels, latent_size, hidden_size, context_size, key=keys[0])
        self.posterior_drift = _PosteriorDrift(
            MLP(latent_size + context_size, latent_size, width, depth, jax.nn.softplus, key=keys[1]))
        self.prior_drift = MLPVectorField(latent_size, width, depth, key=keys[2])
        self.diffusion = DiagonalDiffusion(latent_size, width, depth, key=keys[3])
        self.decoder = eqx.nn.Linear(latent_size, channels, key=keys[4])
        self.prior_mean = jnp.zeros(latent_size)
        self.prior_log_std = jnp.zeros(latent_size)
        self.obs_std = obs_std
        self.dt0 = dt0
        self.max_steps = max_steps

    def _integrate(self, drift, ts, z0, context, *, key):
        """Euler-Maruyama on `[z, path KL]`; returns the latent path `(time, latent)`, the path KL at `ts[-1]` and
        whether the solve failed (then both are zeros)."""
        n = z0.shape[0]

        def augmented_drift(t, state, context):
            z = state[:n]
            f = drift(t, z, context)
            u = (f - self.prior_drift(t, z)) / self.diffusion(t, z)
            return jnp.concatenate([f, 0.5 * jnp.sum(u**2, keepdims=True)])

        def augmented_diffusion(t, state, context):
            return lineax.DiagonalLinearOperator(jnp.concatenate([self.diffusion(t, state[:n]), jnp.zeros(1)]))

        state0 = jnp.concatenate([z0, jnp.zeros(1, z0.dtype)])
        brownian = diffrax.VirtualBrownianTree(ts[0], ts[-1], tol=self.dt0 / 2, shape=state0.shape, key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(augmented_drift), diffrax.ControlTerm(augmented_diffusion, brownian))
        solution = diffrax.diffeqsolve(terms, diffrax.Euler(), ts[0], ts[-1], self.dt0, state0, context,
                                       saveat=diffrax.SaveAt(ts=ts), max_steps=self.max_steps, throw=False)
        failed = solve_failed(solution)
        ys = jnp.where(failed, 0.0, solution.ys)
        return ys[:, :-1], ys[-1, -1], failed

    def posterior_paths(self, ts, values, mask, *, key: jax.Array) -> tuple[Array, Array, Array]:
        """One posterior latent path `(time, latent)`, its path KL and the initial-state KL, given the series."""
        return self._posterior(ts, values, mask, key=key)[:3]

    def _posterior(self, ts, values, mask, *, key: jax.Array) -> tuple[Array, Array, Array, Array]:
        values = check_observations(values, mask)
        mean, std, context = self.encoder(check_save_times(ts), values, mask)
        k_z0, k_path = jax.random.split(key)
        z0 = mean + std * jax.random.normal(k_z0, mean.shape, mean.dtype)
        zs, path_kl, failed = self._integrate(self.posterior_drift, ts, z0, context, key=k_path)
        prior_std = jnp.exp(self.prior_log_std)
        kl_z0 = jnp.sum(jnp.log(prior_std / std) + (std**2 + (mean - self.prior_mean) ** 2) / (2 * prior_std**2) - 0.5)
        return zs, path_kl, kl_z0, failed

    def elbo_terms(self, ts, values, mask, *, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """`(negative log-likelihood of the observed entries, KL of z0 + path KL, failed)` for one series; `failed` is
        True when the latent solve failed (the terms then use a zero path and stay finite)."""
        zs, path_kl, kl_z0, failed = self._posterior(ts, values, mask, key=key)
        prediction = jax.vmap(self.decoder)(zs)
        return _gaussian_nll(prediction, values, mask, self.obs_std), path_kl + kl_z0, failed

    def sample_prior(self, ts: Float[Array, " time"], *, key: jax.Array) -> Float[Array, "time channel"]:
        """A generated series from the prior SDE (no data)."""
        k_z0, k_path = jax.random.split(key)
        z0 = self.prior_mean + jnp.exp(self.prior_log_std) * jax.random.normal(k_z0, self.prior_mean.shape)
        zs, _, _ = self._integrate(lambda t, z, c: self.prior_drift(t, z), check_save_times(ts), z0, None,
                                   key=k_path)
        return jax.vmap(self.decoder)(zs)


def elbo_loss(model: LatentODE | LatentSDE, batch, key: jax.Array, kl_weight: float | jax.Array = 1.0):
    """Loss for `fit`: the negative ELBO per observed entry, averaged over a batch `{ts, values, mask}`.

    `ts` is `(time,)` or `(sample, time)`; `values`/`mask` are `(sample, time, channel)`. `kl_weight` < 1 anneals
    the KL term early in training. Metric `solver_failed`: 0, or inf with the loss when a latent solve failed
    (`fit` then stops and names it).
    """
    values, mask = batch["values"], batch["mask"]
    ts = jnp.broadcast_to(batch["ts"], values.shape[:2])
    keys = jax.random.split(key, values.shape[0])
    nll, kl, failed = jax.vmap(lambda t, v, m, k: model.elbo_terms(t, v, m, key=k))(ts, values, mask, keys)
    n_observed = jnp.maximum(jnp.sum(mask), 1)
    loss, solver_failed = with_failure_metric((jnp.sum(nll) + kl_weight * jnp.sum(kl)) / n_observed, failed)
    return loss, {"nll": jnp.sum(nll) / n_observed, "kl": jnp.sum(kl) / n_observed, "solver_failed": solver_failed}
