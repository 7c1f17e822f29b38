"""sciml.rl: the SMARL turbulence environment against the LES it wraps, the interpolation of the agents' actions,
generalised advantages against a hand computation, and PPO (through sciml.train.fit) on a bandit with a known optimum.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import Array, Float, PRNGKeyArray
from scipy import ndimage

from sciml._errors import ConfigError, DataError
from sciml.rl import (
    AbstractEnvironment,
    GaussianActorCritic,
    PPOLoss,
    SMARLTurbulence,
    collect_rollout,
    generalized_advantages,
    periodic_linear_weights,
    reset_environments,
    reward_terms,
    spectrum_reward,
)
from sciml.solvers import (
    ForcedTurbulence2D,
    Leith,
    NoClosure,
    Smagorinsky,
    enstrophy_spectrum,
    random_vorticity,
    spectrum_error,
    tail_hellinger,
)
from sciml.studies import load_experiment
from sciml.train import fit


def test_periodic_linear_weights_are_exact_for_constant_and_linear_values():
    n, side = 32, 4
    weights = periodic_linear_weights(n, side)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(weights @ np.full(side, 0.3), 0.3, atol=1e-14)
    centres = (np.arange(side) + 0.5) * 2 * np.pi / side
    x = np.arange(n) * 2 * np.pi / n
    inside = (x >= centres[0]) & (x <= centres[-1])  # between the first and last agent: no wrap-around
    np.testing.assert_allclose((weights @ (0.2 + 0.5 * centres))[inside], (0.2 + 0.5 * x)[inside], atol=1e-13)
    # Across the wrap, halfway between the last agent and the first (at 0 = 2 pi), the mean of the two.
    values = np.array([1.0, 0.0, 0.0, 3.0])
    np.testing.assert_allclose((weights @ values)[0], 2.0, atol=1e-14)


def _environment(n=16, closure=None, **kwargs):
    les = ForcedTurbulence2D(n=n, closure=Smagorinsky() if closure is None else closure)
    keys = jax.random.split(jax.random.key(0), 3)
    fields = jax.vmap(lambda k: random_vorticity(k, n, peak_wavenumber=4.0, rms=5.0))(keys)
    _, spectra = enstrophy_spectrum(fields)
    return SMARLTurbulence(les, fields, spectra.mean(0), **kwargs)


def _interpolated(coefficients, n):
    """The agents' (side, side) values on the n x n grid by scipy's periodic linear interpolation (independent)."""
    side = coefficients.shape[0]
    index = np.arange(n) * side / n - 0.5  # grid point in agent units
    yy, xx = np.meshgrid(index, index, indexing="ij")
    return ndimage.map_coordinates(np.asarray(coefficients, np.float64), [yy, xx], order=1, mode="grid-wrap")


@pytest.mark.parametrize("closure", [Smagorinsky(), Leith()], ids=["smagorinsky", "leith"])
def test_environment_step_is_the_les_with_the_interpolated_coefficient_field(closure):
    env = _environment(closure=closure, action_every=5, max_coefficient=0.4)
    state, observation = env.reset(jax.random.key(1))
    assert observation.shape == (16, env.observation_size) and env.observation_size == 4 + 5
    action = jax.random.normal(jax.random.key(2), (env.agents, 1))
    coefficients = 0.4 / (1 + np.exp(-np.asarray(action[:, 0], np.float64))).reshape(4, 4)
    field = _interpolated(coefficients, 16)
    np.testing.assert_allclose(env.coefficient_field(action), field, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(env.coefficient_field(jnp.zeros((16, 1))), 0.2, rtol=1e-6)

    after, observation, reward = eqx.filter_jit(env.step)(state, action)
    les = ForcedTurbulence2D(n=16, closure=type(closure)(coefficient=jnp.asarray(field, float)))
    expected = eqx.filter_jit(les.advance)(state, 5)
    scale = float(jnp.max(jnp.abs(expected.omega_hat)))
    np.testing.assert_allclose(after.omega_hat, expected.omega_hat, atol=1e-5 * scale)
    # The reward and the spectral part of the observation, from the spectrum computed independently.
    _, spectrum = enstrophy_spectrum(les.vorticity(expected))
    ratio = np.log(np.asarray(spectrum[1:6]) / np.asarray(env.reference_spectrum[1:6]))
    np.testing.assert_allclose(reward, -np.mean(ratio**2), rtol=1e-4)
    relative = _environment(closure=closure, reward="spectrum_error").observe(after.omega_hat)[1]
    np.testing.assert_allclose(relative, -spectrum_error(np.asarray(spectrum), np.asarray(env.reference_spectrum), 5),
                               rtol=1e-4)
    np.testing.assert_allclose(observation[:, 4:], np.broadcast_to(ratio, (16, 5)), rtol=1e-4, atol=1e-5)
    # The local part: patch means of |omega| (the second invariant) over the FDNS's domain mean, in logs.
    omega = np.abs(np.asarray(les.vorticity(expected), np.float64)).reshape(4, 4, 4, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(observation[:, 1], np.log(omega.ravel() / float(env.invariant_scale[1])),
                               rtol=1e-4, atol=1e-5)


def test_environment_refuses_bad_setups():
    with pytest.raises(ConfigError, match="Smagorinsky or Leith"):
        _environment(closure=NoClosure())
    with pytest.raises(ConfigError, match="multiple of side"):
        _environment(side=3)
    with pytest.raises(ConfigError, match="reward must be one of"):
        _environment(reward="energy")
    with pytest.raises(DataError, match="reference spectrum"):
        SMARLTurbulence(ForcedTurbulence2D(n=16, closure=Smagorinsky()), jnp.zeros((2, 16, 16)), jnp.ones(5))


def test_spectrum_rewards_match_their_formulas():
    """Each reward of two spectra by hand: Z = (2, 1, 1) against Z_FDNS = (1, 1, 2) on k = 1, 2, 3."""
    spectrum, reference = jnp.array([2.0, 1.0, 1.0]), jnp.array([1.0, 1.0, 2.0])
    np.testing.assert_allclose(spectrum_reward(spectrum, reference, "log_spectrum"), -2 * np.log(2) ** 2 / 3,
                               rtol=1e-6)
    np.testing.assert_allclose(spectrum_reward(spectrum, reference, "spectrum_error"), -2 / 4, rtol=1e-6)
    # sum k^2 (Z - Z_FDNS)^2 = 1 + 9 = 10 over sum k^2 Z_FDNS^2 = 1 + 4 + 36 = 41.
    np.testing.assert_allclose(spectrum_reward(spectrum, reference, "weighted_spectrum"), -np.log(10 / 41), rtol=1e-6)
    # sum (Z - Z_FDNS)^2 / k^2 = 1 + 1 / 9 over sum Z_FDNS^2 / k^2 = 1 + 1 / 4 + 4 / 9.
    np.testing.assert_allclose(spectrum_reward(spectrum, reference, "weighted_energy"),
                               -np.log((1 + 1 / 9) / (1 + 1 / 4 + 4 / 9)), rtol=1e-6)
    # Batched over leading axes; a perfect match is each reward's best (0, 0 and a large finite value).
    both = spectrum_reward(jnp.stack([spectrum, reference]), reference, "weighted_spectrum")
    assert both.shape == (2,) and np.isfinite(both[1]) and both[1] > both[0]
    assert spectrum_reward(reference, reference, "log_spectrum") == spectrum_reward(reference, reference,
                                                                                   "spectrum_error") == 0
    with pytest.raises(ConfigError, match="reward must be one of"):
        spectrum_reward(spectrum, reference, "energy")


def test_a_sum_of_rewards_is_the_weighted_sum_of_its_terms():
    spectrum, reference = jnp.array([[2.0, 1.0, 1.0], [1.0, 3.0, 2.0]]), jnp.array([1.0, 1.0, 2.0])
    assert reward_terms("weighted_energy + 0.5*log_spectrum") == ((1.0, "weighted_energy"), (0.5, "log_spectrum"))
    assert reward_terms("spectrum_error") == ((1.0, "spectrum_error"),)
    np.testing.assert_allclose(spectrum_reward(spectrum, reference, "weighted_energy+0.5*log_spectrum"),
                               spectrum_reward(spectrum, reference, "weighted_energy")
                               + 0.5 * spectrum_reward(spectrum, reference, "log_spectrum"), rtol=1e-6)
    # Z = (2, 1, 1) against (1, 1, 2): log_spectrum -2 log(2)^2 / 3, spectrum_error -2 / 4, by hand.
    np.testing.assert_allclose(spectrum_reward(spectrum[0], reference, "2*log_spectrum+spectrum_error"),
                               -4 * np.log(2) ** 2 / 3 - 0.5, rtol=1e-6)
    for bad in ("weighted_energy+", "-1*log_spectrum", "x*log_spectrum", "log_spectrum+energy", "nan*log_spectrum"):
        with pytest.raises(ConfigError, match="a sum of them with optional positive weights"):
            reward_terms(bad)
    with pytest.raises(ConfigError, match="reward must be one of"):
        _environment(reward="weighted_energy+energy")


def test_generalized_advantages_match_a_hand_computation():
    reward = jnp.array([1.0, 2.0, 3.0])
    value = jnp.array([0.5, 1.0, 1.5])
    done = jnp.array([False, True, False])
    advantage, target = generalized_advantages(reward, value, done, jnp.asarray(2.0), discount=0.9, trace=0.8)
    # t = 2: 3 + 0.9 * 2 - 1.5 = 3.3; t = 1 ends an episode: 2 - 1 = 1; t = 0: 1 + 0.9 * 1 - 0.5 + 0.72 * 1 = 2.12.
    np.testing.assert_allclose(advantage, [2.12, 1.0, 3.3], rtol=1e-6)
    np.testing.assert_allclose(target, [2.62, 2.0, 4.8], rtol=1e-6)
    # An episode cut by a time limit: t = 1 bootstraps with its final value 4: 2 + 0.9 * 4 - 1 = 4.6; t = 0:
    # 1.4 + 0.72 * 4.6 = 4.712; the other final values are not read.
    advantage, _ = generalized_advantages(reward, value, done, jnp.asarray(2.0), discount=0.9, trace=0.8,
                                          final_value=jnp.array([9.0, 4.0, 9.0]))
    np.testing.assert_allclose(advantage, [4.712, 4.6, 3.3], rtol=1e-6)


class _Bandit(AbstractEnvironment):
    """Two agents observing +1 and -1; agent i is rewarded -(a_i - 0.5 o_i)^2 (optimum a = +-0.5); episodes of
    `length` steps (the state counts them)."""

    length: int = eqx.field(static=True, default=1)

    agents = 2
    observation_size = 1
    action_size = 1

    @property
    def episode_length(self) -> int:
        return self.length

    def _observation(self):
        return jnp.array([[1.0], [-1.0]])

    def reset(self, key: PRNGKeyArray):
        return jnp.zeros((), int), self._observation()

    def step(self, state, action: Float[Array, "agents 1"]):
        reward = -((action[:, 0] - 0.5 * self._observation()[:, 0]) ** 2)
        return state + 1, self._observation(), reward


def test_rollout_resets_environments_at_the_end_of_an_episode():
    env = _Bandit(length=3)
    policy = GaussianActorCritic(1, 1, width=4, depth=1, key=jax.random.key(0))
    carry = reset_environments(env, jax.random.key(1), 2)
    carry, trajectory, last_value = collect_rollout(policy, env, carry, jax.random.key(2), 7)
    np.testing.assert_array_equal(trajectory.done[:, 0], [False, False, True, False, False, True, False])
    np.testing.assert_array_equal(carry.elapsed, [1, 1])
    np.testing.assert_array_equal(carry.state, [1, 1])  # the state after the reset at step 6 took one step
    assert trajectory.observation.shape == (7, 2, 2, 1) and last_value.shape == (2, 2)


def test_rollout_continues_episodes_between_restarts():
    env = _Bandit(length=2)
    policy = GaussianActorCritic(1, 1, width=4, depth=1, key=jax.random.key(0))
    carry = reset_environments(env, jax.random.key(1), 1)
    carry, trajectory, _ = collect_rollout(policy, env, carry, jax.random.key(2), 7, restart_every=3)
    # Episodes of 2 steps end at steps 1, 3, 5; the state (steps since the last reset) runs on through the first two
    # and starts again after the third.
    np.testing.assert_array_equal(trajectory.done[:, 0], [False, True, False, True, False, True, False])
    np.testing.assert_array_equal(carry.state, [1])
    np.testing.assert_array_equal(carry.elapsed, [1])
    np.testing.assert_array_equal(carry.episodes, [0])
    carry = reset_environments(env, jax.random.key(1), 1)
    carry, _, _ = collect_rollout(policy, env, carry, jax.random.key(2), 5, restart_every=3)
    np.testing.assert_array_equal(carry.state, [5])
    np.testing.assert_array_equal(carry.episodes, [2])
    with pytest.raises(ConfigError, match="restart_every"):
        PPOLoss(env, environments=1, rollout_steps=2, epochs=1, key=jax.random.key(0), restart_every=0)


def test_ppo_through_fit_learns_the_optimum_of_a_contextual_bandit():
    env = _Bandit()
    policy = GaussianActorCritic(1, 1, width=16, depth=1, initial_log_std=-0.5, key=jax.random.key(0))
    loss = PPOLoss(env, environments=16, rollout_steps=2, epochs=4, key=jax.random.key(1), minibatches=2)
    before = jax.vmap(policy)(jnp.array([[1.0], [-1.0]]))[0][:, 0]
    result = fit(policy, loss, {}, optax.adam(1e-2), 4 * 60, key=jax.random.key(2), chunk=40, progress=False)
    after = jax.vmap(result.model)(jnp.array([[1.0], [-1.0]]))[0][:, 0]
    np.testing.assert_allclose(before, 0.0, atol=0.05)
    np.testing.assert_allclose(after, [0.5, -0.5], atol=0.08)
    assert result.history[-1]["reward"] > -0.05 > result.history[0]["reward"]


def test_turbulence_metrics():
    centres = np.linspace(-5, 5, 11)
    p = np.exp(-0.5 * centres**2)
    assert tail_hellinger(p, p, centres) == 0.0
    left, right = np.where(centres < -3, 1.0, 0.0), np.where(centres > 3, 1.0, 0.0)
    assert tail_hellinger(left, right, centres) == pytest.approx(1.0)
    assert np.isnan(tail_hellinger(np.zeros(11), p, centres))
    reference = np.array([9.0, 1.0, 2.0, 1.0, 5.0])
    assert spectrum_error(reference * [1, 1.5, 1, 1, 1], reference, 3) == pytest.approx(0.5 / 4)


def test_the_experiment_ranks_a_closure_without_tail_or_stability_last():
    """`turbulence2d-smarl`'s comparison: a PDF without tail ranks as Hellinger distance 1 (so a learned closure with a
    tail at 0.45 beats a Smagorinsky without one, and one without a tail beats nobody), an unstable run ranks worst."""
    experiment = load_experiment("turbulence2d-smarl").module

    def metrics(learned_tail, smagorinsky_tail, learned_stable=True):
        values = {"none": (0.6, 0.67, True), "smagorinsky": (0.34, smagorinsky_tail, True),
                  "learned": (0.29, learned_tail, learned_stable)}
        return {f"{name}_{key}": value for name, triple in values.items()
                for key, value in zip(("spectrum_error", "tail_hellinger", "stable"), triple, strict=True)}

    assert experiment.learned_beats_baselines(metrics(0.45, None), "tail_hellinger")
    assert experiment.learned_beats_baselines(metrics(0.45, float("nan")), "tail_hellinger")
    assert not experiment.learned_beats_baselines(metrics(None, 0.5), "tail_hellinger")
    assert not experiment.learned_beats_baselines(metrics(1.0, None), "tail_hellinger")  # a tie is not a win
    assert experiment.learned_beats_baselines(metrics(0.45, None), "spectrum_error")
    assert not experiment.learned_beats_baselines(metrics(0.45, None, learned_stable=False), "spectrum_error")


def test_the_evaluation_pools_runs_from_evenly_spread_snapshots():
    """With `evaluation_starts` = 2 every closure runs from the first and the last filtered-DNS snapshot, and the
    reported spectrum is the mean over both runs' kept snapshots (computed here run by run)."""
    experiment = load_experiment("turbulence2d-smarl").module
    config = experiment.Config(small=True, les=16, action_every=4, episode_steps=4, evaluation_episodes=2,
                               snapshot_every=8, spin_up_steps=8, width=8, evaluation_starts=2)
    ds, metrics = experiment.evaluate(config, experiment.model_like(config))
    one = experiment._case(config)
    fdns = jnp.asarray(one["omega_fdns16"].values, float)
    assert list(ds.start.values) == [0, fdns.shape[0] - 1]
    count = config.evaluation_episodes * config.episode_steps * config.action_every // config.snapshot_every
    skip = config.spin_up_steps // config.snapshot_every
    les = experiment._les(config, one, NoClosure())
    kept = np.concatenate([np.asarray(experiment._static_run(les, fdns[i], count, config.snapshot_every)[0][skip:])
                           for i in ds.start.values])
    _, spectra = enstrophy_spectrum(jnp.asarray(kept))
    np.testing.assert_allclose(ds.prediction.sel(closure="none").values[0], np.asarray(spectra).mean(0), rtol=1e-4,
                               atol=1e-9 * float(np.max(spectra)))
    assert metrics["none_stable"] and ds.initial_vorticity.shape == (1, 2, 16, 16)
    # A static closure scored alone (the coefficient scan's call) gets the evaluation's numbers.
    alone = experiment.static_closure_metrics(config, {"smagorinsky": Smagorinsky()})
    np.testing.assert_equal(alone, {"smagorinsky": {key: metrics[f"smagorinsky_{key}"] for key in experiment.SCORES}})
    # The mean log-spectrum reward, from the spectra computed here.
    band = slice(1, les.grid.cutoff + 1)
    by_hand = -np.mean(np.log(np.asarray(spectra)[:, band] / one["enstrophy_spectrum_fdns16"].values[band]) ** 2)
    np.testing.assert_allclose(metrics["none_reward_log_spectrum"], by_hand, rtol=1e-4)


def test_ppo_reward_scale_scales_the_value_targets_not_the_policy_loss():
    policy = GaussianActorCritic(1, 1, width=8, depth=1, key=jax.random.key(0))
    policy = eqx.tree_at(lambda p: (p.critic.layers[-1].weight, p.critic.layers[-1].bias), policy,
                         replace_fn=jnp.zeros_like)  # V = 0: the targets are the discounted returns
    losses = [PPOLoss(_Bandit(length=3), environments=4, rollout_steps=3, epochs=1, key=jax.random.key(1),
                      reward_scale=scale).update(policy, {}, jax.random.key(2)) for scale in (1.0, 0.01)]
    assert float(jnp.max(jnp.abs(losses[0].target))) > 0.01
    np.testing.assert_allclose(losses[1].target, 0.01 * losses[0].target, rtol=1e-5)
    moved = eqx.tree_at(lambda p: p.actor.layers[-1].bias, policy, replace_fn=lambda b: b + 0.3)  # ratio != 1
    policy_loss = [loss(moved, {}, jax.random.key(3))[1]["policy_loss"] for loss in losses]
    assert abs(float(policy_loss[0])) > 1e-3
    np.testing.assert_allclose(policy_loss[1], policy_loss[0], rtol=1e-4)
    with pytest.raises(ConfigError, match="reward_scale"):
        PPOLoss(_Bandit(), environments=1, rollout_steps=1, epochs=1, key=jax.random.key(1), reward_scale=0.0)


class _SharedTarget(AbstractEnvironment):
    """Sixteen agents observing 0, each rewarded -(mean of all actions - 0.5)^2 (one reward for all)."""

    agents = 16
    observation_size = 1
    action_size = 1

    @property
    def episode_length(self) -> int:
        return 1

    def reset(self, key: PRNGKeyArray):
        return jnp.zeros((), int), jnp.zeros((16, 1))

    def step(self, state, action: Float[Array, "agents 1"]):
        reward = -((jnp.mean(action[:, 0]) - 0.5) ** 2)
        return state + 1, jnp.zeros((16, 1)), jnp.full((16,), reward)


def test_shared_noise_correlates_the_agents_exploration_and_keeps_each_agents_gaussian():
    env = _SharedTarget()
    policy = GaussianActorCritic(1, 1, width=4, depth=1, initial_log_std=-0.5, key=jax.random.key(0))
    carry = reset_environments(env, jax.random.key(1), 64)
    mean = policy(jnp.zeros(1))[0][0]
    for rho in (0.0, 0.5, 1.0):
        _, trajectory, _ = collect_rollout(policy, env, carry, jax.random.key(2), 100, shared_noise=rho)
        noise = np.asarray(trajectory.action[..., 0] - mean).reshape(-1, 16)  # (time x env, agents)
        np.testing.assert_allclose(noise.std(), np.exp(-0.5), rtol=0.04)  # each agent's marginal is unchanged
        correlation = np.corrcoef(noise.T)[np.triu_indices(16, 1)].mean()
        assert abs(correlation - rho) < 0.03, (rho, correlation)
    # rho = 0 draws exactly what the rollout drew before the option existed (committed runs reproduce).
    default = collect_rollout(policy, env, carry, jax.random.key(2), 3)[1].action
    np.testing.assert_array_equal(collect_rollout(policy, env, carry, jax.random.key(2), 3, shared_noise=0.0)[1].action,
                                  default)
    with pytest.raises(ConfigError, match="shared_noise"):
        PPOLoss(env, environments=1, rollout_steps=1, epochs=1, key=jax.random.key(1), shared_noise=1.5)


def test_ppo_with_shared_noise_finds_the_optimum_of_a_shared_reward():
    policy = GaussianActorCritic(1, 1, width=8, depth=1, initial_log_std=-0.5, key=jax.random.key(0))
    loss = PPOLoss(_SharedTarget(), environments=8, rollout_steps=2, epochs=4, key=jax.random.key(1),
                   shared_noise=1.0)
    result = fit(policy, loss, {}, optax.adam(1e-2), 4 * 25, key=jax.random.key(2), chunk=20, progress=False)
    assert abs(float(result.model(jnp.zeros(1))[0][0]) - 0.5) < 0.05
    assert result.history[-1]["reward"] > 10 * result.history[0]["reward"]  # rewards are negative


class _Clock(AbstractEnvironment):
    """One agent observing the steps taken in its episode (of 3), rewarded 0."""

    agents = 1
    observation_size = 1
    action_size = 1

    @property
    def episode_length(self) -> int:
        return 3

    def reset(self, key: PRNGKeyArray):
        return jnp.zeros((), int), jnp.zeros((1, 1))

    def step(self, state, action: Float[Array, "agents 1"]):
        return state + 1, jnp.full((1, 1), state + 1.0), jnp.zeros((1,))


def test_rollout_records_the_value_of_the_state_each_step_led_to_before_a_reset():
    env = _Clock()
    policy = GaussianActorCritic(1, 1, width=4, depth=1, key=jax.random.key(0))
    carry = reset_environments(env, jax.random.key(1), 1)
    _, trajectory, _ = collect_rollout(policy, env, carry, jax.random.key(2), 4, final_values=True)
    value = lambda t: float(policy(jnp.array([float(t)]))[1])  # noqa: E731
    np.testing.assert_allclose(trajectory.final_value[:, 0, 0], [value(1), value(2), value(3), value(1)], rtol=1e-6)
    np.testing.assert_allclose(trajectory.value[:, 0, 0], [value(0), value(1), value(2), value(0)], rtol=1e-6)
    assert collect_rollout(policy, env, carry, jax.random.key(2), 4)[1].final_value is None
    loss = PPOLoss(env, environments=1, rollout_steps=4, epochs=1, key=jax.random.key(1), bootstrap_time_limit=True)
    loss = loss.update(policy, {}, jax.random.key(2))
    # The last step of the episode (t = 2) bootstraps with V(3), the state it led to: delta = 0 + 0.99 V(3) - V(2).
    delta = 0.99 * value(3) - value(2)
    np.testing.assert_allclose(loss.advantage[2, 0, 0], delta, rtol=1e-5, atol=1e-7)
