"""The policy-gradient theorem, checked numerically on the short corridor."""

import numpy as np
import pytest

from gradlogpi.core import discounted_returns, policy_gradient_estimate
from gradlogpi.envs import short_corridor_features, short_corridor_value, theta_for_p_right
from gradlogpi.policies import LinearSoftmaxPolicy, with_run_axis
from gradlogpi.rollouts import Runs, generate_episode, make_env
from gradlogpi.rollouts.episodes import policy_streams


def exact_gradient(theta):
    """∇θ v(S0) by the policy-gradient theorem on the corridor's model (gradlogpi.exact)."""
    import gymnasium as gym

    from gradlogpi import exact

    model = exact.model_of_env(gym.make("gradlogpi/ShortCorridor-v0"), gamma=1.0)
    policy = LinearSoftmaxPolicy(short_corridor_features(), theta)
    return exact.exact_gradient(policy, model).gradient


def test_the_theorem_matches_the_closed_form_value_of_example_13_1():
    theta = theta_for_p_right(0.3)
    p = 0.3
    epsilon = 1e-6
    slope = (short_corridor_value(p + epsilon) - short_corridor_value(p - epsilon)) / (2 * epsilon)
    np.testing.assert_allclose(
        exact_gradient(theta), slope * p * (1 - p) * np.array([1.0, -1.0]), rtol=1e-6
    )


@pytest.mark.parametrize("p_right", [0.3, 0.6, 0.8])
def test_mean_reinforce_estimate_equals_exact_gradient(p_right):
    theta = theta_for_p_right(p_right)
    n_episodes = 6000
    policy = with_run_axis(LinearSoftmaxPolicy(short_corridor_features(), theta), n_episodes)
    runs = Runs(
        make_env("gradlogpi/ShortCorridor-v0"), policy_streams(1, range(n_episodes), policy), None
    )
    batch = generate_episode(runs, policy)
    returns = discounted_returns(batch.rewards, 1.0, lengths=batch.lengths)
    scores = policy.score(batch.observations[:, :-1], batch.actions)  # [N, T, d], θ fixed
    estimates = policy_gradient_estimate(scores, returns, 1.0, lengths=batch.lengths)  # [N, d]
    mean = estimates.mean(axis=0)
    standard_error = estimates.std(axis=0, ddof=1) / np.sqrt(n_episodes)
    expected = exact_gradient(theta)
    # the estimator is unbiased: within 4 standard errors (a false alarm about 1 in 16,000)
    assert np.all(np.abs(mean - expected) <= 4 * standard_error), (mean, expected, standard_error)
    # and not trivially: the exact gradient is far from 0 except near p*
    if abs(p_right - 0.586) > 0.1:
        assert np.abs(expected[0]) > 10 * standard_error[0]
