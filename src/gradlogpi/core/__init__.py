"""Pure NumPy math of policy gradients: softmax, scores, returns. No state, no I/O."""

from gradlogpi.core.returns import (
    discount_powers,
    discounted_returns,
    normalized,
    policy_gradient_estimate,
    reward_to_go,
    step_mask,
)
from gradlogpi.core.scores import (
    action_block_features,
    expected_features,
    gaussian_log_prob,
    gaussian_score,
    linear_preferences,
    linear_softmax_score,
    matrix_logits,
    matrix_softmax_score,
    matrix_to_theta,
    theta_to_matrix,
)
from gradlogpi.core.softmax import (
    gumbel_max_sample,
    log_softmax,
    log_softmax_gradient,
    one_hot,
    softmax,
    softmax_entropy,
    softmax_entropy_gradient,
)

__all__ = [
    "action_block_features",
    "discount_powers",
    "discounted_returns",
    "expected_features",
    "gaussian_log_prob",
    "gaussian_score",
    "gumbel_max_sample",
    "linear_preferences",
    "linear_softmax_score",
    "log_softmax",
    "log_softmax_gradient",
    "matrix_logits",
    "matrix_softmax_score",
    "matrix_to_theta",
    "normalized",
    "one_hot",
    "policy_gradient_estimate",
    "reward_to_go",
    "softmax",
    "softmax_entropy",
    "softmax_entropy_gradient",
    "step_mask",
    "theta_to_matrix",
]
