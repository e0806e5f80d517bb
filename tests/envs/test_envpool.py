"""EnvPool (`vectorization_mode = "envpool"`) steps the same CartPole as Gymnasium.

EnvPool draws its start states from its own generator, so the check starts Gymnasium's
CartPole where EnvPool's started and then plays the same actions in both: observations,
rewards and episode ends must agree step by step (EnvPool keeps float32 observations).
"""

import numpy as np
import pytest

envpool = pytest.importorskip("envpool")

import gymnasium as gym  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_envpool_cartpole_has_gymnasiums_dynamics(seed):
    pool = envpool.make_gymnasium("CartPole-v1", num_envs=1, seed=seed)
    reference = gym.make("CartPole-v1").unwrapped
    observation, _ = pool.reset()
    reference.reset(seed=seed)
    reference.state = observation[0].astype(np.float64)
    actions = np.random.default_rng(seed).integers(2, size=600)
    for step, action in enumerate(actions):
        observation, reward, terminated, _truncated, _ = pool.step(np.array([action]))
        expected, expected_reward, expected_terminated, _, _ = reference.step(int(action))
        np.testing.assert_allclose(observation[0], expected, rtol=1e-4, atol=1e-5)
        assert reward[0] == expected_reward
        assert bool(terminated[0]) == expected_terminated, step
        if expected_terminated:
            break
    assert step > 5  # random actions keep a cart up for a while before it falls


def test_envpool_pendulum_has_gymnasiums_dynamics():
    pool = envpool.make_gymnasium("Pendulum-v1", num_envs=1, seed=3)
    reference = gym.make("Pendulum-v1").unwrapped
    observation, _ = pool.reset()
    reference.reset(seed=3)
    cos, sin, speed = observation[0].astype(np.float64)
    reference.state = np.array([np.arctan2(sin, cos), speed])
    actions = np.random.default_rng(3).uniform(-2, 2, size=(199, 1))
    for action in actions:
        observation, reward, _, _, _ = pool.step(action[None])
        expected, expected_reward, _, _, _ = reference.step(action)
        np.testing.assert_allclose(observation[0], expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(reward[0], expected_reward, rtol=1e-4, atol=1e-4)
