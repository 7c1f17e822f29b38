"""Proximal policy optimisation (Schulman et al. 2017) for multi-agent environments with one shared policy.

The whole algorithm is a loss for `sciml.train.fit`: `PPOLoss` is an `AbstractAdaptiveLoss` whose state is the
latest rollout. Every `update_every` optimizer steps the engine calls `PPOLoss.update`, which plays the current
policy in a batch of environments (`collect_rollout`, vmapped over environments and agents) and computes generalised
advantage estimates (`generalized_advantages`); the optimizer steps in between minimise the clipped surrogate on that
rollout. Rollout and update run inside the engine's one compiled, scanned chunk; checkpoints (the rollout and the
environments' states included), the metrics log and the NaN guard are the engine's.

    policy = GaussianActorCritic(env.observation_size, env.action_size, key=key)
    loss = PPOLoss(env, environments=8, rollout_steps=32, epochs=8, key=key)
    result = fit(policy, loss, {}, optax.adam(3e-4), steps=8 * 100, key=key)   # 100 rollouts of 8 epochs
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml._errors import ConfigError
from sciml.nn import MLP
from sciml.rl._environment import AbstractEnvironment
from sciml.train import AbstractAdaptiveLoss


class GaussianActorCritic(eqx.Module):
    """One agent's policy N(mean(o), diag(exp(log_std))^2) and value V(o) from two tanh MLPs on its observation o;
    the log standard deviation is a learned vector, the same for every observation. Every agent shares it.

    Args:
        observation_size: length of an observation.
        action_size: length of an action.
        width: hidden units per layer of both networks.
        depth: hidden layers of both networks.
        initial_log_std: log standard deviation of the untrained policy.
        key: PRNG key.
    """

    actor: MLP
    critic: MLP
    log_std: Float[Array, " action"]

    def __init__(self, observation_size: int, action_size: int, *, width: int = 64, depth: int = 2,
                 initial_log_std: float = -1.0, key: PRNGKeyArray):
        actor_key, critic_key = jax.random.split(key)
        actor = MLP(observation_size, action_size, width, depth, key=actor_key)
        # A near-zero initial mean: the untrained policy's actions are its noise around 0 (the usual PPO start).
        self.actor = eqx.tree_at(lambda m: m.layers[-1].weight, actor, 0.01 * actor.layers[-1].weight)
        self.critic = MLP(observation_size, "scalar", width, depth, key=critic_key)
        self.log_std = jnp.full((action_size,), initial_log_std, float)

    def __call__(self, observation: Float[Array, " observation"]) -> tuple[Float[Array, " action"], Float[Array, ""]]:
        """The policy's mean action and the value of one observation."""
        return self.actor(observation), self.critic(observation)


def gaussian_log_prob(action: Float[Array, "*batch action"], mean: Float[Array, "*batch action"],
                      log_std: Float[Array, " action"]) -> Float[Array, "*batch"]:
    """log N(action; mean, diag(exp(log_std))^2), summed over the action's components."""
    log_std = jnp.broadcast_to(log_std, action.shape)
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def gaussian_entropy(log_std: Float[Array, " action"]) -> Float[Array, ""]:
    """Entropy of N(., diag(exp(log_std))^2): sum of log_std + (1 + log 2 pi) / 2."""
    return jnp.sum(log_std + 0.5 * (1 + jnp.log(2 * jnp.pi)))


def generalized_advantages(reward: Float[Array, " time *batch"], value: Float[Array, " time *batch"],
                           done: Bool[Array, " time *batch"], last_value: Float[Array, "*batch"], *, discount: float,
                           trace: float, final_value: Float[Array, " time *batch"] | None = None
                           ) -> tuple[Float[Array, " time *batch"], Float[Array, " time *batch"]]:
    """Generalised advantage estimates (Schulman et al. 2016) and the value targets (advantage + value).

    delta_t = r_t + discount (1 - done_t) V_{t+1} - V_t and A_t = delta_t + discount trace (1 - done_t) A_{t+1}, with
    V_T = `last_value`; `done_t` marks the last step of an episode (nothing is bootstrapped across it). Where an
    episode ends at a time limit rather than a terminal state, `final_value` (the value of the observation each step
    led to, before any reset) bootstraps it: delta_t = r_t + discount V_final_t - V_t at done_t, so the last actions
    of an episode are credited with the flow that would have followed, not with their few remaining rewards.
    """
    bootstrap = jnp.zeros_like(value) if final_value is None else final_value

    def backward(carry, inputs):
        advantage, next_value = carry
        r, v, d, b = inputs
        keep = 1.0 - d.astype(r.dtype)
        delta = r + discount * (keep * next_value + (1.0 - keep) * b) - v
        advantage = delta + discount * trace * keep * advantage
        return (advantage, v), advantage

    _, advantage = jax.lax.scan(backward, (jnp.zeros_like(last_value), last_value), (reward, value, done, bootstrap),
                                reverse=True)
    return advantage, advantage + value


class Trajectory(eqx.Module):
    """A rollout of `time` steps (or one step, without that axis) in `env` environments of `agents` agents each;
    `final_value`, the value of the observation each step led to (before a reset), only where it is asked for."""

    observation: Float[Array, "*time env agents observation"]
    action: Float[Array, "*time env agents action"]
    log_prob: Float[Array, "*time env agents"]
    value: Float[Array, "*time env agents"]
    reward: Float[Array, "*time env agents"]
    done: Bool[Array, "*time env"]
    final_value: Float[Array, "*time env agents"] | None = None


class RolloutCarry(eqx.Module):
    """Where a batch of environments stands between rollouts: their states (leading axis env), observations, the
    steps taken in the current episode and the episodes finished since the last reset."""

    state: Any
    observation: Float[Array, "env agents observation"]
    elapsed: Int[Array, " env"]
    episodes: Int[Array, " env"]


def _where_done(done, fresh, old):
    def select(f, o):
        return jnp.where(done.reshape(done.shape + (1,) * (o.ndim - done.ndim)), f, o)

    return jax.tree_util.tree_map(select, fresh, old)


def reset_environments(environment: AbstractEnvironment, key: PRNGKeyArray, environments: int) -> RolloutCarry:
    """Fresh states of `environments` environments (vmapped `reset`)."""
    state, observation = jax.vmap(environment.reset)(jax.random.split(key, environments))
    return RolloutCarry(state, observation, jnp.zeros((environments,), int), jnp.zeros((environments,), int))


def collect_rollout(policy: GaussianActorCritic, environment: AbstractEnvironment, carry: RolloutCarry,
                    key: PRNGKeyArray, steps: int, shared_noise: float = 0.0, final_values: bool = False,
                    restart_every: int = 1) -> tuple[RolloutCarry, Trajectory, Float[Array, "env agents"]]:
    """Play `policy` (sampling its Gaussian) for `steps` steps in every environment of `carry`; an environment is
    reset after every `restart_every` episodes (in between, an episode goes on from the state the last one reached).
    Returns the new carry, the trajectory (with `final_value` if `final_values`) and the value of the final
    observations.

    `shared_noise` (rho in [0, 1]) correlates the exploration of one environment's agents: each agent's noise is
    sqrt(rho) eps_env + sqrt(1 - rho) eps_agent, so every agent still samples its own Gaussian (the recorded
    log-probabilities are its marginal), and the agents' noises have correlation rho. With a reward shared by n
    agents, the policy-gradient signal from the agents' common action component has n times the variance at rho = 1
    that independent noise gives it."""
    act = jax.vmap(jax.vmap(policy))
    environments = carry.elapsed.shape[0]

    def one_step(carry, step_key):
        action_key, reset_key = jax.random.split(step_key)
        mean, value = act(carry.observation)
        shared = jax.random.normal(jax.random.fold_in(action_key, 1), mean.shape[:1] + (1,) + mean.shape[2:],
                                   mean.dtype)
        noise = (jnp.sqrt(1.0 - shared_noise) * jax.random.normal(action_key, mean.shape, mean.dtype)
                 + jnp.sqrt(shared_noise) * shared)
        action = mean + jnp.exp(jnp.broadcast_to(policy.log_std, mean.shape)) * noise
        state, observation, reward = jax.vmap(environment.step)(carry.state, action)
        done = carry.elapsed + 1 >= environment.episode_length
        episodes = carry.episodes + done
        restart = episodes >= restart_every
        going_on = RolloutCarry(state, observation, jnp.where(done, 0, carry.elapsed + 1), episodes)
        # Reset only on the steps where some environment restarts (most steps need none).
        following = jax.lax.cond(
            jnp.any(restart),
            lambda: _where_done(restart, reset_environments(environment, reset_key, environments), going_on),
            lambda: going_on)
        final_value = jax.vmap(jax.vmap(policy.critic))(observation) if final_values else None
        record = Trajectory(carry.observation, action, gaussian_log_prob(action, mean, policy.log_std), value, reward,
                            done, final_value)
        return following, record

    carry, trajectory = jax.lax.scan(one_step, carry, jax.random.split(key, steps))
    return carry, trajectory, act(carry.observation)[1]


class PPOLoss(AbstractAdaptiveLoss):
    """The clipped PPO objective on the latest rollout, refreshed every `update_every` optimizer steps.

    loss = -mean(min(rho A, clip(rho, 1 - clip, 1 + clip) A)) + value_weight mean((V - R)^2)
    - entropy_weight H, with rho the probability ratio of the new and the rollout policy, A the advantages
    (standardised over the minibatch) and R the value targets of `generalized_advantages` on the rewards times
    `reward_scale`; every (time, environment, agent) is one sample. Each optimizer step takes a random minibatch of
    1 / `minibatches` of the samples.

    Args:
        environment: the environment (one; a batch of `environments` is played).
        environments: environments played in parallel.
        rollout_steps: steps of each rollout; episodes continue across rollouts.
        epochs: optimizer steps per rollout (`update_every`).
        key: key of the environments' first reset.
        discount: gamma.
        trace: lambda of the advantage estimates.
        clip: epsilon of the clipped ratio.
        value_weight: weight of the value loss.
        reward_scale: the value network learns the returns of the rewards times this (the advantages, standardised,
            do not depend on it). 1 - discount makes a return the discounted mean reward: Adam's steps of about the
            learning rate fit values of order 1 within a few hundred steps, not returns of 1 / (1 - discount) rewards.
        entropy_weight: weight of the entropy bonus.
        minibatches: a step uses 1 / minibatches of the rollout's samples.
        shared_noise: correlation of the exploration noise of one environment's agents (`collect_rollout`); each
            agent's ratio stays that of its own marginal Gaussian, which for correlated noise scales the gradient of
            the agents' common action by 1 + (agents - 1) shared_noise against their differences (a preconditioner,
            still an ascent direction).
        bootstrap_time_limit: the environment's episodes end at a time limit, not in a terminal state: their last
            step's return is bootstrapped with the value of the observation it led to (`generalized_advantages`).
        restart_every: an environment is reset after every `restart_every` episodes; in between, an episode goes on
            from the state the last one reached (`collect_rollout`). For an environment with no terminal state (with
            `bootstrap_time_limit`), this trains on the states of runs `restart_every` episodes long while each
            action's return still ends at its episode's time limit.
    """

    environment: AbstractEnvironment
    carry: RolloutCarry
    trajectory: Trajectory
    advantage: Float[Array, "time env agents"]
    target: Float[Array, "time env agents"]
    update_every: int = eqx.field(static=True)
    discount: float = eqx.field(static=True)
    trace: float = eqx.field(static=True)
    clip: float = eqx.field(static=True)
    value_weight: float = eqx.field(static=True)
    reward_scale: float = eqx.field(static=True)
    entropy_weight: float = eqx.field(static=True)
    minibatches: int = eqx.field(static=True)
    shared_noise: float = eqx.field(static=True)
    bootstrap_time_limit: bool = eqx.field(static=True)
    restart_every: int = eqx.field(static=True)

    def __init__(self, environment: AbstractEnvironment, *, environments: int, rollout_steps: int, epochs: int,
                 key: PRNGKeyArray, discount: float = 0.99, trace: float = 0.95, clip: float = 0.2,
                 value_weight: float = 0.5, entropy_weight: float = 0.0, minibatches: int = 1,
                 reward_scale: float = 1.0, shared_noise: float = 0.0, bootstrap_time_limit: bool = False,
                 restart_every: int = 1):
        for name, value in {"environments": environments, "rollout_steps": rollout_steps, "epochs": epochs,
                            "minibatches": minibatches, "restart_every": restart_every}.items():
            if value < 1:
                raise ConfigError(f"PPOLoss: {name} must be >= 1, got {value}")
        if not (0 <= discount <= 1 and 0 <= trace <= 1 and 0 <= shared_noise <= 1 and clip > 0 and reward_scale > 0):
            raise ConfigError(f"PPOLoss: expected 0 <= discount, trace, shared_noise <= 1, clip > 0 and "
                              f"reward_scale > 0, got discount={discount}, trace={trace}, shared_noise={shared_noise}, "
                              f"clip={clip}, reward_scale={reward_scale}")
        samples = rollout_steps * environments * environment.agents
        if samples % minibatches:
            raise ConfigError(f"PPOLoss: the {samples} samples of a rollout (steps x environments x agents) must "
                              f"split into minibatches={minibatches} equal parts; choose a divisor of {samples}")
        self.environment = environment
        self.carry = reset_environments(environment, key, environments)
        shape = (rollout_steps, environments, environment.agents)
        zeros = jnp.zeros(shape, float)
        self.trajectory = Trajectory(jnp.zeros(shape + (environment.observation_size,), float),
                                     jnp.zeros(shape + (environment.action_size,), float), zeros, zeros, zeros,
                                     jnp.zeros(shape[:2], bool), zeros if bootstrap_time_limit else None)
        self.advantage, self.target = zeros, zeros
        self.update_every = epochs
        self.discount, self.trace, self.clip = discount, trace, clip
        self.value_weight, self.entropy_weight, self.minibatches = value_weight, entropy_weight, minibatches
        self.reward_scale, self.shared_noise = reward_scale, shared_noise
        self.bootstrap_time_limit, self.restart_every = bootstrap_time_limit, restart_every

    def update(self, model: GaussianActorCritic, batch, key: PRNGKeyArray) -> PPOLoss:
        """A new rollout of `model` and its advantages."""
        steps = self.trajectory.reward.shape[0]
        carry, trajectory, last_value = collect_rollout(model, self.environment, self.carry,
                                                        jax.random.fold_in(key, 1), steps, self.shared_noise,
                                                        self.bootstrap_time_limit, self.restart_every)
        done = jnp.broadcast_to(trajectory.done[..., None], trajectory.reward.shape)
        advantage, target = generalized_advantages(self.reward_scale * trajectory.reward, trajectory.value, done,
                                                   last_value, discount=self.discount, trace=self.trace,
                                                   final_value=trajectory.final_value)
        return eqx.tree_at(lambda loss: (loss.carry, loss.trajectory, loss.advantage, loss.target), self,
                           (carry, trajectory, advantage, target))

    def __call__(self, model: GaussianActorCritic, batch, key: PRNGKeyArray
                 ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        trajectory = self.trajectory
        observation = trajectory.observation.reshape(-1, trajectory.observation.shape[-1])
        action = trajectory.action.reshape(-1, trajectory.action.shape[-1])
        old_log_prob, advantage, target = (x.reshape(-1) for x in (trajectory.log_prob, self.advantage, self.target))
        size = old_log_prob.shape[0] // self.minibatches
        if self.minibatches > 1:
            index = jax.random.permutation(jax.random.fold_in(key, 2), old_log_prob.shape[0])[:size]
            observation, action, old_log_prob, advantage, target = (
                x[index] for x in (observation, action, old_log_prob, advantage, target))
        mean, value = jax.vmap(model)(observation)
        log_prob = gaussian_log_prob(action, mean, model.log_std)
        advantage = (advantage - jnp.mean(advantage)) / (jnp.std(advantage) + 1e-8)
        ratio = jnp.exp(log_prob - old_log_prob)
        surrogate = jnp.minimum(ratio * advantage, jnp.clip(ratio, 1 - self.clip, 1 + self.clip) * advantage)
        policy_loss = -jnp.mean(surrogate)
        value_loss = jnp.mean((value - target) ** 2)
        entropy = gaussian_entropy(model.log_std)
        loss = policy_loss + self.value_weight * value_loss - self.entropy_weight * entropy
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                      "reward": jnp.mean(trajectory.reward), "action_mean": jnp.mean(trajectory.action),
                      "approx_kl": jnp.mean(old_log_prob - log_prob),
                      "clip_fraction": jnp.mean(jnp.abs(ratio - 1) > self.clip)}

