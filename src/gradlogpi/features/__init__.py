"""Feature builders: state features x(s) and state-action features φ(s,a)."""

from gradlogpi.features.base import (
    ActionBlock,
    OneHot,
    Stacked,
    StateActionFeatures,
    StateFeatures,
    TableFeatures,
)

__all__ = [
    "ActionBlock",
    "OneHot",
    "Stacked",
    "StateActionFeatures",
    "StateFeatures",
    "TableFeatures",
]
