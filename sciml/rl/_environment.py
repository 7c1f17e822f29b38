"""The environment protocol of sciml's reinforcement learning: one multi-agent environment as pure JAX functions.

An `AbstractEnvironment` is one environment; a batch of them is `jax.vmap` over its state (`collect_rollout` in
`sciml.rl._ppo` does that). Every agent of an environment reads its own observation and emits its own action; the
environment maps the joint action to a reward per agent. Episodes have a fixed length, after which the rollout resets
the environment (`AbstractEnvironment.reset`).
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractEnvironment(eqx.Module):
    """A multi-agent environment with fixed-size observations and actions and episodes of `episode_length` steps.

    Subclasses define the sizes and `reset` / `step`; both are pure and jittable, with no batch axis (vmap batches).
    """

    @property
    @abc.abstractmethod
    def agents(self) -> int:
        """Agents per environment."""

    @property
    @abc.abstractmethod
    def observation_size(self) -> int:
        """Length of one agent's observation vector."""

    @property
    @abc.abstractmethod
    def action_size(self) -> int:
        """Length of one agent's action vector."""

    @property
    @abc.abstractmethod
    def episode_length(self) -> int:
        """Steps per episode; the step after the last one starts from `reset`."""

    @abc.abstractmethod
    def reset(self, key: PRNGKeyArray) -> tuple[Any, Float[Array, "agents observation"]]:
        """A fresh state and its observations."""

    @abc.abstractmethod
    def step(self, state: Any, action: Float[Array, "agents action"]
             ) -> tuple[Any, Float[Array, "agents observation"], Float[Array, " agents"]]:
        """The next state, its observations and each agent's reward for `action`."""
