"""Tianshou 2.0 on CartPole-v1: REINFORCE with an MLP 4-128-2 (P4), A2C with 64-64 MLPs (P5).

Tianshou's own pieces as its examples assemble them: `Net` + `DiscreteActor` (+
`DiscreteCritic`), `DiscreteActorPolicy`, the `Reinforce` / `A2C` algorithm, a `Collector`
over its `DummyVectorEnv`, trained by `run_training` with `OnPolicyTrainerParams`, no test
collector, one PyTorch thread. REINFORCE learns after every episode (one env); A2C after
every 5 steps of each of 8 envs. Env steps are counted by a wrapper on each sub-env.
"""

from __future__ import annotations

import time

import gymnasium as gym
import torch
from tianshou.algorithm.modelfree.a2c import A2C
from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy, Reinforce
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.trainer import OnPolicyTrainerParams
from tianshou.utils.net.common import Net
from tianshou.utils.net.discrete import DiscreteActor, DiscreteCritic


class Counted(gym.Wrapper):
    steps = 0

    def step(self, action):
        Counted.steps += 1
        return self.env.step(action)


def _envs(n: int) -> DummyVectorEnv:
    return DummyVectorEnv([lambda: Counted(gym.make("CartPole-v1")) for _ in range(n)])


def _train(algorithm, envs, collect: dict, budget: int) -> tuple[int, float]:
    collector = Collector(algorithm, envs, VectorReplayBuffer(20_000, len(envs)))
    collector.reset()
    Counted.steps = 0
    params = OnPolicyTrainerParams(
        training_collector=collector,
        test_collector=None,
        max_epochs=1,
        epoch_num_steps=budget,
        batch_size=None,
        update_step_num_repetitions=1,
        test_in_training=False,
        show_progress=False,
        **collect,
    )
    start = time.perf_counter()
    algorithm.run_training(params)
    return Counted.steps, time.perf_counter() - start


def _seeded_envs(n: int, seed: int) -> DummyVectorEnv:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    envs = _envs(n)
    envs.seed(seed)
    return envs


def _mlp(hidden: list[int]) -> Net:
    return Net(state_shape=4, hidden_sizes=hidden, activation=torch.nn.Tanh)


def _policy(hidden: list[int]) -> DiscreteActorPolicy:
    actor = DiscreteActor(preprocess_net=_mlp(hidden), action_shape=2, softmax_output=False)
    return DiscreteActorPolicy(actor=actor, action_space=gym.spaces.Discrete(2))


def reinforce(steps: int = 15_000, seed: int = 0) -> tuple[int, float]:
    envs = _seeded_envs(1, seed)
    algorithm = Reinforce(policy=_policy([128]), optim=AdamOptimizerFactory(lr=1e-3), gamma=0.99)
    collect = {"collection_step_num_episodes": 1, "collection_step_num_env_steps": None}
    return _train(algorithm, envs, collect, steps)


def a2c(steps: int = 20_000, seed: int = 0) -> tuple[int, float]:
    envs = _seeded_envs(8, seed)
    critic = DiscreteCritic(preprocess_net=_mlp([64, 64]))
    algorithm = A2C(policy=_policy([64, 64]), critic=critic, optim=AdamOptimizerFactory(lr=7e-4))
    return _train(algorithm, envs, {"collection_step_num_env_steps": 40}, steps)


MEASURES = {"P4": reinforce, "P5": a2c}
