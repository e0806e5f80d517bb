"""Record our PPO's log σ and episode returns at every update (one JSON line per update).

Usage: python log_std_ours.py CONFIG SEED UPDATES OUT.jsonl [KEY=JSON ...]
e.g.   python log_std_ours.py configs/inverted_double_pendulum_ppo.toml 5 1953 ours_5.jsonl
(KEY=JSON: config overrides, e.g. 'policy.log_std="bounded"').
"""

import json
import sys

import numpy as np

from gradlogpi.runs.config import load_config
from gradlogpi.runs.train import run_algorithm

config_path, seed, updates, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
overrides = {"seed": seed, "hyperparameters.n_updates": updates}
for pair in sys.argv[5:]:
    key, value = pair.split("=", 1)
    overrides[key] = json.loads(value)
config = load_config(config_path, overrides)
rows = []


def record(end):
    # σ is state-independent here: read it at any state
    state = np.zeros((1, *end.policy.observation_shape))
    rows.append(
        {
            "update": end.episode,
            "log_std": float(np.mean(end.policy.log_std(state))),
            "returns": np.asarray(end.returns).ravel().tolist(),
            **end.statistics,
        }
    )


run_algorithm(config, record)
with open(out, "w") as handle:
    handle.writelines(json.dumps(row) + "\n" for row in rows)
