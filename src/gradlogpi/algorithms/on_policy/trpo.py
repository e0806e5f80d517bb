"""TRPO (Schulman et al. 2015) with GAE(λ) advantages, on the exact score.

Each update maximises the surrogate L(θ) = mean_i ρ_i A_i, ρ_i = π_θ(a_i|s_i)/π_old(a_i|s_i),
subject to mean KL(π_old ‖ π_θ) ≤ δ:

    g = ∇L(θ_old) = mean_i A_i ψ_i               (ψ_i the closed-form or autodiff score)
    x ≈ (F + λI)⁻¹ g by conjugate gradient,      F v = mean_i ψ_i (ψ_iᵀ v)
    θ ← θ_old + βᵏ √(2δ / xᵀ(F + λI)x) x         (the first k whose step improves L and
                                                  keeps the exact mean KL ≤ δ)

F is never formed. `fisher = "sampled"`: each conjugate-gradient iteration is two
products with the [M, P] score matrix; with a_i drawn from π_old, mean ψψᵀ is an unbiased
estimate of the KL's Hessian at θ_old (the Fisher information), which is what the
natural-gradient batch update (`batch_pg`, update = "natural") also uses. `fisher =
"exact"`: the Fisher information itself, averaged over the sampled states, with the
expectation over actions done exactly — for softmax policies from the scores of every
action, for JAX networks as the mean KL's Hessian-vector product by `jvp` of its gradient
(what SB3-contrib's TRPO computes). `"auto"` (the default) is exact wherever the policy
allows (softmax policies, JAX networks), sampled for linear and PyTorch Gaussians.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import Callback, Inputs, RunResult
from gradlogpi.algorithms.estimators import (
    conjugate_gradient,
    expected_fisher_vector_product,
    fisher_vector_product,
)
from gradlogpi.algorithms.on_policy.advantages import Rollout, rollout
from gradlogpi.algorithms.on_policy.config import OnPolicyConfig
from gradlogpi.algorithms.on_policy.gradients import action_distribution, mean_kl
from gradlogpi.algorithms.on_policy.loop import UpdateState, train_on_policy
from gradlogpi.core._checks import check_positive, check_positive_int
from gradlogpi.core.returns import normalized
from gradlogpi.policies import DiscretePolicy, Policy, ValueFunction
from gradlogpi.policies.contract import ExactFisher
from gradlogpi.rollouts.vector import FragmentBatch


@dataclass(frozen=True)
class TRPOConfig(OnPolicyConfig):
    """Settings of `trpo`; the defaults are SB3's and the paper's (δ = 0.01, 10 CG steps)."""

    steps_per_env: int = 128
    """Steps each sub-environment takes per update."""
    max_kl: float = 0.01
    """δ: the bound on the mean KL(π_old ‖ π_θ) of one update (> 0)."""
    damping: float = 0.1
    """λ added to the Fisher matrix's diagonal in the conjugate-gradient solve (>= 0)."""
    cg_iterations: int = 10
    """Conjugate-gradient iterations per update."""
    line_search_steps: int = 10
    """Backtracking steps tried before the update is skipped."""
    backtrack: float = 0.8
    """β in (0, 1): each backtracking step shrinks the step by this factor."""
    fisher: Literal["auto", "exact", "sampled"] = "auto"
    """The Fisher products: 'exact' (the expectation over actions in closed form or by
    autodiff), 'sampled' (mean ψψᵀ of the sampled steps) or 'auto' (exact where the policy
    allows it: softmax policies, JAX networks)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.value_fitting == "joint":
            raise ValueError(
                "`value_fitting` must be 'auto' or 'separate' for TRPO, whose policy step is "
                "a constrained natural-gradient step, not a loss to share; got 'joint'"
            )
        check_positive("max_kl", self.max_kl)
        check_positive("damping", self.damping, allow_zero=True)
        for name in ("cg_iterations", "line_search_steps"):
            check_positive_int(name, getattr(self, name))
        if not 0.0 < self.backtrack < 1.0:
            raise ValueError(f"`backtrack` must be in (0, 1); got {self.backtrack!r}")
        if self.fisher not in FISHER_PRODUCTS:
            raise ValueError(f"`fisher` must be one of {FISHER_PRODUCTS}; got {self.fisher!r}")


FISHER_PRODUCTS = ("auto", "exact", "sampled")


class TrustRegionStep(NamedTuple):
    """What one TRPO update did."""

    accepted: bool
    """A step was taken (else θ stayed at θ_old)."""
    kl: float
    """Exact mean KL(π_old ‖ π_θ) after the update (0 when not accepted)."""
    improvement: float
    """L(θ) − L(θ_old) of the surrogate on the update's steps."""
    step_fraction: float
    """βᵏ of the accepted step (0 when not accepted)."""


def trust_region_step(
    policy: Policy, data: Rollout, config: TRPOConfig, max_kl: float
) -> TrustRegionStep:
    """One TRPO update of `policy` in place on the steps of `data`; see the module docstring."""
    advantages = normalized(data.advantages) if config.normalize_advantages else data.advantages
    scores = policy.score(data.observations, data.actions)  # [M, P] at θ_old
    n_samples = scores.shape[0]
    gradient = scores.T @ advantages / n_samples

    product = fisher_operator(policy, data.observations, scores, config)
    old_distribution = action_distribution(policy, data.observations)  # π_old(·|s), for the KL
    direction = conjugate_gradient(product, gradient, config.cg_iterations)
    curvature = float(direction @ product(direction))
    theta_old = policy.get_flat()
    if not np.isfinite(curvature) or curvature <= 1e-300:
        return TrustRegionStep(False, 0.0, 0.0, 0.0)
    full_step = np.sqrt(2.0 * max_kl / curvature) * direction
    surrogate_old = float(advantages.mean())  # ρ = 1 at θ_old
    for k in range(config.line_search_steps):
        fraction = config.backtrack**k
        policy.set_flat(theta_old + fraction * full_step)
        ratios = np.exp(policy.log_prob(data.observations, data.actions) - data.log_probs)
        improvement = float((ratios * advantages).mean()) - surrogate_old
        kl = mean_kl(policy, data.observations, old_distribution)
        if np.isfinite(improvement) and np.isfinite(kl) and kl <= max_kl and improvement > 0:
            return TrustRegionStep(True, kl, improvement, fraction)
    policy.set_flat(theta_old)
    return TrustRegionStep(False, 0.0, 0.0, 0.0)


def fisher_operator(
    policy: Policy, observations: np.ndarray, scores: np.ndarray, config: TRPOConfig
) -> Callable[[np.ndarray], np.ndarray]:
    """v -> (F + λI) v at θ_old on the update's states, as `config.fisher` asks (see the
    module docstring); `scores` [M, P] are the sampled steps' scores."""
    damping = config.damping
    exact = config.fisher != "sampled"
    if exact and isinstance(policy, ExactFisher):
        return lambda vector: policy.fisher_vector_product(observations, vector) + damping * vector
    if exact and isinstance(policy, DiscretePolicy):
        actions = np.arange(policy.n_actions)
        every_action = np.tile(actions, (observations.shape[0], 1))
        states = np.repeat(observations[:, None], actions.size, axis=1)
        all_scores = policy.score(states, every_action)  # [M, A, P]
        probabilities = policy.probabilities(observations)
        return lambda vector: expected_fisher_vector_product(
            all_scores, probabilities, vector, damping
        )
    if config.fisher == "exact":
        raise ValueError(
            "`fisher` = 'exact' needs a softmax policy or a JAX network; got "
            f"{type(policy).__name__} (use 'sampled' or 'auto')"
        )
    return lambda vector: fisher_vector_product(scores, vector, damping)


def trpo(
    env: str | gym.Env,
    policy: Policy,
    config: TRPOConfig = TRPOConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn a policy by TRPO with GAE(λ) advantages.

        Loop for each update:
            Collect num_envs × steps_per_env steps with π_old = π_θ (episodes run on)
            A ← GAE(λ) with v̂;  targets ← A + v̂
            g ← mean A ψ;  x ← CG solve of (F + λI) x = g
            θ ← θ_old + βᵏ √(2δ / xᵀFx) x   (first k with L improved and KL ≤ δ)
            Refit v̂ to the targets

    Args:
      env: a registered Gymnasium id, or an environment made from one.
      policy: a softmax or Gaussian policy, linear or neural; not modified. Its score
        gives the Fisher products (closed form for linear policies, autodiff per sample
        for neural ones).
      config: `TRPOConfig`.
      value: the critic, a `LinearValue` or a `NeuralValue`; required.
      seed: the experiment seed (sub-environment seeds and action noise derive from it).
      runs: None or 1: one run; R: R runs learned together, update by update, run k
        from copies of `policy` and `value` with seed spawn k of `seed`; or a list of
        `RunStart` (each run's seed, policy and critic). Callbacks then name the run.
      callback: called with an `EpisodeEnd` after every update; raising `StopTraining`
        ends learning there.
      resume: a snapshot from a callback's `EpisodeEnd.snapshot()`: continue after its update.

    Returns:
      RunResult with one row; its columns are the finished episodes in order.
    """
    inputs = Inputs(env, policy, config, value, seed, runs, callback, resume)
    return train_on_policy("trpo", improve, inputs, needs_critic=True)


def improve(
    policy: Policy,
    critic: ValueFunction | None,
    batch: FragmentBatch,
    state: UpdateState[TRPOConfig],
) -> dict[str, float]:
    """One TRPO update: GAE(λ), the KL-bounded natural step, then the critic's refit."""
    config = state.config
    assert critic is not None  # the loop refuses TRPO without one
    data = rollout(batch, policy, critic, config.gamma, config.gae_lambda)
    step = trust_region_step(policy, data, config, config.max_kl * state.fraction)
    critic.fit(data.observations, data.returns, config.value_ridge)  # v̂ ≈ λ-returns
    return {
        "accepted": float(step.accepted),
        "kl": step.kl,
        "improvement": step.improvement,
        "step_fraction": step.step_fraction,
    }
