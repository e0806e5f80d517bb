"""MushroomRL's REINFORCE on CartPole-v1 with a linear softmax policy (P1).

MushroomRL has no softmax policy over state features for its policy-gradient algorithms,
so one is written here to its `ParametricPolicy` interface (probabilities, a sample,
∇ln π), and CartPole-v1 is the same Gymnasium environment behind its `Environment`
interface (its own `Gym` wrapper needs the old `gym` package). Its REINFORCE fits after
every 2 episodes (it refuses fewer: the baseline needs two) with SGD at α = 1e-3.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
from mushroom_rl.algorithms.policy_search import REINFORCE
from mushroom_rl.core import Core, Environment, MDPInfo
from mushroom_rl.policy import ParametricPolicy
from mushroom_rl.utils.optimizers import SGDOptimizer
from mushroom_rl.utils.spaces import Box, Discrete

ACTIONS = (np.int64(0), np.int64(1))


class CartPole(Environment):
    def __init__(self, seed: int):
        self.env = gym.make("CartPole-v1")
        self.env.reset(seed=seed)
        space = self.env.observation_space
        info = MDPInfo(Box(space.low, space.high), Discrete(2), gamma=0.99, horizon=500)
        super().__init__(info)

    def reset(self, state=None):
        obs, _ = self.env.reset()
        return obs

    def step(self, action):
        obs, reward, terminated, _, _ = self.env.step(ACTIONS[int(action[0])])
        return obs, reward, terminated, {}


class LinearSoftmax(ParametricPolicy):
    """π(·|s) = softmax(W [s, 1]), W [2, 5]."""

    def __init__(self, seed: int):
        self.weights = np.zeros((2, 5))
        self.rng = np.random.default_rng(seed)

    def probabilities(self, state):
        logits = self.weights @ np.append(state, 1.0)
        logits -= logits.max()
        exp = np.exp(logits)
        return exp / exp.sum()

    def __call__(self, state, action):
        return self.probabilities(state)[int(action[0])]

    def draw_action(self, state):
        return np.array([int(self.rng.random() < self.probabilities(state)[1])])

    def diff_log(self, state, action):
        x = np.append(state, 1.0)
        error = -self.probabilities(state)
        error[int(action[0])] += 1.0
        return np.outer(error, x).ravel()

    def set_weights(self, weights):
        self.weights = weights.reshape(2, 5)

    def get_weights(self):
        return self.weights.ravel()

    @property
    def weights_size(self):
        return 10


def reinforce(episodes: int = 1500, seed: int = 0) -> tuple[int, float]:
    mdp = CartPole(seed)
    agent = REINFORCE(mdp.info, LinearSoftmax(seed), SGDOptimizer(lr=1e-3))
    core = Core(agent, mdp)
    steps = 0

    def count(sample):
        nonlocal steps
        steps += 1

    core.callback_step = count
    start = time.perf_counter()
    core.learn(n_episodes=episodes, n_episodes_per_fit=2, quiet=True)
    return steps, time.perf_counter() - start


MEASURES = {"P1": reinforce}
