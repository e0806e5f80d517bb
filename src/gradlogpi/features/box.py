"""Scaling of Box observations to the unit cube, the common input of the basis builders."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array
from gradlogpi.errors import ShapeError
from gradlogpi.features.base import StateFeatures


def box_bounds(space: Any, bounds: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Finite (low, high) of a `gymnasium.spaces.Box`, each shape [k].

    Args:
      space: a one-dimensional Box observation space.
      bounds: optional overrides, either an array of shape [k, 2] (rows (low, high)) or a
        dict {dimension: (low, high)}; needed wherever the space is unbounded (CartPole's
        velocities).

    Raises:
      TypeError: if space is not a Box; ShapeError: if it is not one-dimensional;
      ValueError: naming the first dimension that is still unbounded, or low >= high.
    """
    from gymnasium import spaces

    if not isinstance(space, spaces.Box):
        raise TypeError(f"`space` must be a gymnasium.spaces.Box; got {space!r}")
    if len(space.shape) != 1:
        raise ShapeError(f"`space` must be a one-dimensional Box; got shape {space.shape}")
    low = np.array(space.low, dtype=np.float64)
    high = np.array(space.high, dtype=np.float64)
    if bounds is not None:
        if isinstance(bounds, dict):
            items = bounds.items()
        else:
            array = as_float_array("bounds", bounds)
            if array.shape != (low.size, 2):
                raise ShapeError(
                    f"`bounds` must have shape [k, 2] = [{low.size}, 2]; got {array.shape}"
                )
            items = enumerate(array)  # type: ignore[assignment]
        for dimension, (lower, upper) in items:
            if not 0 <= int(dimension) < low.size:
                raise ValueError(f"`bounds` dimension must be in [0, {low.size}); got {dimension}")
            low[int(dimension)], high[int(dimension)] = lower, upper
    for dimension in range(low.size):
        if not (np.isfinite(low[dimension]) and np.isfinite(high[dimension])):
            raise ValueError(
                f"observation dimension {dimension} is unbounded (low={low[dimension]}, "
                f"high={high[dimension]}); pass `bounds` with finite limits for it, "
                f"e.g. bounds={{{dimension}: (-3.0, 3.0)}}"
            )
    return low, high


class BoxFeatures(StateFeatures):
    """Base of the builders over Box observations of shape [k], scaled to [0, 1]^k.

    Observations outside [low, high] are clipped to the nearest bound (documented choice:
    a cart a little past the track's end still gets the features of the end).

    Args:
      low: lower bounds, shape [k], finite.
      high: upper bounds, shape [k], finite, > low.
    """

    def __init__(self, low: Any, high: Any):
        low = as_float_array("low", low).reshape(-1)
        high = as_float_array("high", high).reshape(-1)
        if low.shape != high.shape:
            raise ShapeError(f"`high` must have the shape of `low` {low.shape}; got {high.shape}")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            dimension = int(np.flatnonzero(~(np.isfinite(low) & np.isfinite(high)))[0])
            raise ValueError(
                f"observation dimension {dimension} is unbounded (low={low[dimension]}, "
                f"high={high[dimension]}); give finite bounds"
            )
        if np.any(high <= low):
            dimension = int(np.flatnonzero(high <= low)[0])
            raise ValueError(
                f"`high` must exceed `low` in every dimension; got low={low[dimension]}, "
                f"high={high[dimension]} in dimension {dimension}"
            )
        self.low, self.high = low, high
        self.observation_shape = (low.size,)

    def scaled(self, obs: Any) -> np.ndarray:
        """Observations mapped to [0, 1]^k, clipped; shape [..., k]."""
        obs = self.checked(obs)
        return np.clip((obs - self.low) / (self.high - self.low), 0.0, 1.0)

    def checked(self, obs: Any) -> np.ndarray:
        """`obs` as float64 [..., k]; ShapeError or ValueError (non-finite) otherwise."""
        obs = as_float_array("obs", obs)
        self.batch_shape(obs)
        if not np.all(np.isfinite(obs)):
            raise ValueError(f"`obs` must be finite; got {obs[~np.isfinite(obs)].flat[0]}")
        return obs
