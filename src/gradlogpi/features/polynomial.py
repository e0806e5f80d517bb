"""Polynomial basis: monomials of the scaled state up to a given degree."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradlogpi.core._checks import check_positive_int
from gradlogpi.features.box import BoxFeatures, box_bounds


def monomial_exponents(n_dims: int, degree: int, interactions: bool) -> np.ndarray:
    """Exponent vectors, shape [n_features, k], ordered by total degree.

    With interactions: every e ∈ ℕ^k with Σ e ≤ degree, C(k + degree, degree) of them.
    Without: the constant and s_j^p for p = 1..degree, 1 + k·degree of them.
    """
    if interactions:
        exponents = [
            e for e in itertools.product(range(degree + 1), repeat=n_dims) if sum(e) <= degree
        ]
        exponents.sort(key=lambda e: (sum(e), tuple(-v for v in e)))
        return np.array(exponents, dtype=np.int64).reshape(-1, n_dims)
    rows = [np.zeros(n_dims, dtype=np.int64)]
    for power in range(1, degree + 1):
        for dimension in range(n_dims):
            row = np.zeros(n_dims, dtype=np.int64)
            row[dimension] = power
            rows.append(row)
    return np.array(rows)


class Polynomial(BoxFeatures):
    """x(s) = (Π_j s_j^{e_j})_e over exponent vectors e, for s scaled to [0, 1]^k.

    Args:
      low: lower observation bounds, shape [k] (see `BoxFeatures`).
      high: upper observation bounds, shape [k].
      degree: highest total degree n >= 0.
      interactions: include cross terms like s_0 s_1 (default) or only powers of each s_j.

    Examples:
      >>> features = Polynomial([0.0, 0.0], [1.0, 1.0], degree=2)
      >>> features.n_features
      6
      >>> features(np.array([0.5, 0.25]))
      array([1.    , 0.5   , 0.25  , 0.25  , 0.125 , 0.0625])
    """

    def __init__(self, low: Any, high: Any, degree: int, *, interactions: bool = True):
        super().__init__(low, high)
        self.degree = check_positive_int("degree", degree, allow_zero=True)
        self.interactions = interactions
        self.exponents = monomial_exponents(self.low.size, self.degree, interactions)
        self.n_features = self.exponents.shape[0]

    @classmethod
    def from_space(
        cls, space: Any, degree: int, *, bounds: Any = None, interactions: bool = True
    ) -> Polynomial:
        low, high = box_bounds(space, bounds)
        return cls(low, high, degree, interactions=interactions)

    def __call__(self, obs: Any) -> np.ndarray:
        s = self.scaled(obs)
        return np.prod(s[..., None, :] ** self.exponents, axis=-1)
