"""REINFORCE with baseline (Sutton & Barto 2018, p. 330)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import (
    EpisodeEnd,
    RunResult,
    Schedule,
    report_episode,
    start_learning,
    step_size,
    validate_common,
)
from gradlogpi.algorithms.rollout import (
    generate_episode,
)
from gradlogpi.algorithms.tabular import learn_episodes, learn_runs, tabular_task
from gradlogpi.core.returns import discount_powers, discounted_returns


@dataclass(frozen=True)
class ReinforceBaselineConfig:
    """Settings of `reinforce_baseline`; defaults are Figure 13.2's."""

    n_episodes: int = 1000
    """Episodes to learn from."""
    alpha_theta: float = 2**-9
    """Step size α^θ of the policy (> 0)."""
    alpha_w: float = 2**-6
    """Step size α^w of the baseline v̂(s, w) (> 0)."""
    gamma: float = 1.0
    """Discount γ in [0, 1]."""
    discount_weighting: bool = True
    """Multiply the policy update at step t by γ^t (the book)."""
    batch_update: bool = False
    """Sum the episode's updates with the θ and w of its start."""
    schedule: Schedule = "constant"
    """Step-size schedule over episodes (both step sizes)."""
    max_episode_steps: int | None = None
    """Step cap per episode; default the environment's registered cap."""

    def __post_init__(self) -> None:
        validate_common(self)


def reinforce_baseline(
    env: str | gym.Env,
    policy: Any,
    value: Any,
    config: ReinforceBaselineConfig = ReinforceBaselineConfig(),
    *,
    seed: int | None = None,
    runs: int | None = None,
    callback: Callable[[EpisodeEnd], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn θ by REINFORCE with a learned state-value baseline v̂(s, w).

    Pseudocode (Sutton & Barto 2018, p. 330):

        Loop for each episode:
            Generate an episode S0, A0, R1, …, S_{T−1}, A_{T−1}, R_T, following π(·|·, θ)
            Loop for each step of the episode t = 0, 1, …, T − 1:
                G ← Σ_{k=t+1}^{T} γ^{k−t−1} R_k
                δ ← G − v̂(S_t, w)
                w ← w + α^w δ ∇v̂(S_t, w)
                θ ← θ + α^θ γ^t δ ∇ln π(A_t|S_t, θ)

    δ is computed once, before w moves, and used by both updates.

    Args:
      env: a Gymnasium id or environment with Discrete actions.
      policy: a softmax policy; not modified.
      value: a `LinearValue` baseline (any state features, e.g. a constant for Fig. 13.2).
      config: `ReinforceBaselineConfig`.
      seed, runs, callback, resume: as in `reinforce`.

    Returns:
      RunResult; `value` holds the learned baseline.
    """
    setup = start_learning(env, policy, value, config, seed, runs, resume)
    policy, environments, tracker = setup.policy, setup.runs, setup.tracker
    value = setup.value
    gamma = config.gamma
    # a tabular task with Numba installed: each run's episode and updates in one compiled call
    task = tabular_task(environments.model, policy, getattr(policy, "n_actions", 0), value)
    episodes = range(setup.first_episode, config.n_episodes)
    if task is not None and callback is None:
        # nothing looks between episodes: each run learns all its episodes in one call
        learn_runs(task, environments, policy, value, tracker, config, setup.first_episode)
        episodes = range(0)

    for episode in episodes:
        fraction = step_size(1.0, config.schedule, episode, config.n_episodes) * tracker.learning
        alpha_theta, alpha_w = config.alpha_theta * fraction, config.alpha_w * fraction
        if task is not None:
            with tracker.guarded(episode, policy.theta, value.w):
                totals, lengths, truncated = learn_episodes(
                    task, environments, policy, value, alpha_theta, alpha_w, config
                )
        else:
            batch = generate_episode(environments, policy)
            totals, lengths, truncated = batch.rewards.sum(axis=1), batch.lengths, batch.truncated
            returns = discounted_returns(batch.rewards, gamma, lengths=batch.lengths)
            n_steps = batch.actions.shape[1]
            discount = (
                discount_powers(n_steps, gamma) if config.discount_weighting else np.ones(n_steps)
            )
            with tracker.guarded(episode, policy.theta, value.w):
                if config.batch_update:
                    states = batch.observations[:, :-1]
                    delta = (returns - value.value(states)) * batch.mask
                    value.ascend(states, alpha_w[:, None] * delta)
                    policy.ascend(states, batch.actions, alpha_theta[:, None] * discount * delta)
                else:
                    for t in range(n_steps):
                        state, action = batch.observations[:, t], batch.actions[:, t]
                        delta = (returns[:, t] - value.value(state)) * (t < batch.lengths)
                        value.ascend(state, alpha_w * delta)
                        policy.ascend(state, action, alpha_theta * discount[t] * delta)
        tracker.record(episode, totals, lengths, truncated)
        report_episode(callback, episode, tracker, lengths, truncated, policy, value, environments)

    environments.close()
    return tracker.result(policy, value, seed, config, single=setup.single, run_ids=setup.run_ids)
