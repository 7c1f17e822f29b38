"""Reinforcement learning: the multi-agent environment protocol, PPO as a loss for `sciml.train.fit`, and the SMARL
turbulence-closure environment."""

from sciml.rl._environment import AbstractEnvironment
from sciml.rl._ppo import (
    GaussianActorCritic,
    PPOLoss,
    RolloutCarry,
    Trajectory,
    collect_rollout,
    gaussian_entropy,
    gaussian_log_prob,
    generalized_advantages,
    reset_environments,
)
from sciml.rl._smarl import (
    LOCAL_INVARIANTS,
    REWARDS,
    SMARLTurbulence,
    local_invariants,
    periodic_linear_weights,
    reward_terms,
    spectrum_reward,
)

__all__ = [
    "LOCAL_INVARIANTS",
    "REWARDS",
    "AbstractEnvironment",
    "GaussianActorCritic",
    "PPOLoss",
    "RolloutCarry",
    "SMARLTurbulence",
    "Trajectory",
    "collect_rollout",
    "gaussian_entropy",
    "gaussian_log_prob",
    "generalized_advantages",
    "local_invariants",
    "periodic_linear_weights",
    "reset_environments",
    "reward_terms",
    "spectrum_reward",
]
