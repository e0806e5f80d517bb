"""Exact J and ∇J of a linear Gaussian policy on a linear-quadratic system.

Checked against finite differences of the forward sum (no gradient formula, no solver),
against the Lyapunov solution as the horizon grows, against the LQR environment's own
Riccati gain and dynamics, and against samples.
"""

import re

import gymnasium as gym
import numpy as np
import pytest

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi.check.gradient import finite_difference
from gradlogpi.envs import riccati_gain
from gradlogpi.errors import ShapeError
from gradlogpi.exact import (
    LinearQuadraticSystem,
    UnstableGainError,
    exact_gradient,
    gradient_in_theta,
    linear_quadratic_objective,
    linear_quadratic_terms,
    lqr_of_env,
    objective,
    riccati_optimum,
)
from gradlogpi.exact.lab import sample_control_episodes
from gradlogpi.features import OneHot, RawState
from gradlogpi.policies import LinearGaussianPolicy, MatrixSoftmaxPolicy
from gradlogpi.policies.linear_gaussian import log_std_parameter

ENV = "gradlogpi/LQR-v0"


def gaussian_policy(gain, offset, std, learn_std=True):
    """u = −K x + b + σ ε over the raw state, θ = [W | b | η] (W = −K)."""
    gain = np.atleast_2d(gain)
    m, n = gain.shape
    if not learn_std:  # one σ for every control, given at construction
        assert np.all(np.asarray(std) == std[0])
    log_std0 = float(np.log(std[0]))
    policy = LinearGaussianPolicy(RawState(n), m, log_std0=log_std0, learn_std=learn_std)
    mean = np.hstack([-gain, np.reshape(offset, (m, 1))]).ravel()
    eta = [log_std_parameter(np.log(s), policy.min_log_std, policy.max_log_std) for s in std]
    policy.set_flat(np.concatenate([mean, eta]) if learn_std else mean)
    return policy


def scalar_lqr(gamma=0.9, horizon=50):
    return lqr_of_env(gym.make(ENV), gamma).with_horizon(horizon)


def random_system(rng, horizon=None, gamma=0.95):
    """A 3-state, 2-control system with a mean start, process noise and cross-coupled costs."""
    a = 0.5 * rng.standard_normal((3, 3))
    b = rng.standard_normal((3, 2))
    q = np.eye(3) + 0.3 * np.ones((3, 3))
    return LinearQuadraticSystem(
        a, b, q, np.array([[0.5, 0.1], [0.1, 0.8]]), gamma, horizon,
        initial_mean=[0.3, -0.2, 0.5], initial_covariance=np.diag([1.0, 0.5, 2.0]),
        noise_covariance=0.02 * np.eye(3),
    )  # fmt: skip


def near_optimal_policy(system, rng):
    gain, _ = riccati_optimum(system)
    gain = gain + 0.1 * rng.standard_normal(gain.shape)
    return gaussian_policy(gain, 0.2 * rng.standard_normal(2), [0.3, 0.6])


def richardson_difference(policy, function):
    """Central differences at ε and 2ε combined: O(ε⁴) truncation, ε = 1e-3."""
    fine = finite_difference(policy, function, epsilon=1e-3)
    coarse = finite_difference(policy, function, epsilon=2e-3)
    return (4.0 * fine - coarse) / 3.0


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("horizon", [50, None])
def test_the_gradient_equals_finite_differences_of_j_on_the_shipped_lqr(horizon):
    system = scalar_lqr(0.9, horizon)
    policy = gaussian_policy([[0.3]], [0.2], [0.5])
    exact = exact_gradient(policy, system)
    # J alone by the forward sum (an infinite horizon cut where what is left is < 1e-17)
    numeric = richardson_difference(policy, lambda: objective(policy, system))
    assert relative(exact.gradient, numeric) < 1e-8
    assert exact.objective == pytest.approx(objective(policy, system), rel=1e-12)


@pytest.mark.parametrize("horizon", [30, None])
def test_the_gradient_equals_finite_differences_on_a_coupled_system(rng, horizon):
    system = random_system(rng, horizon)
    policy = near_optimal_policy(system, rng)
    exact = exact_gradient(policy, system)
    assert exact.gradient.shape == (2 * 4 + 2,)
    numeric = richardson_difference(policy, lambda: objective(policy, system))
    assert relative(exact.gradient, numeric) < 1e-8


def test_a_fixed_sigma_leaves_only_the_means_parameters(rng):
    system = random_system(rng, 40)
    gain = riccati_optimum(system)[0] + 0.1 * rng.standard_normal((2, 3))
    policy = gaussian_policy(gain, [0.1, -0.2], [0.4, 0.4])
    fixed = gaussian_policy(gain, [0.1, -0.2], [0.4, 0.4], learn_std=False)
    learned, constant = exact_gradient(policy, system), exact_gradient(fixed, system)
    assert constant.gradient.shape == (8,)
    np.testing.assert_allclose(constant.gradient, learned.gradient[:8], rtol=1e-12)
    np.testing.assert_allclose(constant.natural_gradient, learned.natural_gradient[:8], rtol=1e-10)


def policy_arrays(policy):
    block = policy.get_flat()[: policy.n_mean_parameters].reshape(policy.action_dim, -1)
    log_std = policy.log_std(np.zeros(policy.state_features.n_features))
    return -block[:, :-1], block[:, -1], np.exp(log_std)


def test_the_finite_horizon_tends_to_the_lyapunov_solution(rng):
    system = random_system(rng, None)
    gain, offset, std = policy_arrays(near_optimal_policy(system, rng))
    stationary = linear_quadratic_terms(system, gain, offset, std)
    far = linear_quadratic_terms(system.with_horizon(2_000), gain, offset, std)
    assert far.objective == pytest.approx(stationary.objective, rel=1e-11)
    for name in ("gain", "offset", "std"):
        np.testing.assert_allclose(
            getattr(far.gradient, name), getattr(stationary.gradient, name), rtol=1e-9, atol=1e-12
        )
    np.testing.assert_allclose(far.cost_matrices[0], stationary.cost_matrices[0], rtol=1e-10)
    np.testing.assert_allclose(far.second_moment, stationary.second_moment, rtol=1e-10)
    assert far.discount_mass == pytest.approx(stationary.discount_mass, rel=1e-12)
    # and 50 steps are not the limit: the time limit matters, as in the environment
    short = linear_quadratic_terms(system.with_horizon(50), gain, offset, std)
    assert abs(short.objective - stationary.objective) > 1e-3 * abs(stationary.objective)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_the_riccati_optimum_is_the_environments_gain_and_a_stationary_point(gamma):
    env = gym.make(ENV)
    system = lqr_of_env(env, gamma)
    gain, cost = riccati_optimum(system)
    np.testing.assert_allclose(gain, env.unwrapped.optimal_gain(gamma), rtol=1e-9)
    if gamma == 1.0:
        return  # an infinite undiscounted horizon has no finite cost with noise
    # certainty equivalence: ∇_K J = 0 at K* for every σ, over an infinite horizon
    stationary = system.with_horizon(None)
    for std in (0.1, 1.0):
        terms = linear_quadratic_terms(stationary, gain, [0.0], [std])
        assert abs(terms.gradient.gain[0, 0]) < 1e-10
        assert terms.gradient.std[0] < 0  # any noise costs: σ → 0 is better
        np.testing.assert_allclose(terms.cost_matrices[0][:1, :1], cost, rtol=1e-10)
        for step in (-0.05, 0.05):
            worse = linear_quadratic_terms(stationary, gain + step, [0.0], [std])
            assert worse.objective < terms.objective


def test_a_coupled_systems_riccati_gain_matches_the_iteration(rng):
    system = random_system(rng, None, gamma=0.9)
    gain, cost = riccati_optimum(system)
    iterated, iterated_cost = riccati_gain(system.a, system.b, system.q, system.r, system.gamma)
    np.testing.assert_allclose(gain, iterated, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cost, iterated_cost, rtol=1e-8)
    terms = linear_quadratic_terms(system, gain, [0.0, 0.0], [0.3, 0.3])
    np.testing.assert_allclose(terms.gradient.gain, 0.0, atol=1e-9)
    np.testing.assert_allclose(terms.gradient.offset, 0.0, atol=1e-9)  # a mean start, yet 0


def test_the_lqr_environment_is_the_system(rng):
    """The lab's sampler and the environment step the same dynamics and pay the same costs."""
    env = gym.make(ENV)
    system = lqr_of_env(env, 0.9)
    assert system.horizon == 50 and system.initial_distribution == "uniform"
    np.testing.assert_allclose(system.initial_covariance, [[1.0 / 3.0]])
    policy = gaussian_policy([[0.3]], [0.2], [0.5])
    episodes = sample_control_episodes(system, policy, 3, rng)
    for k in range(3):
        env.reset(seed=0)
        env.unwrapped.state = episodes.states[k, 0].copy()
        for t in range(50):
            state, reward, terminated, truncated, _ = env.step(episodes.actions[k, t])
            np.testing.assert_allclose(state, episodes.next_states[k, t], rtol=1e-12)
            assert reward == pytest.approx(episodes.rewards[k, t], rel=1e-12)
            assert not terminated and truncated == (t == 49)


def test_j_and_the_values_are_expected_returns(rng):
    """Monte Carlo: the mean return from x_0 is J, within 4.5 standard errors; v_t too."""
    system = scalar_lqr(0.9)
    policy = gaussian_policy([[0.3]], [0.2], [0.5])
    exact = exact_gradient(policy, system)
    episodes = sample_control_episodes(system, policy, 20_000, rng)
    returns = episodes.rewards @ (0.9 ** np.arange(50))
    standard_error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - exact.objective) < 4.5 * standard_error
    # v_0(x_0) averages to J exactly in expectation, and has a smaller spread than G_0
    values = exact.terms.values(episodes.states[:, 0], 0)
    assert abs(values.mean() - exact.objective) < 4.5 * values.std(ddof=1) / np.sqrt(values.size)
    assert np.all(exact.terms.values(episodes.states[:, 0], 50) == 0.0)  # v_T = 0


def test_the_fisher_is_the_mean_of_score_outer_products_under_the_visitation(rng):
    system = scalar_lqr(0.9)
    policy = gaussian_policy([[0.3]], [0.2], [0.5])
    exact = exact_gradient(policy, system)
    episodes = sample_control_episodes(system, policy, 20_000, rng)
    scores = policy.score(episodes.states, episodes.actions)  # [N, T, P]
    weights = 0.9 ** np.arange(50) / exact.terms.discount_mass
    per_episode = np.einsum("t,ntp,ntq->npq", weights, scores, scores)  # iid over episodes
    mean = per_episode.mean(axis=0)
    standard_error = per_episode.std(axis=0, ddof=1) / np.sqrt(per_episode.shape[0])
    assert (np.abs(mean - exact.fisher) <= 4.5 * standard_error + 1e-12).all()
    np.testing.assert_allclose(exact.fisher @ exact.natural_gradient, exact.gradient, rtol=1e-10)


def test_the_environment_and_its_model_give_the_same_gradient():
    env = gym.make(ENV)
    policy = gaussian_policy([[0.3]], [0.2], [0.5])
    from_env = exact_gradient(policy, env, gamma=0.9)
    from_model = exact_gradient(policy, lqr_of_env(env, 0.9))
    np.testing.assert_array_equal(from_env.gradient, from_model.gradient)
    assert from_env.terms.horizon == 50
    # the undiscounted sums map into θ like the gradient: the first entry is ∂/∂W = −∂/∂K
    undiscounted = gradient_in_theta(policy, from_env.terms.gradient_without_discounting)
    assert undiscounted[0] == -from_env.terms.gradient_without_discounting.gain[0, 0]


def test_an_unstable_gain_is_named():
    system = scalar_lqr(0.9, None)
    with pytest.raises(UnstableGainError, match=re.escape("spectral radius of A − BK is 2")):
        linear_quadratic_terms(system, [[-1.0]], std=[0.5])
    with pytest.raises(UnstableGainError, match=re.escape("below 1/√γ = 1.05409")):
        exact_gradient(gaussian_policy([[-0.06]], [0.0], [0.5]), system)  # ρ = 1.06
    # over the environment's 50 steps the same gain has a finite J, and so a gradient
    finite = linear_quadratic_terms(scalar_lqr(0.9, 50), [[-1.0]], std=[0.5])
    assert np.isfinite(finite.objective) and finite.spectral_radius == pytest.approx(2.0)
    with pytest.raises(UnstableGainError, match="does not stabilise"):
        linear_quadratic_terms(scalar_lqr(0.9, 200), [[-1e6]], std=[0.5])  # overflows float64
    with pytest.raises(UnstableGainError, match="infinite horizon"):
        linear_quadratic_objective(system, [[-1.0]], std=[0.5])


def test_bad_systems_and_policies_get_named_errors():
    with pytest.raises(ShapeError, match=re.escape("`a` must have shape (2, 2)")):
        LinearQuadraticSystem(np.eye(3), np.ones((2, 1)), np.eye(2), [[1.0]], 0.9, 10)
    with pytest.raises(ValueError, match="`r` must be positive definite"):
        LinearQuadraticSystem([[1.0]], [[1.0]], [[1.0]], [[0.0]], 0.9, 10)
    with pytest.raises(ValueError, match="`q` must be symmetric"):
        LinearQuadraticSystem(np.eye(2), np.ones((2, 1)), [[1, 1], [0, 1]], [[1.0]], 0.9, 10)
    with pytest.raises(ValueError, match="needs `gamma` < 1"):
        LinearQuadraticSystem([[1.0]], [[1.0]], [[1.0]], [[1.0]], 1.0, None)
    system = scalar_lqr()
    with pytest.raises(ShapeError, match=re.escape("`gain` K must have shape [m, n] = (1, 1)")):
        linear_quadratic_terms(system, [[0.1, 0.2]], std=[0.5])
    with pytest.raises(ValueError, match="`std` σ must be > 0"):
        linear_quadratic_terms(system, [[0.1]], std=[0.0])
    with pytest.raises(TypeError, match="must be a LinearGaussianPolicy"):
        exact_gradient(MatrixSoftmaxPolicy(OneHot(2), 2), system)
    with pytest.raises(
        ValueError, match=re.escape("must act on the raw state (features RawState(1))")
    ):
        exact_gradient(LinearGaussianPolicy(OneHot(1), 1), system)
    with pytest.raises(ValueError, match="state-dependent σ"):
        exact_gradient(LinearGaussianPolicy(RawState(1), 1, state_dependent_std=True), system)
    with pytest.raises(TypeError, match="`gamma` is needed"):
        exact_gradient(gaussian_policy([[0.3]], [0.0], [0.5]), gym.make(ENV))
    with pytest.raises(TypeError, match="no per-state tables"):
        _ = exact_gradient(gaussian_policy([[0.3]], [0.0], [0.5]), system).values
