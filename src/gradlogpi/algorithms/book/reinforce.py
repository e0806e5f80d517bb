"""REINFORCE: Monte-Carlo policy-gradient control (Sutton & Barto 2018, p. 328)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.book.vector_runs import check_vector_runs, learn_reinforce_in_vector_env
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
from gradlogpi.core.returns import discount_powers, discounted_returns
from gradlogpi.policies import MatrixSoftmaxPolicy, Policy, ValueFunction
from gradlogpi.policies.contract import ArrayPolicy
from gradlogpi.rollouts.episodes import EpisodeBatch, generate_episode


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
    runs_in_vector_env: bool = False
    """Step all runs through the task's native vector env (one call per step for all runs,
    each run learning when its own episode ends; linear `MatrixSoftmaxPolicy` only).
    Much faster for many runs, reproducible for a seed, but run k then depends on the
    other runs (one env random stream): see `gradlogpi.algorithms.book.vector_runs`."""

    def __post_init__(self) -> None:
        validate_common(self)


def reinforce(
    env: str | gym.Env,
    policy: Policy,
    config: ReinforceConfig = ReinforceConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
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
      value: must be None (REINFORCE learns no baseline; see `reinforce_baseline`).
      seed: one seed for the whole experiment; run k's streams come from
        `SeedSequence(seed).spawn(runs)[k]`, so its results do not depend on `runs`.
      runs: None for one run; an int R for runs 0 … R − 1 learned at once (vectorised over
        runs); or a sequence of run ids (run k is the same whatever else is learned beside it).
      callback: called with an `EpisodeEnd` as learning moves on (every episode, or every
        chunk of episodes on the compiled path); its `snapshot()` is the state to pass as
        `resume` to continue from there. Raising `StopTraining` ends learning there.
      resume: a `snapshot()` from an earlier call with the same arguments; learning goes on
        from the episode after it, exactly as if it had never stopped.

    Returns:
      RunResult with per-run returns, lengths, truncations and the learned policy.
    """
    if value is not None:
        raise ValueError("`value` must be None for reinforce (use reinforce_baseline); got one")
    lockstep = start_lockstep(
        Inputs(env, policy, config, seed=seed, runs=runs, callback=callback, resume=resume)
    )
    policy, environments, tracker = lockstep.policy, lockstep.runs, lockstep.tracker

    if config.runs_in_vector_env:
        # all runs in one native vector env, each learning when its own episode ends
        with contextlib.closing(check_vector_runs(lockstep)) as envs:
            learn_reinforce_in_vector_env(lockstep, config, envs, resume)
        return lockstep.result(config)

    task = compiled.tabulate(environments.model, policy)
    if task is not None:
        # compiled path (tabular task, Numba): the book's loop below, compiled, run by run
        compiled.learn_reinforce(task, lockstep, config)
        return lockstep.result(config)

    if linear.generates_one_env(lockstep):
        # one Gymnasium env, linear θ over the observation: the loop below, one compiled
        # call per step and one per episode
        linear.learn_reinforce_one_env(lockstep, config)
        return lockstep.result(config)

    # all runs in lockstep, episode by episode
    fused = linear.supports(policy)
    for episode in range(lockstep.first_episode, config.n_episodes):
        # a diverged run stops learning: α per run, [R]
        alpha = (
            step_size(config.alpha_theta, config.schedule, episode, config.n_episodes)
            * tracker.learning
        )
        batch = generate_episode(environments, policy)
        with tracker.guarded(episode, policy.theta):
            if fused:  # linear softmax with Numba: `learn_from_episode` in one compiled call
                linear.reinforce_episodes(cast(MatrixSoftmaxPolicy, policy), batch, alpha, config)
            else:
                learn_from_episode(policy, batch, alpha, config)
        tracker.record(episode, batch.rewards.sum(axis=1), batch.lengths, batch.truncated)
        if lockstep.report(episode):
            break
    return lockstep.result(config)


def learn_from_episode(
    policy: ArrayPolicy, batch: EpisodeBatch, alpha: np.ndarray, config: ReinforceConfig
) -> None:
    """The inner loop of p. 328 for every run's episode, θ [R, P] updated in place.

        Loop for each step of the episode t = 0, 1, …, T − 1:
            G ← Σ_{k=t+1}^{T} γ^{k−t−1} R_k
            θ ← θ + α γ^t G ∇ln π(A_t|S_t, θ)

    `alpha` is each run's α [R]; with `config.batch_update` every term is taken at the θ of
    the episode's start and their sum added once.
    """
    gamma = config.gamma
    returns = discounted_returns(batch.rewards, gamma, lengths=batch.lengths)  # G_t, [R, T]
    n_steps = batch.actions.shape[1]
    discount = discount_powers(n_steps, gamma) if config.discount_weighting else np.ones(n_steps)
    weights = alpha[:, None] * discount * returns * batch.mask  # α γ^t G_t, [R, T]
    if config.batch_update:
        # every step's term at the θ of the episode's start, summed
        policy.ascend(batch.observations[:, :-1], batch.actions, weights)
        return
    for t in range(n_steps):
        state, action = batch.observations[:, t], batch.actions[:, t]
        score = policy.score(state, action)  # ∇ln π(A_t|S_t, θ), [R, P]
        policy.theta += weights[:, t, None] * score  # θ ← θ + α γ^t G ∇ln π
