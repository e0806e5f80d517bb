"""The estimator lab as an experiment: its LQR setting, and directions that are the algorithms'."""

import numpy as np
import pytest

from gradlogpi.algorithms.estimators import conjugate_gradient, fisher_vector_product
from gradlogpi.algorithms.on_policy.ppo import clipped_surrogate_weights
from gradlogpi.core.returns import generalized_advantages, normalized
from gradlogpi.exact import LinearQuadraticSystem, exact_gradient
from gradlogpi.exact.lab import GAE_LAMBDA, TRPO_DAMPING, first_step_directions, study
from gradlogpi.experiments.estimators import explain_theorem, lab_setup, run_lab


def test_the_lqr_lab_sits_at_half_the_riccati_gain():
    system, policy = lab_setup("gradlogpi/LQR-v0", 0.9, 0.5, 0.5, seed=0)
    assert isinstance(system, LinearQuadraticSystem) and system.horizon == 50
    terms = exact_gradient(policy, system).terms
    assert terms.gain[0, 0] == pytest.approx(0.5884033 / 2, rel=1e-6)
    np.testing.assert_allclose([terms.offset[0], terms.std[0]], [0.2, 0.5], rtol=1e-12)
    lab = run_lab("gradlogpi/LQR-v0", 0.9, 200, 0, {})
    assert "K* = [[0.5884]]" in lab.setting and len(lab.directions) == 3
    assert run_lab("gradlogpi/LQR-v0", 0.9, 50, 0, {}).directions == []  # < 2 batches


def test_the_first_step_directions_are_ppos_and_trpos_own():
    """Each batch's direction, recomputed with the algorithms' functions, averages to the lab's."""
    system, policy = lab_setup("gradlogpi/LQR-v0", 0.9, 0.5, 0.5, seed=0)
    exact = exact_gradient(policy, system)
    _, sample = study(system, exact, 80, seed=3, policy=policy)
    directions = {d.name: d.mean_direction for d in first_step_directions(sample, exact, 40)}
    steps, episodes = sample.steps, sample.episodes
    ended = np.zeros_like(steps.mask)
    ended[:, -1] = True  # the time limit; v_T = 0 there
    advantages = generalized_advantages(
        steps.rewards, steps.values, steps.next_values, np.zeros_like(ended), ended, 0.9, GAE_LAMBDA
    )
    ppo, trpo = [], []
    for rows in (np.arange(40), np.arange(40, 80)):
        states = episodes.states[rows].reshape(-1, 1)
        actions = episodes.actions[rows].reshape(-1, 1)
        advantage = normalized(advantages[rows].ravel())
        # PPO's first minibatch step: ρ = 1, nothing is clipped, weights A / M
        weights = clipped_surrogate_weights(np.ones_like(advantage), advantage, 0.2)
        gradient = policy.weighted_score_sum(states, actions, weights / advantage.size)
        ppo.append(gradient)
        scores = policy.score(states, actions)
        trpo.append(
            conjugate_gradient(
                lambda v, s=scores: fisher_vector_product(s, v, TRPO_DAMPING), gradient, 10
            )
        )
    np.testing.assert_allclose(directions["ppo_first_step"], np.mean(ppo, axis=0), rtol=1e-10)
    np.testing.assert_allclose(directions["trpo_first_step"], np.mean(trpo, axis=0), rtol=1e-8)


def test_explaining_a_state_of_the_lqr_is_refused_by_name():
    with pytest.raises(ValueError, match="`state` needs a finite MDP"):
        explain_theorem("gradlogpi/LQR-v0", 0, 0.9, 0, 0.5)
