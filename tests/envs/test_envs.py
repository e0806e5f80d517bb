import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gradlogpi.envs import (
    OPTIMAL_P_RIGHT,
    OPTIMAL_VALUE,
    SHIPPED,
    BorderFeatures,
    short_corridor_value,
)
from gradlogpi.envs.grid_world import DOWN, LEFT, RIGHT, UP


@pytest.mark.parametrize("env_id", sorted(SHIPPED))
def test_check_env_and_step_cap(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps == SHIPPED[env_id][1]


@pytest.mark.parametrize("env_id", sorted(SHIPPED))
def test_same_seed_same_rollout_and_pickle_round_trip(env_id):
    def rollout(env):
        obs, _ = env.reset(seed=3)
        env.action_space.seed(3)
        trace = [obs]
        for _ in range(40):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            trace.append((obs, reward, terminated, truncated))
            if terminated or truncated:
                obs, _ = env.reset()
        return trace

    env = gym.make(env_id)
    assert rollout(env) == rollout(gym.make(env_id))
    copy = pickle.loads(pickle.dumps(env))
    assert rollout(copy) == rollout(env)


def test_short_corridor_dynamics():
    env = gym.make("gradlogpi/ShortCorridor-v0")
    env.reset(seed=0)
    assert env.step(0)[:3] == (0, -1.0, False)  # left in the first state stays put
    assert env.step(1)[:3] == (1, -1.0, False)
    assert env.step(1)[:3] == (0, -1.0, False)  # reversed in the second state
    env.step(1)
    assert env.step(0)[:3] == (2, -1.0, False)
    assert env.step(1)[:3] == (3, -1.0, True)  # the step into the terminal state gives −1


def test_collapsed_policy_is_truncated_not_hung():
    env = gym.make("gradlogpi/ShortCorridor-v0", max_episode_steps=25)
    env.reset(seed=0)
    outcomes = [env.step(0)[2:4] for _ in range(25)]
    assert outcomes[-1] == (False, True)  # truncated at the cap, not terminated
    assert all(outcome == (False, False) for outcome in outcomes[:-1])


def brute_force_value(p_right):
    """Policy evaluation by solving (I − P) v = r for the three non-terminal states."""
    transitions = np.zeros((3, 4))
    for state in range(3):
        for action, probability in ((1, p_right), (0, 1 - p_right)):
            move = 1 if action == 1 else -1
            if state == 1:
                move = -move
            transitions[state, min(max(state + move, 0), 3)] += probability
    values = np.linalg.solve(np.eye(3) - transitions[:, :3], -np.ones(3))
    return values[0]


def test_optimum_from_bellman_equations_matches_brute_force():
    grid = np.linspace(0.01, 0.99, 197)
    brute = np.array([brute_force_value(p) for p in grid])
    np.testing.assert_allclose(short_corridor_value(grid), brute, rtol=1e-10)
    fine = np.linspace(0.5, 0.7, 200001)
    best = fine[np.argmax(short_corridor_value(fine))]
    assert best == pytest.approx(2 - np.sqrt(2), abs=1e-5)
    assert OPTIMAL_P_RIGHT == pytest.approx(0.585786, abs=1e-6)
    assert brute_force_value(OPTIMAL_P_RIGHT) == pytest.approx(OPTIMAL_VALUE, rel=1e-12)
    assert OPTIMAL_VALUE == pytest.approx(-11.6568, abs=1e-4)


def test_grid_world_border_features_are_the_seeds():
    features = BorderFeatures(3, 4)
    np.testing.assert_array_equal(features(0), [1, 0, 0, 1])  # top-left: borders up and left
    np.testing.assert_array_equal(features(5), [0, 0, 0, 0])  # interior
    np.testing.assert_array_equal(features(11), [0, 1, 1, 0])  # bottom-right
    assert BorderFeatures(3, 4, position=True).n_features == 4 + 12


def test_grid_world_moves_and_renders():
    env = gym.make("gradlogpi/GridWorld-v0", n_rows=2, n_cols=3, render_mode="rgb_array")
    env.reset(seed=0)
    assert env.step(UP)[0] == 0 and env.step(LEFT)[0] == 0
    assert env.step(RIGHT)[0] == 1
    image = env.render()
    assert image.shape == (64, 96, 3) and image.dtype == np.uint8
    assert env.step(DOWN)[0] == 4
    assert env.step(RIGHT)[:3] == (5, -1.0, True)


def test_grid_world_bad_arguments_named():
    with pytest.raises(
        ValueError, match=r"`goal` must be a \(row, column\) inside the 2×2 grid; got \(2, 0\)"
    ):
        gym.make("gradlogpi/GridWorld-v0", n_rows=2, n_cols=2, goal=(2, 0))
    with pytest.raises(ValueError, match="`n_rows` must be an int >= 1; got 0"):
        gym.make("gradlogpi/GridWorld-v0", n_rows=0)


@pytest.mark.parametrize("env_id", ["gradlogpi/ShortCorridor-v0", "gradlogpi/GridWorld-v0"])
def test_action_outside_the_action_space_is_named(env_id):
    import re

    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    with pytest.raises(
        ValueError, match=re.escape(f"`action` must be in {env.action_space}; got 7")
    ):
        env.step(7)
