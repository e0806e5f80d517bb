"""Stable-Baselines3's A2C on 8 sync CartPole-v1 envs, MLP 64-64, 5 steps per update (P5).

SB3's defaults for A2C (RMSprop, n_steps = 5), one PyTorch thread, its DummyVecEnv (the
sync vector env it ships); timed over `learn`, collection and updates together.
"""

from __future__ import annotations

import time

import torch
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env


def a2c(steps: int = 40_000, seed: int = 0) -> tuple[int, float]:
    torch.set_num_threads(1)
    envs = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = A2C("MlpPolicy", envs, n_steps=5, seed=seed, device="cpu")
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps, time.perf_counter() - start


MEASURES = {"P5": a2c}
