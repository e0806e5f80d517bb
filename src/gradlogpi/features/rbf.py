"""Gaussian radial basis functions on a grid of centres."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array, check_positive_int
from gradlogpi.features.box import BoxFeatures, box_bounds


class RBF(BoxFeatures):
    """x_i(s) = exp(−½ Σ_j ((s_j − c_ij)/σ_j)²) for centres c_i on a grid over [0, 1]^k.

    Sutton & Barto 2018, eq. 9.19, with s scaled to [0, 1]^k. Each feature peaks at 1 at
    its centre and is symmetric about it.

    Args:
      low: lower observation bounds, shape [k].
      high: upper observation bounds, shape [k].
      centres_per_dim: grid points per dimension (>= 1), an int or one per dimension;
        centres at linspace(0, 1, n) (0.5 when n = 1).
      width: σ in scaled units, > 0, a number or one per dimension; default the grid
        spacing.

    Examples:
      >>> features = RBF([0.0], [1.0], centres_per_dim=3)
      >>> features(np.array([0.5])).round(4)
      array([0.6065, 1.    , 0.6065])
    """

    def __init__(self, low: Any, high: Any, centres_per_dim: Any = 5, width: Any = None):
        super().__init__(low, high)
        k = self.low.size
        counts = np.broadcast_to(np.asarray(centres_per_dim), (k,))
        for count in counts:
            check_positive_int(
                "centres_per_dim", int(count) if float(count) == int(count) else count
            )
        axes = [np.linspace(0, 1, int(n)) if n > 1 else np.array([0.5]) for n in counts]
        self.centres = np.array(list(itertools.product(*axes)), dtype=np.float64)
        if width is None:
            width = np.array([1.0 / (n - 1) if n > 1 else 1.0 for n in counts])
        width = np.broadcast_to(as_float_array("width", width), (k,)).copy()
        if np.any(~np.isfinite(width)) or np.any(width <= 0):
            raise ValueError(f"`width` must be finite and > 0; got {width}")
        self.width = width
        self.n_features = self.centres.shape[0]

    @classmethod
    def from_space(
        cls, space: Any, centres_per_dim: Any = 5, width: Any = None, *, bounds: Any = None
    ) -> RBF:
        low, high = box_bounds(space, bounds)
        return cls(low, high, centres_per_dim, width)

    def __call__(self, obs: Any) -> np.ndarray:
        distance = (self.scaled(obs)[..., None, :] - self.centres) / self.width
        return np.exp(-0.5 * (distance**2).sum(axis=-1))
