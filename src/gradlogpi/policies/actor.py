"""The step loop's view of a policy: θ as it is now, with the per-episode set-up done once.

A Monte-Carlo episode keeps θ fixed, so everything that depends only on θ (weights pulled
out of θ, σ = exp(log σ), a bias) is computed when the episode starts, and everything that
depends only on the pre-drawn noise is computed for a whole block of steps at once. What
is left per step is the part that needs the observation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Discrete.contains checks a NumPy integer faster than a Python int; these are reused
ACTION_0, ACTION_1 = np.int64(0), np.int64(1)
TWO_ACTIONS = (ACTION_0, ACTION_1)


def _unchanged(noise: np.ndarray) -> np.ndarray:
    return noise


@dataclass(frozen=True)
class Actor:
    """Acting for one environment, one step at a time.

    Attributes:
      act: (observation, one step's prepared noise) → action.
      prepare: the policy's noise for a block of steps [n, ...] → a sequence of n per-step
        values for `act`, computed in one vectorised call.
    """

    act: Callable[[Any, Any], Any]
    prepare: Callable[[np.ndarray], Any] = _unchanged


def softmax_actor(preferences: Callable[[Any], np.ndarray], bias: np.ndarray) -> Actor:
    """Gumbel-max acting: argmax_a h(s,a) + b_a + G_a, with b + G added per block.

    With two actions the argmax is a threshold: a = 1 exactly when
    h(s,1) − h(s,0) > (b_0 + G_0) − (b_1 + G_1), so a block of noise becomes one number per
    step and a step compares one preference difference with it.

    Args:
      preferences: observation → h(s,·) without the bias, shape [A]; for two actions,
        observation → h(s,1) − h(s,0) (a scalar) instead.
      bias: b, shape [A] (zeros for policies without one).
    """
    if bias.shape == (2,):
        return Actor(
            lambda obs, threshold: TWO_ACTIONS[bool(preferences(obs) > threshold)],
            lambda noise: two_action_thresholds(noise, bias).tolist(),  # floats index fastest
        )
    return Actor(lambda obs, noise: (preferences(obs) + noise).argmax(), lambda noise: noise + bias)


def batch_softmax_actor(preferences: Callable[[Any], np.ndarray], bias: np.ndarray) -> Actor:
    """`softmax_actor` for a batch of observations [N, ...] at a time (vector envs).

    Args:
      preferences: observations → h(s,·) without the bias [N, A]; for two actions the
        differences h(s,1) − h(s,0) [N] instead.
      bias: b, shape [A].
    """
    if bias.shape == (2,):
        return Actor(
            lambda obs, thresholds: (preferences(obs) > thresholds).astype(np.int64),
            lambda noise: two_action_thresholds(noise, bias),
        )
    return Actor(
        lambda obs, noise: (preferences(obs) + noise).argmax(axis=-1), lambda noise: noise + bias
    )


def two_action_thresholds(noise: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(b_0 + G_0) − (b_1 + G_1) for Gumbel noise [..., 2]: action 1 wins above it, [...]."""
    return (noise[..., 0] + bias[0]) - (noise[..., 1] + bias[1])


def gaussian_actor(mean: Callable[[Any], np.ndarray], std: np.ndarray) -> Actor:
    """a = μ(s) + σ ε with a state-independent σ: σ ε is computed per block."""
    return Actor(lambda obs, scaled_noise: mean(obs) + scaled_noise, lambda noise: noise * std)
