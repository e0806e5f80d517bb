"""The estimator lab: unbiased estimators agree with the exact ∇J, biased ones are caught."""

import numpy as np
import pytest

from gradlogpi.exact import exact_gradient
from gradlogpi.exact.lab import (
    ESTIMATORS,
    Estimator,
    bias_threshold,
    register_estimator,
    sample_episodes,
    study,
)
from tests.exact.test_theorem import corridor, frozen_lake, grid_world

EPISODES = {"corridor": 20_000, "grid_world": 10_000, "frozen_lake": 20_000}


def setup(task):
    rng = np.random.default_rng(7)
    return {
        "corridor": lambda: corridor(0.3),
        "grid_world": lambda: grid_world(rng),
        "frozen_lake": lambda: frozen_lake(rng),
    }[task]()


@pytest.mark.parametrize("task", ["corridor", "grid_world", "frozen_lake"])
def test_every_unbiased_estimator_agrees_with_the_theorem(task):
    mdp, policy = setup(task)
    exact = exact_gradient(policy, mdp)
    reports, episodes = study(mdp, exact, EPISODES[task], seed=1)
    assert not episodes.cut.any()
    for report in reports:
        if report.unbiased:
            # the seed's question: the sampled gradient's mean is ∇J, to within its noise
            assert report.bias_in_standard_errors <= report.threshold, report.name
            if np.linalg.norm(report.standard_error) < 0.2 * np.linalg.norm(exact.gradient):
                assert report.cosine > 0.9, report.name  # precise enough to point the way


@pytest.mark.parametrize("task", ["grid_world", "corridor"])
def test_biased_estimators_are_caught(task):
    mdp, policy = setup(task)
    exact = exact_gradient(policy, mdp)
    reports = {r.name: r for r in study(mdp, exact, EPISODES[task], seed=1)[0]}
    biased = [name for name, r in reports.items() if not r.unbiased]
    # at γ = 1 only the wrong critic is biased; at γ = 0.9 dropping γ^t is too
    assert set(biased) == (
        {"actor_critic_wrong_critic"} if mdp.gamma == 1.0
        else {"actor_critic_wrong_critic", "reinforce_without_gamma_t"}
    )  # fmt: skip
    for name in biased:
        assert reports[name].bias_in_standard_errors > 3 * reports[name].threshold, name


def test_baselines_cut_the_variance_and_an_exact_critic_most():
    mdp, policy = setup("grid_world")
    reports = {r.name: r for r in study(mdp, exact_gradient(policy, mdp), 5_000, seed=2)[0]}
    variance = {name: r.variance_trace for name, r in reports.items()}
    assert variance["value_baseline"] < variance["reinforce"] / 5
    assert variance["actor_critic"] < variance["value_baseline"]


def test_the_sampler_draws_the_policy_and_the_dynamics(rng):
    mdp, policy = setup("frozen_lake")
    exact = exact_gradient(policy, mdp)
    episodes = sample_episodes(mdp, exact.probabilities, 4000, rng)
    first_actions = np.bincount(episodes.actions[:, 0], minlength=4) / 4000
    start = int(np.argmax(mdp.start))
    standard_error = np.sqrt(exact.probabilities[start] * (1 - exact.probabilities[start]) / 4000)
    assert (np.abs(first_actions - exact.probabilities[start]) < 4 * standard_error).all()
    # every step goes where P allows, and the discounted visits match η on average
    steps = episodes.mask
    allowed = mdp.transitions[episodes.states[steps], episodes.actions[steps]]
    assert (allowed[np.arange(allowed.shape[0]), episodes.next_states[steps]] > 0).all()


def test_an_estimator_plugs_in_by_registering():
    def scaled(steps):
        return 2.0 * ESTIMATORS["actor_critic"].weights(steps)

    register_estimator(Estimator("twice_actor_critic", scaled, False, "2 × actor-critic"))
    try:
        mdp, policy = setup("corridor")
        reports = study(mdp, exact_gradient(policy, mdp), 2_000, 0, ["twice_actor_critic"])[0]
        assert reports[0].cosine > 0.99 and reports[0].bias_in_standard_errors > 10
        with pytest.raises(ValueError, match="already registered"):
            register_estimator(Estimator("twice_actor_critic", scaled, False, ""))
    finally:
        del ESTIMATORS["twice_actor_critic"]


def test_the_threshold_grows_with_the_components():
    assert bias_threshold(1) == 4.0
    assert 4.2 < bias_threshold(64) < 4.4
