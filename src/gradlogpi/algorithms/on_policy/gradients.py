"""What the improvers take from a policy beyond its score: weighted score sums, the
entropy gradient, π(·|s) for the exact KL, and the ascent step."""

from __future__ import annotations

import copy

import numpy as np

from gradlogpi.core.divergences import categorical_kl, gaussian_kl
from gradlogpi.policies import (
    ArrayPolicy,
    DiscretePolicy,
    GaussianPolicy,
    Policy,
    TorchTrainedPolicy,
)


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


def clip_norm(gradient: np.ndarray, max_norm: float | None) -> np.ndarray:
    """`gradient` scaled down to norm `max_norm` where it is longer (None: unchanged)."""
    norm = float(np.linalg.norm(gradient))
    if max_norm is not None and norm > max_norm:
        return gradient * (max_norm / norm)
    return gradient
