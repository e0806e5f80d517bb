"""What PPO and TRPO share: step collection on autoresetting vector envs, GAE(λ), the loop.

Both collect num_envs × steps_per_env steps with π_old = π_θ, compute GAE(λ) advantages
with the critic, improve θ on those steps (PPO: clipped-surrogate epochs; TRPO: one
KL-bounded natural step), then refit the critic to the λ-returns. Only the improvement
differs, so each algorithm passes its own `improve` to `train_on_policy`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.batch_pg import vector_env_id
from gradlogpi.algorithms.common import (
    Callback,
    EpisodeEnd,
    EpisodeRecord,
    RunResult,
    Schedule,
    StopTraining,
    check_policy_fits_env,
    one_run,
    step_size,
    update_kept_finite,
)
from gradlogpi.core._checks import check_in_range, check_positive, check_positive_int
from gradlogpi.core.divergences import categorical_kl, gaussian_kl
from gradlogpi.core.returns import generalized_advantages
from gradlogpi.policies import DiscretePolicy, GaussianPolicy, Policy, ValueFunction
from gradlogpi.rollouts.episodes import make_env
from gradlogpi.rollouts.vector import FragmentBatch, StepCollector, make_vector_env

VectorizationMode = Literal["sync", "async", "vector_entry_point", "envpool"]


@dataclass(frozen=True)
class OnPolicyConfig:
    """Settings PPO and TRPO share: the rollout, GAE(λ) and the critic."""

    keeps_old_distribution: ClassVar[bool] = False
    """Whether the rollout records π_old(·|s) at every state (TRPO's exact KL needs it)."""

    n_updates: int = 50
    """Policy updates; each collects num_envs × steps_per_env environment steps."""
    num_envs: int = 8
    """Sub-environments of the vector env (autoresetting; episodes straddle updates)."""
    steps_per_env: int = 256
    """Steps each sub-environment takes per update."""
    vectorization_mode: VectorizationMode = "sync"
    """Gymnasium vectorisation: 'sync' (one process), 'async' (one process per env),
    'vector_entry_point' (the environment's own vectorised version, e.g. CartPole's), or
    'envpool' (EnvPool's C++ envs, extra gradlogpi[envpool])."""
    gamma: float = 0.99
    """Discount γ in [0, 1]."""
    gae_lambda: float = 0.95
    """λ of GAE(λ) in [0, 1]: 0 one-step TD errors, 1 Monte-Carlo returns."""
    normalize_advantages: bool = True
    """Standardise the advantages (per minibatch in PPO, per update in TRPO)."""
    value_ridge: float = 1e-3
    """Ridge of a linear critic's least-squares refit to the λ-returns (> 0); a neural
    critic's L2 weight penalty."""
    schedule: Schedule = "constant"
    """Schedule over updates of the step size (PPO: also ε; TRPO: the KL bound)."""
    max_episode_steps: int | None = None
    """Step cap; default the environment's registered cap."""

    def __post_init__(self) -> None:
        step_size(1.0, self.schedule, 0, 1)
        for name in ("n_updates", "num_envs", "steps_per_env"):
            check_positive_int(name, getattr(self, name))
        check_in_range("gamma", self.gamma, 0.0, 1.0)
        check_in_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_positive("value_ridge", self.value_ridge)
        modes = ("sync", "async", "vector_entry_point", "envpool")
        if self.vectorization_mode not in modes:
            raise ValueError(
                f"`vectorization_mode` must be one of {modes}; got {self.vectorization_mode!r}"
            )
        if self.max_episode_steps is not None:
            check_positive_int("max_episode_steps", self.max_episode_steps)


@dataclass
class Rollout:
    """One update's real steps, flattened: [M] arrays (M ≤ num_envs × steps_per_env)."""

    observations: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray  # log π_old(a|s)
    advantages: np.ndarray
    returns: np.ndarray  # λ-returns A + v̂(s): the critic's targets
    old_distribution: tuple[np.ndarray, ...]  # π_old(·|s) at each state, for the KL; () if not kept


def rollout(
    batch: FragmentBatch,
    policy: Policy,
    value: ValueFunction,
    config: OnPolicyConfig,
) -> Rollout:
    """GAE(λ) over the update's steps (env by env, time along the last axis), flattened."""
    observations, actions = batch.step_observations, batch.step_actions  # [n, E, ...]
    counted, ended, terminated = batch.step_counted, batch.step_ended, batch.step_terminated
    assert counted is not None and ended is not None and terminated is not None
    values = value.value(observations)  # [n, E]
    next_values = value.value(batch.next_observations())
    ended = ended | ~counted  # a reset-only step neither gives nor takes an advantage
    ended[-1] = True  # nothing after the update's last step is known: bootstrap there
    advantages = generalized_advantages(
        batch.step_rewards.T, values.T, next_values.T, terminated.T, ended.T,
        config.gamma, config.gae_lambda,
    ).T  # fmt: skip
    keep = counted
    states = observations[keep]
    return Rollout(
        states,
        actions[keep],
        policy.log_prob(states, actions[keep]),
        advantages[keep],
        (advantages + values)[keep],
        action_distribution(policy, states) if config.keeps_old_distribution else (),
    )


def action_distribution(policy: Policy, observations: np.ndarray) -> tuple[np.ndarray, ...]:
    """What determines π(·|s) at each state: (log-probabilities [M, n]) or (mean, log σ)."""
    if isinstance(policy, DiscretePolicy):
        return (np.log(policy.probabilities(observations)),)
    if isinstance(policy, GaussianPolicy):
        return (policy.mean(observations), policy.log_std(observations))
    raise TypeError(f"`policy` must be a softmax or Gaussian policy; got {type(policy).__name__}")


def mean_kl(policy: Policy, observations: np.ndarray, old: tuple[np.ndarray, ...]) -> float:
    """Mean over the states of KL(π_old(·|s) ‖ π_θ(·|s)), exact for both families."""
    new = action_distribution(policy, observations)
    if len(old) == 1:
        return float(categorical_kl(old[0], new[0]).mean())
    return float(gaussian_kl(old[0], old[1], new[0], new[1]).mean())


Improve = Callable[[Policy, Rollout, float], None]
"""improve(policy, rollout, fraction): change θ in place from one update's steps;
`fraction` is the schedule's factor for this update (1 when constant)."""


def train_on_policy(
    name: str,
    env: str | gym.Env,
    policy: Policy,
    value: ValueFunction | None,
    config: OnPolicyConfig,
    improve: Improve,
    *,
    seed: int | None,
    callback: Callback | None,
) -> RunResult:
    """The loop PPO and TRPO share (the policy and critic given are copied, not modified).

    Loop for each update:
        Collect num_envs × steps_per_env steps with π_old = π_θ (episodes run on)
        A ← GAE(λ) with v̂;  targets ← A + v̂
        improve(θ) on those steps                (undone if θ became non-finite)
        Refit v̂ to the targets
    """
    if value is None:
        raise ValueError(
            f"`value` must be a critic for {name} (e.g. LinearValue(RawState(k))); got None"
        )
    env_id = vector_env_id(env)
    probe = make_env(env_id)
    check_policy_fits_env(policy, probe)
    probe.close()
    policy, value = copy.deepcopy(policy), copy.deepcopy(value)
    envs = make_vector_env(
        env_id, config.num_envs, config.vectorization_mode, config.max_episode_steps,
        autoreset=True, seed=seed,
    )  # fmt: skip
    collector = StepCollector(envs, seed, config.steps_per_env, env_id)
    record = EpisodeRecord()
    try:
        for update in range(config.n_updates):
            batch, finished = collector.collect(policy, update)
            record.add(finished.returns, finished.lengths, finished.truncated)
            data = rollout(batch, policy, value, config)
            fraction = step_size(1.0, config.schedule, update, config.n_updates)
            if not update_kept_finite(policy, functools.partial(improve, policy, data, fraction)):
                record.diverged_at = update
                break
            value.fit(data.observations, data.returns, config.value_ridge)  # v̂ ≈ λ-returns
            if callback is not None:
                end = EpisodeEnd(
                    update, finished.returns, finished.lengths, finished.truncated, policy
                )
                try:
                    callback(end)
                except StopTraining:
                    break
    finally:
        collector.close()
    return record.result(policy, value, seed, config)


def check_on_policy_call(name: str, runs: Any, resume: dict[str, Any] | None) -> None:
    """One run per call, and no resume: the sub-environments' states are not in a snapshot."""
    one_run(name, runs)
    if resume is not None:
        raise ValueError(
            f"`resume` must be None for {name}: its sub-environments run on across updates "
            "and are not part of a snapshot"
        )
