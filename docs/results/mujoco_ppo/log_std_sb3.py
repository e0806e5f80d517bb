import sys, json, numpy as np, torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize
seed, steps, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(1)
env = VecNormalize(make_vec_env("InvertedDoublePendulum-v5", n_envs=1, seed=seed), gamma=0.98)
model = PPO("MlpPolicy", env, seed=seed, device="cpu", n_steps=128, batch_size=512, gamma=0.98,
            learning_rate=0.000155454, ent_coef=1.05057e-06, clip_range=0.4, n_epochs=10,
            gae_lambda=0.8, max_grad_norm=0.5, vf_coef=0.695929)
rows = []
class Log(BaseCallback):
    def __init__(self):
        super().__init__(); self.returns = []; self.update = 0
    def _on_step(self):
        for info in self.locals["infos"]:
            if "episode" in info: self.returns.append(float(info["episode"]["r"]))
        return True
    def _on_rollout_start(self):
        log_std = float(self.model.policy.log_std.mean())
        vals = {k: v for k, v in self.model.logger.name_to_value.items()}
        rows.append({"update": self.update, "log_std": log_std, "returns": self.returns, **{k: float(v) for k, v in vals.items() if k.startswith("train/")}})
        self.returns = []; self.update += 1
model.learn(steps, callback=Log())
with open(out, "w") as f:
    for row in rows: f.write(json.dumps(row) + "\n")
