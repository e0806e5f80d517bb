import numpy as np
import pytest

from gradlogpi.check import compare_scores, finite_difference_score, likelihood_ratio_score
from gradlogpi.features import RawState, TableFeatures
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy


class WrongScore(LinearSoftmaxPolicy):
    """φ(s,a) without the baseline: the classic mistake the check must catch."""

    def score(self, obs, a):
        return self.features(obs)[..., a, :]


def test_likelihood_ratio_equals_score():
    # seed 000 comment: ∇π/π = ∇ log π, with π differentiated numerically
    policy = LinearSoftmaxPolicy(
        TableFeatures(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])),
        np.array([0.0, 0.0, np.log(3 / 7)]),
    )
    np.testing.assert_allclose(likelihood_ratio_score(policy, 0, 0), [0, 0, -0.3], atol=1e-9)
    np.testing.assert_allclose(likelihood_ratio_score(policy, 0, 1), [0, 0, 0.7], atol=1e-9)


def test_check_catches_a_wrong_score(rng):
    policy = WrongScore(TableFeatures(rng.normal(size=(3, 4))), rng.normal(size=4))
    check = compare_scores(policy, 0, 1)
    assert not check.passed()
    assert check.max_abs_error > 0.01


def test_finite_differences_restore_parameters(rng):
    policy = LinearSoftmaxPolicy(TableFeatures(rng.normal(size=(3, 4))), rng.normal(size=4))
    before = policy.get_flat()
    finite_difference_score(policy, 0, 2)
    np.testing.assert_array_equal(policy.get_flat(), before)


def test_large_parameter_vectors_are_subsampled(rng):
    table = np.zeros((2, 3000))
    table[0, :5] = rng.normal(size=5)
    table[1, 2000:2005] = rng.normal(size=5)
    policy = LinearSoftmaxPolicy(TableFeatures(table), rng.normal(size=3000) * 0.1)
    check = compare_scores(policy, 0, 1, max_parameters=50)
    assert check.blocks["theta"].n_checked == 50
    assert check.passed()


class WrongLastBlock(MatrixSoftmaxPolicy):
    """The score with its last block (the bias b) off by one: an error the check must
    find even when the score is dense and longer than it perturbs."""

    def score(self, obs, a):
        score = super().score(obs, a).copy()
        score[..., self.parameter_blocks()["b"]] += 1.0
        return score


def test_a_dense_score_is_checked_in_every_block(rng):
    """A dense score longer than `max_parameters` (a network's) is sampled block by block:
    the first block alone would fill the budget and leave the last ones unchecked."""
    policy = WrongLastBlock(RawState(600), 3).init(rng, scale=0.1)  # W: 1800 values, b: 3
    obs = rng.normal(size=(2, 600))
    check = compare_scores(policy, obs, np.array([0, 2]), max_parameters=200)
    assert set(check.blocks) == {"W", "b"}
    assert check.blocks["b"].n_checked == 3
    assert check.blocks["W"].n_checked + check.blocks["b"].n_checked == 200
    assert check.blocks["b"].max_abs_error == pytest.approx(1.0, abs=1e-6)
    assert not check.passed()
