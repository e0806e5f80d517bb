"""Gaussian policy with a mean linear in the state features (Sutton & Barto 2018, §13.7)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array, check_positive_int
from gradlogpi.core.scores import gaussian_log_prob, gaussian_score, matrix_logits_unchecked
from gradlogpi.core.softmax import normal_noise
from gradlogpi.errors import ShapeError
from gradlogpi.features.base import StateFeatures
from gradlogpi.policies.actor import Actor, gaussian_actor
from gradlogpi.policies.contract import RunAxisParameters
from gradlogpi.policies.softmax_base import checked_theta


def bounded_log_std(eta: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """log σ = low + (high − low)·sigmoid(η) and its derivative d log σ / dη.

    A smooth bound: σ can neither underflow nor explode, and the gradient never vanishes
    abruptly the way it would under clipping.
    """
    sigmoid = 0.5 * (1.0 + np.tanh(0.5 * eta))  # stable for any η
    return low + (high - low) * sigmoid, (high - low) * sigmoid * (1.0 - sigmoid)


def log_std_parameter(log_std: float, low: float, high: float) -> float:
    """The η that gives log σ = `log_std` under `bounded_log_std` (low < log_std < high)."""
    fraction = (log_std - low) / (high - low)
    return float(np.log(fraction / (1.0 - fraction)))


class LinearGaussianPolicy(RunAxisParameters):
    """π(a|s) = N(a; μ(s), diag σ(s)²), μ(s) = W x(s) + b, for Box actions of shape [m].

    log σ is either one learned parameter per action dimension (`state_dependent_std=False`,
    the default) or linear in x(s) like the mean (Sutton & Barto 2018, eq. 13.19 uses
    σ(s) = exp(θ_σᵀ x(s))). Either way it is squashed smoothly into
    [min_log_std, max_log_std].

    Scores (eq. 13.20 and the chain rule through the bound):
      ∇_μ log π = (a − μ)/σ², pushed through μ = W x + b: ((a − μ)/σ²) [x, 1]ᵀ;
      ∇_{log σ} log π = ((a − μ)/σ)² − 1, times d log σ / dη.

    Flat parameters: [W | b] row by row (m·(k+1)), then η: m entries, or m·(k+1) when
    state-dependent.

    Args:
      state_features: an x(s) builder with k features.
      action_dim: m >= 1.
      log_std0: initial log σ (inside the bounds).
      state_dependent_std: make log σ linear in x(s).
      min_log_std: lower bound of log σ.
      max_log_std: upper bound of log σ.
      learn_std: learn log σ (default); if False, σ stays at exp(log_std0) and θ holds only
        the mean's parameters (useful where the answer concerns the mean, as in LQR).
      theta0: initial flat parameters (shape [P] or [R, P]).
    """

    noise_size: int

    def __init__(
        self,
        state_features: StateFeatures,
        action_dim: int,
        *,
        log_std0: float = 0.0,
        state_dependent_std: bool = False,
        min_log_std: float = -5.0,
        max_log_std: float = 2.0,
        learn_std: bool = True,
        theta0: Any = None,
    ):
        self.state_features = state_features
        self.action_dim = check_positive_int("action_dim", action_dim)
        if not min_log_std < log_std0 < max_log_std:
            raise ValueError(
                f"`log_std0` must lie strictly between min_log_std={min_log_std} and "
                f"max_log_std={max_log_std}; got {log_std0}"
            )
        self.min_log_std, self.max_log_std = float(min_log_std), float(max_log_std)
        self.state_dependent_std = state_dependent_std
        k = state_features.n_features
        self.n_mean_parameters = self.action_dim * (k + 1)
        if state_dependent_std and not learn_std:
            raise ValueError("`state_dependent_std` needs `learn_std`=True; got learn_std=False")
        self.learn_std = learn_std
        n_std = self.action_dim * (k + 1) if state_dependent_std else self.action_dim
        self.n_parameters = self.n_mean_parameters + (n_std if learn_std else 0)
        self.fixed_eta = np.full(
            self.action_dim, log_std_parameter(log_std0, self.min_log_std, self.max_log_std)
        )
        self.noise_size = 2 * self.action_dim
        if theta0 is None and not learn_std:
            self.theta = np.zeros(self.n_parameters)
        elif theta0 is None:
            theta = np.zeros(self.n_parameters)
            eta = log_std_parameter(log_std0, self.min_log_std, self.max_log_std)
            if state_dependent_std:
                theta[self.n_mean_parameters :].reshape(self.action_dim, k + 1)[:, -1] = eta
            else:
                theta[self.n_mean_parameters :] = eta
            self.theta = theta
        else:
            self.theta = checked_theta(theta0, self.n_parameters)

    # --- the two linear heads -----------------------------------------------------------------

    def _heads(self, obs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x [..., k], μ [..., m], log σ [..., m], d log σ/dη [..., m])."""
        x = self.state_features(obs)
        k = self.state_features.n_features
        theta = (
            self.theta
            if self.theta.ndim == 1
            else self.theta.reshape(self.theta.shape[0], *[1] * (x.ndim - 2), self.n_parameters)
        )
        mean_block = theta[..., : self.n_mean_parameters].reshape(
            *theta.shape[:-1], self.action_dim, k + 1
        )
        mean = matrix_logits_unchecked(mean_block[..., :-1], mean_block[..., -1], x)
        std_block = theta[..., self.n_mean_parameters :] if self.learn_std else self.fixed_eta
        if self.state_dependent_std:
            std_block = std_block.reshape(*theta.shape[:-1], self.action_dim, k + 1)
            eta = matrix_logits_unchecked(std_block[..., :-1], std_block[..., -1], x)
        else:
            eta = np.broadcast_to(std_block, mean.shape)
        log_std, slope = bounded_log_std(eta, self.min_log_std, self.max_log_std)
        return x, mean, log_std, slope

    def mean(self, obs: Any) -> np.ndarray:
        """μ(s), shape [..., m]."""
        return self._heads(obs)[1]

    def log_std(self, obs: Any) -> np.ndarray:
        """log σ(s), shape [..., m], inside [min_log_std, max_log_std]."""
        return self._heads(obs)[2]

    def deterministic_action(self, obs: Any) -> np.ndarray:
        """μ(s): the action greedy evaluation takes."""
        return self.mean(obs)

    def log_prob(self, obs: Any, a: Any) -> np.ndarray:
        """log π(a|s), shape [...]."""
        _, mean, log_std, _ = self._heads(obs)
        return gaussian_log_prob(mean, log_std, self._checked_actions(a, mean.shape))

    def entropy(self, obs: Any) -> np.ndarray:
        """Entropy Σ_j (log σ_j + ½ log 2πe) in nats, shape [...]."""
        log_std = self.log_std(obs)
        return (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(axis=-1)

    def entropy_gradient(self, obs: Any) -> np.ndarray:
        """∇θ H(π(·|s)), shape [..., P]: only log σ's parameters move the entropy."""
        x, mean, _, slope = self._heads(obs)
        batch = mean.shape[:-1]
        mean_part = np.zeros((*batch, self.n_mean_parameters))
        if not self.learn_std:
            return mean_part
        if self.state_dependent_std:
            augmented = np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)
            std_part = (slope[..., :, None] * augmented[..., None, :]).reshape(*batch, -1)
        else:
            std_part = slope
        return np.concatenate([mean_part, std_part], axis=-1)

    def sample(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        """Actions a = μ + σ ε, ε ~ N(0, I), shape [..., m] (not clipped)."""
        _, mean, log_std, _ = self._heads(obs)
        return mean + np.exp(log_std) * rng.standard_normal(mean.shape)

    def transform_noise(self, uniforms: np.ndarray) -> np.ndarray:
        """Uniforms [..., 2m] → standard normals [..., m] (Box-Muller), vectorised ahead."""
        return normal_noise(uniforms)

    def sample_from_noise(self, obs: Any, noise: np.ndarray) -> np.ndarray:
        """μ(s) + σ(s) ε for standard normal ε [..., m]."""
        _, mean, log_std, _ = self._heads(obs)
        return mean + np.exp(log_std) * noise

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation (what the features take)."""
        return tuple(self.state_features.observation_shape)

    def batch_actor(self) -> Actor:
        """Actions for a batch of states at once (one per sub-environment)."""
        return Actor(self.sample_from_noise)

    def actor(self) -> Actor:
        if self.state_dependent_std or (self.theta.ndim == 2 and self.theta.shape[0] != 1):
            return Actor(self.sample_from_noise)
        # θ is fixed during an episode: W, b and σ are taken out of it once
        theta = self.theta.reshape(-1)
        block = theta[: self.n_mean_parameters].reshape(self.action_dim, -1)
        weights, bias = block[:, :-1].copy(), block[:, -1].copy()
        eta = theta[self.n_mean_parameters :] if self.learn_std else self.fixed_eta
        log_std, _ = bounded_log_std(np.asarray(eta), self.min_log_std, self.max_log_std)
        std = np.exp(log_std)
        features = self.state_features
        return gaussian_actor(lambda obs: weights.dot(features(obs)) + bias, std)

    def sample_from_uniforms(self, obs: Any, uniforms: np.ndarray) -> np.ndarray:
        """Actions from 2m uniforms per state (Box-Muller), shape [..., m]."""
        return self.sample_from_noise(obs, normal_noise(uniforms))

    def score(self, obs: Any, a: Any) -> np.ndarray:
        """∇θ log π(a|s) as a flat vector, shape [..., P]."""
        x, mean, log_std, slope = self._heads(obs)
        grad_mean, grad_log_std = gaussian_score(
            mean, log_std, self._checked_actions(a, mean.shape)
        )
        augmented = np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)
        mean_part = (grad_mean[..., :, None] * augmented[..., None, :]).reshape(
            *mean.shape[:-1], -1
        )
        if not self.learn_std:
            return mean_part
        grad_eta = grad_log_std * slope
        if self.state_dependent_std:
            std_part = (grad_eta[..., :, None] * augmented[..., None, :]).reshape(
                *mean.shape[:-1], -1
            )
        else:
            std_part = grad_eta
        return np.concatenate([mean_part, std_part], axis=-1)

    def ascend(self, obs: Any, a: Any, step: Any) -> None:
        """θ ← θ + Σ step · ∇θ log π(a|s) (as `SoftmaxPolicy.ascend`)."""
        self.theta += self.weighted_score_sum(obs, a, step)

    def weighted_score_sum(self, obs: Any, a: Any, weights: Any) -> np.ndarray:
        """Σ weights · ∇θ log π(a|s) over the batch axes θ does not have, shape of θ."""
        score = self.score(obs, a)
        weights = np.broadcast_to(as_float_array("weights", weights), score.shape[:-1])
        weighted = (weights[..., None] * score).reshape(
            *self.theta.shape[:-1], -1, self.n_parameters
        )
        total: np.ndarray = weighted.sum(axis=-2)
        return total

    def mean_entropy_gradient(self, obs: Any) -> np.ndarray:
        """∇θ of the mean entropy over the states `obs` [M, ...], shape [P]."""
        gradient: np.ndarray = self.entropy_gradient(obs).mean(axis=0)
        return gradient

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        k = self.state_features.n_features
        layout = np.arange(self.n_mean_parameters).reshape(self.action_dim, k + 1)
        blocks = {"W_mean": layout[:, :-1].ravel(), "b_mean": layout[:, -1]}
        if self.learn_std:
            blocks["log_std"] = np.arange(self.n_mean_parameters, self.n_parameters)
        return blocks

    def get_flat(self) -> np.ndarray:
        return self.theta.copy()

    def set_flat(self, theta: Any) -> None:
        self.theta = checked_theta(theta, self.n_parameters)

    def _checked_actions(self, a: Any, shape: tuple[int, ...]) -> np.ndarray:
        a = as_float_array("a", a)
        if a.shape != shape:
            raise ShapeError(
                f"`a` must have shape {shape} ([..., m] with m={self.action_dim}); got {a.shape}"
            )
        return a
