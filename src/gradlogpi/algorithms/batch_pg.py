"""Batch policy gradient on Gymnasium vector environments, plain or natural, for linear policies."""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms import estimators
from gradlogpi.algorithms.common import (
    Callback,
    EpisodeEnd,
    EpisodeRecord,
    RunResult,
    Schedule,
    StopTraining,
    capture_state,
    check_policy_fits_env,
    one_run,
    restore_state,
    step_size,
    update_kept_finite,
)
from gradlogpi.core._checks import check_in_range, check_positive, check_positive_int
from gradlogpi.core.returns import discount_powers, discounted_returns, normalized
from gradlogpi.policies import ArrayPolicy, Policy, TorchTrainedPolicy, ValueFunction
from gradlogpi.rollouts.distributed import RolloutPool
from gradlogpi.rollouts.episodes import make_env
from gradlogpi.rollouts.vector import (
    Episode,
    FinishedEpisodes,
    Fragment,
    FragmentBatch,
    StepCollector,
    make_vector_env,
    padded_rows,
)

Estimator = Literal["reinforce", "gpomdp"]
Baseline = Literal["none", "value", "optimal"]
Update = Literal["vanilla", "natural", "enac"]


@dataclass(frozen=True)
class BatchPolicyGradientConfig:
    """Settings of `batch_policy_gradient`."""

    n_updates: int = 100
    """Parameter updates; each uses a fresh batch of episodes."""
    episodes_per_update: int = 16
    """Episodes per batch (rounded up to a multiple of num_envs)."""
    num_envs: int = 8
    """Sub-environments of the vector env."""
    vectorization_mode: Literal["sync", "async", "vector_entry_point", "envpool"] = "sync"
    """Gymnasium vectorisation: 'sync' (one process), 'async' (one process per env), or with
    collection='steps' also 'vector_entry_point' (the env's own vectorised code, if any) or
    'envpool' (EnvPool's C++ envs, extra gradlogpi[envpool])."""
    alpha_theta: float = 0.01
    """Step size of θ (vanilla); the natural updates use `max_kl` instead."""
    gamma: float = 0.99
    """Discount γ in [0, 1]."""
    estimator: Estimator = "gpomdp"
    """'reinforce' (whole return at every step) or 'gpomdp' (reward-to-go)."""
    baseline: Baseline = "none"
    """'none'; 'value' (linear v̂(s) refit each batch, gpomdp only); 'optimal' (Peters & Schaal)."""
    normalize_advantages: bool = False
    """Standardise the per-step weights over the batch (a constant batch gives zeros)."""
    entropy_coefficient: float = 0.0
    """β of the entropy bonus β·E[H(π(·|s))] (>= 0)."""
    update: Update = "vanilla"
    """'vanilla' gradient ascent, 'natural' (F + λI)⁻¹g with a KL-bounded step, or 'enac'."""
    max_kl: float = 0.01
    """KL bound of one natural step (> 0)."""
    damping: float = 1e-4
    """λ added to the Fisher matrix (or the eNAC ridge) (> 0)."""
    value_ridge: float = 1e-3
    """Ridge of the value-baseline least-squares refit (> 0)."""
    rollout_workers: int = 1
    """Rollout workers splitting the `num_envs` sub-environments (the same batch for any count)."""
    rollout_backend: Literal["local", "ray"] = "local"
    """'local' (in this process) or 'ray' (one Ray actor per worker; extra gradlogpi[ray])."""
    ray_address: str | None = None
    """Ray cluster address for rollout_backend='ray' (default: a local Ray instance)."""
    collection: Literal["episodes", "steps"] = "episodes"
    """'episodes': each batch is `episodes_per_update` whole episodes, each with its own seeds;
    'steps': every sub-env takes `steps_per_env` steps per update and runs on across updates,
    so no sub-env idles (episodes may straddle updates; gpomdp only, local rollouts)."""
    steps_per_env: int = 256
    """Steps each sub-environment takes per update with collection='steps'."""
    schedule: Schedule = "constant"
    """Schedule of the step size over updates: constant, linear (to 0), inverse_sqrt (of
    `alpha_theta`, `max_kl`, or a neural policy's learning rate)."""
    max_episode_steps: int | None = None
    """Step cap; default the environment's registered cap."""

    def __post_init__(self) -> None:
        step_size(1.0, self.schedule, 0, 1)
        check_positive_int("n_updates", self.n_updates)
        check_positive_int("episodes_per_update", self.episodes_per_update)
        check_positive_int("num_envs", self.num_envs)
        check_positive("alpha_theta", self.alpha_theta)
        check_in_range("gamma", self.gamma, 0.0, 1.0)
        check_positive("entropy_coefficient", self.entropy_coefficient, allow_zero=True)
        check_positive("max_kl", self.max_kl)
        check_positive("damping", self.damping)
        check_positive("value_ridge", self.value_ridge)
        for name, value, allowed in (
            ("estimator", self.estimator, ("reinforce", "gpomdp")),
            ("baseline", self.baseline, ("none", "value", "optimal")),
            ("update", self.update, ("vanilla", "natural", "enac")),
            (
                "vectorization_mode",
                self.vectorization_mode,
                ("sync", "async", "vector_entry_point", "envpool"),
            ),
            ("collection", self.collection, ("episodes", "steps")),
        ):
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}; got {value!r}")
        check_positive_int("steps_per_env", self.steps_per_env)
        if self.collection == "steps":
            requirements: tuple[tuple[str, object, object], ...] = (
                ("estimator", self.estimator, "gpomdp"),
                ("rollout_backend", self.rollout_backend, "local"),
                ("rollout_workers", self.rollout_workers, 1),
            )
            for name, setting, needed in requirements:
                if setting != needed:
                    raise ValueError(
                        f"`{name}` must be {needed!r} with collection='steps' (episodes there "
                        f"can straddle updates); got {setting!r}"
                    )
            if self.update == "enac":
                raise ValueError(
                    "`update` 'enac' needs whole episodes, collection='episodes'; got 'enac' "
                    "with collection='steps'"
                )
        elif self.vectorization_mode in ("vector_entry_point", "envpool"):
            raise ValueError(
                f"`vectorization_mode` {self.vectorization_mode!r} needs collection='steps' "
                "(per-episode seeding needs sub-envs we can reset one by one); "
                "got collection='episodes'"
            )
        if self.baseline == "value" and self.estimator != "gpomdp":
            raise ValueError(
                "`baseline` 'value' needs `estimator` 'gpomdp' (a per-state baseline); got 'reinforce'"
            )
        if self.max_episode_steps is not None:
            check_positive_int("max_episode_steps", self.max_episode_steps)
        check_positive_int("rollout_workers", self.rollout_workers)
        if self.num_envs % self.rollout_workers:
            raise ValueError(
                f"`num_envs` must be a multiple of `rollout_workers`={self.rollout_workers}; got {self.num_envs}"
            )
        if self.rollout_backend not in ("local", "ray"):
            raise ValueError(
                f"`rollout_backend` must be 'local' or 'ray'; got {self.rollout_backend!r}"
            )


@dataclass
class PaddedBatch:
    """Episodes padded to the longest: observations [N, T, ...], actions [N, T, ...], rewards [N, T]."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    first_steps: np.ndarray | None = None
    """[N]: step of its episode at which each row starts (step-based collection), else None."""


def pad_episodes(episodes: list[Episode]) -> PaddedBatch:
    """Stack episodes, repeating each one's last observation and action past its end."""
    lengths = np.array([e.length for e in episodes])
    # one gather from the episodes laid end to end
    rows, mask = padded_rows(np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    observations = np.concatenate([e.observations for e in episodes])[rows]
    actions = np.concatenate([e.actions for e in episodes])[rows]
    rewards = np.concatenate([e.rewards for e in episodes])[rows] * mask
    first_steps = None
    if any(isinstance(e, Fragment) for e in episodes):
        first_steps = np.array([getattr(e, "first_step", 0) for e in episodes])
    return PaddedBatch(
        observations,
        actions,
        rewards,
        mask,
        lengths,
        first_steps,
    )


def pad_fragments(
    fragments: FragmentBatch, value: ValueFunction | None, gamma: float
) -> PaddedBatch:
    """A step-collection batch as padded rows, one per fragment.

    With a `value`, a cut fragment's last reward gains γ v̂(S_T), S_T where its env stopped:
    its reward-to-go then estimates the whole episode's return, as an actor-critic's n-step
    return does. Fragments that ended keep their rewards.
    """
    observations, actions, rewards, mask = fragments.padded()
    if value is not None and fragments.cut.any():
        rows = np.flatnonzero(fragments.cut)
        rewards[rows, fragments.lengths[rows] - 1] += gamma * value.value(
            fragments.final_observations()
        )
    return PaddedBatch(
        observations, actions, rewards, mask, fragments.lengths, fragments.first_steps
    )


def step_weights(
    batch: PaddedBatch, config: BatchPolicyGradientConfig, value: ValueFunction | None
) -> np.ndarray:
    """Per-step weights w_it with ĝ = mean_i Σ_t w_it ψ_it, shape [N, T] (scalar baselines)."""
    if config.estimator == "reinforce":
        weights = estimators.reinforce_weights(batch.rewards, config.gamma, batch.mask)
    else:
        weights = estimators.gpomdp_weights(batch.rewards, config.gamma, batch.mask)
    if config.baseline == "value":
        # γ^t (G_t − v̂(S_t)): the reward-to-go from t minus the learned state value
        returns = discounted_returns(batch.rewards, config.gamma, mask=batch.mask)
        assert value is not None  # a value baseline comes with its value function
        advantages = (returns - value.value(batch.observations)) * batch.mask
        weights = advantages * discount_powers(batch.rewards.shape[1], config.gamma)
    if batch.first_steps is not None:
        # a fragment that starts at step t0 of its episode: its steps are t0, t0 + 1, …
        weights = weights * config.gamma ** batch.first_steps[:, None].astype(np.float64)
    if config.normalize_advantages:
        weights = normalized(weights, mask=batch.mask)
    return weights


def refit_value(value: ValueFunction, batch: PaddedBatch, gamma: float, ridge: float) -> None:
    """Least-squares v̂(s, w) ≈ G_t over the batch's visited states (ridge-regularised)."""
    returns = discounted_returns(batch.rewards, gamma, mask=batch.mask)
    value.fit(batch.observations[batch.mask], returns[batch.mask], ridge)


def batch_policy_gradient(
    env: str | gym.Env,
    policy: Policy,
    config: BatchPolicyGradientConfig = BatchPolicyGradientConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn a policy from batches of episodes collected on `gymnasium.make_vec`.

    Each update:
        collect N episodes τ_i following π(·|·, θ) on the vector env
        ĝ ← (1/N) Σ_i Σ_t w_it ∇θ ln π(A_it|S_it, θ)   (weights from the estimator and baseline)
             + β (1/M) Σ_{i,t} ∇θ H(π(·|S_it))
        θ ← θ + α ĝ                         (vanilla)
        θ ← θ + α_KL (F + λI)⁻¹ ĝ           (natural; F = E[ψψᵀ], α_KL from the KL bound)
        θ ← θ + α_KL w_eNAC                 (episodic natural actor-critic)

    Args:
      env: a registered Gymnasium id, or an environment made from one (the vector env is
        made from its id).
      policy: a linear policy (softmax or Gaussian); not modified.
      config: `BatchPolicyGradientConfig`.
      value: a `LinearValue` for `baseline='value'`.
      seed: the experiment seed; every episode's seeds derive from it (same episodes with
        sync or async envs).
      runs: None or 1 (one run per call; `gradlogpi.runs.train` learns R one after another).
      callback: called with an `EpisodeEnd` (over the batch's episodes) after every update;
        its `snapshot()` can be passed back as `resume`.
      resume: continue after the update a snapshot was taken at. Every episode's seeds
        derive from (seed, update, env, episode), so nothing else needs restoring.

    Returns:
      RunResult with one row; its columns are episodes in collection order.
    """
    one_run("batch_policy_gradient", runs)
    env_id = vector_env_id(env)
    if config.baseline == "value" and value is None:
        raise ValueError("`value` must be given for baseline='value'; got None")
    policy = copy.deepcopy(policy)
    value = copy.deepcopy(value)
    probe = make_env(env_id)
    cap = config.max_episode_steps or (probe.spec.max_episode_steps if probe.spec else None)
    if cap is None:
        raise ValueError(
            f"`max_episode_steps` must be given for {env_id} (no registered cap); got None"
        )
    check_policy_fits_env(policy, probe)
    probe.close()
    if config.collection == "steps":
        if resume is not None:
            raise ValueError(
                "`resume` needs collection='episodes': with 'steps' the sub-environments' "
                "states carry over between updates and are not part of a snapshot"
            )
        source: Any = StepCollector(
            make_vector_env(
                env_id,
                config.num_envs,
                config.vectorization_mode,
                config.max_episode_steps,
                autoreset=True,
                seed=seed,
            ),
            seed,
            config.steps_per_env,
            env_id,
        )
    else:
        source = RolloutPool(env_id, config, policy, seed, config.ray_address)
    quota = math.ceil(config.episodes_per_update / config.num_envs)
    record = EpisodeRecord()
    first_update = 0 if resume is None else restore_state(resume, policy, value, None, record)
    try:
        for update in range(first_update, config.n_updates):
            if config.collection == "steps":
                fragments, finished = source.collect(policy, update)
                batch = pad_fragments(
                    fragments, value if config.baseline == "value" else None, config.gamma
                )
            else:
                episodes = source.collect(policy.get_flat(), update, quota)
                finished = FinishedEpisodes(
                    np.array([float(e.rewards.sum()) for e in episodes]),
                    np.array([e.length for e in episodes]),
                    np.array([e.truncated for e in episodes]),
                )
                batch = pad_episodes(episodes)
            record.add(finished.returns, finished.lengths, finished.truncated)
            fraction = step_size(1.0, config.schedule, update, config.n_updates)
            gradient = gradient_estimate(policy, batch, config, value)
            if not update_kept_finite(
                policy, functools.partial(ascend, policy, gradient, fraction, config)
            ):
                record.diverged_at = update
                break
            if config.baseline == "value":
                assert value is not None
                refit_value(value, batch, config.gamma, config.value_ridge)
            if callback is not None:
                # step collection: the sub-environments' states are not snapshot material
                snapshot = (
                    None
                    if config.collection == "steps"
                    else functools.partial(
                        capture_state,
                        update,
                        policy,
                        value,
                        None,
                        record,
                    )
                )
                end = EpisodeEnd(
                    update,
                    finished.returns,
                    finished.lengths,
                    finished.truncated,
                    policy,
                    snapshot,
                )
                try:
                    callback(end)
                except StopTraining:
                    break
    finally:
        source.close()
    return record.result(policy, value, seed, config)


def vector_env_id(env: str | gym.Env) -> str:
    """The registered id vector envs are made from: `env` itself, or the id of its spec."""
    if isinstance(env, str):
        return env
    if isinstance(env, gym.Env) and env.spec is not None:
        return env.spec.id
    raise TypeError(
        "`env` must be a registered Gymnasium id or an environment made by gymnasium.make "
        f"(batch_pg makes vector envs from the id); got {type(env).__name__}"
    )


def ascend(policy: Policy, gradient: np.ndarray, fraction: float, config: Any) -> None:
    """θ ← θ + (scheduled) step along `gradient`, the estimate of ∇J(θ) [P]."""
    if isinstance(policy, TorchTrainedPolicy):
        # neural policies: PyTorch's optimizer takes the ascent direction, and the
        # schedule scales its learning rate (Adam would undo a scaled direction)
        policy.optimizer_step(
            gradient / config.alpha_theta if config.update == "vanilla" else gradient,
            learning_rate_scale=fraction,
        )
    else:
        policy.set_flat(policy.get_flat() + fraction * gradient)


def gradient_estimate(
    policy: Policy,
    batch: PaddedBatch,
    config: BatchPolicyGradientConfig,
    value: ValueFunction | None,
) -> np.ndarray:
    """The parameter change of one update, shape [P]."""
    n_episodes = batch.rewards.shape[0]
    needs_scores = config.baseline == "optimal" or config.update != "vanilla"
    if needs_scores:
        scores = policy.score(batch.observations, batch.actions) * batch.mask[..., None]
        if config.update == "enac":
            gradient = estimators.enac_gradient(
                scores, batch.rewards, config.gamma, batch.mask, config.damping
            )
            return estimators.kl_step_size(gradient, gradient, config.max_kl) * gradient
        if config.baseline == "optimal":
            optimal = (
                estimators.reinforce_optimal_baseline_gradient
                if config.estimator == "reinforce"
                else estimators.gpomdp_optimal_baseline_gradient
            )
            rewards = batch.rewards
            if batch.first_steps is not None:  # fragments: steps t0, t0 + 1, … of their episode
                rewards = rewards * config.gamma ** batch.first_steps[:, None].astype(np.float64)
            gradient = optimal(scores, rewards, config.gamma, batch.mask)
        else:
            weights = step_weights(batch, config, value)
            gradient = (weights[..., None] * scores).sum(axis=1).mean(axis=0)
    else:
        weights = step_weights(batch, config, value) / n_episodes
        steps = batch.mask  # only the steps taken: padding would cost scores and add nothing
        gradient = weighted_score_sum(
            policy, batch.observations[steps], batch.actions[steps], weights[steps]
        )
    if config.entropy_coefficient > 0:
        gradient = gradient + config.entropy_coefficient * mean_entropy_gradient(
            policy, batch.observations[batch.mask]
        )
    if config.update == "natural":
        fisher = estimators.fisher_matrix(scores, batch.mask)
        direction = estimators.natural_direction(gradient, fisher, config.damping)
        return estimators.kl_step_size(gradient, direction, config.max_kl) * direction
    return config.alpha_theta * gradient


def weighted_score_sum(
    policy: Policy, obs: np.ndarray, actions: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Σ_i weights_i ∇θ log π(a_i|s_i), shape [P], without building every score when avoidable.

    Neural policies backpropagate once; linear ones accumulate with `ascend` on a copy of θ,
    which stays sparse for tile coding.
    """
    if isinstance(policy, TorchTrainedPolicy):
        return policy.weighted_score_sum(obs, actions, weights)
    if not isinstance(policy, ArrayPolicy):
        raise TypeError(f"`policy` must be an array or a torch policy; got {type(policy).__name__}")
    scratch = copy.copy(policy)  # ascend needs π at the current θ, so step a copy that starts at θ
    scratch.theta = policy.theta.copy()
    scratch.ascend(obs, actions, weights)
    return scratch.theta - policy.theta


def mean_entropy_gradient(policy: Policy, states: np.ndarray) -> np.ndarray:
    """∇θ of the mean entropy over `states` [M, ...], shape [P]."""
    if isinstance(policy, TorchTrainedPolicy):
        return policy.mean_entropy_gradient(states)
    return policy.entropy_gradient(states).mean(axis=0)  # type: ignore[attr-defined]
