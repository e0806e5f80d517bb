import re

import numpy as np
import pytest

from gradlogpi.check import compare_scores
from gradlogpi.errors import ShapeError
from gradlogpi.features import ActionBlock, OneHot, TableFeatures
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy


class DenseStates:
    """A dense x(s) = s for Box observations of shape [k] (test helper)."""

    sparse = False

    def __init__(self, k):
        self.n_features = k
        self.observation_shape = (k,)

    def __call__(self, obs):
        return np.asarray(obs, dtype=np.float64)


def test_seed_policy_probabilities_and_scores():
    features = TableFeatures(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    policy = LinearSoftmaxPolicy(features, theta0=np.array([0.0, 0.0, np.log(3 / 7)]))
    np.testing.assert_allclose(policy.probabilities(0), [0.7, 0.3], rtol=1e-12)
    np.testing.assert_allclose(policy.score(0, 0), [0, 0, -0.3], atol=1e-15)
    np.testing.assert_allclose(policy.score(0, 1), [0, 0, 0.7], atol=1e-15)
    np.testing.assert_allclose(policy.expected_features(0), [1, 1, 0.3], atol=1e-15)


@pytest.mark.parametrize("sparse", [False, True])
def test_matrix_and_linear_policies_agree(rng, sparse):
    state_features = OneHot(6) if sparse else DenseStates(3)
    obs = np.array([0, 5, 2, 2]) if sparse else rng.normal(size=(4, 3))
    matrix = MatrixSoftmaxPolicy(state_features, 3).init(rng, scale=0.7)
    linear = LinearSoftmaxPolicy(ActionBlock(state_features, 3), theta0=matrix.get_flat())
    a = np.array([0, 2, 1, 2])
    np.testing.assert_allclose(matrix.probabilities(obs), linear.probabilities(obs), rtol=1e-13)
    np.testing.assert_allclose(matrix.score(obs, a), linear.score(obs, a), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(matrix.log_prob(obs, a), linear.log_prob(obs, a), rtol=1e-13)
    matrix.ascend(obs, a, 0.3)
    linear.ascend(obs, a, 0.3)
    np.testing.assert_allclose(matrix.get_flat(), linear.get_flat(), rtol=1e-13, atol=1e-15)


def test_matrix_views_and_blocks(rng):
    policy = MatrixSoftmaxPolicy(
        DenseStates(2), 3, weights0=rng.normal(size=(3, 2)), bias0=[1.0, 2.0, 3.0]
    )
    np.testing.assert_array_equal(policy.bias, [1.0, 2.0, 3.0])
    flat = policy.get_flat()
    np.testing.assert_array_equal(flat[policy.parameter_blocks()["b"]], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(flat[policy.parameter_blocks()["W"]], policy.weights.ravel())


@pytest.mark.parametrize("kind", ["linear", "matrix"])
def test_gradient_check_passes(rng, kind):
    if kind == "linear":
        policy = LinearSoftmaxPolicy(TableFeatures(rng.normal(size=(4, 3, 5))), rng.normal(size=5))
        obs = np.array([0, 3, 1])
    else:
        policy = MatrixSoftmaxPolicy(DenseStates(4), 3).init(rng, scale=1.0)
        obs = rng.normal(size=(3, 4))
    check = compare_scores(policy, obs, np.array([2, 0, 1]))
    assert check.passed(rtol=1e-6)
    assert check.max_rel_error < 1e-6


def test_sample_frequencies_match_probabilities(rng):
    policy = MatrixSoftmaxPolicy(DenseStates(1), 3, bias0=np.log([0.2, 0.5, 0.3]))
    actions = policy.sample(np.ones((20000, 1)), rng)
    frequencies = np.bincount(actions, minlength=3) / actions.size
    # 4 standard errors of a proportion near 0.5 with n = 20000 is 0.014
    np.testing.assert_allclose(frequencies, [0.2, 0.5, 0.3], atol=0.014)


def test_same_seed_same_samples():
    policy = MatrixSoftmaxPolicy(DenseStates(2), 4).init(np.random.default_rng(3), scale=1.0)
    obs = np.ones((50, 2))
    first = policy.sample(obs, np.random.default_rng(7))
    second = policy.sample(obs, np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)


def test_run_axis_ascend_matches_separate_runs(rng):
    features = TableFeatures(rng.normal(size=(3, 2, 4)))
    batched = LinearSoftmaxPolicy(features, theta0=rng.normal(size=(5, 4)))
    singles = [LinearSoftmaxPolicy(features, theta0=batched.theta[r]) for r in range(5)]
    obs, a, step = np.array([0, 1, 2, 0, 1]), np.array([1, 0, 1, 1, 0]), np.arange(5.0)
    batched.ascend(obs, a, step)
    for r, single in enumerate(singles):
        single.ascend(obs[r], a[r], step[r])
        np.testing.assert_allclose(batched.theta[r], single.theta, rtol=1e-14)


def test_flat_parameters_round_trip_and_shape_error():
    policy = LinearSoftmaxPolicy(TableFeatures(np.eye(2)))
    policy.set_flat([1.0, 2.0])
    np.testing.assert_array_equal(policy.get_flat(), [1.0, 2.0])
    with pytest.raises(
        ShapeError, match=re.escape("`theta` must have shape [P] or [R, P] with P=2; got (3,)")
    ):
        policy.set_flat(np.zeros(3))


def test_entropy_uniform():
    policy = LinearSoftmaxPolicy(TableFeatures(np.eye(4)))
    np.testing.assert_allclose(policy.entropy(0), np.log(4))


def test_the_sparse_ascent_equals_the_core_score(rng):
    """The sparse branch of `ascend` (tile coding, one-hot) is a fast path of core's score."""
    from gradlogpi.core.scores import linear_softmax_score

    policy = LinearSoftmaxPolicy(ActionBlock(OneHot(6), 3)).init(rng, scale=0.5)
    assert policy.active_indices(np.array([0])) is not None  # the sparse branch is taken
    obs, a = np.array([0, 5, 2, 2, 4]), np.array([0, 2, 1, 2, 1])
    step = rng.normal(size=5)
    phi = policy.features(obs)  # dense φ(s, ·), [N, A, d]
    expected = policy.theta + (step[:, None] * linear_softmax_score(policy.theta, phi, a)).sum(0)
    policy.ascend(obs, a, step)
    np.testing.assert_allclose(policy.theta, expected, rtol=1e-13, atol=1e-15)
