"""Running normalisation of observations and scaling of rewards, as SB3's VecNormalize does.

The statistics are Gymnasium's `RunningMeanStd` (parallel mean/variance updates); what
Gymnasium's `NormalizeObservation`/`NormalizeReward` wrappers lack for us, and this
module adds, is state as plain arrays (`get_state`/`set_state`, for checkpoints and
bit-exact resume), a frozen copy for evaluation, and the raw rewards kept beside the
scaled ones (episode returns are reported unscaled).

    x̃ = clip((x − μ) / √(σ² + ε), −c, c)          observations
    G ← γ G + r;   r̃ = clip(r / √(Var[G] + ε), −c, c)   rewards (G reset at episode ends)
"""

from __future__ import annotations

import copy

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

EPSILON = 1e-8


class ObservationNormalizer:
    """Running mean and variance of observations, and the clipped standardisation.

    Args:
      shape: one observation's shape.
      clip: c, the bound of a normalised value (> 0).
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0):
        self.statistics = RunningMeanStd(shape=shape)  # type: ignore[no-untyped-call]
        self.clip = float(clip)

    def update(self, observations: np.ndarray) -> None:
        """Add a batch of observations [N, *shape] to the statistics."""
        batch = np.asarray(observations, dtype=np.float64)
        self.statistics.update(batch)  # type: ignore[no-untyped-call]

    def normalize(self, observations: np.ndarray) -> np.ndarray:
        """(x − μ) / √(σ² + ε), clipped to [−c, c]; shape as given."""
        standardised = (np.asarray(observations, dtype=np.float64) - self.statistics.mean) / (
            np.sqrt(self.statistics.var + EPSILON)
        )
        return np.clip(standardised, -self.clip, self.clip)

    def frozen(self) -> ObservationNormalizer:
        """A copy whose statistics no longer change with this one's."""
        return copy.deepcopy(self)

    def get_state(self) -> dict[str, np.ndarray]:
        """mean, var [*shape] and count [] as arrays."""
        return {
            "mean": np.array(self.statistics.mean),
            "var": np.array(self.statistics.var),
            "count": np.array(self.statistics.count, dtype=np.float64),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Put `get_state`'s arrays back (shapes must match)."""
        mean, var = np.asarray(state["mean"]), np.asarray(state["var"])
        if mean.shape != self.statistics.mean.shape or var.shape != mean.shape:
            raise ValueError(
                "`state` must hold mean and var of shape "
                f"{self.statistics.mean.shape}; got {mean.shape} and {var.shape}"
            )
        self.statistics.mean = mean.astype(np.float64)
        self.statistics.var = var.astype(np.float64)
        self.statistics.count = float(np.asarray(state["count"]))


class RewardScaler:
    """Rewards divided by the running standard deviation of the discounted return.

    Args:
      num_envs: sub-environments (each has its own return in progress).
      gamma: the discount of the return whose spread scales the rewards.
      clip: c, the bound of a scaled reward (> 0).
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0):
        self.statistics = RunningMeanStd(shape=())  # type: ignore[no-untyped-call]
        self.returns = np.zeros(num_envs)
        self.gamma = float(gamma)
        self.clip = float(clip)

    def scale(self, rewards: np.ndarray, ended: np.ndarray, real: np.ndarray) -> np.ndarray:
        """Scaled rewards [E] of one vector step. `ended` [E]: those envs' episodes ended
        (their returns start over); `real` [E]: a step of an episode (False: a step that
        only reset its env, which neither adds to a return nor to the statistics)."""
        self.returns = np.where(real, self.returns * self.gamma + rewards, self.returns)
        if real.any():
            self.statistics.update(self.returns[real])  # type: ignore[no-untyped-call]
        scaled = np.clip(rewards / np.sqrt(self.statistics.var + EPSILON), -self.clip, self.clip)
        self.returns[ended] = 0.0
        return scaled

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "mean": np.array(self.statistics.mean),
            "var": np.array(self.statistics.var),
            "count": np.array(self.statistics.count, dtype=np.float64),
            "returns": self.returns.copy(),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.statistics.mean = np.asarray(state["mean"], dtype=np.float64)
        self.statistics.var = np.asarray(state["var"], dtype=np.float64)
        self.statistics.count = float(np.asarray(state["count"]))
        self.returns[...] = np.asarray(state["returns"], dtype=np.float64)
