"""Exact v_π, q_π, η, J and ∇J of finite MDPs: against closed forms, finite differences, samples."""

import gymnasium as gym
import numpy as np
import pytest

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi.check.gradient import finite_difference
from gradlogpi.envs import (
    BorderFeatures,
    short_corridor_features,
    short_corridor_value,
    theta_for_p_right,
)
from gradlogpi.exact import (
    FiniteMDP,
    NonTerminatingError,
    exact_gradient,
    model_of_env,
    objective,
)
from gradlogpi.features import OneHot
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy


def corridor(p_right=0.5):
    mdp = model_of_env(gym.make("gradlogpi/ShortCorridor-v0"), gamma=1.0)
    return mdp, LinearSoftmaxPolicy(short_corridor_features(), theta_for_p_right(p_right))


def grid_world(rng):
    mdp = model_of_env(gym.make("gradlogpi/GridWorld-v0"), gamma=0.9)
    features = BorderFeatures(4, 4, position=True) if mdp.n_states == 16 else None
    policy = MatrixSoftmaxPolicy(features or OneHot(mdp.n_states), mdp.n_actions)
    return mdp, policy.init(rng, scale=0.5)


def frozen_lake(rng):
    mdp = model_of_env(gym.make("FrozenLake-v1", is_slippery=True), gamma=0.95)
    return mdp, MatrixSoftmaxPolicy(OneHot(16), 4).init(rng, scale=0.5)


@pytest.mark.parametrize("p_right", [0.1, 0.3, 0.5, 0.59, 0.9])
def test_the_corridor_matches_example_13_1(p_right):
    mdp, policy = corridor(p_right)
    exact = exact_gradient(policy, mdp)
    assert exact.objective == pytest.approx(short_corridor_value(p_right), rel=1e-12)
    # dJ/dθ along θ = (θ_right, θ_left): dJ/dp · dp/dθ_right, p = σ(θ_right − θ_left)
    h = 1e-6
    slope = (short_corridor_value(p_right + h) - short_corridor_value(p_right - h)) / (2 * h)
    dp = p_right * (1 - p_right)
    np.testing.assert_allclose(exact.gradient, [slope * dp, -slope * dp], rtol=1e-6)


def test_the_seed_question_at_its_optimum_the_gradient_vanishes():
    from gradlogpi.envs import OPTIMAL_P_RIGHT, OPTIMAL_VALUE

    mdp, policy = corridor(OPTIMAL_P_RIGHT)
    exact = exact_gradient(policy, mdp)
    assert exact.objective == pytest.approx(OPTIMAL_VALUE, rel=1e-9)  # ≈ −11.6
    np.testing.assert_allclose(exact.gradient, 0.0, atol=1e-9)


@pytest.mark.parametrize("task", ["corridor", "grid_world", "frozen_lake"])
def test_the_theorem_equals_finite_differences_of_j(rng, task):
    mdp, policy = {
        "corridor": lambda: corridor(0.3),
        "grid_world": lambda: grid_world(rng),
        "frozen_lake": lambda: frozen_lake(rng),
    }[task]()
    exact = exact_gradient(policy, mdp)
    numeric = finite_difference(policy, lambda: objective(policy, mdp), epsilon=1e-5)
    np.testing.assert_allclose(exact.gradient, numeric, atol=1e-7, rtol=1e-6)


def test_the_fisher_matrix_is_the_mean_of_score_outer_products_under_the_visitation(rng):
    mdp, policy = frozen_lake(rng)
    exact = exact_gradient(policy, mdp)
    mu = exact.visitation / exact.visitation.sum()
    n = 50_000
    states = rng.choice(mdp.n_states, size=n, p=mu)
    uniforms = rng.random(n)[:, None]
    actions = (uniforms > np.cumsum(exact.probabilities[states], axis=1)).sum(axis=1)
    scores = exact.scores[states, actions]  # [n, P]
    sample = scores.T @ scores / n  # mean of ψψᵀ, without the [n, P, P] array
    second_moment = (scores**2).T @ (scores**2) / n  # mean of (ψ_i ψ_j)²
    standard_error = np.sqrt(np.maximum(second_moment - sample**2, 0.0) / n)
    assert (np.abs(sample - exact.fisher) <= 5 * standard_error + 1e-12).all()
    # the natural gradient solves F x = ∇J where F is invertible on the gradient's span
    np.testing.assert_allclose(exact.fisher @ exact.natural_gradient, exact.gradient, atol=1e-9)


def test_visitation_and_values_agree_with_the_objective(rng):
    mdp, policy = grid_world(rng)
    exact = exact_gradient(policy, mdp)
    # J = Σ_s d0(s) v(s) = Σ_s η(s) r_π(s): the same number from both sides of the solve
    expected_reward = (exact.probabilities * mdp.rewards).sum(axis=1)
    assert exact.visitation @ expected_reward == pytest.approx(exact.objective, rel=1e-10)
    np.testing.assert_allclose(
        (exact.probabilities * exact.action_values).sum(axis=1)[~mdp.terminal],
        exact.values[~mdp.terminal],
    )


def test_episodes_that_never_end_at_gamma_one_are_named():
    transitions = np.zeros((2, 1, 2))
    transitions[0, 0, 0] = 1.0  # state 0 loops forever
    mdp = FiniteMDP(transitions, np.full((2, 1), -1.0), [False, True], [1.0, 0.0], 1.0)
    policy = MatrixSoftmaxPolicy(OneHot(2), 1)
    with pytest.raises(NonTerminatingError, match="never end"):
        exact_gradient(policy, mdp)
    assert exact_gradient(policy, mdp.with_gamma(0.5)).objective == pytest.approx(-2.0)


def test_bad_models_and_envs_get_named_errors():
    with pytest.raises(ValueError, match="`transitions` must be probabilities"):
        FiniteMDP(np.full((2, 1, 2), 0.3), np.zeros((2, 1)), [False, True], [1.0, 0.0], 0.9)
    with pytest.raises(ValueError, match=r"`rewards` must have shape \[S, A\]"):
        FiniteMDP(np.full((2, 1, 2), 0.5), np.zeros(2), [False, True], [1.0, 0.0], 0.9)
    with pytest.raises(ValueError, match="`start` must be a distribution"):
        FiniteMDP(np.full((2, 1, 2), 0.5), np.zeros((2, 1)), [False, True], [0.5, 0.0], 0.9)
    with pytest.raises(ValueError, match="does not publish its dynamics"):
        model_of_env(gym.make("CartPole-v1"), 0.9)


@pytest.mark.parametrize("env_id", ["CliffWalking-v1", "Taxi-v4"])
def test_toy_text_models_are_read(env_id):
    mdp = model_of_env(gym.make(env_id), gamma=0.9)
    assert mdp.terminal.any() or env_id == "CliffWalking-v1"
    np.testing.assert_allclose(mdp.transitions[~mdp.terminal].sum(axis=-1), 1.0)
