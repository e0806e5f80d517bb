"""Our PPO and A2C against Stable-Baselines3's and SBX's, learning curve to learning curve.

    bash dev.sh compare                       the full comparison (hours on 2 cores)
    bash dev.sh compare --quick               CartPole only, short budgets, 2 seeds (minutes)
    bash dev.sh compare --tasks CartPole-v1   one task alone (--seeds N, --no-linear)
    bash dev.sh compare --algorithms a2c      A2C's tasks only (CartPole-v1-a2c)
    bash dev.sh compare --first-seed 20       seeds 20, 21, ... instead of 0, 1, ...

Runs in its own virtual environment (.venv-compare, made by dev.sh) with the `compare`
extra: stable-baselines3, sbx-rl (SB3's algorithms on JAX) and rliable are never
dependencies of gradlogpi.

For each task, the libraries train with rl-baselines3-zoo's tuned settings for it
(hyperparams/ppo.yml and a2c.yml, quoted in make_tasks; SBX drops what it does not
implement, said in the task's note), the same env-step budget and the same seeds;
gradlogpi also trains a linear policy on features, a column no peer fills. A task is one
algorithm on one environment: PPO's are named by the environment (CartPole-v1), A2C's
with a suffix (CartPole-v1-a2c); SBX has no A2C, so A2C's tasks compare gradlogpi with SB3
alone. Our neural runs use the shipped configs' backend (policy.backend = "jax").

Wall-clock is what the user waits for. Ours: `gradlogpi train --config ... --run-dir ...`
as a subprocess, from launch to exit (start-up, training, the final evaluation of the
shipped configs, checkpoint, plots); the peers': `learn()` alone (their model is built
before the clock starts, the evaluation after it stops). Runs go one at a time by
default (--workers 1), alternating libraries seed by seed (ours, SB3, SBX), each in a fresh
process, one thread each (PyTorch one thread; XLA's CPU client single-threaded).

Each run's final policy is evaluated on the same fresh episodes (the zoo's deterministic
evaluation: the most probable action, the Gaussian's mean): SB3's evaluate_policy for the
peers, `gradlogpi.runs.evaluate.evaluate` on the run directory for ours. Written to --out:
runs.jsonl (one line per run, appended as runs finish, so an interrupted comparison
continues where it stopped), configs/ (the TOML each of our runs trained from), one figure
per task (mean return of the last 10 episodes against env steps, mean over seeds with a
95% bootstrap band), and summary.md (final IQM with rliable's stratified bootstrap 95% CIs,
median wall-clock seconds per run, the peers' medians over ours, versions, date, the
command).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from gradlogpi.runs.pool import WorkerPool
from gradlogpi.runs.progress import StudyProgress, interrupted

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# one thread for XLA's CPU client too (ours and SBX), as for PyTorch (SB3)
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

LIBRARIES = ("gradlogpi", "stable-baselines3", "sbx")
ALGORITHMS = ("ppo", "a2c")
PROTOCOL = 6
"""Bumped when what a record measures changes (2: our runs timed as `gradlogpi train`
processes, SBX added; 3: gradlogpi normalises where the zoo does and takes its vf_coef;
4: gradlogpi's Adam ε is 1e-5, SB3's and SBX's, and its Acrobot steps as arrays in the
native vector env; 5: gradlogpi explores with gSDE where the zoo does, Pendulum; 6: its
neural Gaussians' log σ is a free parameter, as SB3's and SBX's):
records of another protocol in runs.jsonl are not reused."""
EVALUATION_EPISODES = 20
EVALUATION_SEED = 10_000
CURVE_WINDOW = 10


@dataclasses.dataclass(frozen=True)
class Task:
    """One algorithm on one environment of the comparison.

    zoo: rl-baselines3-zoo's settings of the algorithm for the environment, as SB3 keyword
      arguments (with `n_envs` and `normalize`, which the zoo gives beside them).
    ours: the same settings as a gradlogpi TrainConfig (neural policy and critic).
    linear: a gradlogpi TrainConfig with a linear policy, or None.
    sbx_drops: zoo keys SBX's PPO does not implement, left out of its keyword arguments.
    algorithm: "ppo" or "a2c" (SB3's class of that name; SBX has PPO only).
    """

    env_id: str
    steps: int
    zoo_steps: int
    zoo: dict[str, Any]
    ours: dict[str, Any]
    linear: dict[str, Any] | None = None
    note: str = ""
    sbx_drops: tuple[str, ...] = ()
    algorithm: str = "ppo"

    @property
    def libraries(self) -> tuple[str, ...]:
        """The libraries that train this task, in the order their runs alternate."""
        return LIBRARIES if self.algorithm == "ppo" else ("gradlogpi", "stable-baselines3")


def ppo_hyperparameters(zoo: dict[str, Any], steps: int, **extra: Any) -> dict[str, Any]:
    """gradlogpi's PPOConfig fields for the zoo's settings (minibatches from batch_size)."""
    n_envs, n_steps = zoo["n_envs"], zoo.get("n_steps", 2048)
    buffer = n_envs * n_steps
    settings = {
        "n_updates": max(1, steps // buffer),
        "num_envs": n_envs,
        "steps_per_env": n_steps,
        "minibatches": max(1, buffer // zoo.get("batch_size", 64)),
        "epochs": zoo.get("n_epochs", 10),
        "gamma": zoo.get("gamma", 0.99),
        "gae_lambda": zoo.get("gae_lambda", 0.95),
        "clip_range": zoo.get("clip_range_value", 0.2),
        "entropy_coefficient": zoo.get("ent_coef", 0.0),
        "max_grad_norm": zoo.get("max_grad_norm", 0.5),
        "schedule": "linear" if zoo.get("linear") else "constant",
    }
    if zoo.get("normalize"):  # the zoo's VecNormalize: observations and rewards
        settings["normalize_observations"] = settings["normalize_rewards"] = True
    if "vf_coef" in zoo:
        settings["value_coefficient"] = zoo["vf_coef"]
    settings.update(extra)
    return settings


def neural_config(
    env_id: str, zoo: dict[str, Any], steps: int, policy: str, **extra: Any
) -> dict[str, Any]:
    """Our config with the zoo's network: 64-64 tanh for policy and critic (SB3's MlpPolicy),
    on the JAX backend as the shipped configs (configs/*_ppo.toml, cartpole_neural.toml).

    The final evaluation is left at the shipped configs' default (100 stochastic episodes):
    it is part of what the user waits for.
    """
    lr = zoo.get("learning_rate_value", 3e-4)
    hyper = ppo_hyperparameters(zoo, steps, **extra)
    network = network_of(zoo)
    exploration = {}
    if zoo.get("use_sde"):  # SB3's sde_sample_freq -1: one draw per rollout, our 0
        exploration["gsde"] = {"sample_every": max(zoo.get("sde_sample_freq", -1), 0)}
    return {
        "env": env_id,
        "algorithm": "ppo",
        "policy": {
            "kind": policy,
            **network,
            "lr": lr,
            "log_std0": zoo.get("policy_kwargs", {}).get("log_std_init", 0.0),
            "backend": "jax",
            **exploration,
        },
        "value": {
            "kind": "neural",
            **network,
            "lr": lr,
            "epochs": hyper["epochs"],
            "minibatches": hyper["minibatches"],
        },
        "hyperparameters": hyper,
    }


def network_of(zoo: dict[str, Any]) -> dict[str, Any]:
    """Our networks' table entries for the zoo's `policy_kwargs` (SB3's MlpPolicy when it
    gives none: 64-64 tanh, orthogonal initialisation), the same for policy and critic."""
    kwargs = zoo.get("policy_kwargs", {})
    return {
        "hidden": list(kwargs.get("net_arch", [64, 64])),
        "activation": kwargs.get("activation", "tanh"),
        "initialization": "orthogonal" if kwargs.get("ortho_init", True) else "uniform",
    }


def peer_policy_kwargs(zoo: dict[str, Any], library: str) -> dict[str, Any]:
    """The zoo's `policy_kwargs` as SB3 (PyTorch modules) or SBX (Flax functions) take them;
    {} where the zoo gives none."""
    kwargs = dict(zoo.get("policy_kwargs", {}))
    if not kwargs:
        return {}
    activation = kwargs.pop("activation", "tanh")
    if library == "sbx":
        import flax.linen

        kwargs["activation_fn"] = getattr(flax.linen, activation)
    else:
        import torch

        kwargs["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[activation]
    if "net_arch" in kwargs:  # separate actor and critic networks of these sizes
        layers = list(kwargs["net_arch"])
        kwargs["net_arch"] = {"pi": layers, "vf": layers}
    return kwargs


def linear_config(env_id: str, zoo: dict[str, Any], steps: int) -> dict[str, Any]:
    """The same settings for a linear softmax policy on the raw state (α = 1), MLP critic
    (PyTorch: the policy's backend setting is the default)."""
    config = neural_config(env_id, zoo, steps, "matrix_softmax")
    config["policy"] = {"kind": "matrix_softmax"}
    config["features"] = {"kind": "raw"}
    config["hyperparameters"]["alpha_theta"] = 1.0
    return config


def a2c_config(env_id: str, zoo: dict[str, Any], steps: int, policy: str) -> dict[str, Any]:
    """Our A2C with the zoo's A2C settings, on SB3's A2C defaults where the zoo gives none
    (5 steps per env, learning rate 7e-4, γ 0.99, λ 1, gradient norm 0.5, no advantage
    normalisation, vf_coef 0.5), as configs/cartpole_a2c.toml: 64-64 tanh policy and critic
    on the JAX backend, the critic stepped in the policy's loss (value_fitting "auto")."""
    n_envs, n_steps = zoo["n_envs"], zoo.get("n_steps", 5)
    lr = zoo.get("learning_rate_value", 7e-4)
    return {
        "env": env_id,
        "algorithm": "a2c",
        "policy": {"kind": policy, "hidden": [64, 64], "lr": lr, "backend": "jax"},
        "value": {"kind": "neural", "hidden": [64, 64], "lr": lr, "epochs": 1, "minibatches": 1},
        "hyperparameters": {
            "n_updates": max(1, steps // (n_envs * n_steps)),
            "num_envs": n_envs,
            "steps_per_env": n_steps,
            "gamma": zoo.get("gamma", 0.99),
            "gae_lambda": zoo.get("gae_lambda", 1.0),
            "entropy_coefficient": zoo.get("ent_coef", 0.0),
            "max_grad_norm": zoo.get("max_grad_norm", 0.5),
            "normalize_advantages": zoo.get("normalize_advantage", False),
            "value_coefficient": zoo.get("vf_coef", 0.5),
            "schedule": "linear" if zoo.get("linear") else "constant",
        },
    }


def linear_schedule(initial: float) -> Any:
    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial

    return schedule


def make_tasks(quick: bool) -> dict[str, Task]:
    cartpole_zoo = {
        "n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98,
        "n_epochs": 20, "ent_coef": 0.0, "learning_rate_value": 0.001, "clip_range_value": 0.2,
        "linear": True,
    }  # fmt: skip
    acrobot_zoo = {
        "n_envs": 16, "n_steps": 256, "gae_lambda": 0.94, "gamma": 0.99, "n_epochs": 4,
        "ent_coef": 0.0, "normalize": True,
    }  # fmt: skip
    lunar_zoo = {
        "n_envs": 16, "n_steps": 1024, "batch_size": 64, "gae_lambda": 0.98, "gamma": 0.999,
        "n_epochs": 4, "ent_coef": 0.01,
    }  # fmt: skip
    pendulum_zoo = {
        "n_envs": 4, "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10,
        "ent_coef": 0.0, "learning_rate_value": 1e-3, "clip_range_value": 0.2,
        "use_sde": True, "sde_sample_freq": 4,
    }  # fmt: skip
    mountaincar_zoo = {
        "n_envs": 16, "n_steps": 16, "gae_lambda": 0.98, "gamma": 0.99, "n_epochs": 4,
        "ent_coef": 0.0, "normalize": True,
    }  # fmt: skip
    double_pendulum_zoo = {
        "n_envs": 1, "n_steps": 128, "batch_size": 512, "gamma": 0.98,
        "learning_rate_value": 0.000155454, "ent_coef": 1.05057e-06, "clip_range_value": 0.4,
        "n_epochs": 10, "gae_lambda": 0.8, "max_grad_norm": 0.5, "vf_coef": 0.695929,
        "normalize": True,
    }  # fmt: skip
    hopper_zoo = {
        "n_envs": 1, "n_steps": 512, "batch_size": 32, "gamma": 0.999,
        "learning_rate_value": 9.80828e-05, "ent_coef": 0.00229519, "clip_range_value": 0.2,
        "n_epochs": 5, "gae_lambda": 0.99, "max_grad_norm": 0.7, "vf_coef": 0.835671,
        "normalize": True,
        "policy_kwargs": {
            "log_std_init": -2.0, "ortho_init": False, "activation": "relu",
            "net_arch": [256, 256],
        },
    }  # fmt: skip
    inverted_zoo = {
        "n_envs": 1, "n_steps": 32, "batch_size": 64, "gamma": 0.999,
        "learning_rate_value": 0.000222425, "ent_coef": 1.37976e-07, "clip_range_value": 0.4,
        "n_epochs": 5, "gae_lambda": 0.9, "max_grad_norm": 0.3, "vf_coef": 0.19816,
        "normalize": True,
    }  # fmt: skip

    cartpole_a2c_zoo = {"n_envs": 8, "ent_coef": 0.0}  # hyperparams/a2c.yml, 5e5 steps

    cartpole_steps = 20_000 if quick else 100_000
    cartpole_a2c_steps = 20_000 if quick else 500_000
    tasks = {
        "CartPole-v1": Task(
            "CartPole-v1", cartpole_steps, 100_000, cartpole_zoo,
            # as configs/cartpole_neural.toml: CartPole's own vector env, all carts as arrays
            neural_config(
                "CartPole-v1", cartpole_zoo, cartpole_steps, "neural_softmax",
                vectorization_mode="vector_entry_point",
            ),
            linear_config("CartPole-v1", cartpole_zoo, cartpole_steps),
            "SBX: its MlpPolicy's own defaults (no orthogonal initialisation; SB3's has it)",
        ),
        "CartPole-v1-a2c": Task(
            "CartPole-v1", cartpole_a2c_steps, 500_000, cartpole_a2c_zoo,
            a2c_config("CartPole-v1", cartpole_a2c_zoo, cartpole_a2c_steps, "neural_softmax"),
            None,
            "A2C, SB3's defaults beside the zoo's n_envs and ent_coef; SBX has no A2C. "
            "Optimiser: SB3 RMSprop (α 0.99, ε 1e-5), gradlogpi Adam; both one loss and one "
            "gradient-norm clip over policy and critic",
            algorithm="a2c",
        ),
    }  # fmt: skip
    if quick:
        return tasks
    tasks["Acrobot-v1"] = Task(
        "Acrobot-v1", 200_000, 1_000_000, acrobot_zoo,
        # as configs/acrobot_ppo.toml: gradlogpi's native Acrobot vector env (the sync
        # vector env's steps bit for bit, stepped as arrays)
        neural_config(
            "Acrobot-v1", acrobot_zoo, 200_000, "neural_softmax",
            vectorization_mode="vector_entry_point",
        ),
        linear_config("Acrobot-v1", acrobot_zoo, 200_000),
        "zoo: 1M steps and VecNormalize (all three normalise observations and rewards); here "
        "200k",
    )  # fmt: skip
    tasks["Pendulum-v1"] = Task(
        "Pendulum-v1", 100_000, 100_000, pendulum_zoo,
        neural_config("Pendulum-v1", pendulum_zoo, 100_000, "neural_gaussian"),
        None,
        "zoo uses gSDE (use_sde, sde_sample_freq 4): SB3 and gradlogpi ([policy.gsde]) "
        "explore with it; SBX's PPO does not implement it (both keys dropped: independent "
        "Gaussian noise). configs/pendulum_ppo.toml is not these settings (γ 0.95, 200k "
        "steps, rate and clip annealed, no gSDE)",
        ("use_sde", "sde_sample_freq"),
    )  # fmt: skip
    tasks["LunarLander-v3"] = Task(
        "LunarLander-v3", 200_000, 1_000_000, lunar_zoo,
        neural_config("LunarLander-v3", lunar_zoo, 200_000, "neural_softmax"),
        None,
        "zoo (LunarLander-v2 settings): 1M steps; here 200k",
    )  # fmt: skip
    tasks["InvertedPendulum-v5"] = Task(
        "InvertedPendulum-v5", 50_000, 1_000_000, inverted_zoo,
        neural_config("InvertedPendulum-v5", inverted_zoo, 50_000, "neural_gaussian"),
        None,
        "MuJoCo; zoo (InvertedPendulum-v3 settings): 1M steps and VecNormalize (all three "
        "normalise); here 50k",
    )  # fmt: skip
    tasks["MountainCar-v0"] = Task(
        "MountainCar-v0", 1_000_000, 1_000_000, mountaincar_zoo,
        neural_config("MountainCar-v0", mountaincar_zoo, 1_000_000, "neural_softmax"),
        None,
        "zoo: VecNormalize (all three normalise observations and rewards); the zoo's budget. "
        "configs/mountaincar_ppo.toml trains 2M steps with an entropy bonus of 0.01",
    )  # fmt: skip
    tasks["InvertedDoublePendulum-v5"] = Task(
        "InvertedDoublePendulum-v5", 500_000, 1_000_000, double_pendulum_zoo,
        neural_config(
            "InvertedDoublePendulum-v5", double_pendulum_zoo, 500_000, "neural_gaussian"
        ),
        None,
        "MuJoCo; zoo (InvertedDoublePendulum-v3 settings): 1M steps and VecNormalize (all "
        "three normalise); here 500k. configs/inverted_double_pendulum_ppo.toml is not these "
        "settings (SB3's MuJoCo defaults, 256-256 networks, raw observations, training "
        "episodes cut at 200 steps, 1M steps)",
    )  # fmt: skip
    tasks["Hopper-v5"] = Task(
        "Hopper-v5", 300_000, 1_000_000, hopper_zoo,
        neural_config("Hopper-v5", hopper_zoo, 300_000, "neural_gaussian"),
        None,
        "MuJoCo; zoo (Hopper-v3 settings): 1M steps, VecNormalize, 256-256 ReLU networks "
        "without orthogonal initialisation, log σ from −2; here 300k. "
        "configs/hopper_ppo.toml is not these settings (SB3's MuJoCo defaults, 256-256 "
        "tanh networks, 300k steps). SBX: one width for both layers (its MLP's n_units)",
    )  # fmt: skip
    return tasks


def sb3_kwargs(zoo: dict[str, Any], algorithm: str = "ppo") -> dict[str, Any]:
    """SB3 PPO or A2C keyword arguments from a zoo entry (A2C: no batches, epochs or clip
    range; its default learning rate 7e-4)."""
    keys = ["n_steps", "gae_lambda", "gamma", "ent_coef", "max_grad_norm", "vf_coef", "use_sde"]
    if algorithm == "ppo":
        keys += ["batch_size", "n_epochs", "sde_sample_freq"]
    else:
        keys += ["use_rms_prop", "normalize_advantage"]
    kwargs: dict[str, Any] = {key: zoo[key] for key in keys if key in zoo}
    learning_rate = zoo.get("learning_rate_value", 3e-4 if algorithm == "ppo" else 7e-4)
    schedule = linear_schedule if zoo.get("linear") else (lambda value: value)
    kwargs["learning_rate"] = schedule(learning_rate)
    if algorithm == "ppo":
        kwargs["clip_range"] = schedule(zoo.get("clip_range_value", 0.2))
    return kwargs


def peer_class(library: str, algorithm: str) -> tuple[str, str]:
    """(module, class) of a peer's algorithm: SB3's PPO or A2C, SBX's PPO (SBX has no A2C)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {algorithm!r}")
    if library == "sbx":
        if algorithm != "ppo":
            raise ValueError(f"SBX has no {algorithm.upper()}; only gradlogpi and SB3 train it")
        return "sbx", "PPO"
    if library == "stable-baselines3":
        return "stable_baselines3", algorithm.upper()
    raise ValueError(f"library must be 'stable-baselines3' or 'sbx'; got {library!r}")


def run_peer(task: Task, seed: int, library: str) -> dict[str, Any]:
    """One run of SB3's PPO or A2C, or SBX's PPO (SB3's API on JAX): `learn()` timed alone."""
    import importlib

    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    kwargs = sb3_kwargs(task.zoo, task.algorithm)
    module, name = peer_class(library, task.algorithm)
    algorithm = getattr(importlib.import_module(module), name)
    if library == "sbx":
        kwargs = {key: value for key, value in kwargs.items() if key not in task.sbx_drops}
    policy_kwargs = peer_policy_kwargs(task.zoo, library)
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    episodes: list[tuple[float, int]] = []

    class Episodes(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    episodes.append((float(info["episode"]["r"]), int(info["episode"]["l"])))
            return True

    env = make_vec_env(task.env_id, n_envs=task.zoo["n_envs"], seed=seed)
    if task.zoo.get("normalize"):
        env = VecNormalize(env, gamma=task.zoo.get("gamma", 0.99))
    model = algorithm("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
    start = time.perf_counter()
    model.learn(task.steps, callback=Episodes())
    seconds = time.perf_counter() - start
    evaluation_env = make_vec_env(task.env_id, n_envs=1, seed=EVALUATION_SEED + seed)
    if isinstance(env, VecNormalize):
        evaluation_env = VecNormalize(evaluation_env, training=False, norm_reward=False)
        evaluation_env.obs_rms = env.obs_rms
    returns, _ = evaluate_policy(
        model, evaluation_env, n_eval_episodes=EVALUATION_EPISODES, deterministic=True,
        return_episode_rewards=True,
    )  # fmt: skip
    return {
        "returns": [r for r, _ in episodes],
        "lengths": [n for _, n in episodes],
        "seconds": seconds,
        "final": float(np.mean(returns)),
        "class": f"{module}.{name}",
    }


def config_path(out: Path, task: str, variant: str) -> Path:
    return out / "configs" / f"{task}__{variant}.toml"


def write_config(path: Path, config_data: dict[str, Any]) -> None:
    """The TOML our runs train from (the fully resolved config, as `train` writes it)."""
    from gradlogpi.runs.config import TrainConfig, config_to_toml

    path.parent.mkdir(parents=True, exist_ok=True)
    text = config_to_toml(TrainConfig.model_validate(config_data))
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def read_curve(metrics: Path) -> tuple[list[float], list[int], float]:
    """Returns and lengths of run 0's episodes from a metrics.csv, and the wall time of
    its last episode (seconds since training began)."""
    import csv

    with open(metrics, newline="", encoding="utf-8") as handle:
        rows = sorted(
            (row for row in csv.DictReader(handle) if row["run"] == "0"),
            key=lambda row: int(row["episode"]),
        )
    walls = [float(row["wall_time"]) for row in rows]
    return (
        [float(row["return"]) for row in rows],
        [int(row["length"]) for row in rows],
        walls[-1] if walls else float("nan"),
    )


def source_revision() -> str | None:
    """The gradlogpi checkout's commit (with -dirty for uncommitted changes), if it is one."""
    import gradlogpi

    try:
        found = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(gradlogpi.__file__).parent, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None if found.returncode == 0 else None


def run_ours(config: Path, seed: int) -> dict[str, Any]:
    """One `gradlogpi train` process, timed from launch to exit (what the user waits for);
    the learning curve and train's own final evaluation read from its run directory, then
    the comparison's deterministic evaluation of the run's final policy (untimed)."""
    from gradlogpi.runs.evaluate import evaluate

    revision = source_revision()
    with tempfile.TemporaryDirectory(prefix="gradlogpi-compare-") as tmp:
        run_dir = Path(tmp) / "run"
        command = [
            sys.executable, "-m", "gradlogpi.cli", "train", "--quiet", "--config", str(config),
            "--seed", str(seed), "--run-dir", str(run_dir),
        ]  # fmt: skip
        start = time.perf_counter()
        process = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited with {process.returncode}: "
                f"{process.stderr.strip()[-2000:]}"
            )
        returns, lengths, training = read_curve(run_dir / "metrics.csv")
        summary_path = run_dir / "evaluation.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
        evaluation = evaluate(run_dir, EVALUATION_EPISODES, EVALUATION_SEED + seed, greedy=True)
    record: dict[str, Any] = {
        "returns": returns,
        "lengths": lengths,
        "seconds": seconds,
        "training_seconds": training,
        "final": evaluation.mean_return,
        "revision": revision,
    }
    if summary is not None and summary["final"]:
        record["train_evaluation"] = {
            "mode": summary["mode"],
            "episodes": summary["episodes"],
            "mean_return": summary["final"][0]["mean_return"],
        }
    return record


def run_job(job: dict[str, Any], quick: bool, out: Path) -> dict[str, Any]:
    task = make_tasks(quick)[job["task"]]
    if job["library"] == "gradlogpi":
        outcome = run_ours(config_path(out, job["task"], job["variant"]), job["seed"])
    else:
        outcome = run_peer(task, job["seed"], job["library"])
    return {**job, **outcome}


def jobs_for(tasks: dict[str, Task], seeds: list[int], linear: bool = True) -> list[dict[str, Any]]:
    jobs = []
    for name, task in tasks.items():
        for seed in seeds:
            # the libraries' runs alternate seed by seed, so all see the same machine load
            for library in task.libraries:
                jobs.append(
                    {"task": name, "library": library, "variant": "neural", "seed": seed,
                     "steps": task.steps, "protocol": PROTOCOL, "algorithm": task.algorithm}
                )  # fmt: skip
            if linear and task.linear is not None:
                jobs.append(
                    {"task": name, "library": "gradlogpi", "variant": "linear", "seed": seed,
                     "steps": task.steps, "protocol": PROTOCOL, "algorithm": task.algorithm}
                )  # fmt: skip
    return jobs


def job_key(job: dict[str, Any]) -> tuple[str, str, str, int, int, int]:
    return (
        job["task"], job["library"], job["variant"], job["seed"], job.get("steps", -1),
        job.get("protocol", 1),
    )  # fmt: skip


def smoothed_curve(returns: list[float], lengths: list[int], grid: np.ndarray) -> np.ndarray:
    """Mean return of the last CURVE_WINDOW episodes ended by each grid point of env steps."""
    if not returns:
        return np.full(grid.shape, np.nan)
    ends = np.cumsum(lengths)
    running = np.convolve(returns, np.ones(CURVE_WINDOW), "full")[: len(returns)]
    counts = np.minimum(np.arange(1, len(returns) + 1), CURVE_WINDOW)
    running = running / counts
    index = np.searchsorted(ends, grid, side="right") - 1
    return np.where(index >= 0, running[np.maximum(index, 0)], np.nan)


def bootstrap_band(
    values: np.ndarray, rng: np.random.Generator, resamples: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile-bootstrap band of the mean over runs (axis 0), per column."""
    n = values.shape[0]
    picks = rng.integers(0, n, size=(resamples, n))
    means = np.nanmean(values[picks], axis=1)
    return np.nanpercentile(means, 2.5, axis=0), np.nanpercentile(means, 97.5, axis=0)


def label(library: str, variant: str) -> str:
    return library if variant == "neural" else f"{library} (linear policy)"


def interval_estimates(finals: dict[str, list[float]]) -> dict[str, tuple[float, float, float]]:
    """IQM of the final returns per library, with rliable's stratified bootstrap 95% CI."""
    from rliable import library as rly
    from rliable import metrics

    scores = {name: np.asarray(values, dtype=float)[:, None] for name, values in finals.items()}
    point, interval = rly.get_interval_estimates(
        scores,
        lambda x: np.array([metrics.aggregate_iqm(x)]),
        reps=5000,
    )
    return {name: (point[name][0], interval[name][0][0], interval[name][1][0]) for name in finals}


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    packages = (
        "gradlogpi", "stable-baselines3", "sbx-rl", "torch", "jax", "jaxlib", "flax", "optax",
        "gymnasium", "numpy", "rliable",
    )  # fmt: skip
    for package in packages:
        try:
            found[package] = version(package)
        except Exception:
            found[package] = "not installed"
    return found


def report(out: Path, tasks: dict[str, Task], records: list[dict[str, Any]], command: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    shown = [task for name, task in tasks.items() if any(r["task"] == name for r in records)]
    algorithms = [a for a in ALGORITHMS if any(task.algorithm == a for task in shown)]
    peers = [library for library in LIBRARIES[1:] if any(library in t.libraries for t in shown)]
    names = {"stable-baselines3": "Stable-Baselines3", "sbx": "SBX"}
    lines = [
        f"# {' and '.join(a.upper() for a in algorithms) or 'PPO'}: gradlogpi against "
        + " and ".join(names[library] for library in peers or LIBRARIES[1:]),
        "",
        f"Measured {datetime.date.today().isoformat()} on {os.cpu_count()} CPU cores, "
        "runs one at a time alternating libraries seed by seed, one thread per run (PyTorch "
        "one thread, XLA's CPU client single-threaded). Command: `" + command + "`.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        f"Final: mean return of {EVALUATION_EPISODES} fresh evaluation episodes of each run's "
        "final policy (deterministic: the most probable action / the mean; the same seeds "
        "for every library); IQM over seeds with rliable's stratified bootstrap 95% CI. "
        "Seconds: median wall-clock of one run on this machine, as the user waits: for "
        "gradlogpi the `gradlogpi train` process from launch to exit (start-up, training, "
        "its final evaluation of 100 stochastic episodes, checkpoint, plots; the training "
        "loop alone in brackets, from metrics.csv), for SB3 and SBX `learn()` alone. "
        "× ours: the library's median over gradlogpi's (neural) median.",
        "",
        "| task | steps (zoo's) | library | seeds | final IQM [95% CI] | median seconds per run "
        "| × ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, task in tasks.items():
        mine = [r for r in records if r["task"] == name]
        if not mine:
            continue
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in sorted(mine, key=lambda r: LIBRARIES.index(r["library"])):
            groups.setdefault(label(record["library"], record["variant"]), []).append(record)
        finals = {key: [r["final"] for r in runs] for key, runs in groups.items()}
        estimates = interval_estimates(finals)
        medians = {
            key: float(np.median([r["seconds"] for r in runs])) for key, runs in groups.items()
        }
        ours = medians.get("gradlogpi")
        for key, runs in groups.items():
            point, low, high = estimates[key]
            seconds = f"{medians[key]:.1f}"
            if all("training_seconds" in r for r in runs):
                seconds += f" ({np.median([r['training_seconds'] for r in runs]):.1f})"
            ratio = f"{medians[key] / ours:.2f}" if ours else "–"
            lines.append(
                f"| {name} | {task.steps:,} ({task.zoo_steps:,}) | {key} | {len(runs)} | "
                f"{point:.1f} [{low:.1f}, {high:.1f}] | {seconds} | {ratio} |"
            )
        figure, axes = plt.subplots(figsize=(6.4, 4.0))
        grid = np.linspace(0, task.steps, 101)[1:]
        for key, runs in groups.items():
            curves = np.array([smoothed_curve(r["returns"], r["lengths"], grid) for r in runs])
            low, high = bootstrap_band(curves, rng)
            axes.plot(grid, np.nanmean(curves, axis=0), label=f"{key} ({len(runs)} seeds)")
            axes.fill_between(grid, low, high, alpha=0.25)
        axes.set_xlabel("environment steps")
        axes.set_ylabel(f"mean return of the last {CURVE_WINDOW} episodes")
        axes.set_title(f"{task.env_id}: {task.algorithm.upper()}, rl-baselines3-zoo settings")
        axes.legend(loc="lower right", fontsize=8)
        figure.tight_layout()
        figure.savefig(out / f"{name}.png", dpi=110)
        plt.close(figure)
    lines += ["", "Seconds of every run, seed by seed:", ""]
    for name in tasks:
        mine = [r for r in records if r["task"] == name]
        for seed in sorted({r["seed"] for r in mine}):
            runs = [r for r in mine if r["seed"] == seed]
            runs.sort(key=lambda r: (LIBRARIES.index(r["library"]), r["variant"] != "neural"))
            cells = ", ".join(
                f"{label(r['library'], r['variant'])} {r['seconds']:.1f}" for r in runs
            )
            lines.append(f"- {name} seed {seed}: {cells}")
    notes = [f"- {name}: {task.note}" for name, task in tasks.items() if task.note]
    if notes:
        lines += ["", "Differences from the zoo's settings:", "", *notes]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="CartPole only (PPO and A2C), 20k steps, 2 seeds"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per task (default 5)")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="the first seed (default 0): seeds S, S+1, ..."
    )
    parser.add_argument("--tasks", nargs="*", default=None, help="task names (default all)")
    parser.add_argument(
        "--algorithms", nargs="*", default=None, choices=ALGORITHMS,
        help="only the tasks of these algorithms (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=1,
        help="runs in parallel (default 1: parallel runs share the cores and the timings)",
    )  # fmt: skip
    parser.add_argument(
        "--no-linear", action="store_true", help="leave out gradlogpi's linear-policy runs"
    )
    parser.add_argument("--out", type=Path, default=Path("results/compare"))
    args = parser.parse_args(argv)
    tasks = make_tasks(args.quick)
    if args.tasks:
        unknown = sorted(set(args.tasks) - set(tasks))
        if unknown:
            parser.error(f"--tasks: unknown {unknown}; expected some of {sorted(tasks)}")
        tasks = {name: tasks[name] for name in args.tasks}
    if args.algorithms:
        tasks = {name: task for name, task in tasks.items() if task.algorithm in args.algorithms}
        if not tasks:
            parser.error(
                f"--algorithms {' '.join(args.algorithms)}: none of the selected tasks "
                f"trains {' or '.join(args.algorithms)}"
            )
    count = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    seeds = list(range(args.first_seed, args.first_seed + count))
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    # compiled updates kept here (not in ~/.cache): the first of our runs of a network
    # compiles, the later ones load it, as for a user's second run
    os.environ.setdefault("GRADLOGPI_JAX_CACHE", str(out / "jax-cache"))
    jobs = jobs_for(tasks, seeds, linear=not args.no_linear)
    for name, task in tasks.items():
        write_config(config_path(out, name, "neural"), task.ours)
        if task.linear is not None and not args.no_linear:
            write_config(config_path(out, name, "linear"), task.linear)
    log = args.out / "runs.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {job_key(r) for r in records}
    pending = [job for job in jobs if job_key(job) not in done]
    print(f"{len(pending)} runs to do ({len(jobs) - len(pending)} already in {log})", flush=True)
    again = ("bash dev.sh compare " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()

    def kept() -> str:
        finished = {job_key(r) for r in records} & {job_key(job) for job in jobs}
        return f"kept {len(finished)} of {len(jobs)} finished runs in {log}"

    with (
        interrupted(kept, again),
        StudyProgress(
            Console(), 1, len(jobs), reused=len(jobs) - len(pending), unit="runs", noun="run"
        ) as progress,
        # each run in a fresh (spawned) process: no library's imports or threads carry over
        WorkerPool(args.workers, fresh=True) as pool,
    ):
        futures = {pool.submit(run_job, job, args.quick, out): job for job in pending}
        for future in pool.completed(futures):
            try:
                record = future.result()
            except Exception as error:  # one failed run is reported, not fatal
                message = f"{futures[future]}: failed: {type(error).__name__}: {error}"
                progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
                continue
            records.append(record)
            with log.open("a") as file:
                file.write(json.dumps(record) + "\n")
            progress.console.print(
                f"{record['task']:>20} {label(record['library'], record['variant']):>32} "
                f"seed {record['seed']}: final {record['final']:8.1f}, "
                f"{record['seconds']:6.1f} s",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            progress.finish()
    wanted = {job_key(job) for job in jobs}
    print(report(args.out, tasks, [r for r in records if job_key(r) in wanted], again))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
