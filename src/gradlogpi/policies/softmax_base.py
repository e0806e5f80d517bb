"""What every softmax policy shares: sampling, log-probabilities, entropy, flat parameters.

Parameters live in one float64 array `theta` of shape [P], or [R, P] when R independent
runs are learned at once; observations then carry the same leading run axis.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

import numpy as np

from gradlogpi.core._checks import as_float_array, check_actions, check_positive
from gradlogpi.core.softmax import (
    gumbel_max_sample,
    gumbel_noise,
    log_softmax_unchecked,
    one_hot,
    softmax_entropy,
    softmax_unchecked,
)
from gradlogpi.errors import ShapeError
from gradlogpi.policies.actor import Actor
from gradlogpi.policies.contract import RunAxisParameters


class SoftmaxPolicy(RunAxisParameters, ABC):
    """π(a|s) = softmax(h(s,·))_a over `n_actions` actions; subclasses define h and its score."""

    n_actions: int
    n_parameters: int
    theta: np.ndarray
    # ∇θ H(π(·|s)) per state [..., P], closed form in each linear subclass (declared for
    # the type checker; no runtime effect)
    entropy_gradient: Callable[[Any], np.ndarray]

    @abstractmethod
    def logits(self, obs: Any) -> np.ndarray:
        """Action preferences h(s,·), shape [..., A]."""

    @abstractmethod
    def score(self, obs: Any, a: Any) -> np.ndarray:
        """∇θ log π(a|s) as a flat vector, shape [..., P]."""

    @abstractmethod
    def parameter_blocks(self) -> dict[str, np.ndarray]:
        """Named groups of flat-parameter indices (for per-block gradient-check errors)."""

    def probabilities(self, obs: Any) -> np.ndarray:
        """π(·|s), shape [..., A]; rows sum to 1."""
        return softmax_unchecked(self.logits(obs))

    def log_prob(self, obs: Any, a: Any) -> np.ndarray:
        """log π(a|s), shape [...]."""
        logits = self.logits(obs)
        a = check_actions("a", a, logits.shape[:-1], self.n_actions, "obs")
        return np.take_along_axis(log_softmax_unchecked(logits), a[..., None], axis=-1)[..., 0]

    def entropy(self, obs: Any) -> np.ndarray:
        """Entropy of π(·|s) in nats, shape [...]."""
        return softmax_entropy(self.logits(obs))

    @property
    def noise_size(self) -> int:
        """Uniforms one action needs (`sample_from_uniforms`): one per action (Gumbel-max)."""
        return self.n_actions

    def sample(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        """Actions A ~ π(·|s), int64, shape [...], by inverting the CDF at one uniform each."""
        probabilities = self.probabilities(obs)
        return sample_from_probabilities(probabilities, rng.random(probabilities.shape[:-1]))

    def sample_from_uniforms(self, obs: Any, uniforms: np.ndarray) -> np.ndarray:
        """Actions from pre-drawn uniforms [..., A] by Gumbel-max: no softmax needed."""
        return gumbel_max_sample(self.logits(obs), uniforms)

    def transform_noise(self, uniforms: np.ndarray) -> np.ndarray:
        """Uniforms [..., A] → the Gumbel noise `sample_from_noise` takes (vectorised ahead)."""
        return gumbel_noise(uniforms)

    def sample_from_noise(self, obs: Any, noise: np.ndarray) -> np.ndarray:
        """argmax_a h(s,a) + G_a for Gumbel noise G [..., A]: an exact sample of π(·|s)."""
        return np.argmax(self.logits(obs) + noise, axis=-1)

    def actor(self) -> Actor:
        """Acting for one environment with θ as it is now (`Actor`; noise as `sample_from_noise`).

        Used between environment steps, so subclasses make it as lean as they can.
        """
        return Actor(lambda obs, noise: (self.logits(obs) + noise).argmax())

    def batch_actor(self) -> Actor:
        """`actor` for a batch of observations [N, ...] at a time (the sub-envs of a vector env)."""
        return Actor(self.sample_from_noise)

    def active_indices(self, obs: Any) -> np.ndarray | None:
        """Flat-parameter indices [..., A, m] of each action's binary preference terms.

        None for dense features; sparse ones (tile coding) let `logits` and `ascend` touch
        only these entries.
        """
        return None

    def ascend(self, obs: Any, a: Any, step: Any) -> None:
        """θ ← θ + Σ step · ∇θ log π(a|s) over the batch axes that θ does not have.

        With θ of shape [R, P], obs carries the run axis first and run r gets only its own
        terms. `step` broadcasts against the batch shape (a scalar, or one per sample).
        """
        self._add_weighted_scores(self.theta, obs, a, step)

    def weighted_score_sum(self, obs: Any, a: Any, weights: Any) -> np.ndarray:
        """Σ weights · ∇θ log π(a|s) over the batch axes θ does not have, shape of θ.

        What `ascend` adds to θ, returned instead: the policy-gradient estimators' sum.
        """
        total = np.zeros_like(self.theta)
        self._add_weighted_scores(total, obs, a, weights)
        return total

    def mean_entropy_gradient(self, obs: Any) -> np.ndarray:
        """∇θ of the mean entropy over the states `obs` [M, ...], shape [P]."""
        gradient: np.ndarray = self.entropy_gradient(obs).mean(axis=0)
        return gradient

    def _add_weighted_scores(self, target: np.ndarray, obs: Any, a: Any, step: Any) -> None:
        """target += Σ step · ∇θ log π(a|s), in place (target shaped like θ)."""
        indices = self.active_indices(obs)
        if indices is not None:
            # the score is Σ_b (onehot(a) − π)_b φ(s,b), and φ(s,b) is 1 on indices[..., b, :]
            probabilities = softmax_unchecked(gather_sum(self.theta, indices))  # indices once
            a = check_actions("a", a, probabilities.shape[:-1], self.n_actions, "obs")
            weights = one_hot(a, self.n_actions) - probabilities
            step = np.broadcast_to(as_float_array("step", step), weights.shape[:-1])
            scatter_add(target, indices, (step[..., None] * weights)[..., None])
            return
        score = self.score(obs, a)
        step = np.broadcast_to(as_float_array("step", step), score.shape[:-1])
        weighted = (step[..., None] * score).reshape(*self.theta.shape[:-1], -1, self.n_parameters)
        target += weighted.sum(axis=-2)

    def theta_for(self, batch_ndim: int) -> np.ndarray:
        """θ shaped to broadcast against a batch of `batch_ndim` axes.

        θ [P] as is; θ [R, P] (one per run) becomes [R, 1, …, 1, P] so that the run axis
        lines up with the first batch axis (observations [R, T, ...] for whole episodes).
        """
        if self.theta.ndim == 1:
            return self.theta
        return self.theta.reshape(self.theta.shape[0], *[1] * (batch_ndim - 1), self.n_parameters)

    def get_flat(self) -> np.ndarray:
        """A copy of the parameters as one vector, shape [P] (or [R, P])."""
        return self.theta.copy()

    def set_flat(self, theta: Any) -> None:
        """Replace the parameters by `theta`, shape [P] or [R, P]."""
        self.theta = checked_theta(theta, self.n_parameters)

    def init(
        self, rng: np.random.Generator | None = None, *, scale: float = 0.0, runs: int | None = None
    ) -> Self:
        """Reset θ to zeros (scale 0) or N(0, scale²) draws, with an optional run axis [R, P]."""
        shape = (self.n_parameters,) if runs is None else (runs, self.n_parameters)
        if scale == 0.0:
            self.theta = np.zeros(shape)
        else:
            if rng is None:
                raise ValueError("`rng` is needed when `scale` > 0; got None")
            self.theta = check_positive("scale", scale) * rng.standard_normal(shape)
        return self


def sample_from_probabilities(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Invert the CDF: the first a with u < Σ_{b<=a} π(b), shape [...] from [..., A] and [...].

    The last action takes whatever rounding leaves above the final partial sum.
    """
    cumulative = np.cumsum(probabilities[..., :-1], axis=-1)
    return (uniforms[..., None] >= cumulative).sum(axis=-1)


def checked_theta(theta: Any, n_parameters: int) -> np.ndarray:
    theta = np.array(as_float_array("theta", theta), dtype=np.float64)
    if theta.ndim not in (1, 2) or theta.shape[-1] != n_parameters:
        raise ShapeError(
            f"`theta` must have shape [P] or [R, P] with P={n_parameters}; got {theta.shape}"
        )
    return theta


def gather_sum(theta: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Σ_m θ[..., indices[..., m]]: linear preferences of sparse binary features.

    theta [P] with indices [..., m], or theta [R, P] with indices [R, ..., m].
    """
    if theta.ndim == 1:
        return theta[indices].sum(axis=-1)
    flat = indices.reshape(theta.shape[0], -1)
    return np.take_along_axis(theta, flat, axis=-1).reshape(indices.shape).sum(axis=-1)


def scatter_add(theta: np.ndarray, indices: np.ndarray, values: np.ndarray) -> None:
    """θ[..., indices] += values in place, with repeated indices adding up.

    theta [P] with indices/values [..., m], or theta [R, P] with indices/values [R, ..., m].
    """
    values = np.broadcast_to(values, indices.shape)
    if theta.ndim == 1:
        np.add.at(theta, indices.ravel(), values.ravel())
        return
    runs = np.broadcast_to(
        np.arange(theta.shape[0]).reshape(-1, *[1] * (indices.ndim - 1)), indices.shape
    )
    np.add.at(theta, (runs.ravel(), indices.ravel()), values.ravel())
