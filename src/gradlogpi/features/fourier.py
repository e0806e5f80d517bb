"""Fourier basis (Konidaris, Osentoski & Thomas 2011): coupled cosines of the scaled state."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradlogpi.core._checks import check_positive_int
from gradlogpi.features.box import BoxFeatures, box_bounds


class Fourier(BoxFeatures):
    """x_c(s) = cos(π c·s) for every c ∈ {0, …, n}^k, with s scaled to [0, 1]^k.

    (n + 1)^k features (Sutton & Barto 2018, eq. 9.18). c = 0 gives the constant 1.

    Args:
      low: lower observation bounds, shape [k].
      high: upper observation bounds, shape [k].
      order: n >= 0.

    Examples:
      >>> features = Fourier([0.0], [1.0], order=2)
      >>> features(np.array([[0.0], [0.5], [1.0]])).round(12) + 0.0
      array([[ 1.,  1.,  1.],
             [ 1.,  0., -1.],
             [ 1., -1.,  1.]])
    """

    def __init__(self, low: Any, high: Any, order: int):
        super().__init__(low, high)
        self.order = check_positive_int("order", order, allow_zero=True)
        self.coefficients = np.array(
            list(itertools.product(range(self.order + 1), repeat=self.low.size)), dtype=np.float64
        )
        self.n_features = self.coefficients.shape[0]

    @classmethod
    def from_space(cls, space: Any, order: int, *, bounds: Any = None) -> Fourier:
        low, high = box_bounds(space, bounds)
        return cls(low, high, order)

    def __call__(self, obs: Any) -> np.ndarray:
        return np.cos(np.pi * (self.scaled(obs) @ self.coefficients.T))
