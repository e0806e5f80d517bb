"""SB3 PPO on Pendulum-v1 at the zoo's settings (gSDE included), seeds from argv: the
final policy on 100 episodes of each of two sets (below), solved at a mean >= -200, as
docs/results/pendulum_ppo/summary.md measures ours.

Actions sampled as ours are: an independent draw of pi(a|s) at every step, which for
SB3's gSDE means a new exploration matrix every step (`reset_noise`); without it SB3's
`predict` would hold the last training matrix for all 100 episodes. The deterministic
mean over the same episodes is written too. Rows are appended to
sb3_rows_both_episode_sets.csv in the working directory (sb3_rows.csv holds seed 20,
written before the second set was added); run in the compare venv (.venv-compare).

Two episode sets: SB3's (episode k reset with seed 10000 + seed + k, so the sets of
neighbouring seeds overlap in 99 of 100 episodes) and gradlogpi's (`gradlogpi evaluate
RUN --seed 10000+seed`: episode k's reset seed drawn from SeedSequence(10000 + seed)'s
k-th child, independent across seeds), so both libraries' policies can be compared on
the same episodes. Pendulum's return depends on the starting angle, and SB3's sets for
seeds 50-59 start closer to upright than average (mean |angle| 1.35-1.42 against pi/2)."""

import csv
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from gradlogpi.rollouts.episodes import RunStreams


def evaluate(model, reset_seeds, deterministic):
    """Mean return over 100 episodes (reset with `reset_seeds`) and its 95% bootstrap interval."""
    env = gym.make("Pendulum-v1")
    returns = []
    for reset_seed in reset_seeds:
        obs, _ = env.reset(seed=int(reset_seed))
        total, done = 0.0, False
        while not done:
            if not deterministic:
                model.policy.reset_noise(1)  # a fresh draw of pi(a|s) each step
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    returns = np.array(returns)
    boot = np.random.default_rng(0).choice(returns, size=(10000, 100)).mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return returns.mean(), low, high


torch.set_num_threads(1)
for seed in map(int, sys.argv[1:]):
    start = time.perf_counter()
    env = make_vec_env("Pendulum-v1", n_envs=4, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=1024,
        gae_lambda=0.95,
        gamma=0.9,
        n_epochs=10,
        ent_coef=0.0,
        learning_rate=1e-3,
        clip_range=0.2,
        use_sde=True,
        sde_sample_freq=4,
        seed=seed,
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=100_000)
    train_seconds = time.perf_counter() - t0
    sb3_episodes = [10000 + seed + k for k in range(100)]
    our_episodes = RunStreams(10000 + seed, range(100), 1, lambda u: u).env_seeds
    mean, low, high = evaluate(model, sb3_episodes, deterministic=False)
    greedy, _, _ = evaluate(model, sb3_episodes, deterministic=True)
    ours_mean, ours_low, ours_high = evaluate(model, our_episodes, deterministic=False)
    ours_greedy, _, _ = evaluate(model, our_episodes, deterministic=True)
    row = dict(
        seed=seed,
        solved="yes" if mean >= -200 else "no",
        mean=f"{mean:.2f}",
        ci95_low=f"{low:.2f}",
        ci95_high=f"{high:.2f}",
        greedy_mean=f"{greedy:.2f}",
        solved_on_our_episodes="yes" if ours_mean >= -200 else "no",
        mean_on_our_episodes=f"{ours_mean:.2f}",
        ci95_low_on_our_episodes=f"{ours_low:.2f}",
        ci95_high_on_our_episodes=f"{ours_high:.2f}",
        greedy_mean_on_our_episodes=f"{ours_greedy:.2f}",
        train_seconds=f"{train_seconds:.1f}",
        seconds=f"{time.perf_counter() - start:.1f}",
    )
    print(row, flush=True)
    with open("sb3_rows_both_episode_sets.csv", "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
