"""SB3 PPO on LunarLander-v3 at the zoo's settings, seeds from argv: docs/results/lunarlander_ppo/sb3.md protocol.

Rows are appended to sb3_rows.csv in the working directory; run in the compare venv
(.venv-compare)."""

import csv
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

torch.set_num_threads(1)
for seed in map(int, sys.argv[1:]):
    start = time.perf_counter()
    episodes = []

    class Episodes(BaseCallback):
        def _on_step(self):
            for info in self.locals["infos"]:
                if "episode" in info:
                    episodes.append((float(info["episode"]["r"]), int(info["episode"]["l"])))  # noqa: B023 (used within its own seed)
            return True

    env = make_vec_env("LunarLander-v3", n_envs=16, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=1024,
        batch_size=64,
        n_epochs=4,
        gamma=0.999,
        gae_lambda=0.98,
        ent_coef=0.01,
        learning_rate=3e-4,
        max_grad_norm=0.5,
        seed=seed,
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=1_000_000, callback=Episodes())
    train_seconds = time.perf_counter() - t0
    evaluation = gym.make("LunarLander-v3")
    returns, limits = [], 0
    for k in range(100):
        obs, _ = evaluation.reset(seed=10000 + seed + k)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=False)
            obs, reward, terminated, truncated, _ = evaluation.step(action)
            total += reward
            done = terminated or truncated
        limits += bool(truncated and not terminated)
        returns.append(total)
    returns = np.array(returns)
    rng = np.random.default_rng(0)
    boot = rng.choice(returns, size=(10000, 100)).mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    last = episodes[-200:]
    row = dict(
        seed=seed,
        solved="yes" if returns.mean() >= 200 else "no",
        mean=f"{returns.mean():.2f}",
        std=f"{returns.std():.2f}",
        ci95_low=f"{low:.2f}",
        ci95_high=f"{high:.2f}",
        time_limit_episodes=limits,
        train_episodes=len(episodes),
        last200_train_mean=f"{np.mean([r for r, _ in last]):.2f}",
        last200_train_time_limit_frac=f"{np.mean([length >= 1000 for _, length in last]):.3f}",
        train_seconds=f"{train_seconds:.1f}",
        seconds=f"{time.perf_counter() - start:.1f}",
    )
    print(row, flush=True)
    with open("sb3_rows.csv", "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
