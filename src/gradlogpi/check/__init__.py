"""Gradient checks: closed-form scores against finite differences (and autodiff)."""

from gradlogpi.check.gradient import (
    BlockError,
    GradientCheck,
    compare_scores,
    finite_difference,
    finite_difference_score,
    likelihood_ratio_score,
)

__all__ = [
    "BlockError",
    "GradientCheck",
    "compare_scores",
    "finite_difference",
    "finite_difference_score",
    "likelihood_ratio_score",
]
