"""Batch policy gradient (REINFORCE / G(PO)MDP, baselines, natural gradient, eNAC), as
an improver of the on-policy loop, for linear and neural policies.

One update, from a batch of N episodes (or episode fragments) τ_i collected with π_θ:

    ĝ ← (1/N) Σ_i Σ_t w_it ∇θ ln π(A_it|S_it, θ)   (weights from the estimator and baseline)
         + β (1/M) Σ_{i,t} ∇θ H(π(·|S_it))
    θ ← θ + α ĝ                         (vanilla)
    θ ← θ + α_KL (F + λI)⁻¹ ĝ           (natural; F = E[ψψᵀ], α_KL from the KL bound)
    θ ← θ + α_KL w_eNAC                 (episodic natural actor-critic)
    refit v̂ to the returns              (baseline = 'value')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms import estimators
from gradlogpi.algorithms.common import Callback, Inputs, RunResult
from gradlogpi.algorithms.on_policy.config import Collection, CollectionConfig
from gradlogpi.algorithms.on_policy.loop import UpdateState, train_on_policy
from gradlogpi.core._checks import check_positive
from gradlogpi.core.returns import discount_powers, discounted_returns, normalized
from gradlogpi.policies import NetworkPolicy, Policy, ValueFunction
from gradlogpi.policies.contract import Ascent, Minibatches
from gradlogpi.rollouts.vector import Episode, FragmentBatch

Estimator = Literal["reinforce", "gpomdp"]
Baseline = Literal["none", "value", "optimal"]
Update = Literal["vanilla", "natural", "enac"]


@dataclass(frozen=True)
class BatchPolicyGradientConfig(CollectionConfig):
    """Settings of `batch_policy_gradient`."""

    n_updates: int = 100
    """Parameter updates; each uses a fresh batch of episodes (or steps)."""
    collection: Collection = "episodes"
    """'episodes': each batch is `episodes_per_update` whole episodes, each with its own
    seeds; 'steps': every sub-env takes `steps_per_env` steps per update and runs on across
    updates, so no sub-env idles (episodes may straddle updates; gpomdp only); 'ray':
    'steps' on `rollout_workers` Ray actors."""
    alpha_theta: float = 0.01
    """Step size of θ (vanilla); the natural updates use `max_kl` instead."""
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

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("alpha_theta", self.alpha_theta)
        check_positive("entropy_coefficient", self.entropy_coefficient, allow_zero=True)
        check_positive("max_kl", self.max_kl)
        check_positive("damping", self.damping)
        check_positive("value_ridge", self.value_ridge)
        for name, value, allowed in (
            ("estimator", self.estimator, ("reinforce", "gpomdp")),
            ("baseline", self.baseline, ("none", "value", "optimal")),
            ("update", self.update, ("vanilla", "natural", "enac")),
        ):
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}; got {value!r}")
        if self.collection != "episodes":
            if self.estimator != "gpomdp":
                raise ValueError(
                    f"`estimator` must be 'gpomdp' with collection={self.collection!r} "
                    f"(episodes there can straddle updates); got {self.estimator!r}"
                )
            if self.update == "enac":
                raise ValueError(
                    "`update` 'enac' needs whole episodes, collection='episodes'; got 'enac' "
                    f"with collection={self.collection!r}"
                )
            if self.baseline == "optimal":
                # its step-t baseline averages over rows of one horizon; fragments end at
                # the update's end or the time limit at different steps, and counting a
                # terminated one past its end where the others stop would bias it
                raise ValueError(
                    "`baseline` 'optimal' needs whole episodes, collection='episodes'; got "
                    f"'optimal' with collection={self.collection!r}"
                )
        if self.baseline == "value" and self.estimator != "gpomdp":
            raise ValueError(
                "`baseline` 'value' needs `estimator` 'gpomdp' (a per-state baseline); got 'reinforce'"
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
    """[N]: step of its episode at which each row starts (0 for whole episodes)."""
    terminated: np.ndarray | None = None
    """[N] bool: the row ends in its episode's termination (None: not known, none do)."""

    def absorbed(self) -> np.ndarray:
        """[N, T] bool: the padded steps after a row's termination, where its episode sits in
        the absorbing state (no reward, no action): part of a fixed horizon's estimate."""
        if self.terminated is None:
            return np.zeros_like(self.mask)
        return ~self.mask & self.terminated[:, None]


def pad_episodes(episodes: list[Episode]) -> PaddedBatch:
    """Whole episodes (or fragments) stacked as rows, each repeating its last step past its end."""
    return pad_fragments(FragmentBatch.from_episodes(episodes), None, 0.0)


def pad_fragments(
    fragments: FragmentBatch, value: ValueFunction | None, gamma: float
) -> PaddedBatch:
    """A step-collection batch (or whole episodes) as padded rows, one per fragment.

    With a `value`, the last reward of a fragment that did not terminate (cut by the
    update's end, or truncated by the time limit) gains γ v̂(S_T), S_T the state after its
    last step: its reward-to-go then estimates the return the episode would have gone on
    to, as an actor-critic's n-step return does. Terminated fragments keep their rewards,
    and so do truncated ones whose S_T is not known (`FragmentBatch.stops_known`).
    """
    observations, actions, rewards, mask = fragments.padded()
    unfinished = fragments.cut | (fragments.truncated & ~fragments.terminated)
    if fragments.stops_known is not None:
        unfinished &= fragments.stops_known
    if value is not None and unfinished.any():
        rows = np.flatnonzero(unfinished)
        rewards[rows, fragments.lengths[rows] - 1] += gamma * value.value(
            fragments.stop_observations(rows)
        )
    return PaddedBatch(
        observations,
        actions,
        rewards,
        mask,
        fragments.lengths,
        fragments.first_steps,
        fragments.terminated,
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


def gradient_estimate(
    policy: Policy,
    batch: PaddedBatch,
    config: BatchPolicyGradientConfig,
    value: ValueFunction | None,
) -> np.ndarray:
    """The update's direction [P]: vanilla ĝ (`ascend` scales it by α); natural, eNAC the
    KL-bounded step itself."""
    n_episodes = batch.rewards.shape[0]
    needs_scores = config.baseline == "optimal" or config.update != "vanilla"
    if needs_scores:
        scores = policy.score(batch.observations, batch.actions) * batch.mask[..., None]
        if config.update == "enac":
            gradient = estimators.enac_gradient(
                scores, batch.rewards, config.gamma, batch.mask, config.damping
            )
            return estimators.kl_step_size(gradient, gradient, config.max_kl) * gradient
        if config.baseline == "optimal":  # whole episodes only (the config refuses fragments)
            rewards = batch.rewards
            if config.estimator == "reinforce":
                gradient = estimators.reinforce_optimal_baseline_gradient(
                    scores, rewards, config.gamma, batch.mask
                )
            else:  # its baseline of step t averages over every row, terminated ones too
                gradient = estimators.gpomdp_optimal_baseline_gradient(
                    scores, rewards, config.gamma, batch.mask, batch.absorbed()
                )
        else:
            weights = step_weights(batch, config, value)
            gradient = (weights[..., None] * scores).sum(axis=1).mean(axis=0)
    else:
        weights = step_weights(batch, config, value) / n_episodes
        steps = batch.mask  # only the steps taken: padding would cost scores and add nothing
        gradient = policy.weighted_score_sum(
            batch.observations[steps], batch.actions[steps], weights[steps]
        )
    if config.entropy_coefficient > 0:
        gradient = gradient + config.entropy_coefficient * policy.mean_entropy_gradient(
            batch.observations[batch.mask]
        )
    if config.update == "natural":
        fisher = estimators.fisher_matrix(scores, batch.mask)
        direction = estimators.natural_direction(gradient, fisher, config.damping)
        return estimators.kl_step_size(gradient, direction, config.max_kl) * direction
    return gradient


def improve(
    policy: Policy,
    critic: ValueFunction | None,
    batch: FragmentBatch,
    state: UpdateState[BatchPolicyGradientConfig],
) -> dict[str, float]:
    """One batch policy-gradient update of θ (and of the value baseline); see the module."""
    config = state.config
    value = critic if config.baseline == "value" else None
    padded = pad_fragments(batch, value, config.gamma)
    statistics: dict[str, float] = {}
    if (
        isinstance(policy, NetworkPolicy)
        and config.update == "vanilla"
        and (config.baseline != "optimal")
    ):
        step_network(policy, padded, config, value, state.fraction)
    else:
        direction = gradient_estimate(policy, padded, config, value)
        ascend(policy, direction, state.fraction, config)
        statistics["direction_norm"] = float(np.linalg.norm(direction))
    if value is not None:
        refit_value(value, padded, config.gamma, config.value_ridge)
    return statistics


def step_network(
    policy: NetworkPolicy,
    batch: PaddedBatch,
    config: BatchPolicyGradientConfig,
    value: ValueFunction | None,
    fraction: float,
) -> None:
    """The vanilla step of a network policy as one `maximize_minibatches` call (one
    compiled program on JAX): the optimizer's step up ĝ = Σ_it w_it ψ_it / N (+ β ∇H), the
    same direction `gradient_estimate` forms, without a round trip through NumPy."""
    steps = batch.mask  # only the steps taken
    weights = step_weights(batch, config, value) / batch.rewards.shape[0]
    samples = {
        "observations": batch.observations[steps],
        "actions": batch.actions[steps],
        "step_weights": weights[steps],
    }
    policy.maximize_minibatches(
        estimators.ReturnWeighted(config.entropy_coefficient > 0),
        samples,
        Minibatches(np.arange(int(steps.sum()))[None, None, :]),
        {"entropy_coefficient": config.entropy_coefficient},
        Ascent(fraction),
    )


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
    """Learn a policy from batches of episodes (or steps) collected on `gymnasium.make_vec`.

    Loop for each update: collect a batch with π_θ; `improve` (see the module docstring).

    Args:
      env: a registered Gymnasium id, or an environment made from one (the vector env is
        made from its id).
      policy: a linear policy (softmax or Gaussian) or a neural one; not modified.
      config: `BatchPolicyGradientConfig`.
      value: a `LinearValue` for `baseline='value'`.
      seed: the experiment seed; every episode's seeds derive from it (same episodes with
        sync or async envs, with any number of workers).
      runs: None or 1: one run; R: R runs learned together, update by update, run k
        from copies of `policy` and `value` with seed spawn k of `seed`; or a list of
        `RunStart` (each run's seed, policy and critic). Callbacks then name the run.
      callback: called with an `EpisodeEnd` (over the batch's episodes) after every update;
        its `snapshot()` can be passed back as `resume`.
      resume: continue after the update a snapshot was taken at.

    Returns:
      RunResult with one row; its columns are episodes in the order they ended.
    """
    if config.baseline == "value" and value is None:
        raise ValueError("`value` must be given for baseline='value'; got None")
    inputs = Inputs(env, policy, config, value, seed, runs, callback, resume)
    return train_on_policy("batch_policy_gradient", improve, inputs, needs_critic=False)


def ascend(
    policy: Policy, direction: np.ndarray, fraction: float, config: BatchPolicyGradientConfig
) -> None:
    """θ ← θ + α `direction` (vanilla: the estimate ĝ, α = alpha_theta) or θ + `direction`
    (natural, eNAC: the KL-bounded step), both scaled by the schedule's `fraction`."""
    if isinstance(policy, NetworkPolicy):
        # PyTorch's optimizer takes the ascent direction with its own learning rate, which
        # the schedule scales (Adam would undo a scaled direction)
        policy.optimizer_step(direction, learning_rate_scale=fraction)
        return
    step = config.alpha_theta if config.update == "vanilla" else 1.0
    policy.set_flat(policy.get_flat() + fraction * step * direction)


def refit_value(value: ValueFunction, batch: PaddedBatch, gamma: float, ridge: float) -> None:
    """Least-squares v̂(s, w) ≈ G_t over the batch's visited states (ridge-regularised)."""
    returns = discounted_returns(batch.rewards, gamma, mask=batch.mask)
    value.fit(batch.observations[batch.mask], returns[batch.mask], ridge)
