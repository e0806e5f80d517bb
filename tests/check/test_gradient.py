import numpy as np

from gradlogpi.check import compare_scores, finite_difference_score, likelihood_ratio_score
from gradlogpi.features import TableFeatures
from gradlogpi.policies import LinearSoftmaxPolicy


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
