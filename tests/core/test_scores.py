import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlogpi.core import (
    action_block_features,
    expected_features,
    gaussian_log_prob,
    gaussian_score,
    linear_preferences,
    linear_softmax_score,
    log_softmax,
    matrix_logits,
    matrix_softmax_score,
    matrix_to_theta,
    softmax,
    theta_to_matrix,
)
from gradlogpi.errors import ShapeError

SEED_PHI = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])  # s = (1, 1) stacked with a
SEED_THETA = np.array([0.0, 0.0, np.log(0.3 / 0.7)])  # gives π = (0.7, 0.3)


def linear_log_prob(theta, phi, a):
    return np.take_along_axis(
        log_softmax(linear_preferences(theta, phi)), np.asarray(a)[..., None], -1
    )[..., 0]


def central_differences(function, theta, epsilon=1e-6):
    columns = []
    for i in range(theta.shape[-1]):
        step = np.zeros_like(theta)
        step[..., i] = epsilon
        columns.append((function(theta + step) - function(theta - step)) / (2 * epsilon))
    return np.stack(columns, axis=-1)


def test_seed_000_answer_score_for_a0_and_a1():
    np.testing.assert_allclose(
        softmax(linear_preferences(SEED_THETA, SEED_PHI)), [0.7, 0.3], rtol=1e-12
    )
    np.testing.assert_allclose(
        linear_softmax_score(SEED_THETA, SEED_PHI, 0), [0, 0, -0.3], atol=1e-15
    )
    np.testing.assert_allclose(
        linear_softmax_score(SEED_THETA, SEED_PHI, 1), [0, 0, 0.7], atol=1e-15
    )
    np.testing.assert_allclose(expected_features(SEED_THETA, SEED_PHI), [1, 1, 0.3], atol=1e-15)


@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 5),
    st.integers(1, 6),
    st.lists(st.integers(1, 3), max_size=2),
)
def test_linear_score_equals_central_differences(seed, n_actions, d, batch):
    # seed 001: the derivation's φ(s,a) − E_π[φ(s,·)] is the gradient of log π
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(*batch, n_actions, d))
    theta = rng.normal(size=d)
    a = rng.integers(n_actions, size=batch)
    numeric = central_differences(lambda t: linear_log_prob(t, phi, a), theta)
    np.testing.assert_allclose(linear_softmax_score(theta, phi, a), numeric, rtol=1e-6, atol=1e-8)


@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 5), st.integers(1, 3))
def test_matrix_score_equals_central_differences(seed, n_actions, k, batch):
    rng = np.random.default_rng(seed)
    weights, bias = rng.normal(size=(n_actions, k)), rng.normal(size=n_actions)
    x = rng.normal(size=(batch, k))
    a = rng.integers(n_actions, size=batch)

    def log_prob(flat):
        w, b = theta_to_matrix(flat, n_actions)
        logits = (w @ x[..., None])[..., 0] + b
        return np.take_along_axis(log_softmax(logits), a[:, None], -1)[:, 0]

    numeric = central_differences(log_prob, matrix_to_theta(weights, bias))
    grad_weights, grad_bias = matrix_softmax_score(weights, bias, x, a)
    np.testing.assert_allclose(
        matrix_to_theta(grad_weights, grad_bias), numeric, rtol=1e-6, atol=1e-8
    )


@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 5))
def test_bridge_gives_identical_probabilities_and_scores(seed, n_actions, k):
    rng = np.random.default_rng(seed)
    weights, bias = rng.normal(size=(n_actions, k)), rng.normal(size=n_actions)
    x = rng.normal(size=(7, k))
    a = rng.integers(n_actions, size=7)
    theta = matrix_to_theta(weights, bias)
    phi = action_block_features(x, n_actions)
    np.testing.assert_allclose(
        linear_preferences(theta, phi), matrix_logits(weights, bias, x), rtol=1e-13, atol=1e-13
    )
    grad_weights, grad_bias = matrix_softmax_score(weights, bias, x, a)
    np.testing.assert_allclose(
        linear_softmax_score(theta, phi, a),
        matrix_to_theta(grad_weights, grad_bias),
        rtol=1e-13,
        atol=1e-14,
    )


def test_matrix_score_is_outer_product_of_logit_gradient_and_state(rng):
    weights, bias, x = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3)
    grad_weights, grad_bias = matrix_softmax_score(weights, bias, x, 2)
    probabilities = softmax(weights @ x + bias)
    np.testing.assert_allclose(grad_bias, np.eye(4)[2] - probabilities)
    np.testing.assert_allclose(grad_weights, np.outer(np.eye(4)[2] - probabilities, x))


def test_expected_score_is_zero(rng):
    phi = rng.normal(size=(5, 3, 4))
    theta = rng.normal(size=4)
    probabilities = softmax(linear_preferences(theta, phi))
    scores = np.stack([linear_softmax_score(theta, phi, np.full(5, a)) for a in range(3)], axis=1)
    np.testing.assert_allclose((probabilities[..., None] * scores).sum(axis=1), 0.0, atol=1e-14)


def test_theta_with_run_axis_broadcasts(rng):
    theta = rng.normal(size=(3, 4))
    phi = rng.normal(size=(3, 2, 4))
    a = np.array([0, 1, 1])
    batched = linear_softmax_score(theta, phi, a)
    for r in range(3):
        np.testing.assert_allclose(batched[r], linear_softmax_score(theta[r], phi[r], a[r]))


def test_matrix_theta_round_trip(rng):
    weights, bias = rng.normal(size=(3, 2)), rng.normal(size=3)
    back_weights, back_bias = theta_to_matrix(matrix_to_theta(weights, bias), 3)
    np.testing.assert_array_equal(back_weights, weights)
    np.testing.assert_array_equal(back_bias, bias)


def test_gaussian_score_against_finite_differences(rng):
    mean, log_std, a = rng.normal(size=3), rng.normal(size=3) * 0.3, rng.normal(size=3)
    grad_mean, grad_log_std = gaussian_score(mean, log_std, a)
    numeric_mean = central_differences(lambda m: gaussian_log_prob(m, log_std, a), mean)
    numeric_log_std = central_differences(lambda s: gaussian_log_prob(mean, s, a), log_std)
    np.testing.assert_allclose(grad_mean, numeric_mean, rtol=1e-6)
    np.testing.assert_allclose(grad_log_std, numeric_log_std, rtol=1e-6)


def test_phi_dimension_mismatch_named():
    message = "`phi` must have shape [..., A, d] with d=4 (len(theta)); got (3, 2, 5)"
    with pytest.raises(ShapeError, match=re.escape(message)):
        linear_softmax_score(np.zeros(4), np.zeros((3, 2, 5)), np.zeros(3, int))


def test_action_out_of_range_in_score_named():
    with pytest.raises(ValueError, match=re.escape("`a` must be in [0, 2) (n_actions=2); got 5")):
        linear_softmax_score(np.zeros(3), SEED_PHI, 5)


def test_batch_mismatch_named():
    message = "`a` must have shape (3,) (the batch shape of `phi`); got (4,)"
    with pytest.raises(ShapeError, match=re.escape(message)):
        linear_softmax_score(np.zeros(4), np.zeros((3, 2, 4)), np.zeros(4, int))


def test_matrix_state_dimension_mismatch_named():
    message = "`x` must have shape [..., k] with k=3 (W.shape[-1]); got (2,)"
    with pytest.raises(ShapeError, match=re.escape(message)):
        matrix_softmax_score(np.zeros((2, 3)), np.zeros(2), np.zeros(2), 0)


def test_non_integer_action_named():
    with pytest.raises(
        TypeError, match=re.escape("`a` must hold integer actions; got dtype float64")
    ):
        linear_softmax_score(np.zeros(3), SEED_PHI, 0.5)


@given(st.integers(1, 6), st.integers(1, 6))
def test_any_phi_theta_mismatch_is_a_named_shape_error(d_theta, d_phi):
    if d_theta == d_phi:
        return
    with pytest.raises(ShapeError, match=re.escape(f"with d={d_theta} (len(theta))")):
        linear_softmax_score(np.zeros(d_theta), np.zeros((2, d_phi)), 0)


def test_squash_is_inverted_and_its_log_jacobian_is_the_derivative(rng):
    from gradlogpi.core.scores import squash, squash_log_det, unsquash

    center, half_width = np.array([0.5, -1.0]), np.array([2.0, 0.25])
    u = rng.normal(size=(5, 2)) * 2
    a = squash(u, center, half_width)
    np.testing.assert_allclose(unsquash(a, center, half_width), u, rtol=1e-8, atol=1e-8)
    eps = 1e-6
    numeric = np.log(
        np.abs(
            (squash(u + eps, center, half_width) - squash(u - eps, center, half_width)) / (2 * eps)
        )
    ).sum(axis=-1)
    np.testing.assert_allclose(squash_log_det(u, half_width), numeric, rtol=1e-7, atol=1e-7)
    assert np.isfinite(squash_log_det(np.array([[400.0, -400.0]]), half_width)).all()
    assert np.isfinite(unsquash(center + half_width, center, half_width)).all()  # on the bound
