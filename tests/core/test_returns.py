import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlogpi.core import (
    discounted_returns,
    generalized_advantages,
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


def gae_reference(rewards, values, next_values, terminated, ended, gamma, lambda_):
    """Schulman et al. (2016) written out: A_t = Σ_k (γλ)^k δ_{t+k} up to the episode's end."""
    n_steps = len(rewards)
    deltas = [
        rewards[t] + gamma * (0.0 if terminated[t] else next_values[t]) - values[t]
        for t in range(n_steps)
    ]
    advantages = []
    for t in range(n_steps):
        total, weight = 0.0, 1.0
        for k in range(t, n_steps):
            total += weight * deltas[k]
            if ended[k]:
                break
            weight *= gamma * lambda_
        advantages.append(total)
    return np.array(advantages)


@st.composite
def fragments(draw):
    n_steps = draw(st.integers(1, 12))
    floats = st.floats(-5, 5, allow_nan=False)
    rewards = np.array(draw(st.lists(floats, min_size=n_steps, max_size=n_steps)))
    values = np.array(draw(st.lists(floats, min_size=n_steps, max_size=n_steps)))
    next_values = np.array(draw(st.lists(floats, min_size=n_steps, max_size=n_steps)))
    terminated = np.array(draw(st.lists(st.booleans(), min_size=n_steps, max_size=n_steps)))
    cut = np.array(draw(st.lists(st.booleans(), min_size=n_steps, max_size=n_steps)))
    ended = terminated | cut
    ended[-1] = True  # a fragment's last step: nothing after it is known
    gamma, lambda_ = draw(st.floats(0, 1)), draw(st.floats(0, 1))
    return rewards, values, next_values, terminated, ended, gamma, lambda_


@given(fragments())
def test_gae_equals_the_written_out_sum(fragment):
    np.testing.assert_allclose(
        generalized_advantages(*fragment), gae_reference(*fragment), rtol=1e-10, atol=1e-10
    )


def test_gae_with_lambda_one_is_the_return_minus_the_baseline(rng):
    rewards, values = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    next_values = np.concatenate([values[:, 1:], np.zeros((3, 1))], axis=1)
    terminated = np.zeros((3, 7), dtype=bool)
    terminated[:, -1] = True
    advantages = generalized_advantages(
        rewards, values, next_values, terminated, terminated, 0.95, 1.0
    )
    np.testing.assert_allclose(advantages, discounted_returns(rewards, 0.95) - values, atol=1e-12)


def test_gae_with_lambda_zero_is_the_td_error_and_a_cut_bootstraps(rng):
    rewards, values, next_values = rng.normal(size=(3, 5))
    terminated = np.array([False, False, True, False, False])
    ended = np.array([False, False, True, False, True])  # terminated at 2, cut at the end
    advantages = generalized_advantages(rewards, values, next_values, terminated, ended, 0.9, 0.0)
    expected = rewards + 0.9 * np.where(terminated, 0.0, next_values) - values
    np.testing.assert_allclose(advantages, expected, atol=1e-12)
    # the step that terminated gets no bootstrap; the cut one does
    assert advantages[2] == pytest.approx(rewards[2] - values[2])
    assert advantages[4] == pytest.approx(rewards[4] + 0.9 * next_values[4] - values[4])


def test_gae_never_reaches_across_an_episode_end():
    rewards = np.array([0.0, 0.0, 10.0])
    ended = np.array([False, True, True])  # episode 1: steps 0-1; episode 2: step 2
    advantages = generalized_advantages(rewards, np.zeros(3), np.zeros(3), ended, ended, 1.0, 1.0)
    np.testing.assert_array_equal(advantages, [0.0, 0.0, 10.0])
