"""Episodic actor-critic: one-step, and with eligibility traces (Sutton & Barto 2018, p. 332)."""

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
from gradlogpi.algorithms.compiled import linear
from gradlogpi.algorithms.compiled import tabular as compiled
from gradlogpi.core._checks import check_in_range
from gradlogpi.policies import Policy, ValueFunction


@dataclass(frozen=True)
class ActorCriticConfig:
    """Settings of `actor_critic`; λ = 0 for both gives the one-step algorithm."""

    n_episodes: int = 500
    """Episodes to learn from."""
    alpha_theta: float = 2**-6
    """Step size α^θ of the actor (> 0)."""
    alpha_w: float = 2**-4
    """Step size α^w of the critic (> 0)."""
    gamma: float = 1.0
    """Discount γ in [0, 1]."""
    lambda_theta: float = 0.0
    """Trace decay λ^θ of the actor in [0, 1]; 0 is one-step actor-critic."""
    lambda_w: float = 0.0
    """Trace decay λ^w of the critic in [0, 1]."""
    schedule: Schedule = "constant"
    """Step-size schedule over episodes (both step sizes)."""
    max_episode_steps: int | None = None
    """Step cap per episode; default the environment's registered cap."""

    def __post_init__(self) -> None:
        validate_common(self)
        check_in_range("lambda_theta", self.lambda_theta, 0.0, 1.0)
        check_in_range("lambda_w", self.lambda_w, 0.0, 1.0)


def actor_critic(
    env: str | gym.Env,
    policy: Policy,
    config: ActorCriticConfig = ActorCriticConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn θ and a linear critic w online, one step at a time.

    Pseudocode (Sutton & Barto 2018, p. 332, with eligibility traces; λ^θ = λ^w = 0
    reduces it to the one-step actor-critic on the same page):

        Loop for each episode:
            Initialize S; z^θ ← 0; z^w ← 0; I ← 1
            Loop while S is not terminal:
                A ~ π(·|S, θ); take A, observe S', R
                δ ← R + γ v̂(S', w) − v̂(S, w)        (v̂(S', w) = 0 if S' is terminal)
                z^w ← γ λ^w z^w + ∇v̂(S, w)
                z^θ ← γ λ^θ z^θ + I ∇ln π(A|S, θ)
                w ← w + α^w δ z^w
                θ ← θ + α^θ δ z^θ
                I ← γ I;  S ← S'

    An episode cut by the step cap (truncated) still bootstraps from v̂(S', w): S' is not
    terminal, the clock merely ran out.

    Args:
      env: a Gymnasium id or environment with Discrete actions.
      policy: a softmax policy; not modified.
      config: `ActorCriticConfig`.
      value: the critic, a `LinearValue`; required; not modified.
      seed, runs, callback, resume: as in `reinforce`.

    Returns:
      RunResult; `value` holds the learned critic.
    """
    if value is None:
        raise ValueError("`value` must be a critic (e.g. LinearValue(OneHot(...))); got None")
    lockstep = start_lockstep(
        Inputs(
            env, policy, config, value=value, seed=seed, runs=runs, callback=callback, resume=resume
        )
    )
    policy, environments, tracker = lockstep.policy, lockstep.runs, lockstep.tracker
    value = lockstep.value
    assert value is not None  # checked above: the critic is required
    update = 0 if resume is None else int(resume["counters"]["update"])  # steps of θ so far

    task = compiled.tabulate(environments.model, policy, value)
    if task is not None:
        # compiled path (tabular task, Numba): the loop below, compiled, run by run
        compiled.learn_actor_critic(task, lockstep, config, update)
        return lockstep.result(config)
    if linear.learns_one_env(lockstep):
        # one Gymnasium env, linear θ and w (Numba): the loop below, one compiled call a step
        linear.learn_actor_critic(lockstep, config, update)
        return lockstep.result(config)

    # NumPy path: all runs in lockstep, step by step
    n_runs, streams, gamma = len(lockstep.run_ids), environments.streams, config.gamma
    traces = config.lambda_theta > 0 or config.lambda_w > 0
    for episode in range(lockstep.first_episode, config.n_episodes):
        fraction = step_size(1.0, config.schedule, episode, config.n_episodes)
        state = environments.reset()
        z_theta, z_w = np.zeros_like(policy.theta), np.zeros_like(value.w)
        discount = np.ones(n_runs)  # I
        active = np.ones(n_runs, dtype=bool)
        returns, lengths = np.zeros(n_runs), np.zeros(n_runs, dtype=np.int64)
        truncated = np.zeros(n_runs, dtype=bool)
        t = 0
        while active.any():
            action = policy.sample_from_noise(state, streams.noise(t, active))
            next_state, reward, terminated, cut = environments.step(action, active)
            next_value = np.where(terminated, 0.0, value.value(next_state))
            delta = (reward + gamma * next_value - value.value(state)) * active
            alpha_theta = config.alpha_theta * fraction * tracker.learning
            alpha_w = config.alpha_w * fraction * tracker.learning
            with tracker.guarded(update, policy.theta, value.w):
                score = policy.score(state, action)  # ∇ln π(A|S, θ), [R, P]
                if traces:
                    keep = active[:, None]
                    z_w = np.where(keep, gamma * config.lambda_w * z_w + value.gradient(state), z_w)
                    z_theta = np.where(
                        keep,
                        gamma * config.lambda_theta * z_theta + discount[:, None] * score,
                        z_theta,
                    )
                    value.w += (alpha_w * delta)[:, None] * z_w  # w ← w + α^w δ z^w
                    policy.theta += (alpha_theta * delta)[:, None] * z_theta  # θ ← θ + α^θ δ z^θ
                else:  # one-step: z^w = ∇v̂(S, w), z^θ = I ∇ln π(A|S, θ)
                    value.ascend(state, alpha_w * delta)
                    policy.theta += (alpha_theta * discount * delta)[:, None] * score
            update += 1
            discount = np.where(active, gamma * discount, discount)
            returns += reward
            lengths += active
            truncated |= cut
            active &= ~(terminated | cut)
            state = next_state
            t += 1
        tracker.record(episode, returns, lengths, truncated)
        if lockstep.report(episode, update=update):
            break
    return lockstep.result(config)
