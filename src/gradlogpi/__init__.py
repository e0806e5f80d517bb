"""gradlogpi: exact score functions ∇θ log π(a|s) and the policy-gradient algorithms on them."""

from gradlogpi.check import compare_scores
from gradlogpi.core import (
    discounted_returns,
    linear_softmax_score,
    log_softmax,
    matrix_softmax_score,
    policy_gradient_estimate,
    reward_to_go,
    softmax,
)
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy

__version__ = "0.1.0"

__all__ = [
    "LinearSoftmaxPolicy",
    "MatrixSoftmaxPolicy",
    "__version__",
    "compare_scores",
    "discounted_returns",
    "linear_softmax_score",
    "log_softmax",
    "matrix_softmax_score",
    "policy_gradient_estimate",
    "reward_to_go",
    "softmax",
]
