"""PPO-clip (Schulman et al. 2017) with GAE(λ) advantages, on the exact score.

For a linear policy (softmax over linear preferences, matrix form, linear Gaussian) the
clipped surrogate's gradient needs no autodiff:

    L(θ) = mean_i min(ρ_i A_i, clip(ρ_i, 1 − ε, 1 + ε) A_i),   ρ_i = π_θ(a_i|s_i) / π_old(a_i|s_i)
    ∇L(θ) = mean_i 1[not clipped_i] ρ_i A_i ∇ln π_θ(a_i|s_i)

(∇ρ = ρ ∇ln π; where the clip is active the term is constant in θ), a weighted sum of
closed-form scores. Neural policies get the same weighted sum by one backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import Callback, Inputs, RunResult
from gradlogpi.algorithms.on_policy.advantages import Rollout, rollout
from gradlogpi.algorithms.on_policy.config import OnPolicyConfig
from gradlogpi.algorithms.on_policy.gradients import clip_norm, minus_value_loss
from gradlogpi.algorithms.on_policy.loop import (
    NetworkUpdate,
    RunBatch,
    UpdateState,
    network_updates,
    train_on_policy,
)
from gradlogpi.core._checks import check_positive, check_positive_int
from gradlogpi.core.returns import normalized
from gradlogpi.policies import NetworkPolicy, Policy, ValueFunction
from gradlogpi.policies.contract import (
    ArrayNamespace,
    Ascent,
    BackendArray,
    RunMinibatches,
    minibatch_plan,
)
from gradlogpi.rollouts.vector import FragmentBatch


@dataclass(frozen=True)
class PPOConfig(OnPolicyConfig):
    """Settings of `ppo`; the defaults are the usual PPO ones (SB3, CleanRL)."""

    alpha_theta: float = 0.01
    """Step size of a linear policy's θ (a neural policy uses its optimizer's rate)."""
    clip_range: float = 0.2
    """ε of the clipped ratio, in (0, 1)."""
    epochs: int = 10
    """Passes over each update's steps."""
    minibatches: int = 4
    """Minibatches per epoch."""
    entropy_coefficient: float = 0.0
    """β of the entropy bonus β·E[H(π(·|s))] (>= 0)."""
    target_kl: float | None = None
    """Stop an update's epochs once the estimated KL(π_old‖π) exceeds 1.5 × this (None: never)."""
    max_grad_norm: float | None = None
    """Clip each minibatch gradient to this norm (None: no clipping)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("epochs", "minibatches"):
            check_positive_int(name, getattr(self, name))
        check_positive("alpha_theta", self.alpha_theta)
        if not 0.0 < self.clip_range < 1.0:
            raise ValueError(f"`clip_range` must be in (0, 1); got {self.clip_range!r}")
        check_positive("entropy_coefficient", self.entropy_coefficient, allow_zero=True)
        for name in ("target_kl", "max_grad_norm"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if self.num_envs * self.steps_per_env < self.minibatches:
            raise ValueError(
                f"`minibatches` must be at most num_envs × steps_per_env = "
                f"{self.num_envs * self.steps_per_env}; got {self.minibatches}"
            )


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
    """Learn a policy by PPO-clip with GAE(λ) advantages.

        Loop for each update:
            Collect num_envs × steps_per_env steps with π_old = π_θ (episodes run on;
                or whole episodes, collection = 'episodes')
            A ← GAE(λ) with v̂;  targets ← A + v̂
            Loop for each epoch, each minibatch of the steps:
                ρ ← π_θ(a|s) / π_old(a|s)
                g ← mean 1[not clipped] ρ A ∇ln π_θ(a|s)   (+ β ∇H)
                θ ← θ + α g                               (neural: the optimizer's step)
            Refit v̂ to the targets (linear: least squares; neural: in the epochs above,
                one loss with the policy's, value_fitting = 'auto'; or its own epochs)

    Args:
      env: a registered Gymnasium id, or an environment made from one.
      policy: a linear policy (softmax or Gaussian) or a neural one; not modified.
      config: `PPOConfig`.
      value: the critic, a `LinearValue` over any state features or a `NeuralValue`;
        required.
      seed: the experiment seed (sub-environment seeds and action noise derive from it).
      runs: None or 1: one run; R: R runs learned together, update by update, run k
        from copies of `policy` and `value` with seed spawn k of `seed`; or a list of
        `RunStart` (each run's seed, policy and critic). Callbacks then name the run.
      callback: called with an `EpisodeEnd` after every update (the episodes that ended
        in it); raising `StopTraining` ends learning there.
      resume: a snapshot from a callback's `EpisodeEnd.snapshot()`: continue after its update.

    Returns:
      RunResult with one row; its columns are the finished episodes in order.
    """
    inputs = Inputs(env, policy, config, value, seed, runs, callback, resume)
    return train_on_policy(
        "ppo", improve, inputs, needs_critic=True, improve_together=improve_together
    )


def improve(
    policy: Policy,
    critic: ValueFunction | None,
    batch: FragmentBatch,
    state: UpdateState[PPOConfig],
) -> dict[str, float]:
    """One PPO update: GAE(λ), clipped-surrogate epochs on θ, then the critic's refit."""
    if isinstance(policy, NetworkPolicy):  # the whole update in the policy's backend
        return improve_together([RunBatch(policy, critic, batch, state)])[0]
    config = state.config
    assert critic is not None  # the loop refuses PPO without one
    data = rollout(batch, policy, critic, config.gamma, config.gae_lambda)
    statistics = optimize_surrogate(policy, data, config, state)
    critic.fit(data.observations, data.returns, config.value_ridge)  # v̂ ≈ λ-returns
    return statistics


def improve_together(runs: Sequence[RunBatch]) -> list[dict[str, float]]:
    """`improve` of several runs at one update: each its own GAE(λ) and minibatches; the
    clipped-surrogate epochs of network policies for all runs in one call where the
    backend can, linear policies run by run."""
    return network_updates(improve, prepare_surrogate, runs)


def prepare_surrogate(run: RunBatch) -> NetworkUpdate:
    """One run's PPO update of a network policy, ready to run (see `NetworkUpdate`):
    GAE(λ), its samples and minibatches, the clipped surrogate (with the critic's loss
    when it trains jointly), the scheduled clip range, the ascent."""
    policy, critic, state = run.policy, run.critic, run.state
    config: PPOConfig = state.config
    assert isinstance(policy, NetworkPolicy) and critic is not None
    data = rollout(run.batch, policy, critic, config.gamma, config.gae_lambda)
    joint = config.fits_jointly(policy, critic)
    samples = {
        "observations": data.observations,
        "actions": data.actions,
        "old_log_probs": data.log_probs,
        "advantages": data.advantages,
    }
    settings = {
        "clip_range": scheduled_clip_range(config, state.fraction),
        "entropy_coefficient": config.entropy_coefficient,
        "target_kl": config.target_kl or 0.0,
    }
    if joint:
        joint_samples, joint_settings = config.joint_value_inputs(
            critic, data.observations, data.returns
        )
        samples.update(joint_samples)
        settings.update(joint_settings)
    plan = minibatch_plan(data.advantages.shape[0], config.epochs, config.minibatches, state.random)
    objective = ClippedSurrogate(
        config.normalize_advantages,
        config.entropy_coefficient > 0,
        with_value=joint,
        clip_values=joint and config.value_clip_range is not None,
    )
    stop = None if config.target_kl is None else KLAbove()

    def finish(epochs: int) -> dict[str, float]:
        if not joint:
            critic.fit(data.observations, data.returns, config.value_ridge)  # v̂ ≈ λ-returns
        approximate_kl = 0.0 if config.target_kl is None else estimated_kl(policy, data)
        return {"epochs": float(epochs), "approximate_kl": approximate_kl}

    return NetworkUpdate(
        RunMinibatches(policy, samples, plan, critic if joint else None),
        objective,
        settings,
        Ascent(state.fraction, config.max_grad_norm, stop),
        finish,
    )


def scheduled_clip_range(config: PPOConfig, fraction: float) -> float:
    """ε at this update: scaled by the schedule's factor unless the schedule is constant."""
    return config.clip_range * fraction if config.schedule != "constant" else config.clip_range


def optimize_surrogate(
    policy: Policy,
    data: Rollout,
    config: PPOConfig,
    state: UpdateState[PPOConfig],
) -> dict[str, float]:
    """Epochs × minibatches of clipped-surrogate ascent of a linear policy on one update's
    steps, by the closed-form gradient; returns the epochs run and the last estimated
    KL(π_old‖π)."""
    fraction, shuffle = state.fraction, state.random
    n_samples = data.advantages.shape[0]
    clip_range = scheduled_clip_range(config, fraction)
    epochs, approximate_kl = 0, 0.0
    for _ in range(config.epochs):
        epochs += 1
        for indices in np.array_split(shuffle.permutation(n_samples), config.minibatches):
            advantages = data.advantages[indices]
            if config.normalize_advantages:
                advantages = normalized(advantages)
            observations, actions = data.observations[indices], data.actions[indices]
            ratios = np.exp(policy.log_prob(observations, actions) - data.log_probs[indices])
            weights = clipped_surrogate_weights(ratios, advantages, clip_range) / indices.size
            gradient = policy.weighted_score_sum(observations, actions, weights)
            if config.entropy_coefficient > 0:
                gradient = gradient + config.entropy_coefficient * policy.mean_entropy_gradient(
                    observations
                )
            gradient = clip_norm(gradient, config.max_grad_norm)
            policy.set_flat(policy.get_flat() + config.alpha_theta * fraction * gradient)
        if config.target_kl is not None:
            approximate_kl = estimated_kl(policy, data)
            if approximate_kl > 1.5 * config.target_kl:
                break
    return {"epochs": float(epochs), "approximate_kl": approximate_kl}


def estimated_kl(policy: Policy, data: Rollout) -> float:
    """KL(π_old‖π) estimated as mean(ρ − 1 − ln ρ) ≥ 0 over the update's steps."""
    log_ratios = policy.log_prob(data.observations, data.actions) - data.log_probs
    return float(np.mean(np.expm1(log_ratios) - log_ratios))


@dataclass(frozen=True)
class ClippedSurrogate:
    """PPO's objective on one minibatch, for network policies (any backend, see `Objective`):

        L = mean_i min(ρ_i A_i, clip(ρ_i, 1 − ε, 1 + ε) A_i) + β mean_i H(π(·|s_i))

    with A normalised within the minibatch, (A − mean) / (std + 1e-8), when
    `normalize_advantages` (SB3's and CleanRL's choice). Its gradient is the weighted
    score sum the linear path computes in closed form.
    """

    normalize_advantages: bool
    with_entropy: bool
    with_value: bool = False
    """Also − c_v L_V of the critic trained jointly (`value_fitting = 'joint'`)."""
    clip_values: bool = False
    """L_V with PPO's value clipping."""

    def __call__(
        self,
        xp: ArrayNamespace,
        log_probs: BackendArray,
        entropy: Callable[[], BackendArray],
        values: Callable[[], BackendArray],
        batch: Mapping[str, BackendArray],
        settings: Mapping[str, BackendArray],
    ) -> BackendArray:
        weight, advantages = batch["weight"], batch["advantages"]
        if self.normalize_advantages:
            mean = xp.sum(weight * advantages)
            spread = xp.sqrt(xp.sum(weight * (advantages - mean) ** 2))
            advantages = (advantages - mean) / (spread + 1e-8)
        ratios = xp.exp(log_probs - batch["old_log_probs"])
        clip_range = settings["clip_range"]
        clipped = xp.clip(ratios, 1 - clip_range, 1 + clip_range)
        objective = xp.sum(weight * xp.minimum(ratios * advantages, clipped * advantages))
        if self.with_entropy:
            objective = objective + settings["entropy_coefficient"] * xp.sum(weight * entropy())
        if self.with_value:
            objective = minus_value_loss(xp, objective, values, batch, settings, self.clip_values)
        return objective


@dataclass(frozen=True)
class KLAbove:
    """Stop the epochs once mean(ρ − 1 − ln ρ) over all steps exceeds 1.5 × target KL."""

    def __call__(
        self,
        xp: ArrayNamespace,
        log_probs: BackendArray,
        samples: Mapping[str, BackendArray],
        settings: Mapping[str, BackendArray],
    ) -> BackendArray:
        log_ratios = log_probs - samples["old_log_probs"]
        return xp.sum(samples["weight"] * (xp.expm1(log_ratios) - log_ratios)) > (
            1.5 * settings["target_kl"]
        )
