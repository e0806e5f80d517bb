"""Policies: thin objects holding θ, each method a call into `gradlogpi.core`.

`gradlogpi.policies.contract` writes down what algorithms may ask of them.
"""

from gradlogpi.policies.contract import (
    ArrayPolicy,
    DiscretePolicy,
    GaussianPolicy,
    NetworkPolicy,
    NetworkValueFunction,
    Policy,
    TorchTrainedPolicy,
    ValueFunction,
    of_run,
    with_run_axis,
)
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy
from gradlogpi.policies.linear_softmax import LinearSoftmaxPolicy
from gradlogpi.policies.matrix_softmax import MatrixSoftmaxPolicy
from gradlogpi.policies.softmax_base import SoftmaxPolicy, sample_from_probabilities
from gradlogpi.policies.value import LinearValue

__all__ = [
    "ArrayPolicy",
    "DiscretePolicy",
    "GaussianPolicy",
    "LinearGaussianPolicy",
    "LinearSoftmaxPolicy",
    "LinearValue",
    "MatrixSoftmaxPolicy",
    "NetworkPolicy",
    "NetworkValueFunction",
    "Policy",
    "SoftmaxPolicy",
    "TorchTrainedPolicy",
    "ValueFunction",
    "of_run",
    "sample_from_probabilities",
    "with_run_axis",
]
