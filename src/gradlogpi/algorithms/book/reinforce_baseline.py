"""REINFORCE with baseline (Sutton & Barto 2018, p. 330)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import (
    Callback,
    Inputs,
    RunResult,
    Schedule,
    start_lockstep,
    step_size,
    validate_common,
)
from gradlogpi.algorithms.compiled import tabular as compiled
from gradlogpi.core.returns import discount_powers, discounted_returns
from gradlogpi.policies import Policy, ValueFunction
from gradlogpi.rollouts.episodes import generate_episode


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
    policy: Policy,
    config: ReinforceBaselineConfig = ReinforceBaselineConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
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
      config: `ReinforceBaselineConfig`.
      value: the baseline, a `LinearValue` (any state features, e.g. a constant for
        Fig. 13.2); required; not modified.
      seed, runs, callback, resume: as in `reinforce`.

    Returns:
      RunResult; `value` holds the learned baseline.
    """
    if value is None:
        raise ValueError("`value` must be a baseline (e.g. LinearValue(Constant())); got None")
    lockstep = start_lockstep(
        Inputs(
            env, policy, config, value=value, seed=seed, runs=runs, callback=callback, resume=resume
        )
    )
    policy, environments, tracker = lockstep.policy, lockstep.runs, lockstep.tracker
    value = lockstep.value
    assert value is not None  # checked above: the baseline is required

    task = compiled.tabulate(environments.model, policy, value)
    if task is not None:
        # compiled path (tabular task, Numba): the book's loop below, compiled, run by run
        compiled.learn_reinforce(task, lockstep, config)
        return lockstep.result(config)

    # NumPy path: all runs in lockstep, episode by episode
    gamma = config.gamma
    for episode in range(lockstep.first_episode, config.n_episodes):
        fraction = step_size(1.0, config.schedule, episode, config.n_episodes) * tracker.learning
        alpha_theta, alpha_w = config.alpha_theta * fraction, config.alpha_w * fraction
        batch = generate_episode(environments, policy)
        returns = discounted_returns(batch.rewards, gamma, lengths=batch.lengths)  # G_t, [R, T]
        n_steps = batch.actions.shape[1]
        discount = (
            discount_powers(n_steps, gamma) if config.discount_weighting else np.ones(n_steps)
        )
        with tracker.guarded(episode, policy.theta, value.w):
            if config.batch_update:
                # every step's terms at the θ and w of the episode's start, summed
                states = batch.observations[:, :-1]
                delta = (returns - value.value(states)) * batch.mask
                value.ascend(states, alpha_w[:, None] * delta)
                policy.ascend(states, batch.actions, alpha_theta[:, None] * discount * delta)
            else:
                for t in range(n_steps):
                    state, action = batch.observations[:, t], batch.actions[:, t]
                    delta = (returns[:, t] - value.value(state)) * (t < batch.lengths)
                    score = policy.score(state, action)  # ∇ln π(A_t|S_t, θ), [R, P]
                    value.ascend(state, alpha_w * delta)  # w ← w + α^w δ ∇v̂(S_t, w)
                    policy.theta += (alpha_theta * discount[t] * delta)[
                        :, None
                    ] * score  # θ ← θ + α^θ γ^t δ ∇ln π
        tracker.record(episode, batch.rewards.sum(axis=1), batch.lengths, batch.truncated)
        if lockstep.report(episode):
            break
    return lockstep.result(config)
