import re

import numpy as np
import pytest

from gradlogpi.check import compare_scores, finite_difference
from gradlogpi.errors import ShapeError
from gradlogpi.features import Polynomial, RawState
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy, bounded_log_std


@pytest.mark.parametrize("state_dependent_std", [False, True])
def test_gradient_check(rng, state_dependent_std):
    policy = LinearGaussianPolicy(
        Polynomial([0, 0], [1, 1], 2), 2, state_dependent_std=state_dependent_std
    )
    policy.set_flat(rng.normal(size=policy.n_parameters) * 0.2)
    obs, a = rng.random((4, 2)), rng.normal(size=(4, 2))
    check = compare_scores(policy, obs, a, epsilon=1e-5)
    assert check.passed(rtol=1e-6, atol=1e-7), check
    assert set(check.blocks) == {"W_mean", "b_mean", "log_std"}


def test_mean_score_is_book_formula(rng):
    # Sutton & Barto eq. 13.20: ∇ ln π = (a − μ)/σ² x(s) for the mean's parameters
    policy = LinearGaussianPolicy(RawState(3), 1, log_std0=np.log(0.5), learn_std=False)
    policy.set_flat(rng.normal(size=policy.n_parameters))
    x, a = rng.normal(size=3), rng.normal(size=1)
    mean = policy.mean(x)
    expected = (a - mean) / 0.25 * np.append(x, 1.0)
    np.testing.assert_allclose(policy.score(x, a), expected, rtol=1e-12)


def test_log_std_stays_bounded_for_any_parameter():
    log_std, slope = bounded_log_std(np.array([-1e6, 0.0, 1e6]), -5.0, 2.0)
    np.testing.assert_allclose(log_std, [-5.0, -1.5, 2.0])
    assert np.all(np.isfinite(slope)) and np.all(slope >= 0)
    policy = LinearGaussianPolicy(RawState(1), 1, theta0=[0.0, 0.0, -1e9])
    assert policy.log_std(np.zeros(1))[0] == pytest.approx(-5.0)


def test_entropy_gradient_matches_finite_differences(rng):
    policy = LinearGaussianPolicy(RawState(2), 2, state_dependent_std=True)
    policy.set_flat(rng.normal(size=policy.n_parameters) * 0.3)
    obs = rng.normal(size=(5, 2))
    numeric = finite_difference(policy, lambda: policy.entropy(obs))
    np.testing.assert_allclose(policy.entropy_gradient(obs), numeric, atol=1e-8)


def test_sampling_matches_mean_and_std(rng):
    policy = LinearGaussianPolicy(
        RawState(1), 1, log_std0=np.log(0.5), learn_std=False, theta0=[2.0, 1.0]
    )
    samples = policy.sample_from_uniforms(np.full((40000, 1), 1.0), rng.random((40000, 2)))
    # mean 3, std 0.5: standard errors 0.0025 and about 0.0018
    assert samples.mean() == pytest.approx(3.0, abs=0.01)
    assert samples.std() == pytest.approx(0.5, abs=0.008)


def test_bad_action_shape_named():
    policy = LinearGaussianPolicy(RawState(2), 2)
    with pytest.raises(
        ShapeError, match=re.escape("`a` must have shape (3, 2) ([..., m] with m=2); got (3,)")
    ):
        policy.score(np.zeros((3, 2)), np.zeros(3))


def test_log_std0_outside_bounds_named():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`log_std0` must lie strictly between min_log_std=-5.0 and max_log_std=2.0; got 3.0"
        ),
    ):
        LinearGaussianPolicy(RawState(1), 1, log_std0=3.0)
