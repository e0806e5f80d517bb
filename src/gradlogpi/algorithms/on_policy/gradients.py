"""What the improvers compute from a policy beyond its contract: π(·|s) for the exact KL,
and gradient-norm clipping. (Weighted score sums and the entropy gradient are in the
policy contract: `policy.weighted_score_sum`, `policy.mean_entropy_gradient`.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from gradlogpi.core.divergences import categorical_kl, gaussian_kl
from gradlogpi.policies import (
    DiscretePolicy,
    GaussianPolicy,
    Policy,
)
from gradlogpi.policies.contract import ArrayNamespace, BackendArray


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


def value_loss(
    xp: ArrayNamespace,
    predicted: BackendArray,
    batch: Mapping[str, BackendArray],
    settings: Mapping[str, BackendArray],
    clip: bool,
) -> BackendArray:
    """mean_i (v̂(s_i) − G_i)² over a minibatch (`batch["returns"]`: the targets G), for a
    critic trained jointly with the policy; with `clip`, PPO's value clipping against the
    update's starting prediction `batch["old_values"]`:
    max((v̂ − G)², (v̂_old + clip(v̂ − v̂_old, ±c) − G)²), c = `settings["value_clip_range"]`.
    """
    targets = batch["returns"]
    error = (predicted - targets) ** 2
    if clip:
        start, bound = batch["old_values"], settings["value_clip_range"]
        moved = start + xp.clip(predicted - start, -bound, bound)
        error = xp.maximum(error, (moved - targets) ** 2)
    return xp.sum(batch["weight"] * error)


def minus_value_loss(
    xp: ArrayNamespace,
    objective: BackendArray,
    values: Callable[[], BackendArray],
    batch: Mapping[str, BackendArray],
    settings: Mapping[str, BackendArray],
    clip: bool,
) -> BackendArray:
    """`objective` − c_v L_V: the policy's objective with a jointly trained critic's loss
    (c_v = `settings["value_coefficient"]`), as PPO's and A2C's objectives add it."""
    loss = value_loss(xp, values(), batch, settings, clip)
    return objective - settings["value_coefficient"] * loss
