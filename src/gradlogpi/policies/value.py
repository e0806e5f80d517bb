"""Linear state-value function v̂(s, w) = wᵀx(s), the critic and baseline of chapter 13."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array
from gradlogpi.features.base import StateFeatures
from gradlogpi.policies.softmax_base import checked_theta, gather_sum, scatter_add


class LinearValue:
    """v̂(s, w) = wᵀx(s), with ∇_w v̂ = x(s); sparse features update only their active entries.

    Args:
      state_features: an x(s) builder with k features.
      w0: initial w, shape [k] (or [R, k] for R runs); zeros if omitted.

    Examples:
      >>> from gradlogpi.features import OneHot
      >>> value = LinearValue(OneHot(3), w0=[1.0, 2.0, 3.0])
      >>> value.value(np.array([2, 0]))
      array([3., 1.])
    """

    def __init__(self, state_features: StateFeatures, w0: Any = None):
        self.state_features = state_features
        self.n_parameters = state_features.n_features
        self.w = np.zeros(self.n_parameters) if w0 is None else checked_theta(w0, self.n_parameters)

    def value(self, obs: Any) -> np.ndarray:
        """v̂(s, w), shape [...]."""
        if self.state_features.sparse:
            return gather_sum(self.w, self.state_features.active(obs))
        x = self.state_features(obs)
        return (
            (x @ self.w[..., :, None])[..., 0]
            if self.w.ndim == 1
            else np.einsum("r...k,rk->r...", x, self.w)
        )

    def gradient(self, obs: Any) -> np.ndarray:
        """∇_w v̂(s, w) = x(s), shape [..., k]."""
        return self.state_features(obs)

    def ascend(self, obs: Any, step: Any) -> None:
        """w ← w + Σ step · x(s) over the batch axes w does not have (as `SoftmaxPolicy.ascend`)."""
        if self.state_features.sparse:
            indices = self.state_features.active(obs)
            step = np.broadcast_to(as_float_array("step", step), indices.shape[:-1])
            scatter_add(self.w, indices, step[..., None])
            return
        x = self.state_features(obs)
        step = np.broadcast_to(as_float_array("step", step), x.shape[:-1])
        weighted = (step[..., None] * x).reshape(*self.w.shape[:-1], -1, self.n_parameters)
        self.w += weighted.sum(axis=-2)

    def fit(self, obs: Any, targets: np.ndarray, ridge: float) -> None:
        """w ← argmin_w Σ (wᵀx(s) − target)² + ridge ‖w‖²: a least-squares refit.

        Args:
          obs: states, shape [M, ...].
          targets: what v̂ should approach there (returns, λ-returns), shape [M].
          ridge: λ > 0 of the ridge term (keeps the solve well posed).
        """
        x = self.state_features(obs)  # [M, k]
        self.w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ targets)

    def get_flat(self) -> np.ndarray:
        return self.w.copy()

    def set_flat(self, w: Any) -> None:
        self.w = checked_theta(w, self.n_parameters)

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Nothing beyond w: least squares and the TD step keep no state."""
        return {}, {}

    def load_training_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        """Nothing to put back (see `training_state`)."""
