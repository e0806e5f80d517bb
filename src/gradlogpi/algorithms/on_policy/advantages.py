"""GAE(λ) advantages over one update's steps, what PPO, TRPO and A2C learn from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradlogpi.core.returns import generalized_advantages
from gradlogpi.policies import Policy, ValueFunction
from gradlogpi.rollouts.vector import FragmentBatch


@dataclass
class Rollout:
    """One update's real steps, flattened: [M] arrays (M ≤ num_envs × steps_per_env)."""

    observations: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray  # log π_old(a|s)
    advantages: np.ndarray
    returns: np.ndarray  # λ-returns A + v̂(s): the critic's targets


def rollout(
    batch: FragmentBatch,
    policy: Policy,
    value: ValueFunction,
    gamma: float,
    gae_lambda: float,
) -> Rollout:
    """GAE(λ) over the update's steps (env by env, time along the last axis), flattened.

    A fragment cut by the end of the update, or an episode cut by the time limit,
    bootstraps with v̂ of where it stopped; a terminated episode does not.
    """
    observations, actions = batch.step_observations, batch.step_actions  # [n, E, ...]
    counted, ended, terminated = batch.step_counted, batch.step_ended, batch.step_terminated
    assert counted is not None and ended is not None and terminated is not None
    values = value.value(observations)  # [n, E]
    next_values = value.value(batch.next_observations())
    ended = ended | ~counted  # a reset-only step neither gives nor takes an advantage
    ended[-1] = True  # nothing after the update's last step is known: bootstrap there
    advantages = generalized_advantages(
        batch.step_rewards.T, values.T, next_values.T, terminated.T, ended.T, gamma, gae_lambda
    ).T
    states = observations[counted]
    return Rollout(
        states,
        actions[counted],
        policy.log_prob(states, actions[counted]),
        advantages[counted],
        (advantages + values)[counted],
    )
