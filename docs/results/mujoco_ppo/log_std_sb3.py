"""Record SB3's PPO log σ and episode returns at every update, at the zoo's
InvertedDoublePendulum settings with VecNormalize (run in the comparison's venv).

Usage: python log_std_sb3.py SEED STEPS OUT.jsonl
e.g.   python log_std_sb3.py 5 250000 sb3_5.jsonl
"""

import json
import sys

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

seed, steps, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(1)
env = VecNormalize(make_vec_env("InvertedDoublePendulum-v5", n_envs=1, seed=seed), gamma=0.98)
model = PPO(
    "MlpPolicy", env, seed=seed, device="cpu", n_steps=128, batch_size=512, gamma=0.98,
    learning_rate=0.000155454, ent_coef=1.05057e-06, clip_range=0.4, n_epochs=10,
    gae_lambda=0.8, max_grad_norm=0.5, vf_coef=0.695929,
)  # fmt: skip
rows = []


class Record(BaseCallback):
    """One row per update: log σ as the update leaves it, the episodes that ended before."""

    def __init__(self):
        super().__init__()
        self.returns, self.update = [], 0

    def _on_step(self):
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
        return True

    def _on_rollout_start(self):
        logged = self.model.logger.name_to_value.items()
        rows.append(
            {
                "update": self.update,
                "log_std": float(self.model.policy.log_std.detach().mean()),
                "returns": self.returns,
                **{key: float(value) for key, value in logged if key.startswith("train/")},
            }
        )
        self.returns, self.update = [], self.update + 1


model.learn(steps, callback=Record())
with open(out, "w") as handle:
    handle.writelines(json.dumps(row) + "\n" for row in rows)
