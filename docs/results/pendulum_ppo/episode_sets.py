"""Our saved Pendulum policies on two sets of 100 evaluation episodes: gradlogpi's own
(`gradlogpi evaluate RUN --seed 10000+S`: episode k reset with a seed from
SeedSequence(10000 + S)'s k-th child) and the one sb3_run.py uses for SB3 (episode k reset
with seed 10000 + S + k), actions sampled and acting on the mean.

Usage: python episode_sets.py RUN_DIRECTORY S [S ...], where RUN_DIRECTORY names the run
directory of `gradlogpi train --config configs/pendulum_ppo.toml --seed S` with `{seed}`
in place of S, e.g. `runs/pendulum_{seed}`. Prints one CSV
row per seed, and the mean starting |angle| of each episode set (π/2 on average)."""

import sys

import gymnasium as gym
import numpy as np

from gradlogpi.policies.greedy import GreedyPolicy
from gradlogpi.rollouts import episodes
from gradlogpi.runs.evaluate import evaluate_one, load_run


def returns_on(policy, seed: int, reset_seeds: list[int]) -> float:
    """Mean return of `policy` over episodes reset with `reset_seeds`, played as
    `gradlogpi evaluate --seed SEED` plays its own (lockstep copies, the same action streams)."""
    streams = episodes.policy_streams(seed, range(len(reset_seeds)), policy)
    streams.env_seeds = list(reset_seeds)
    runs = episodes.Runs(episodes.make_env("Pendulum-v1"), streams, None)
    try:
        return float(episodes.generate_episode(runs, policy).rewards.sum(axis=1).mean())
    finally:
        runs.close()


def mean_start_angle(reset_seeds: list[int]) -> float:
    env = gym.make("Pendulum-v1")
    angles = []
    for reset_seed in reset_seeds:
        env.reset(seed=int(reset_seed))
        angles.append(abs(env.unwrapped.state[0]))
    return float(np.mean(angles))


run_directory, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
print(
    "seed,sampled_on_our_episodes,sampled_on_sb3_episodes,mean_on_our_episodes,"
    "mean_on_sb3_episodes,start_angle_our_episodes,start_angle_sb3_episodes"
)
for seed in seeds:
    config, policy = load_run(run_directory.format(seed=seed))
    ours = episodes.RunStreams(10000 + seed, range(100), 1, lambda u: u).env_seeds
    sb3 = [10000 + seed + k for k in range(100)]
    sampled_ours = evaluate_one("Pendulum-v1", policy, 100, 10000 + seed, False).mean_return
    greedy_ours = evaluate_one("Pendulum-v1", policy, 100, 10000 + seed, True).mean_return
    row = [
        sampled_ours,
        returns_on(policy, 10000 + seed, sb3),
        greedy_ours,
        returns_on(GreedyPolicy(policy), 10000 + seed, sb3),
        mean_start_angle(ours),
        mean_start_angle(sb3),
    ]
    print(seed, *(f"{value:.2f}" for value in row), sep=",", flush=True)
