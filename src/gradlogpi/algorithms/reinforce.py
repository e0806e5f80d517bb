"""REINFORCE: Monte-Carlo policy-gradient control (Sutton & Barto 2018, p. 328)."""

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
class ReinforceConfig:
    """Settings of `reinforce`; the defaults are the book's."""

    n_episodes: int = 1000
    """Episodes to learn from."""
    alpha_theta: float = 2**-13
    """Step size α of the policy parameters (> 0)."""
    gamma: float = 1.0
    """Discount γ in [0, 1]."""
    discount_weighting: bool = True
    """Multiply the update at step t by γ^t (the book); False drops it, as deep-RL code does."""
    batch_update: bool = False
    """Sum the episode's updates with the θ of its start instead of stepping θ at every t."""
    schedule: Schedule = "constant"
    """Step-size schedule over episodes: constant, linear (to 0) or inverse_sqrt."""
    max_episode_steps: int | None = None
    """Step cap per episode; default the environment's registered cap."""

    def __post_init__(self) -> None:
        validate_common(self)


def reinforce(
    env: str | gym.Env,
    policy: Any,
    config: ReinforceConfig = ReinforceConfig(),
    *,
    seed: int | None = None,
    runs: int | None = None,
    callback: Callable[[EpisodeEnd], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn θ by REINFORCE, for one run or for `runs` independent runs at once.

    Pseudocode (Sutton & Barto 2018, p. 328):

        Loop for each episode:
            Generate an episode S0, A0, R1, …, S_{T−1}, A_{T−1}, R_T, following π(·|·, θ)
            Loop for each step of the episode t = 0, 1, …, T − 1:
                G ← Σ_{k=t+1}^{T} γ^{k−t−1} R_k
                θ ← θ + α γ^t G ∇ln π(A_t|S_t, θ)

    Args:
      env: a Gymnasium id or environment with Discrete actions.
      policy: a softmax policy (`LinearSoftmaxPolicy`, `MatrixSoftmaxPolicy`); not modified.
      config: `ReinforceConfig`.
      seed: one seed for the whole experiment; run k's streams come from
        `SeedSequence(seed).spawn(runs)[k]`, so its results do not depend on `runs`.
      runs: None for one run; an int R for runs 0 … R − 1 learned at once (vectorised over
        runs); or a sequence of run ids (run k is the same whatever else is learned beside it).
      callback: called with an `EpisodeEnd` after every episode; its `snapshot()` is the
        state to pass as `resume` to continue from there.
      resume: a `snapshot()` from an earlier call with the same arguments; learning goes on
        from the episode after it, exactly as if it had never stopped.

    Returns:
      RunResult with per-run returns, lengths, truncations and the learned policy.
    """
    setup = start_learning(env, policy, None, config, seed, runs, resume)
    policy, environments, tracker = setup.policy, setup.runs, setup.tracker
    gamma = config.gamma

    # a tabular task with Numba installed: each run's episode and updates in one compiled call
    task = tabular_task(environments.model, policy, getattr(policy, "n_actions", 0))
    episodes = range(setup.first_episode, config.n_episodes)
    if task is not None and callback is None:
        # nothing looks between episodes: each run learns all its episodes in one call
        learn_runs(task, environments, policy, None, tracker, config, setup.first_episode)
        episodes = range(0)

    for episode in episodes:
        alpha = step_size(config.alpha_theta, config.schedule, episode, config.n_episodes)
        alpha = alpha * tracker.learning  # a diverged run stops learning, [R]
        if task is not None:
            with tracker.guarded(episode, policy.theta):
                totals, lengths, truncated = learn_episodes(
                    task, environments, policy, None, alpha, 0 * alpha, config
                )
        else:
            batch = generate_episode(environments, policy)
            totals, lengths, truncated = batch.rewards.sum(axis=1), batch.lengths, batch.truncated
            returns = discounted_returns(batch.rewards, gamma, lengths=batch.lengths)  # G_t, [R, T]
            n_steps = batch.actions.shape[1]
            discount = (
                discount_powers(n_steps, gamma) if config.discount_weighting else np.ones(n_steps)
            )
            with tracker.guarded(episode, policy.theta):
                if config.batch_update:
                    weights = alpha[:, None] * discount * returns * batch.mask
                    policy.ascend(batch.observations[:, :-1], batch.actions, weights)
                else:
                    for t in range(n_steps):
                        weight = alpha * discount[t] * returns[:, t] * (t < batch.lengths)
                        policy.ascend(batch.observations[:, t], batch.actions[:, t], weight)
        tracker.record(episode, totals, lengths, truncated)
        report_episode(callback, episode, tracker, lengths, truncated, policy, None, environments)

    environments.close()
    return tracker.result(policy, None, seed, config, single=setup.single, run_ids=setup.run_ids)
