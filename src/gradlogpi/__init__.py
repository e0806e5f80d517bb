"""gradlogpi: exact score functions ∇θ log π(a|s) and the policy-gradient algorithms on them."""

from gradlogpi.algorithms import (
    ActorCriticConfig,
    ReinforceBaselineConfig,
    ReinforceConfig,
    actor_critic,
    reinforce,
    reinforce_baseline,
)
from gradlogpi.algorithms.on_policy.batch_pg import BatchPolicyGradientConfig, batch_policy_gradient
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
from gradlogpi.policies import (
    LinearGaussianPolicy,
    LinearSoftmaxPolicy,
    LinearValue,
    MatrixSoftmaxPolicy,
)

__version__ = "0.1.0"

__all__ = [
    "ActorCriticConfig",
    "BatchPolicyGradientConfig",
    "LinearGaussianPolicy",
    "LinearSoftmaxPolicy",
    "LinearValue",
    "MatrixSoftmaxPolicy",
    "ReinforceBaselineConfig",
    "ReinforceConfig",
    "__version__",
    "actor_critic",
    "batch_policy_gradient",
    "compare_scores",
    "discounted_returns",
    "linear_softmax_score",
    "log_softmax",
    "matrix_softmax_score",
    "policy_gradient_estimate",
    "reinforce",
    "reinforce_baseline",
    "reward_to_go",
    "softmax",
]
