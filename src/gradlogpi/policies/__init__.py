"""Policies: thin objects holding θ, each method a call into `gradlogpi.core`."""

from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy
from gradlogpi.policies.linear_softmax import LinearSoftmaxPolicy
from gradlogpi.policies.matrix_softmax import MatrixSoftmaxPolicy
from gradlogpi.policies.softmax_base import SoftmaxPolicy, sample_from_probabilities
from gradlogpi.policies.value import LinearValue

__all__ = [
    "LinearGaussianPolicy",
    "LinearSoftmaxPolicy",
    "LinearValue",
    "MatrixSoftmaxPolicy",
    "SoftmaxPolicy",
    "sample_from_probabilities",
]
