"""SB3 PPO on MountainCar-v0 at rl-baselines3-zoo's settings (VecNormalize), seeds from argv;
the final model on 100 fresh episodes (seed 10000 + S + k), actions sampled and greedy.

Rows are appended to sb3_rows.csv in the working directory; run in the compare venv
(.venv-compare)."""

import csv
import sys
import time

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

torch.set_num_threads(1)
for seed in map(int, sys.argv[1:]):
    start = time.perf_counter()
    env = VecNormalize(make_vec_env("MountainCar-v0", n_envs=16, seed=seed), gamma=0.99)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=16,
        gae_lambda=0.98,
        gamma=0.99,
        n_epochs=4,
        ent_coef=0.0,
        seed=seed,
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=1_000_000)
    train_seconds = time.perf_counter() - t0
    row = {"seed": seed}
    for mode, deterministic in (("sampled", False), ("greedy", True)):
        evaluation = VecNormalize(
            make_vec_env("MountainCar-v0", n_envs=1), training=False, norm_reward=False
        )
        evaluation.obs_rms = env.obs_rms
        returns = []
        for k in range(100):
            evaluation.seed(10000 + seed + k)
            obs = evaluation.reset()
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(obs, deterministic=deterministic)
                obs, reward, dones, _ = evaluation.step(action)
                total += float(evaluation.get_original_reward()[0])
                done = bool(dones[0])
            returns.append(total)
        row[f"{mode}_mean"] = f"{np.mean(returns):.2f}"
        row[f"{mode}_solved"] = "yes" if np.mean(returns) >= -110 else "no"
    row["train_seconds"] = f"{train_seconds:.1f}"
    row["seconds"] = f"{time.perf_counter() - start:.1f}"
    print(row, flush=True)
    with open("sb3_rows.csv", "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
