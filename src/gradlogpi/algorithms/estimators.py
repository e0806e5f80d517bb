"""Policy-gradient estimators from a batch of N episodes, padded to T steps.

Shapes: scores ψ_it = ∇θ log π(A_t|S_t) [N, T, P]; rewards R_{t+1} [N, T]; mask [N, T].
All return the mean over episodes of a per-episode gradient estimate, shape [P].
References: Williams (1992) REINFORCE; Baxter & Bartlett (2001) G(PO)MDP; Peters & Schaal
(2008) "Reinforcement learning of motor skills with policy gradients" (optimal baselines,
eNAC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from gradlogpi.core.returns import discount_powers
from gradlogpi.policies.contract import ArrayNamespace, BackendArray


def discounted_rewards(rewards: np.ndarray, gamma: float, mask: np.ndarray) -> np.ndarray:
    """γ^t R_{t+1}, zero past each episode's end, shape [N, T]."""
    return rewards * discount_powers(rewards.shape[1], gamma) * mask


def reinforce_weights(rewards: np.ndarray, gamma: float, mask: np.ndarray) -> np.ndarray:
    """Per-step weights of REINFORCE with the whole return: R(τ) = Σ_t γ^t R_{t+1} at every step."""
    total = discounted_rewards(rewards, gamma, mask).sum(axis=1, keepdims=True)
    return np.broadcast_to(total, rewards.shape) * mask


def gpomdp_weights(rewards: np.ndarray, gamma: float, mask: np.ndarray) -> np.ndarray:
    """Per-step weights of G(PO)MDP: Σ_{t'≥t} γ^{t'} R_{t'+1}, the reward-to-go discounted from 0.

    Σ_t ψ_t Σ_{t'≥t} γ^{t'} r_{t'} equals Σ_t' γ^{t'} r_{t'} Σ_{t≤t'} ψ_t: a reward is credited
    only to the actions before it.
    """
    discounted = discounted_rewards(rewards, gamma, mask)
    return np.flip(np.cumsum(np.flip(discounted, axis=1), axis=1), axis=1) * mask


def reinforce_optimal_baseline_gradient(
    scores: np.ndarray, rewards: np.ndarray, gamma: float, mask: np.ndarray
) -> np.ndarray:
    """REINFORCE with the variance-minimising baseline of each component k:

    b_k = E[(Σ_t ψ_tk)² R(τ)] / E[(Σ_t ψ_tk)²];  g_k = E[(Σ_t ψ_tk)(R(τ) − b_k)],

    episode i's b_k estimated from the other episodes (leave one out), so that it does not
    depend on episode i and the estimate is unbiased at any batch size.
    """
    summed = (scores * mask[..., None]).sum(axis=1)  # [N, P]
    total = discounted_rewards(rewards, gamma, mask).sum(axis=1)  # [N]
    squares = summed**2
    baseline = leave_one_out_ratio(squares * total[:, None], squares)  # [N, P]
    return (summed * (total[:, None] - baseline)).mean(axis=0)


def gpomdp_optimal_baseline_gradient(
    scores: np.ndarray,
    rewards: np.ndarray,
    gamma: float,
    mask: np.ndarray,
    absorbed: np.ndarray | None = None,
) -> np.ndarray:
    """G(PO)MDP with the variance-minimising baseline of each step t and component k:

    b_tk = E[(Σ_{t'≤t} ψ_t'k)² γ^t r_t] / E[(Σ_{t'≤t} ψ_t'k)²];
    g_k = E[Σ_t (Σ_{t'≤t} ψ_t'k)(γ^t r_t − b_tk)].

    The expectations at step t run over every episode of the horizon, those that already
    terminated included (`absorbed` [N, T]: steps after a termination, with r = 0 and the
    summed score frozen): subtracting b_t leaves the mean unchanged only because
    E[Σ_{t'≤t} ψ_t'] = 0 over all of them. Averaged over the episodes still running at t
    instead, the baseline takes away the signal of when episodes end; on CartPole, which
    pays 1 a step, all of it (the estimate was exactly 0 before 2026-12-04). Rows are whole
    episodes with one horizon (fragments of step collection, whose horizons differ, are
    refused by `batch_pg`). Episode i's b_t comes from the other episodes (leave one out),
    so the estimate is unbiased at any batch size.
    """
    counted = mask if absorbed is None else mask | absorbed
    cumulative = np.cumsum(scores * mask[..., None], axis=1)  # [N, T, P], frozen after the end
    discounted = discounted_rewards(rewards, gamma, mask)  # [N, T], 0 after the end
    squares = cumulative**2 * counted[..., None]
    baseline = leave_one_out_ratio(squares * discounted[..., None], squares)  # [N, T, P]
    terms = cumulative * (discounted[..., None] - baseline) * counted[..., None]
    return terms.sum(axis=1).mean(axis=0)


def fisher_matrix(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """F = E[ψ ψᵀ] over the visited state-action pairs, shape [P, P]."""
    flat = scores[mask]
    return flat.T @ flat / max(flat.shape[0], 1)


def natural_direction(gradient: np.ndarray, fisher: np.ndarray, damping: float) -> np.ndarray:
    """(F + λI)⁻¹ g: the natural gradient direction, solved, never inverted."""
    return np.linalg.solve(fisher + damping * np.eye(fisher.shape[0]), gradient)


def kl_step_size(gradient: np.ndarray, direction: np.ndarray, max_kl: float) -> float:
    """α with ½ α² dᵀ F d ≈ KL = max_kl for d = F⁻¹g: α = √(2 max_kl / gᵀd)."""
    curvature = float(gradient @ direction)
    return float(np.sqrt(2.0 * max_kl / curvature)) if curvature > 1e-300 else 0.0


def enac_gradient(
    scores: np.ndarray, rewards: np.ndarray, gamma: float, mask: np.ndarray, ridge: float
) -> np.ndarray:
    """Episodic natural actor-critic: regress each episode's return on its summed discounted score.

    Solve min_{w, J} Σ_i (R(τ_i) − Ψ_iᵀ w − J)² + ridge·‖w‖², Ψ_i = Σ_t γ^t ψ_it: w is the
    natural gradient (compatible function approximation), J the baseline.
    """
    powers = discount_powers(scores.shape[1], gamma)
    summed = (scores * (mask * powers)[..., None]).sum(axis=1)  # [N, P]
    total = discounted_rewards(rewards, gamma, mask).sum(axis=1)
    design = np.concatenate([summed, np.ones((summed.shape[0], 1))], axis=1)
    regulariser = ridge * np.eye(design.shape[1])
    regulariser[-1, -1] = 0.0
    solution = np.linalg.solve(design.T @ design + regulariser, design.T @ total)
    return solution[:-1]


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


def leave_one_out_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """For each row i (axis 0): Σ_{j≠i} numerator_j / Σ_{j≠i} denominator_j, with a
    non-negative denominator; 0 where the other rows' denominator is 0 to rounding (a
    single episode: no baseline)."""
    total_numerator, total_denominator = numerator.sum(axis=0), denominator.sum(axis=0)
    others = total_denominator - denominator
    others = np.where(others > 1e-12 * total_denominator, others, 0.0)
    return _safe_ratio(total_numerator - numerator, others)


def fisher_vector_product(scores: np.ndarray, vector: np.ndarray, damping: float) -> np.ndarray:
    """(F + λI) v with F = mean_i ψ_i ψ_iᵀ, without forming F: Ψᵀ(Ψ v)/M + λ v, shape [P].

    Args:
      scores: ψ_i = ∇ln π(a_i|s_i) of the M sampled steps, shape [M, P]. With a_i drawn from
        π, mean ψψᵀ is an unbiased estimate of the Fisher information (the KL's Hessian).
      vector: v, shape [P].
      damping: λ ≥ 0.
    """
    return scores.T @ (scores @ vector) / max(scores.shape[0], 1) + damping * vector


def expected_fisher_vector_product(
    scores: np.ndarray, probabilities: np.ndarray, vector: np.ndarray, damping: float
) -> np.ndarray:
    """(F + λI) v with the exact F = mean_s Σ_a π(a|s) ψ(s,a) ψ(s,a)ᵀ of a policy over A
    actions, from the scores of every action, shape [P].

    Args:
      scores: ψ(s, a) = ∇ln π(a|s) of every state and action, shape [M, A, P].
      probabilities: π(a|s), shape [M, A].
      vector: v, shape [P].
      damping: λ ≥ 0.
    """
    along = scores @ vector  # ψ(s,a)ᵀ v, [M, A]
    weighted = probabilities * along
    return np.einsum("ma,map->p", weighted, scores) / max(scores.shape[0], 1) + damping * vector


def conjugate_gradient(
    product: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    iterations: int = 10,
    tolerance: float = 1e-16,
) -> np.ndarray:
    """Approximately solve A x = b for symmetric positive definite A given only x ↦ A x.

    The conjugate gradient method (Hestenes and Stiefel 1952), started at x = 0: exact
    after P iterations in exact arithmetic; TRPO uses 10. Stops early once the residual
    is small: ‖b − A x‖² ≤ tolerance · ‖b‖².

    Examples:
      >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
      >>> conjugate_gradient(lambda v: A @ v, np.array([1.0, 2.0])).round(6)
      array([0.090909, 0.636364])
    """
    x = np.zeros_like(b)
    residual = b.copy()
    direction = b.copy()
    residual_norm = float(residual @ residual)
    small = tolerance * residual_norm
    for _ in range(iterations):
        if residual_norm <= small:
            break
        product_direction = product(direction)
        curvature = float(direction @ product_direction)
        if curvature <= 0:
            break
        step = residual_norm / curvature
        x += step * direction
        residual -= step * product_direction
        new_norm = float(residual @ residual)
        direction = residual + (new_norm / residual_norm) * direction
        residual_norm = new_norm
    return x


@dataclass(frozen=True)
class ReturnWeighted:
    """J = Σ_i w_i ln π(a_i|s_i) (+ β mean_i H(π(·|s_i))), w the per-step weights of an
    estimator ("step_weights": the seed's returns G_t, or ĝ's weights over N episodes), as
    an `Objective` any network backend maximises; its gradient is Σ_i w_i ψ_i."""

    with_entropy: bool = False

    def __call__(
        self,
        xp: ArrayNamespace,
        log_probs: BackendArray,
        entropy: Callable[[], BackendArray],
        values: Callable[[], BackendArray],
        batch: Mapping[str, BackendArray],
        settings: Mapping[str, BackendArray],
    ) -> BackendArray:
        real = batch["weight"] > 0  # padding rows (compiled backends) count for nothing
        objective = xp.sum(real * batch["step_weights"] * log_probs)
        if self.with_entropy:
            objective = objective + settings["entropy_coefficient"] * xp.sum(
                batch["weight"] * entropy()
            )
        return objective
