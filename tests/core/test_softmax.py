import re

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradlogpi.core import log_softmax, log_softmax_gradient, softmax, softmax_entropy
from gradlogpi.errors import ShapeError


def test_seed_000_network_outputs():
    # seed 000: outputs (14, 15, 11, 17) become (.042, .114, .002, .842)
    np.testing.assert_array_equal(
        softmax(np.array([14.0, 15.0, 11.0, 17.0])).round(3), [0.042, 0.114, 0.002, 0.842]
    )


@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(1, 6)),
        elements=st.floats(-1e4, 1e4, allow_nan=False),
    )
)
def test_large_logits_stay_finite_and_normalised(logits):
    probabilities = softmax(logits)
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    log_probabilities = log_softmax(logits)
    assert np.all(np.isfinite(log_probabilities))
    np.testing.assert_allclose(
        log_probabilities, scipy.special.log_softmax(logits, axis=-1), atol=1e-9
    )
    entropy = softmax_entropy(logits)
    assert np.all(np.isfinite(entropy))
    assert np.all(entropy >= -1e-12)
    assert np.all(entropy <= np.log(logits.shape[-1]) + 1e-12)


def test_underflowing_probability_keeps_finite_log_and_entropy():
    logits = np.array([1e4, -1e4, 0.0])
    assert softmax(logits)[1] == 0.0
    np.testing.assert_allclose(log_softmax(logits), [0.0, -2e4, -1e4])
    assert softmax_entropy(logits) == 0.0


def test_entropy_matches_scipy(rng):
    logits = rng.normal(size=(5, 4)) * 3
    expected = scipy.special.entr(scipy.special.softmax(logits, axis=-1)).sum(-1)
    np.testing.assert_allclose(softmax_entropy(logits), expected, rtol=1e-12)


def test_log_softmax_gradient_is_one_minus_softmax_on_the_diagonal(rng):
    # seed 001: "1 − softmax if i = j, −softmax otherwise"
    logits = rng.normal(size=4)
    probabilities = softmax(logits)
    for a in range(4):
        expected = np.where(np.arange(4) == a, 1 - probabilities, -probabilities)
        np.testing.assert_allclose(log_softmax_gradient(logits, a), expected, rtol=1e-14)


def test_log_softmax_gradient_against_finite_differences(rng):
    logits = rng.normal(size=(3, 5))
    actions = np.array([0, 4, 2])
    epsilon = 1e-6
    numeric = np.zeros_like(logits)
    for i in range(5):
        shift = np.zeros(5)
        shift[i] = epsilon
        upper = np.take_along_axis(log_softmax(logits + shift), actions[:, None], -1)[:, 0]
        lower = np.take_along_axis(log_softmax(logits - shift), actions[:, None], -1)[:, 0]
        numeric[:, i] = (upper - lower) / (2 * epsilon)
    np.testing.assert_allclose(log_softmax_gradient(logits, actions), numeric, rtol=1e-6, atol=1e-9)


def test_scalar_logits_rejected():
    with pytest.raises(ShapeError, match=re.escape("`logits` must have shape [..., A]; got ()")):
        softmax(np.float64(1.0))


def test_action_out_of_range_named():
    with pytest.raises(ValueError, match=re.escape("`a` must be in [0, 2) (n_actions=2); got 2")):
        log_softmax_gradient(np.zeros(2), 2)


def test_action_batch_mismatch_named():
    message = "`a` must have shape (3,) (the batch shape of `logits`); got (2,)"
    with pytest.raises(ShapeError, match=re.escape(message)):
        log_softmax_gradient(np.zeros((3, 2)), np.array([0, 1]))


@pytest.mark.parametrize("n_actions", [1, 2, 4, 7, 8, 13])
@pytest.mark.parametrize("rows", [3, 5000])
def test_column_reductions_give_numpys_bits(n_actions, rows):
    from gradlogpi.core.softmax import last_axis_max, last_axis_sum

    x = np.random.default_rng(n_actions).standard_normal((rows, n_actions)) * 30
    np.testing.assert_array_equal(last_axis_max(x), x.max(axis=-1, keepdims=True))
    np.testing.assert_array_equal(last_axis_sum(x), x.sum(axis=-1, keepdims=True))
    many = x.reshape(rows, 1, n_actions)  # extra batch axes
    np.testing.assert_array_equal(last_axis_sum(many), many.sum(axis=-1, keepdims=True))
