"""The estimator lab on continuous actions: a linear Gaussian policy on the shipped LQR."""

import gymnasium as gym
import numpy as np
import pytest

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi.exact import exact_gradient, gradient_in_theta, lqr_of_env, riccati_optimum
from gradlogpi.exact.lab import (
    ESTIMATORS,
    chi_statistic,
    chi_threshold,
    error_by_episodes,
    first_step_directions,
    study,
)
from gradlogpi.features import RawState
from gradlogpi.policies import LinearGaussianPolicy
from gradlogpi.policies.linear_gaussian import log_std_parameter

EPISODES = 10_000


def lab(gamma, seed=1):
    """The lab's point: K = K*/2, b = 0.2, σ = 0.5 (learned), over the env's 50 steps."""
    system = lqr_of_env(gym.make("gradlogpi/LQR-v0"), gamma)
    gain = riccati_optimum(system)[0][0, 0]
    policy = LinearGaussianPolicy(RawState(1), 1, log_std0=np.log(0.5))
    eta = log_std_parameter(np.log(0.5), policy.min_log_std, policy.max_log_std)
    policy.set_flat(np.array([-gain / 2, 0.2, eta]))
    exact = exact_gradient(policy, system)
    reports, sample = study(system, exact, EPISODES, seed, policy=policy)
    return system, policy, exact, {r.name: r for r in reports}, sample


@pytest.fixture(scope="module")
def discounted():
    return lab(0.9)


def test_the_expected_reinforce_update_is_the_exact_gradient_and_without_gamma_t_is_not(
    discounted,
):
    _, policy, exact, reports, sample = discounted
    reinforce, without = reports["reinforce"], reports["reinforce_without_gamma_t"]
    # within its standard errors: every component, and the 3-vector as a whole (χ_3)
    assert reinforce.bias_in_standard_errors <= reinforce.threshold
    assert reinforce.chi <= reinforce.chi_threshold and reinforce.degrees_of_freedom == 3
    assert reinforce.cosine > 0.999
    # dropping γ^t: far beyond any noise, and it estimates a known other vector instead
    assert without.chi > 10 * without.chi_threshold
    assert without.bias_in_standard_errors > 10 * without.threshold
    other = gradient_in_theta(policy, exact.terms.gradient_without_discounting)
    estimates = sample.estimates_of(ESTIMATORS["reinforce_without_gamma_t"].weights(sample.steps))
    chi, dof = chi_statistic(estimates, other)
    assert chi <= chi_threshold(dof)


def test_every_unbiased_estimator_agrees_and_the_wrong_critic_is_caught(discounted):
    *_, reports, sample = discounted
    assert not sample.cut.any()  # the horizon is the environment's: no episode is cut
    for report in reports.values():
        if report.unbiased:
            assert report.bias_in_standard_errors <= report.threshold, report.name
            assert report.chi <= report.chi_threshold, report.name
        else:
            assert report.chi > 10 * report.chi_threshold, report.name
    assert {n for n, r in reports.items() if not r.unbiased} == {
        "reinforce_without_gamma_t",
        "actor_critic_wrong_critic",
    }


def test_critics_and_baselines_cut_the_variance_in_order(discounted):
    *_, reports, _ = discounted
    variance = {name: report.variance_trace for name, report in reports.items()}
    order = ["actor_critic", "value_baseline", "constant_baseline", "reinforce",
             "reinforce_whole_episode"]  # fmt: skip
    assert [variance[name] for name in order] == sorted(variance[name] for name in order)
    assert variance["actor_critic"] < variance["reinforce"] / 5


def test_the_error_falls_like_one_over_root_n_without_bias_and_levels_off_with_one(discounted):
    *_, reports, _ = discounted
    unbiased, biased = reports["actor_critic"], reports["actor_critic_wrong_critic"]
    n = unbiased.episodes_averaged
    assert n[0] == 1 and n[-1] == EPISODES // 20
    scaled = unbiased.relative_error * np.sqrt(n)  # ≈ constant: √(tr Var) / ‖∇J‖
    assert scaled.max() < 1.5 * scaled.min()
    assert biased.relative_error[-1] > 0.5 * biased.relative_error[0]  # the bias stays


def test_ppos_first_step_ignores_gamma_t_and_trpos_points_near_the_natural_gradient():
    for gamma in (0.9, 1.0):
        *_, exact, _, sample = lab(gamma, seed=0)
        directions = {d.name: d for d in first_step_directions(sample, exact)}
        ppo, trpo = directions["ppo_first_step"], directions["trpo_first_step"]
        assert ppo.n_batches == EPISODES // 40 and ppo.target == "∇J"
        if gamma < 1:  # γ^t left out: a systematic turn away from ∇J
            assert ppo.angle > 10 * ppo.noise_angle and ppo.angle > 2.0
        else:  # at γ = 1 nothing is left out: only noise
            assert ppo.angle < 4 * ppo.noise_angle
        assert trpo.target == "F⁻¹∇J" and trpo.angle < 2.0


def test_the_chi_statistic_has_its_reference_distribution(rng):
    """Unbiased Gaussian means: χ² averages d (Hotelling: d(N − 1)/(N − d − 2) for N = 200)."""
    squares = []
    for _ in range(400):
        samples = rng.standard_normal((200, 3)) @ np.array([[1, 0, 0], [2, 1, 0], [0, 3, 1.0]])
        squares.append(chi_statistic(samples, np.zeros(3))[0] ** 2)
    assert 2.8 < np.mean(squares) < 3.4
    assert np.mean(np.sqrt(squares) > chi_threshold(3, false_alarm=0.05)) < 0.1
    # a direction the estimates never vary in (a softmax's constant shift) is not counted
    flat = np.hstack([rng.standard_normal((200, 2)), np.zeros((200, 1))])
    assert chi_statistic(flat, np.zeros(3))[1] == 2


def test_error_by_episodes_separates_noise_from_bias(rng):
    noise, target = rng.standard_normal((4000, 2)), np.array([3.0, 4.0])
    sizes, unbiased = error_by_episodes(noise + target, target)
    _, biased = error_by_episodes(noise + target + np.array([0.0, 0.5]), target)
    np.testing.assert_allclose(unbiased * np.sqrt(sizes), np.sqrt(2) / 5, rtol=0.35)
    assert biased[-1] == pytest.approx(0.1, rel=0.2)  # ‖bias‖ / ‖target‖ = 0.5 / 5


def test_a_coupled_noisy_system_samples_what_the_closed_form_says():
    """3 states, 2 controls, a mean start drawn from a normal, process noise: J and ∇J by sampling."""
    from tests.exact.test_lqr import near_optimal_policy, random_system

    rng = np.random.default_rng(5)
    system = random_system(rng, horizon=30)
    policy = near_optimal_policy(system, rng)
    exact = exact_gradient(policy, system)
    reports, sample = study(system, exact, 20_000, seed=4, policy=policy, names=["actor_critic"])
    returns = sample.steps.rewards @ system.gamma ** np.arange(30)
    assert abs(returns.mean() - exact.objective) < 4.5 * returns.std(ddof=1) / np.sqrt(20_000)
    (report,) = reports
    assert report.degrees_of_freedom == 10 and report.chi <= report.chi_threshold
    assert report.cosine > 0.99
