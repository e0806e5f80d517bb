"""Softmax policy over linear action preferences h(s,a,θ) = θᵀφ(s,a)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.core._checks import check_actions
from gradlogpi.core.scores import (
    expected_features,
    linear_preferences_unchecked,
    linear_softmax_score_unchecked,
)
from gradlogpi.core.softmax import softmax_entropy_gradient
from gradlogpi.features.base import StateActionFeatures
from gradlogpi.policies.actor import Actor
from gradlogpi.policies.softmax_base import SoftmaxPolicy, checked_theta, gather_sum


class LinearSoftmaxPolicy(SoftmaxPolicy):
    """π(a|s) ∝ exp(θᵀφ(s,a)) (Sutton & Barto 2018, eqs. 13.2-13.3).

    Score: ∇θ log π(a|s) = φ(s,a) − Σ_b π(b|s) φ(s,b) (eq. 13.9). With sparse features
    (tile coding), preferences and `ascend` touch only the active entries: O(m · A) a step.

    Args:
      features: a state-action feature builder, φ(s,·) of shape [..., A, d].
      theta0: initial θ, shape [d] (or [R, d] for R runs at once); zeros if omitted.

    Examples:
      >>> from gradlogpi.features import TableFeatures
      >>> features = TableFeatures(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
      >>> policy = LinearSoftmaxPolicy(features, theta0=np.array([0.0, 0.0, np.log(3 / 7)]))
      >>> policy.probabilities(0).round(12)
      array([0.7, 0.3])
    """

    def __init__(self, features: StateActionFeatures, theta0: Any = None):
        self.features = features
        self.n_actions = features.n_actions
        self.n_parameters = features.n_features
        self.theta = (
            np.zeros(self.n_parameters)
            if theta0 is None
            else checked_theta(theta0, self.n_parameters)
        )

    def logits(self, obs: Any) -> np.ndarray:
        indices = self.active_indices(obs)
        if indices is not None:
            return gather_sum(self.theta, indices)
        phi = self.features(obs)
        return linear_preferences_unchecked(self.theta_for(phi.ndim - 2), phi)

    def score(self, obs: Any, a: Any) -> np.ndarray:
        phi = self.features(obs)
        a = check_actions("a", a, phi.shape[:-2], self.n_actions, "obs")
        return linear_softmax_score_unchecked(self.theta_for(phi.ndim - 2), phi, a)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation (what the features take)."""
        return tuple(self.features.observation_shape)

    def actor(self) -> Actor:
        if self.features.sparse or (self.theta.ndim == 2 and self.theta.shape[0] != 1):
            return super().actor()
        theta, features = self.theta.reshape(-1).copy(), self.features  # fixed for the episode
        return Actor(lambda obs, noise: (features(obs).dot(theta) + noise).argmax())

    def entropy_gradient(self, obs: Any) -> np.ndarray:
        """∇θ H(π(·|s)), shape [..., P]: the entropy bonus's gradient."""
        phi = self.features(obs)
        weights = softmax_entropy_gradient(
            linear_preferences_unchecked(self.theta_for(phi.ndim - 2), phi)
        )
        return (weights[..., None, :] @ phi)[..., 0, :]

    def active_indices(self, obs: Any) -> np.ndarray | None:
        return self.features.active(obs) if self.features.sparse else None

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        return {"theta": np.arange(self.n_parameters)}

    def expected_features(self, obs: Any) -> np.ndarray:
        """E_π[φ(s,·)] = Σ_b π(b|s) φ(s,b), shape [..., d]."""
        phi = self.features(obs)
        return expected_features(self.theta_for(phi.ndim - 2), phi)
