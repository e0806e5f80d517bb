"""KL divergences: against their definitions, and the Fisher information as the KL's Hessian."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import rel_entr

from gradlogpi.core import categorical_kl, gaussian_kl, log_softmax


@given(st.integers(0, 2**31 - 1), st.integers(2, 6))
def test_categorical_kl_is_the_sum_of_relative_entropies(seed, n):
    rng = np.random.default_rng(seed)
    log_p = log_softmax(3 * rng.normal(size=(5, n)))
    log_q = log_softmax(3 * rng.normal(size=(5, n)))
    expected = rel_entr(np.exp(log_p), np.exp(log_q)).sum(axis=-1)
    np.testing.assert_allclose(categorical_kl(log_p, log_q), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(categorical_kl(log_p, log_p), 0.0)


def test_categorical_kl_ignores_actions_p_never_takes():
    log_p = np.array([0.0, -np.inf])  # p = (1, 0)
    assert categorical_kl(log_p, np.log(np.array([0.5, 0.5]))) == np.log(2.0)
    assert categorical_kl(log_p, np.array([0.0, -np.inf])) == 0.0  # both never take it


def test_gaussian_kl_equals_the_integral_of_its_definition():
    grid = np.linspace(-30, 30, 600_001)
    mean_p, log_std_p, mean_q, log_std_q = 0.3, -0.2, -0.5, 0.4

    def log_density(x, mean, log_std):
        return -0.5 * ((x - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)

    p = np.exp(log_density(grid, mean_p, log_std_p))
    integral = np.trapezoid(
        p * (log_density(grid, mean_p, log_std_p) - log_density(grid, mean_q, log_std_q)), grid
    )
    exact = gaussian_kl(
        np.array([mean_p]), np.array([log_std_p]), np.array([mean_q]), np.array([log_std_q])
    )
    np.testing.assert_allclose(exact, integral, rtol=1e-8)


def test_gaussian_kl_adds_over_independent_dimensions(rng):
    means_p, means_q = rng.normal(size=(2, 4, 3))
    stds_p, stds_q = rng.normal(size=(2, 4, 3)) * 0.5
    total = gaussian_kl(means_p, stds_p, means_q, stds_q)
    by_dimension = sum(
        gaussian_kl(means_p[:, [d]], stds_p[:, [d]], means_q[:, [d]], stds_q[:, [d]])
        for d in range(3)
    )
    np.testing.assert_allclose(total, by_dimension, rtol=1e-12)


def test_the_kl_hessian_at_theta_old_is_the_fisher_information(rng):
    """TRPO's premise: ∇²_θ KL(π_old ‖ π_θ) at θ = θ_old equals E_a[ψψᵀ] (exact expectation)."""
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    policy = MatrixSoftmaxPolicy(RawState(2), 3).init(rng, scale=0.5)
    states = rng.normal(size=(4, 2))
    theta_old = policy.get_flat()
    log_old = np.log(policy.probabilities(states))

    def kl(theta):
        policy.set_flat(theta)
        return categorical_kl(log_old, np.log(policy.probabilities(states))).mean()

    size, h = theta_old.size, 1e-4
    hessian = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            e_i, e_j = np.eye(size)[i] * h, np.eye(size)[j] * h
            hessian[i, j] = (
                kl(theta_old + e_i + e_j) - kl(theta_old + e_i - e_j)
                - kl(theta_old - e_i + e_j) + kl(theta_old - e_i - e_j)
            ) / (4 * h * h)  # fmt: skip
    policy.set_flat(theta_old)
    probabilities = policy.probabilities(states)  # [S, A]
    fisher = np.zeros((size, size))
    for action in range(3):
        scores = policy.score(states, np.full(4, action))  # [S, P]
        fisher += np.einsum("s,sp,sq->pq", probabilities[:, action], scores, scores) / 4
    np.testing.assert_allclose(hessian, fisher, atol=1e-6)
