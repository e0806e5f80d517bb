import sys, json, numpy as np
from gradlogpi.runs.config import load_config
from gradlogpi.runs.train import run_algorithm
config_path, seed, updates, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
extra = dict(a.split("=", 1) for a in sys.argv[5:])
overrides = {"seed": seed, "hyperparameters.n_updates": updates}
for k, v in extra.items():
    overrides[k] = json.loads(v)
config = load_config(config_path, overrides)
rows = []
steps = [0]
def callback(end):
    obs = np.zeros((1, 9))
    policy = end.policy
    # log_std is state-independent here
    log_std = float(np.mean(policy.log_std(obs)))
    r = np.asarray(end.returns).ravel()
    rows.append({"update": end.episode, "log_std": log_std, "returns": r.tolist(), **end.statistics})
result = run_algorithm(config, callback)
with open(out, "w") as f:
    for row in rows:
        f.write(json.dumps(row) + "\n")
