"""PPO-clip (Schulman et al. 2017) with GAE(λ) advantages, on the exact score.

For a linear policy (softmax over linear preferences, matrix form, linear Gaussian) the
clipped surrogate's gradient needs no autodiff:

    L(θ) = mean_i min(ρ_i A_i, clip(ρ_i, 1 − ε, 1 + ε) A_i),   ρ_i = π_θ(a_i|s_i) / π_old(a_i|s_i)
    ∇L(θ) = mean_i 1[not clipped_i] ρ_i A_i ∇ln π_θ(a_i|s_i)

(∇ρ = ρ ∇ln π; where the clip is active the term is constant in θ), a weighted sum of
closed-form scores. Neural policies get the same weighted sum by one backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.batch_pg import mean_entropy_gradient, vector_env_id, weighted_score_sum
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
)
from gradlogpi.core._checks import check_in_range, check_positive, check_positive_int
from gradlogpi.core.returns import generalized_advantages, normalized
from gradlogpi.policies import Policy, TorchTrainedPolicy, ValueFunction
from gradlogpi.rollouts.episodes import make_env
from gradlogpi.rollouts.vector import FragmentBatch, StepCollector, make_vector_env


@dataclass(frozen=True)
class PPOConfig:
    """Settings of `ppo`; the defaults are the usual PPO ones (SB3, CleanRL)."""

    n_updates: int = 50
    """Policy updates; each collects num_envs × steps_per_env environment steps."""
    num_envs: int = 8
    """Sub-environments of the vector env (autoresetting; episodes straddle updates)."""
    steps_per_env: int = 256
    """Steps each sub-environment takes per update."""
    vectorization_mode: Literal["sync", "async"] = "sync"
    """Gymnasium vectorisation: 'sync' (one process) or 'async' (one process per env)."""
    alpha_theta: float = 0.01
    """Step size of a linear policy's θ (a neural policy uses its optimizer's rate)."""
    gamma: float = 0.99
    """Discount γ in [0, 1]."""
    gae_lambda: float = 0.95
    """λ of GAE(λ) in [0, 1]: 0 one-step TD errors, 1 Monte-Carlo returns."""
    clip_range: float = 0.2
    """ε of the clipped ratio, in (0, 1)."""
    epochs: int = 10
    """Passes over each update's steps."""
    minibatches: int = 4
    """Minibatches per epoch."""
    normalize_advantages: bool = True
    """Standardise the advantages of each minibatch."""
    entropy_coefficient: float = 0.0
    """β of the entropy bonus β·E[H(π(·|s))] (>= 0)."""
    target_kl: float | None = None
    """Stop an update's epochs once the estimated KL(π_old‖π) exceeds 1.5 × this (None: never)."""
    max_grad_norm: float | None = None
    """Clip each minibatch gradient to this norm (None: no clipping)."""
    value_ridge: float = 1e-3
    """Ridge of the linear critic's least-squares refit to the λ-returns (> 0)."""
    schedule: Schedule = "constant"
    """Schedule over updates of the step size (or learning rate) and of ε."""
    max_episode_steps: int | None = None
    """Step cap; default the environment's registered cap."""

    def __post_init__(self) -> None:
        step_size(1.0, self.schedule, 0, 1)
        for name in ("n_updates", "num_envs", "steps_per_env", "epochs", "minibatches"):
            check_positive_int(name, getattr(self, name))
        check_positive("alpha_theta", self.alpha_theta)
        check_in_range("gamma", self.gamma, 0.0, 1.0)
        check_in_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        if not 0.0 < self.clip_range < 1.0:
            raise ValueError(f"`clip_range` must be in (0, 1); got {self.clip_range!r}")
        check_positive("entropy_coefficient", self.entropy_coefficient, allow_zero=True)
        check_positive("value_ridge", self.value_ridge)
        for name in ("target_kl", "max_grad_norm"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if self.vectorization_mode not in ("sync", "async"):
            raise ValueError(
                f"`vectorization_mode` must be 'sync' or 'async'; got {self.vectorization_mode!r}"
            )
        if self.num_envs * self.steps_per_env < self.minibatches:
            raise ValueError(
                f"`minibatches` must be at most num_envs × steps_per_env = "
                f"{self.num_envs * self.steps_per_env}; got {self.minibatches}"
            )
        if self.max_episode_steps is not None:
            check_positive_int("max_episode_steps", self.max_episode_steps)


def clipped_surrogate_weights(
    ratios: np.ndarray, advantages: np.ndarray, clip_range: float
) -> np.ndarray:
    """Per-sample weights w_i with ∇L = mean_i w_i ∇ln π(a_i|s_i), shape [M].

    w_i = ρ_i A_i where the clipped term min(ρ A, clip(ρ) A) follows ρ, and 0 where the
    clip holds it constant: A > 0 with ρ > 1 + ε, or A < 0 with ρ < 1 − ε.
    """
    clipped = ((advantages > 0) & (ratios > 1 + clip_range)) | (
        (advantages < 0) & (ratios < 1 - clip_range)
    )
    return np.where(clipped, 0.0, ratios * advantages)


def clipped_surrogate(ratios: np.ndarray, advantages: np.ndarray, clip_range: float) -> float:
    """L = mean_i min(ρ_i A_i, clip(ρ_i, 1 − ε, 1 + ε) A_i)."""
    clipped = np.clip(ratios, 1 - clip_range, 1 + clip_range)
    return float(np.minimum(ratios * advantages, clipped * advantages).mean())


@dataclass
class Rollout:
    """One update's real steps, flattened: [M] arrays (M ≤ num_envs × steps_per_env)."""

    observations: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray  # log π_old(a|s)
    advantages: np.ndarray
    returns: np.ndarray  # λ-returns A + v̂(s): the critic's targets


def rollout(
    batch: FragmentBatch, policy: Policy, value: ValueFunction, config: PPOConfig
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
    return Rollout(
        observations[keep],
        actions[keep],
        policy.log_prob(observations[keep], actions[keep]),
        advantages[keep],
        (advantages + values)[keep],
    )


def ppo(
    env: str | gym.Env,
    policy: Policy,
    config: PPOConfig = PPOConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn a policy by PPO-clip with GAE(λ) advantages and a linear critic.

        Loop for each update:
            Collect num_envs × steps_per_env steps with π_old = π_θ (episodes run on)
            A ← GAE(λ) with v̂;  targets ← A + v̂
            Loop for each epoch, each minibatch of the steps:
                ρ ← π_θ(a|s) / π_old(a|s)
                g ← mean 1[not clipped] ρ A ∇ln π_θ(a|s)   (+ β ∇H)
                θ ← θ + α g                               (neural: the optimizer's step)
            w ← least squares of v̂(s, w) on the targets

    Args:
      env: a registered Gymnasium id, or an environment made from one.
      policy: a linear policy (softmax or Gaussian) or a neural one; not modified.
      config: `PPOConfig`.
      value: the critic, a `LinearValue` over any state features; required.
      seed: the experiment seed (sub-environment seeds and action noise derive from it).
      runs: None or 1 (one run per call; `gradlogpi.runs.train` learns R one after another).
      callback: called with an `EpisodeEnd` after every update (the episodes that ended
        in it); raising `StopTraining` ends learning there.
      resume: must be None: the sub-environments' states are not in a snapshot.

    Returns:
      RunResult with one row; its columns are the finished episodes in order.
    """
    import copy

    one_run("ppo", runs)
    if value is None:
        raise ValueError("`value` must be a critic (e.g. LinearValue(RawState(k))); got None")
    if resume is not None:
        raise ValueError(
            "`resume` must be None for ppo: its sub-environments run on across updates and "
            "are not part of a snapshot"
        )
    env_id = vector_env_id(env)
    probe = make_env(env_id)
    check_policy_fits_env(policy, probe)
    probe.close()
    policy, value = copy.deepcopy(policy), copy.deepcopy(value)
    envs = make_vector_env(
        env_id, config.num_envs, config.vectorization_mode, config.max_episode_steps,
        autoreset=True,
    )  # fmt: skip
    collector = StepCollector(envs, seed, config.steps_per_env, env_id)
    shuffle = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    record = EpisodeRecord()
    try:
        for update in range(config.n_updates):
            batch, finished = collector.collect(policy, update)
            record.add(finished.returns, finished.lengths, finished.truncated)
            data = rollout(batch, policy, value, config)
            fraction = step_size(1.0, config.schedule, update, config.n_updates)
            before = policy.get_flat()
            optimize_surrogate(policy, data, config, fraction, shuffle)
            if not np.all(np.isfinite(policy.get_flat())):
                policy.set_flat(before)
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


def optimize_surrogate(
    policy: Policy,
    data: Rollout,
    config: PPOConfig,
    fraction: float,
    shuffle: np.random.Generator,
) -> None:
    """Epochs × minibatches of clipped-surrogate ascent on one update's steps."""
    n_samples = data.advantages.shape[0]
    clip_range = (
        config.clip_range * fraction if config.schedule != "constant" else config.clip_range
    )
    for _ in range(config.epochs):
        for indices in np.array_split(shuffle.permutation(n_samples), config.minibatches):
            observations, actions = data.observations[indices], data.actions[indices]
            advantages = data.advantages[indices]
            if config.normalize_advantages:
                advantages = normalized(advantages)
            ratios = np.exp(policy.log_prob(observations, actions) - data.log_probs[indices])
            weights = clipped_surrogate_weights(ratios, advantages, clip_range) / indices.size
            gradient = weighted_score_sum(policy, observations, actions, weights)
            if config.entropy_coefficient > 0:
                gradient = gradient + config.entropy_coefficient * mean_entropy_gradient(
                    policy, observations
                )
            norm = float(np.linalg.norm(gradient))
            if config.max_grad_norm is not None and norm > config.max_grad_norm:
                gradient = gradient * (config.max_grad_norm / norm)
            if isinstance(policy, TorchTrainedPolicy):
                policy.optimizer_step(gradient, learning_rate_scale=fraction)
            else:
                policy.set_flat(policy.get_flat() + config.alpha_theta * fraction * gradient)
        if config.target_kl is not None:
            log_ratios = policy.log_prob(data.observations, data.actions) - data.log_probs
            approximate_kl = float(np.mean(np.expm1(log_ratios) - log_ratios))  # ≥ 0
            if approximate_kl > 1.5 * config.target_kl:
                break
