"""The SMARL environment: an LES of forced 2D turbulence whose eddy-viscosity coefficient is set by a grid of agents
(Mojgani et al. 2023, "Extreme event prediction with multi-agent reinforcement learning-based parametrization of
atmospheric and oceanic turbulence", arXiv 2312.00907).

State: the LES (`sciml.solvers.ForcedTurbulence2D`, its `TurbulenceState`). Agents: a `side x side` grid, agent (i, j)
centred at ((j + 1/2) L / side, (i + 1/2) L / side), L = 2 pi, owning the patch of LES points around it. Each agent
observes local invariants of the resolved flow averaged over its patch (strain-rate magnitude |S|, rotation |omega|,
vorticity-gradient norm |grad omega|, |lap omega|; as log of their ratio to the filtered DNS's domain means) and the
global enstrophy spectrum (log Z(k) / Z_FDNS(k) for 1 <= k <= the LES grid's cutoff). Its action a (one number) sets its
closure coefficient c = c_max sigmoid(a) in [0, c_max]; the agents' coefficients are interpolated periodically and
bilinearly to the LES grid and become the coefficient field of the LES's closure (Smagorinsky's C_s or Leith's C_l),
held for `action_every` solver steps. The reward, the same for every agent, scores the enstrophy spectrum after those
steps against the filtered DNS's over the resolved wavenumbers (`spectrum_reward`, `REWARDS`): "log_spectrum",
-mean_k (log Z(k) - log Z_FDNS(k))^2; "spectrum_error", -sum_k |Z(k) - Z_FDNS(k)| / sum_k Z_FDNS(k) (minus the
relative L1 error that `sciml.solvers.spectrum_error` scores a run's time-mean spectrum with); or
"weighted_spectrum", -log(sum_k k^2 (Z(k) - Z_FDNS(k))^2 / sum_k k^2 Z_FDNS(k)^2), the paper's wavenumber-weighted
norm ||k (Z - Z_FDNS)||^2 (its reward is the inverse of that norm; the log, relative to the reference's norm, orders
flows the same way and keeps the reward's scale the same in every case); or "weighted_energy", the same norm of the
shells' energies E(k) = Z(k) / k^2, -log(sum_k (Z(k) - Z_FDNS(k))^2 / k^2 / sum_k Z_FDNS(k)^2 / k^2) (the
energy-spectrum variant of the authors' code; Z(k) / k^2 is the energy of the ring's modes at |k'| = k, and the
filtered DNS's is taken the same way). A sum of these, each with an optional weight, is a reward too
("weighted_energy+log_spectrum", "weighted_energy+0.5*log_spectrum"; `reward_terms`): its optimum lies between those of
its terms, where one reward alone ranks the coefficients of a case differently from the evaluation.

Differences from the paper: bilinear instead of bi-quadratic spline interpolation, four patch-averaged invariants
instead of six point values, PPO instead of V-RACER (`sciml.rl.PPOLoss`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from sciml._errors import ConfigError, DataError
from sciml.rl._environment import AbstractEnvironment
from sciml.solvers import (
    ForcedTurbulence2D,
    Leith,
    Smagorinsky,
    TurbulenceState,
    enstrophy_spectrum,
    strain_rate_magnitude,
)

LOCAL_INVARIANTS = ("strain", "rotation", "vorticity_gradient", "vorticity_laplacian")
"""The local features of an agent's observation, in order (patch means of |S|, |omega|, |grad omega|, |lap omega|)."""
REWARDS = ("log_spectrum", "spectrum_error", "weighted_spectrum", "weighted_energy")
"""The rewards `SMARLTurbulence` offers (module docstring); weighted sums of them are rewards too (`reward_terms`)."""


def reward_terms(reward: str) -> tuple[tuple[float, str], ...]:
    """The (weight, name) terms of a reward: a name of `REWARDS`, or a sum of them joined by "+", each optionally
    prefixed by a positive weight and "*" ("weighted_energy+0.5*log_spectrum" -> ((1, "weighted_energy"),
    (0.5, "log_spectrum")))."""
    terms = []
    for term in str(reward).split("+"):
        weight, _, name = term.strip().rpartition("*")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = float("nan")
        if name.strip() not in REWARDS or not value > 0 or not np.isfinite(value):
            raise ConfigError(f"reward must be one of {REWARDS} or a sum of them with optional positive weights "
                              f"(e.g. \"weighted_energy+0.5*log_spectrum\"), got {reward!r}")
        terms.append((value, name.strip()))
    return tuple(terms)


def periodic_linear_weights(n: int, side: int) -> np.ndarray:
    """(n, side) weights of periodic linear interpolation from `side` equally spaced values, the j-th at
    (j + 1/2) 2 pi / side, to the n grid points i 2 pi / n; each row has at most two non-zeros summing to 1."""
    position = np.arange(n) * side / n - 0.5  # grid point i in units of the agents' spacing, from agent 0
    left = np.floor(position).astype(int)
    fraction = position - left
    weights = np.zeros((n, side))
    np.add.at(weights, (np.arange(n), left % side), 1 - fraction)
    np.add.at(weights, (np.arange(n), (left + 1) % side), fraction)
    return weights


def local_invariants(omega_hat: Complex[Array, "n m"], les: ForcedTurbulence2D) -> Float[Array, "4 n n"]:
    """|S|, |omega|, |grad omega| and |lap omega| on the grid (the order of `LOCAL_INVARIANTS`)."""
    grid = les.grid
    omega_x, omega_y = grid.gradient(omega_hat)
    return jnp.stack([strain_rate_magnitude(grid.streamfunction(omega_hat), grid),
                      jnp.abs(grid.to_grid(omega_hat)),
                      jnp.sqrt(omega_x**2 + omega_y**2),
                      jnp.abs(grid.to_grid(-grid.wavenumber_squared() * omega_hat))])


def spectrum_reward(spectrum: Float[Array, "*batch k"], reference: Float[Array, " k"], reward: str
                    ) -> Float[Array, "*batch"]:
    """The reward `reward` (a name of `REWARDS` or a weighted sum, `reward_terms`; module docstring) of enstrophy
    spectra Z(k) against Z_FDNS(k), both on the resolved wavenumbers k = 1 .. cutoff (the last axis)."""
    reference = jnp.broadcast_to(reference, spectrum.shape)
    return sum(weight * _named_reward(spectrum, reference, name) for weight, name in reward_terms(reward))


def _named_reward(spectrum: Float[Array, "*batch k"], reference: Float[Array, "*batch k"], name: str
                  ) -> Float[Array, "*batch"]:
    if name == "log_spectrum":
        return -jnp.mean(_log_ratio(spectrum, reference) ** 2, axis=-1)
    if name == "spectrum_error":
        return -jnp.sum(jnp.abs(spectrum - reference), axis=-1) / jnp.sum(reference, axis=-1)
    k2 = jnp.broadcast_to(jnp.arange(1, spectrum.shape[-1] + 1) ** 2, spectrum.shape).astype(spectrum.dtype)
    weight = k2 if name == "weighted_spectrum" else 1.0 / k2  # weighted_spectrum or weighted_energy
    relative = jnp.sum(weight * (spectrum - reference) ** 2, axis=-1) / jnp.sum(weight * reference**2, axis=-1)
    return -jnp.log(jnp.maximum(relative, jnp.finfo(relative.dtype).tiny))


def _log_ratio(spectrum: Float[Array, "*batch k"], reference: Float[Array, "*batch k"]) -> Float[Array, "*batch k"]:
    """log(spectrum / reference), with a vanishing spectrum held at the smallest positive float."""
    return jnp.log(jnp.maximum(spectrum, jnp.finfo(spectrum.dtype).tiny)) - jnp.log(reference)


class SMARLTurbulence(AbstractEnvironment):
    """Multi-agent control of an LES closure's coefficient field (module docstring).

    Args:
        les: the LES; its closure (`Smagorinsky` or `Leith`) gives the form of nu_e, whose coefficient the agents set.
        initial_vorticity: filtered-DNS vorticity fields (snapshots, n, n) that episodes start from (one at random).
        reference_spectrum: the filtered DNS's time-mean enstrophy spectrum on the LES grid, k = 0 .. n / 2.
        side: agents per side (side^2 agents; n must be a multiple of side).
        action_every: solver steps per action.
        episode_steps: actions per episode.
        max_coefficient: c_max, the largest coefficient an agent can set.
        reward: a name of `REWARDS` or a weighted sum of them (`reward_terms`, `spectrum_reward`).
    """

    les: ForcedTurbulence2D
    initial_vorticity: Float[Array, "snapshots n n"]
    reference_spectrum: Float[Array, " shells"]
    invariant_scale: Float[Array, " 4"]
    side: int = eqx.field(static=True)
    action_every: int = eqx.field(static=True)
    episode_steps: int = eqx.field(static=True)
    max_coefficient: float = eqx.field(static=True)
    reward: str = eqx.field(static=True)

    def __init__(self, les: ForcedTurbulence2D, initial_vorticity, reference_spectrum, *, side: int = 4,
                 action_every: int = 10, episode_steps: int = 100, max_coefficient: float = 0.34,
                 reward: str = "log_spectrum"):
        if not isinstance(les.closure, (Smagorinsky, Leith)):
            raise ConfigError(f"SMARLTurbulence: the LES's closure must be Smagorinsky or Leith (whose coefficient the "
                              f"agents set), got {type(les.closure).__name__}")
        if side < 1 or les.n % side:
            raise ConfigError(f"SMARLTurbulence: the LES grid n = {les.n} must be a multiple of side = {side}")
        if action_every < 1 or episode_steps < 1 or not max_coefficient > 0:
            raise ConfigError(f"SMARLTurbulence: expected action_every >= 1, episode_steps >= 1 and max_coefficient "
                              f"> 0, got {action_every}, {episode_steps}, {max_coefficient}")
        reward_terms(reward)
        initial_vorticity = jnp.asarray(initial_vorticity, float)
        reference_spectrum = jnp.asarray(reference_spectrum, float)
        if initial_vorticity.ndim != 3 or initial_vorticity.shape[1:] != (les.n, les.n):
            raise DataError(f"SMARLTurbulence: expected initial vorticity of shape (snapshots, {les.n}, {les.n}), got "
                            f"{initial_vorticity.shape}; filter the DNS to the LES grid (`coarse_grain`)")
        if reference_spectrum.shape != (les.n // 2 + 1,):
            raise DataError(f"SMARLTurbulence: expected the reference spectrum on k = 0 .. {les.n // 2} "
                            f"({les.n // 2 + 1} values), got shape {reference_spectrum.shape}")
        self.les = les
        self.initial_vorticity = initial_vorticity
        self.reference_spectrum = reference_spectrum
        fields = jax.vmap(lambda omega: local_invariants(les.grid.to_spectral(omega), les))(initial_vorticity)
        self.invariant_scale = jnp.mean(fields, axis=(0, 2, 3))
        self.side, self.action_every, self.episode_steps = side, action_every, episode_steps
        self.max_coefficient, self.reward = max_coefficient, reward

    @property
    def agents(self) -> int:
        return self.side**2

    @property
    def resolved(self) -> int:
        """The resolved wavenumbers 1 .. cutoff of the spectrum (the LES grid's dealiasing cutoff)."""
        return self.les.grid.cutoff

    @property
    def observation_size(self) -> int:
        return len(LOCAL_INVARIANTS) + self.resolved

    @property
    def action_size(self) -> int:
        return 1

    @property
    def episode_length(self) -> int:
        return self.episode_steps

    def coefficients(self, action: Float[Array, "agents 1"]) -> Float[Array, "side side"]:
        """Each agent's coefficient c_max sigmoid(a), on the (y, x) grid of agents (agent i side + j at row i)."""
        return self.max_coefficient * jax.nn.sigmoid(action[:, 0]).reshape(self.side, self.side)

    def uniform_action(self, coefficient: float | Float[Array, ""]) -> Float[Array, "agents 1"]:
        """The action that sets every agent's coefficient to `coefficient` in (0, c_max) (inverse of `coefficients`)."""
        return jnp.full((self.agents, 1), jnp.log(coefficient / (self.max_coefficient - coefficient)))

    def coefficient_field(self, action: Float[Array, "agents 1"]) -> Float[Array, "n n"]:
        """The agents' coefficients interpolated periodically and bilinearly to the LES grid (y, x)."""
        weights = jnp.asarray(periodic_linear_weights(self.les.n, self.side), float)
        return weights @ self.coefficients(action) @ weights.T

    def controlled_les(self, action: Float[Array, "agents 1"]) -> ForcedTurbulence2D:
        """The LES whose closure has the coefficient field of `action`."""
        return eqx.tree_at(lambda les: les.closure.coefficient, self.les, self.coefficient_field(action))

    def resolved_spectra(self, omega_hat: Complex[Array, "n m"]) -> tuple[Float[Array, " resolved"], ...]:
        """Z(k) of the flow and Z_FDNS(k), for k = 1 .. cutoff."""
        _, spectrum = enstrophy_spectrum(self.les.grid.to_grid(omega_hat))
        keep = slice(1, self.resolved + 1)
        return spectrum[keep], self.reference_spectrum[keep]

    def observe(self, omega_hat: Complex[Array, "n m"]) -> tuple[Float[Array, "agents observation"], Float[Array, ""]]:
        """Every agent's observation and the reward of the flow `omega_hat`."""
        patch = self.les.n // self.side
        fields = local_invariants(omega_hat, self.les)
        means = fields.reshape(len(LOCAL_INVARIANTS), self.side, patch, self.side, patch).mean(axis=(2, 4))
        tiny = jnp.finfo(means.dtype).tiny
        local = jnp.log(jnp.maximum(means, tiny) / self.invariant_scale[:, None, None]).reshape(len(LOCAL_INVARIANTS),
                                                                                                -1).T
        spectrum, reference = self.resolved_spectra(omega_hat)
        mismatch = _log_ratio(spectrum, reference)
        observation = jnp.concatenate([local, jnp.broadcast_to(mismatch, (self.agents, self.resolved))], axis=1)
        return observation, spectrum_reward(spectrum, reference, self.reward)

    def reset(self, key: PRNGKeyArray) -> tuple[TurbulenceState, Float[Array, "agents observation"]]:
        """The LES started from a random one of the initial fields."""
        omega = self.initial_vorticity[jax.random.randint(key, (), 0, self.initial_vorticity.shape[0])]
        state = self.les.initial_state(omega)
        return state, self.observe(state.omega_hat)[0]

    def step(self, state: TurbulenceState, action: Float[Array, "agents 1"]
             ) -> tuple[TurbulenceState, Float[Array, "agents observation"], Float[Array, " agents"]]:
        """`action_every` LES steps with the closure coefficient field of `action`."""
        state = self.controlled_les(action).advance(state, self.action_every)
        observation, reward = self.observe(state.omega_hat)
        return state, observation, jnp.full((self.agents,), reward)
