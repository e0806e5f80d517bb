"""SB3's PPO on Hopper-v5 at the settings of configs/hopper_ppo.toml (SB3's defaults with
256-256 networks, VecNormalize, 300k steps): does it hop, where the zoo's settings stand?
Prints the final policy's mean return over 100 episodes with sampled actions (observation
statistics frozen). Run in the comparison's venv (`bash dev.sh compare` makes it).

Usage: python sb3_hopper_defaults.py SEED
"""

import sys
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

torch.set_num_threads(1)
seed = int(sys.argv[1])
env = VecNormalize(make_vec_env("Hopper-v5", n_envs=1, seed=seed))
model = PPO("MlpPolicy", env, seed=seed, policy_kwargs={"net_arch": [256, 256]}, verbose=0)
start = time.time()
model.learn(300_000)
seconds = time.time() - start
env.training = False  # freeze the observation statistics, as `gradlogpi evaluate` does
evaluation_env = gym.make("Hopper-v5")
returns = []
for episode in range(100):
    # one reset seed per episode, never shared by two training seeds (unlike 10000 + S + k)
    obs, _ = evaluation_env.reset(seed=10_000 + 1000 * seed + episode)
    done, total = False, 0.0
    while not done:
        action, _ = model.predict(env.normalize_obs(obs[None]), deterministic=False)
        obs, reward, terminated, truncated, _ = evaluation_env.step(action[0])
        total += float(reward)
        done = terminated or truncated
    returns.append(total)
returns_array = np.array(returns)
print(
    f"seed {seed}: mean {returns_array.mean():.1f} (sd {returns_array.std(ddof=1):.1f}), "
    f"learn {seconds:.0f} s"
)
