import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlogpi.core import (
    discounted_returns,
    normalized,
    policy_gradient_estimate,
    reward_to_go,
)
from gradlogpi.errors import ShapeError


def looped_returns(rewards, gamma):
    return np.array(
        [sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards))]
    )


@given(st.lists(st.floats(-10, 10), min_size=1, max_size=20), st.floats(0, 1))
def test_backward_recursion_equals_definition(rewards, gamma):
    rewards = np.array(rewards)
    np.testing.assert_allclose(
        discounted_returns(rewards, gamma), looped_returns(rewards, gamma), atol=1e-9
    )


def test_batched_with_lengths_equals_each_episode(rng):
    lengths = np.array([5, 2, 0, 7])
    rewards = rng.normal(size=(4, 7))
    batched = discounted_returns(rewards, 0.9, lengths=lengths)
    for i, length in enumerate(lengths):
        np.testing.assert_allclose(batched[i, :length], looped_returns(rewards[i, :length], 0.9))
        assert np.all(batched[i, length:] == 0)
    mask = np.arange(7) < lengths[:, None]
    np.testing.assert_array_equal(discounted_returns(rewards, 0.9, mask=mask), batched)


def test_reward_to_go_is_undiscounted_return(rng):
    rewards = rng.normal(size=(3, 6))
    np.testing.assert_allclose(reward_to_go(rewards), discounted_returns(rewards, 1.0), atol=1e-12)


def test_policy_gradient_estimate_weights(rng):
    scores = rng.normal(size=(4, 3))
    returns = rng.normal(size=4)
    expected = sum(0.9**t * returns[t] * scores[t] for t in range(4))
    np.testing.assert_allclose(policy_gradient_estimate(scores, returns, 0.9), expected)
    without = sum(returns[t] * scores[t] for t in range(4))
    np.testing.assert_allclose(
        policy_gradient_estimate(scores, returns, 0.9, discount_weighting=False), without
    )
    masked = policy_gradient_estimate(scores, returns, 0.9, lengths=np.array(2))
    np.testing.assert_allclose(masked, returns[0] * scores[0] + 0.9 * returns[1] * scores[1])


def test_normalized_constant_batch_is_zero_not_nan():
    np.testing.assert_array_equal(normalized(np.full(5, -3.0)), np.zeros(5))
    np.testing.assert_array_equal(normalized(np.array([7.0])), np.zeros(1))
    values = normalized(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose([values.mean(), values.std()], [0.0, 1.0], atol=1e-12)


def test_gamma_out_of_range_named():
    with pytest.raises(ValueError, match=re.escape("`gamma` must be in [0.0, 1.0]; got 1.5")):
        discounted_returns(np.ones(3), 1.5)
    with pytest.raises(ValueError, match=re.escape("`gamma` must be a finite number; got nan")):
        discounted_returns(np.ones(3), float("nan"))


def test_lengths_shape_and_range_named():
    with pytest.raises(ShapeError, match=re.escape("`lengths` must have shape (2,)")):
        discounted_returns(np.ones((2, 3)), 1.0, lengths=np.array([1, 2, 3]))
    with pytest.raises(
        ValueError, match=re.escape("`lengths` must be in [0, T=3]; got values from 1 to 4")
    ):
        discounted_returns(np.ones((2, 3)), 1.0, lengths=np.array([1, 4]))
