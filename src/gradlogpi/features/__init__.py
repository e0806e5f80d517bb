"""Feature builders: state features x(s) and state-action features φ(s,a).

State-feature builders (x(s), shape [..., k]): `OneHot` (tabular), `Polynomial`,
`Fourier`, `RBF`, `TileCoder` (sparse). Turn one into φ(s,a) with `ActionBlock`
(onehot(a) ⊗ [x, 1], the matrix bridge) or `Stacked` ([x, a], the seed's form), or give
φ per state directly with `TableFeatures`.
"""

from gradlogpi.features.base import (
    ActionBlock,
    Constant,
    OneHot,
    RawState,
    Stacked,
    StateActionFeatures,
    StateFeatures,
    TableFeatures,
)
from gradlogpi.features.box import BoxFeatures, box_bounds
from gradlogpi.features.fourier import Fourier
from gradlogpi.features.polynomial import Polynomial, monomial_exponents
from gradlogpi.features.rbf import RBF
from gradlogpi.features.tiles import TileCoder

__all__ = [
    "RBF",
    "ActionBlock",
    "BoxFeatures",
    "Constant",
    "Fourier",
    "OneHot",
    "Polynomial",
    "RawState",
    "Stacked",
    "StateActionFeatures",
    "StateFeatures",
    "TableFeatures",
    "TileCoder",
    "box_bounds",
    "monomial_exponents",
]
