"""REINFORCE for neural policies: autodiff of the seed's J = Σ_t log π(A_t|S_t) G_t."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import (
    Callback,
    EpisodeEnd,
    RunResult,
    StopTraining,
    Tracker,
    capture_state,
    check_policy_fits_env,
    one_run,
    restore_state,
)
from gradlogpi.algorithms.estimators import ReturnWeighted
from gradlogpi.core._checks import check_in_range, check_positive_int
from gradlogpi.core.returns import discount_powers, discounted_returns, normalized
from gradlogpi.policies import NetworkPolicy, Policy, ValueFunction
from gradlogpi.policies.contract import Minibatches
from gradlogpi.rollouts.episodes import Runs, generate_episode, make_env, policy_streams


@dataclass(frozen=True)
class NeuralReinforceConfig:
    """Settings of `neural_reinforce` (the step size is the policy's optimizer's)."""

    n_episodes: int = 1000
    """Episodes to learn from; one optimizer step after each."""
    gamma: float = 0.99
    """Discount γ in [0, 1]."""
    returns: Literal["reward_to_go", "whole"] = "reward_to_go"
    """Weight of step t: the return G_t from t ('reward_to_go') or G_0 at every step ('whole')."""
    discount_weighting: bool = False
    """Multiply step t by γ^t (the book's REINFORCE); off by default, as in deep-RL code."""
    normalize: bool = True
    """Standardise the episode's weights (a constant episode gives zeros, not NaN)."""
    max_episode_steps: int | None = None
    """Step cap; default the environment's registered cap."""

    def __post_init__(self) -> None:
        check_positive_int("n_episodes", self.n_episodes)
        check_in_range("gamma", self.gamma, 0.0, 1.0)
        if self.returns not in ("reward_to_go", "whole"):
            raise ValueError(f"`returns` must be 'reward_to_go' or 'whole'; got {self.returns!r}")
        if self.max_episode_steps is not None:
            check_positive_int("max_episode_steps", self.max_episode_steps)


def episode_weights(rewards: np.ndarray, config: Any) -> np.ndarray:
    """Per-step weights of one episode's J, shape [T], from the return options of `config`."""
    returns = discounted_returns(rewards, config.gamma)
    if config.returns == "whole":
        returns = np.full_like(returns, returns[0])
    if config.discount_weighting:
        returns = returns * discount_powers(rewards.shape[0], config.gamma)
    return normalized(returns) if config.normalize else returns


SEED_OBJECTIVE = ReturnWeighted()  # J = Σ_t log π(A_t|S_t) G_t, the seed's objective


def whole(length: int) -> Minibatches:
    """One epoch of one minibatch: every step of the episode."""
    return Minibatches(np.arange(length)[None, None, :])


def neural_reinforce(
    env: str | gym.Env,
    policy: Policy,
    config: NeuralReinforceConfig = NeuralReinforceConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn a neural policy by REINFORCE, one optimizer step per episode.

        Loop for each episode:
            Generate S0, A0, R1, …, following π(·|·, θ)     (NumPy forward passes, no autograd)
            J(θ) ← Σ_t log π(A_t|S_t, θ) G_t                 (one batched forward pass)
            θ ← optimizer step along ∇J(θ)                    (autodiff: PyTorch or JAX)

    The policy is trained in place and also returned in the result.

    Args:
      env: a Gymnasium id or environment.
      policy: a neural policy of either backend (its optimizer is used).
      config: `NeuralReinforceConfig`.
      value: must be None (no baseline; the weights are normalised instead).
      seed: seed of the action and environment streams.
      runs: None or 1: a network learns one run per call (`gradlogpi.runs.train` learns R
        runs one after another, each with its own initial network).
      callback: called with an `EpisodeEnd` after every episode (its `snapshot()` can be
        passed back as `resume`: parameters, optimizer state and RNG states).
      resume: continue after the episode a snapshot was taken at, exactly.
    """
    one_run("neural_reinforce", runs)
    if value is not None:
        raise ValueError("`value` must be None for neural_reinforce; got one")
    if not isinstance(policy, NetworkPolicy):
        raise TypeError(
            f"`policy` must be a neural policy (NeuralSoftmaxPolicy, JaxSoftmaxPolicy, their "
            f"Gaussian ones); got {type(policy).__name__}"
        )
    env = make_env(env)
    check_policy_fits_env(policy, env)
    environments = Runs(env, policy_streams(seed, [0], policy), config.max_episode_steps)
    tracker = Tracker(1, config.n_episodes)
    first_episode = (
        0 if resume is None else restore_state(resume, policy, None, environments, tracker)
    )
    for episode in range(first_episode, config.n_episodes):
        batch = generate_episode(environments, policy)
        length = int(batch.lengths[0])
        tracker.record(episode, batch.rewards.sum(axis=1), batch.lengths, batch.truncated)
        states, actions = batch.observations[0, :length], batch.actions[0, :length]
        samples = {
            "observations": states,
            "actions": actions,
            "step_weights": episode_weights(batch.rewards[0, :length], config),
        }
        # θ ← θ + optimizer step along ∇J(θ), undone if it is not finite
        step = functools.partial(
            policy.maximize_minibatches, SEED_OBJECTIVE, samples, whole(length), {}
        )
        if not policy.update_kept_finite(step):  # a NetworkPolicy, checked above
            tracker.diverged_at[0] = episode
            break
        if callback is not None:
            snapshot = functools.partial(
                capture_state, episode, policy, None, environments, tracker
            )
            end = EpisodeEnd(
                episode,
                tracker.returns[:, episode],
                batch.lengths,
                batch.truncated,
                policy,
                snapshot,
            )
            try:
                callback(end)
            except StopTraining:
                tracker.stop_after(episode)
                break
    environments.close()
    return RunResult(
        tracker.returns,
        tracker.lengths,
        tracker.truncated,
        tracker.diverged_at,
        policy,
        policy.get_theta(),
        seed=seed,
        wall_time=time.perf_counter() - tracker.start,
        config=config,
        run_ids=np.array([0]),
    )
