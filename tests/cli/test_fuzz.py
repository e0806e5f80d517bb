"""The project's own fuzz: bad inputs across every command, each a named one-line error.

Every case runs the CLI in-process (Typer's runner, so hundreds of cases cost seconds)
and asserts: exit code 2, no traceback (the only exception is the exit itself), the
expected words in the message, and that a finished run directory made before is
byte-identical afterwards. Categories: config values, combinations, `--set` syntax,
filesystem, readers, sweeps, resume, concurrency, config code execution, sizes beyond
memory, and inputs on which a measuring command's number would mean nothing. A case that
runs past `HANG_SECONDS` fails as a hang (a guard, not a timing: every case is refused
before any work). docs/guide/errors.md lists where each command meets a library.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import shutil
import signal
import typing
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gradlogpi.algorithms.registry import ALGORITHMS
from gradlogpi.cli.app import app

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = ["--set", "hyperparameters.n_episodes=3", "--set", "evaluation_episodes=2"]
CORRIDOR = ["--env", "gradlogpi/ShortCorridor-v0", "--algorithm", "reinforce"]


def invoke(*args: str) -> typing.Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A finished run, a sweep's output, and bad files, made once."""
    root = tmp_path_factory.mktemp("fuzz")
    done = invoke("train", *CORRIDOR, *TINY, "--run-dir", root / "run", "--quiet")
    assert done.exit_code == 0, done.output
    (root / "a_file").write_text("not a directory\n")
    (root / "a_directory").mkdir()
    os.mkfifo(root / "a_fifo")
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    (root / "garbage.toml").write_bytes(b"\x00\xff\xfe not toml [[[")
    (root / "bad_syntax.toml").write_text("env = \n")
    cartpole = (CONFIGS / "cartpole_linear.toml").read_text()
    (root / "cartpole_kwargs.toml").write_text(
        cartpole.replace("[hyperparameters]", "[env_kwargs]\nsutton_barto_reward = true\n\n"
                         "[hyperparameters]", 1)
    )  # fmt: skip
    (root / "tune.toml").write_text(
        'env = "gradlogpi/ShortCorridor-v0"\nalgorithm = "reinforce"\nevaluation_episodes = 2\n'
        "[hyperparameters]\nn_episodes = 3\n[tune.space]\n"
        '"hyperparameters.alpha_theta" = {float = [1e-4, 1e-3], log = true}\n'
    )
    (root / "config_only").mkdir()
    shutil.copy(CONFIGS / "short_corridor.toml", root / "config_only" / "config.toml")
    readers(root)
    sweeps(root)
    return root


def readers(root: Path) -> None:
    """Copies of the finished run with one file damaged each."""
    source = root / "run"
    metrics = (source / "metrics.csv").read_text()
    header, first, *rest = metrics.splitlines()
    damaged = {
        "metrics_cut": metrics[:-4],  # cut inside the last row
        "metrics_duplicate": "\n".join([header, first, first, *rest]) + "\n",
        "metrics_negative_run": "\n".join([header, "-1" + first[1:], *rest]) + "\n",
        "metrics_words": "\n".join([header, first.replace(first.split(",")[3], "lots"), *rest])
        + "\n",
        "metrics_no_columns": "a,b\n1,2\n",
        "metrics_empty": header + "\n",
        "metrics_nan": "\n".join([header, first.replace(first.split(",")[3], "nan"), *rest]) + "\n",
    }
    for name, text in damaged.items():
        shutil.copytree(source, root / name)
        (root / name / "metrics.csv").write_text(text)
    shutil.copytree(source, root / "nan_theta")
    from gradlogpi.runs.checkpoints import load_checkpoint, save_checkpoint

    arrays, metadata = load_checkpoint(source / "checkpoint")
    arrays["theta"] = np.full_like(arrays["theta"], np.nan)
    metadata["complete"] = False  # so that resume reads θ rather than stopping at "complete"
    for key in ("sha256", "format_version", "versions", "arrays"):
        metadata.pop(key, None)  # written afresh for the new arrays
    save_checkpoint(root / "nan_theta" / "checkpoint", arrays, metadata)
    damaged_arrays = {  # arrays that are not what the config implies (issue 30)
        "no_theta": lambda arrays: arrays.pop("theta"),
        "theta_too_wide": lambda arrays: arrays.update(theta=np.zeros((1, 5))),
        "theta_of_words": lambda arrays: arrays.update(theta=np.array([["a", "b"]])),
        "theta_of_integers": lambda arrays: arrays.update(theta=np.zeros((1, 2), np.int64)),
        "lengths_as_floats": lambda arrays: arrays.update(tracker_lengths=np.zeros((1, 3))),
    }
    for name, change in damaged_arrays.items():
        shutil.copytree(source, root / name)
        arrays, metadata = load_checkpoint(source / "checkpoint")
        change(arrays)
        for key in ("sha256", "format_version", "versions", "arrays"):
            metadata.pop(key, None)
        save_checkpoint(root / name / "checkpoint", arrays, metadata)
    for name, text in {
        "evaluations_foreign": "a,b\n1,2\n",
        "evaluations_binary": "\x00,\n",
    }.items():
        shutil.copytree(source, root / name)  # resumable, with a damaged evaluations.csv
        arrays, metadata = load_checkpoint(source / "checkpoint")
        metadata["complete"] = False
        for key in ("sha256", "format_version", "versions", "arrays"):
            metadata.pop(key, None)
        save_checkpoint(root / name / "checkpoint", arrays, metadata)
        (root / name / "evaluations.csv").write_text(text)
    shutil.copytree(source, root / "truncated_checkpoint")
    data = (source / "checkpoint.npz").read_bytes()
    (root / "truncated_checkpoint" / "checkpoint.npz").write_bytes(data[: len(data) // 2])


def sweeps(root: Path) -> None:
    base = CONFIGS / "short_corridor.toml"
    good = f'base = "{base}"\nseeds = [0]\n[grid]\n"hyperparameters.n_episodes" = [2]\n'
    (root / "sweep_good.toml").write_text(good)
    (root / "sweep_other.toml").write_text(good.replace("[2]", "[3]"))
    (root / "sweep_seeds.toml").write_text(good.replace("seeds = [0]", "seeds = [0, 0]"))
    (root / "sweep_values.toml").write_text(good.replace("[2]", "[2, 2]"))
    (root / "sweep_seed_key.toml").write_text(good + '"seed" = [1, 2]\n')
    (root / "sweep_runs_key.toml").write_text(good + '"runs" = [1, 2]\n')
    (root / "sweep_empty.toml").write_text(good.replace("[2]", "[]"))
    (root / "sweep_grid_scalar.toml").write_text(good.replace("[2]", "2"))
    (root / "sweep_unknown.toml").write_text(good + "\n[extra]\nx = 1\n")
    (root / "sweep_bad_seeds.toml").write_text(good.replace("seeds = [0]", "seeds = [-1]"))
    finished = invoke("sweep", root / "sweep_good.toml", "--out", root / "sweep_out")
    assert finished.exit_code == 0, finished.output
    (root / "not_empty").mkdir()
    (root / "not_empty" / "notes.txt").write_text("mine\n")


def bad_value(kind: typing.Any) -> str:
    """A value no field of this type accepts."""
    text = str(kind)
    if "Literal" in text:
        return "not_a_choice"
    return "abc"


def config_value_cases() -> dict[str, tuple[list[str], str]]:
    """Every hyperparameter of every algorithm, given a value of the wrong kind."""
    cases = {}
    for name, spec in ALGORITHMS.items():
        env = (
            "CartPole-v1"
            if name in ("batch_pg", "ppo", "trpo", "neural_reinforce")
            else ("gradlogpi/ShortCorridor-v0")
        )
        for field in dataclasses.fields(spec.config_class):
            if str(field.type) in ("str | None", "str"):
                continue  # any text is a valid string (e.g. a Ray address)
            value = bad_value(field.type)
            cases[f"config value: {name}.{field.name}={value}"] = (
                ["train", "--env", env, "--algorithm", name,
                 "--set", f"hyperparameters.{field.name}={value}"],
                f"`hyperparameters.{field.name}` = '{value}'",
            )  # fmt: skip
    numeric = {
        "gamma": "-0.5", "alpha_theta": "-1", "n_episodes": "0", "runs": "0",
        "evaluation_episodes": "-1", "eval_every": "-3", "checkpoint_every": "-1",
    }  # fmt: skip
    for key, value in numeric.items():
        where = (
            key
            if key in ("runs", "evaluation_episodes", "eval_every", "checkpoint_every")
            else (f"hyperparameters.{key}")
        )
        cases[f"config value: {where}={value}"] = (
            ["train", *CORRIDOR, "--set", f"{where}={value}"],
            f"{key}",
        )
    for key, value in {
        "policy.kind": "tabular", "policy.hidden": "[0]", "policy.log_std0": "nan",
        "policy.lr": "-1", "policy.activation": "sigmoid", "features.kind": "wavelets",
        "features.order": "-2", "value.kind": "quantum", "value.hidden": "[]",
        "value.clip_range": "-1", "seed": "-4", "env_kwargs": "3",
        "evaluation_mode": "sometimes",
    }.items():  # fmt: skip
        cases[f"config value: {key}={value}"] = (
            ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--set", f"{key}={value}"],
            f"{key.split('.')[-1]}",
        )
    return cases


COMBINATIONS = {
    "combination: Gaussian policy, Discrete actions": (
        ["train", "--env", "CartPole-v1", "--policy", "linear_gaussian"], "needs a Box action"
    ),
    "combination: raw features of Discrete states": (
        ["train", *CORRIDOR, "--features", "raw"], "needs a Box observation space"
    ),
    "combination: linear policy, neural algorithm": (
        ["train", "--env", "CartPole-v1", "--algorithm", "neural_reinforce", "--policy",
         "matrix_softmax"], "needs a neural policy",
    ),
    "combination: neural policy, lockstep algorithm": (
        ["train", "--env", "CartPole-v1", "--algorithm", "reinforce", "--policy",
         "neural_softmax"], "needs a linear policy",
    ),
    "combination: neural policy, actor-critic": (
        ["train", "--env", "CartPole-v1", "--algorithm", "actor_critic", "--policy",
         "neural_softmax"], "needs a linear policy",
    ),
    "combination: neural critic, actor-critic": (
        ["train", "--env", "CartPole-v1", "--algorithm", "actor_critic", "--set",
         "value.kind=neural"], "cannot be learned by algorithm 'actor_critic'",
    ),
    "combination: neural critic with value features": (
        ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--set", "value.kind=neural",
         "--set", "value_features.kind=raw"], "`value_features` is for a linear critic",
    ),
    "combination: corridor features on CartPole": (
        ["train", "--env", "CartPole-v1", "--features", "corridor"], "corridor",
    ),
    "combination: border features on CartPole": (
        ["train", "--env", "CartPole-v1", "--features", "border"], "border",
    ),
    "combination: one-hot features on CartPole": (
        ["train", "--env", "CartPole-v1", "--features", "onehot"], "onehot",
    ),
    "combination: Fourier features without bounds": (
        ["train", "--env", "CartPole-v1", "--features", "fourier"], "bounds",
    ),
    "combination: env_kwargs with vector envs": (
        ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--set",
         "env_kwargs.sutton_barto_reward=true"], "env_kwargs",
    ),
    "combination: algorithm settings under the algorithm's name": (
        ["train", "--env", "CartPole-v1", "--algorithm", "batch_pg", "--set",
         "algorithm.n_updates=3"], "hyperparameters.KEY",
    ),
    "combination: runs in a vector env without one": (
        ["train", *CORRIDOR, "--runs", "2", "--set", "hyperparameters.runs_in_vector_env=true"],
        "native vector implementation",
    ),
    "combination: EnvPool with whole-episode collection": (
        ["train", "--env", "CartPole-v1", "--algorithm", "batch_pg", "--set",
         "hyperparameters.vectorization_mode=envpool"], "needs collection='steps'",
    ),
    "combination: unknown env": (["train", "--env", "NoSuchEnv-v0"], "`env` = 'NoSuchEnv-v0'"),
    "combination: env_kwargs the constructor does not accept": (
        ["train", "--env", "CartPole-v1", "--algorithm", "reinforce", "--set",
         "env_kwargs.bogus=1"], "`env_kwargs` = {'bogus': 1} for `env` = 'CartPole-v1'",
    ),
    "combination: env_kwargs value the constructor refuses": (
        ["train", "--env", "FrozenLake-v1", "--algorithm", "reinforce", "--set",
         "env_kwargs.map_name=9x9"], "constructor said KeyError: '9x9'",
    ),
    "combination: env_kwargs the constructor does not accept, in check": (
        ["check", "--env", "CartPole-v1", "--set", "env_kwargs.bogus=1"],
        "`env_kwargs` = {'bogus': 1}",
    ),
    "combination: unknown algorithm": (
        ["train", "--env", "CartPole-v1", "--algorithm", "sarsa"], "expected one of",
    ),
    "combination: Fourier features too many to allocate": (
        ["train", "--env", "CartPole-v1", "--features", "fourier", "--set", "features.order=200",
         "--set", "features.bounds=[[-1,1],[-1,1],[-1,1],[-1,1]]"], "the limit is 10,000,000",
    ),
    "combination: tiles too many to allocate": (
        ["train", "--env", "CartPole-v1", "--features", "tiles", "--set", "features.n_tilings=64",
         "--set", "features.tiles_per_dim=1000",
         "--set", "features.bounds=[[-1,1],[-1,1],[-1,1],[-1,1]]"], "the limit is 10,000,000",
    ),
    "combination: RBF centres too many to allocate": (
        ["train", "--env", "CartPole-v1", "--features", "rbf", "--set",
         "features.centres_per_dim=100", "--set",
         "features.bounds=[[-1,1],[-1,1],[-1,1],[-1,1]]"], "the limit is 10,000,000",
    ),
    "combination: neural critic on Discrete states": (
        ["train", *CORRIDOR[:2], "--algorithm", "ppo", "--set", "value.kind=neural"],
        "Box observations",
    ),
    "combination: exact gradients of CartPole": (
        ["experiment", "estimators", "--env", "CartPole-v1"], "does not publish its dynamics"
    ),
    "combination: theorem terms of a state out of range": (
        ["explain", "--env", "gradlogpi/ShortCorridor-v0", "--state", "7"], "`state` must be in"
    ),
    "combination: unknown sutton-barto figure": (
        ["experiment", "sutton-barto", "--figure", "13.3"], "13.1, 13.2"
    ),
    "combination: algorithms of an unknown name": (["algorithms", "nope"], "must be one of"),
}  # fmt: skip

SET_SYNTAX = {
    "--set: no equals sign": (["train", *CORRIDOR, "--set", "seed"], "--set"),
    "--set: empty key": (["train", *CORRIDOR, "--set", "=3"], "--set"),
    "--set: unknown top-level key": (["train", *CORRIDOR, "--set", "colour=blue"], "colour"),
    "--set: unknown hyperparameter": (
        ["train", *CORRIDOR, "--set", "hyperparameters.nope=1"], "hyperparameters.nope"
    ),
    "--set: hyperparameter at the top level": (
        ["train", *CORRIDOR, "--set", "alpha_theta=0.1"], "`hyperparameters.alpha_theta`"
    ),
    "--set: value of a table set to a number": (
        ["train", *CORRIDOR, "--set", "policy=3"], "policy"
    ),
    "--set: unknown policy key": (["train", *CORRIDOR, "--set", "policy.colour=1"], "colour"),
    "--set: unknown features key": (
        ["train", *CORRIDOR, "--set", "features.colour=1"], "colour"
    ),
    "--set: unterminated list": (
        ["train", *CORRIDOR, "--set", "policy.hidden=[1,"], "policy.hidden"
    ),
    "--set: a key below a number": (
        ["train", *CORRIDOR, "--set", "seed.x=1"], "seed"
    ),
}  # fmt: skip

FILESYSTEM = {
    "filesystem: run dir is a file": (
        ["train", *CORRIDOR, *TINY, "--run-dir", "{root}/a_file"], "is not a directory"
    ),
    "filesystem: run dir below a file": (
        ["train", *CORRIDOR, *TINY, "--run-dir", "{root}/a_file/run"], "a_file"
    ),
    "filesystem: run dir holds a run": (
        ["train", *CORRIDOR, *TINY, "--run-dir", "{root}/run"], "already holds a run"
    ),
    "filesystem: run dir holds a run, other settings": (
        ["train", "--env", "CartPole-v1", "--algorithm", "reinforce", *TINY, "--run-dir",
         "{root}/run"], "already holds a run",
    ),
    "filesystem: run dir empty string": (
        ["train", *CORRIDOR, *TINY, "--run-dir", ""], "empty string"
    ),
    "filesystem: run dir blank": (["train", *CORRIDOR, *TINY, "--run-dir", "  "], "empty string"),
    "filesystem: run dir a symlink loop": (
        ["train", *CORRIDOR, *TINY, "--run-dir", "{root}/loop_a"], "loop_a"
    ),
    "filesystem: config missing": (["train", "--config", "{root}/missing.toml"], "no such"),
    "filesystem: config a directory": (
        ["train", "--config", "{root}/a_directory"], "not a regular file"
    ),
    "filesystem: config a FIFO": (["train", "--config", "{root}/a_fifo"], "not a regular file"),
    "filesystem: config a symlink loop": (["train", "--config", "{root}/loop_a"], "loop_a"),
    "filesystem: config not UTF-8": (["train", "--config", "{root}/garbage.toml"], "garbage.toml"),
    "filesystem: config bad TOML": (["train", "--config", "{root}/bad_syntax.toml"], "bad_syntax"),
    "filesystem: plot output below a file": (
        ["plot", "{root}/run", "--out", "{root}/a_file/curve"], "a_file"
    ),
    "filesystem: plot nothing": (["plot", "{root}/nonexistent"], "not a run directory"),
    "filesystem: evaluate nothing": (["evaluate", "{root}/nonexistent"], "not a run directory"),
    "filesystem: evaluate a file": (["evaluate", "{root}/a_file"], "not a run directory"),
    "filesystem: sweep file missing": (["sweep", "{root}/missing.toml"], "no such sweep file"),
    "filesystem: sweep file a directory": (
        ["sweep", "{root}/a_directory"], "not a regular file"
    ),
    "filesystem: sweep output a file": (
        ["sweep", "{root}/sweep_good.toml", "--out", "{root}/a_file"], "a_file"
    ),
    "filesystem: cartpole study config missing": (
        ["experiment", "cartpole", "--config", "{root}/missing.toml"], "no such config file"
    ),
    "filesystem: cartpole study output a file": (
        ["experiment", "cartpole", "--config", str(CONFIGS / "cartpole_linear.toml"),
         "--seeds", "1", "--out", "{root}/a_file", "--quiet", "--set"], "--set",
    ),
    "filesystem: estimator lab output below a file": (
        ["experiment", "estimators", "--episodes", "200", "--out", "{root}/a_file/lab"], "a_file"
    ),
}  # fmt: skip

READERS = {
    "readers: metrics cut inside a number": (["plot", "{root}/metrics_cut"], "incomplete"),
    "readers: metrics row twice": (["plot", "{root}/metrics_duplicate"], "appears twice"),
    "readers: metrics negative run index": (["plot", "{root}/metrics_negative_run"], ">= 0"),
    "readers: metrics words for numbers": (["plot", "{root}/metrics_words"], "line 2"),
    "readers: metrics foreign columns": (["plot", "{root}/metrics_no_columns"], "`run` column"),
    "readers: metrics no rows": (["plot", "{root}/metrics_empty"], "no metric rows"),
    "readers: metrics NaN return": (["plot", "{root}/metrics_nan"], "must be finite"),
    "readers: checkpoint with NaN θ": (["evaluate", "{root}/nan_theta"], "non-finite"),
    "readers: checkpoint cut in half": (
        ["evaluate", "{root}/truncated_checkpoint"], "checkpoint"
    ),
    "readers: checkpoint without θ": (["evaluate", "{root}/no_theta"], "array `theta` is missing"),
    "readers: checkpoint θ too wide": (
        ["evaluate", "{root}/theta_too_wide"], "`theta` must be float of shape (1, 2)"
    ),
    "readers: checkpoint θ of words": (
        ["evaluate", "{root}/theta_of_words"], "`theta` must have a numeric dtype"
    ),
    "readers: checkpoint θ of integers": (
        ["evaluate", "{root}/theta_of_integers"], "got int64 of shape (1, 2)"
    ),
    "readers: resume a checkpoint without θ": (
        ["train", "--resume", "{root}/no_theta"], "array `theta` is missing"
    ),
    "readers: resume a checkpoint with θ too wide": (
        ["train", "--resume", "{root}/theta_too_wide"], "`theta` must be float of shape (1, 2)"
    ),
    "readers: resume a checkpoint with lengths as floats": (
        ["train", "--resume", "{root}/lengths_as_floats"], "`tracker_lengths` must be integer"
    ),
    "readers: run index too far": (["evaluate", "{root}/run", "--run-index", "5"], "`run` must"),
    "readers: best never kept": (
        ["evaluate", "{root}/run", "--checkpoint", "best"], "no best checkpoint"
    ),
    "readers: unknown checkpoint": (
        ["evaluate", "{root}/run", "--checkpoint", "middle"], "last or best"
    ),
    "readers: resume a truncated checkpoint": (
        ["train", "--resume", "{root}/truncated_checkpoint"], "checkpoint"
    ),
    "readers: resume a NaN checkpoint": (["train", "--resume", "{root}/nan_theta"], "NaN"),
    "readers: resume with foreign evaluations": (
        ["train", "--resume", "{root}/evaluations_foreign"], "evaluations.csv: cannot be read"
    ),
    "readers: resume with binary evaluations": (
        ["train", "--resume", "{root}/evaluations_binary"], "evaluations.csv: cannot be read"
    ),
}  # fmt: skip

SWEEPS = {
    "sweeps: another sweep's output": (
        ["sweep", "{root}/sweep_other.toml", "--out", "{root}/sweep_out"], "another sweep"
    ),
    "sweeps: output holds other files": (
        ["sweep", "{root}/sweep_good.toml", "--out", "{root}/not_empty"], "is not empty"
    ),
    "sweeps: a seed twice": (["sweep", "{root}/sweep_seeds.toml"], "repeats a seed"),
    "sweeps: a grid value twice": (["sweep", "{root}/sweep_values.toml"], "repeats a value"),
    "sweeps: seed in the grid": (["sweep", "{root}/sweep_seed_key.toml"], "set by the sweep"),
    "sweeps: runs in the grid": (["sweep", "{root}/sweep_runs_key.toml"], "set by the sweep"),
    "sweeps: an empty grid list": (["sweep", "{root}/sweep_empty.toml"], "non-empty list"),
    "sweeps: a grid value not a list": (
        ["sweep", "{root}/sweep_grid_scalar.toml"], "non-empty list"
    ),
    "sweeps: an unknown table": (["sweep", "{root}/sweep_unknown.toml"], "unknown key"),
    "sweeps: a negative seed": (["sweep", "{root}/sweep_bad_seeds.toml"], "seeds"),
}  # fmt: skip
if importlib.util.find_spec("ray") is not None:  # else the named error is the missing extra
    SWEEPS.update({
        "sweeps: a Ray address where nothing answers": (
            ["sweep", "{root}/sweep_good.toml", "--backend", "ray", "--address", "127.0.0.1:1",
             "--out", "{root}/sweep_ray_refused"], "`--address` = '127.0.0.1:1': no Ray cluster",
        ),
        "sweeps: a Ray address without a port": (
            ["sweep", "{root}/sweep_good.toml", "--backend", "ray", "--address", "nonsense",
             "--out", "{root}/sweep_ray_nonsense"], "expected a Ray cluster address HOST:PORT",
        ),
    })  # fmt: skip

RESUME = {
    f"resume: with {flag}": (["train", "--resume", "{root}/run", *extra], flag)
    for flag, extra in {
        "--seed": ["--seed", "3"],
        "--set": ["--set", "hyperparameters.n_episodes=10"],
        "--config": ["--config", str(CONFIGS / "short_corridor.toml")],
        "--env": ["--env", "CartPole-v1"],
        "--algorithm": ["--algorithm", "actor_critic"],
        "--runs": ["--runs", "4"],
        "--run-dir": ["--run-dir", "elsewhere"],
        "--overwrite": ["--overwrite"],
        "--policy": ["--policy", "matrix_softmax"],
        "--features": ["--features", "onehot"],
    }.items()
}
RESUME.update(
    {
        "resume: nothing there": (["train", "--resume", "{root}/nonexistent"], "no such"),
        "resume: no checkpoint": (
            ["train", "--resume", "{root}/config_only"],
            "stopped before its first checkpoint",
        ),
        "resume: a file": (["train", "--resume", "{root}/a_file"], "a_file"),
    }
)

CODE = {
    "config code: module:Env id": (
        ["train", "--env", "wave:Thing"], "would import the module 'wave'"
    ),
    "config code: module:Env in the lab": (
        ["experiment", "estimators", "--env", "chunk:Thing"], "would import the module"
    ),
    "config code: env_module that is missing": (
        ["train", "--env", "CartPole-v1", "--set", "env_module=no_such_module_here"],
        "no_such_module_here",
    ),
}  # fmt: skip

HUGE = str(10**12)
NEEDS = "would need at least"  # ... of memory for ...; this machine has ...
TUNE = importlib.util.find_spec("optuna") is not None  # `tune` needs the extra

SIZES = {  # counts whose arrays could never fit: refused before any allocation (issue 30)
    "sizes: episodes of a run": (
        ["train", *CORRIDOR, "--set", f"hyperparameters.n_episodes={HUGE}"],
        f"`hyperparameters.n_episodes` = 1,000,000,000,000 {NEEDS}",
    ),
    "sizes: runs": (["train", *CORRIDOR, "--runs", HUGE], f"`runs` = 1,000,000,000,000 {NEEDS}"),
    "sizes: evaluation episodes": (
        ["train", *CORRIDOR, "--set", f"evaluation_episodes={HUGE}"],
        f"`evaluation_episodes` = 1,000,000,000,000 {NEEDS}",
    ),
    "sizes: sub-environments": (
        ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--set",
         f"hyperparameters.num_envs={HUGE}"], f"`hyperparameters.num_envs` = 1,000,000,000,000 {NEEDS}",
    ),
    "sizes: steps per sub-environment": (
        ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--set",
         f"hyperparameters.steps_per_env={HUGE}"], "`hyperparameters.steps_per_env` = 1,000,000,000,000",
    ),
    "sizes: a neural policy's hidden layer": (
        ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--policy", "neural_softmax",
         "--set", f"policy.hidden=[{HUGE}]"], f"`policy.hidden` = [1000000000000] {NEEDS}",
    ),
    "sizes: a neural policy's hidden layer in a gradient check": (
        ["check", "--env", "CartPole-v1", "--policy", "neural_softmax", "--set",
         f"policy.hidden=[{HUGE}]"], f"`policy.hidden` = [1000000000000] {NEEDS}",
    ),
    "sizes: a neural critic's hidden layer": (
        ["train", "--env", "CartPole-v1", "--algorithm", "ppo", "--set", "value.kind=neural",
         "--set", f"value.hidden=[{HUGE}]"], f"`value.hidden` = [1000000000000] {NEEDS}",
    ),
    "sizes: a hashed tile table": (
        ["train", "--env", "CartPole-v1", "--features", "tiles", "--set",
         f"features.table_size={HUGE}", "--set",
         "features.bounds=[[-1,1],[-1,1],[-1,1],[-1,1]]"], "the limit is 10,000,000",
    ),
    "sizes: a seed past 2**62": (
        ["train", *CORRIDOR, "--set", f"seed={10**23}"], "less than or equal to 4611686018427387904"
    ),
    "sizes: a seed flag past 2**62": (
        ["train", *CORRIDOR, "--seed", str(10**23)], "--seed: `seed` = 100000000000000000000000"
    ),
    "sizes: evaluation episodes of evaluate": (
        ["evaluate", "{root}/run", "--episodes", HUGE], f"`episodes` = 1,000,000,000,000 {NEEDS}"
    ),
    "sizes: states of a gradient check": (
        ["check", "--env", "CartPole-v1", "--states", HUGE], f"`states` = 1,000,000,000,000 {NEEDS}"
    ),
    "sizes: episodes of the estimator lab": (
        ["experiment", "estimators", "--episodes", HUGE], f"`episodes` = 1,000,000,000,000 {NEEDS}"
    ),
    "sizes: runs of a book figure": (
        ["experiment", "sutton-barto", "--runs", HUGE], f"`runs` = 1,000,000,000,000 {NEEDS}"
    ),
    "sizes: episodes of a book figure": (
        ["experiment", "sutton-barto", "--runs", "1", "--episodes", HUGE],
        f"`episodes` = 1,000,000,000,000 {NEEDS}",
    ),
    "sizes: seeds of a CartPole study": (
        ["experiment", "cartpole", "--config", str(CONFIGS / "cartpole_linear.toml"), "--seeds",
         HUGE, "--out", "{root}/study"], f"`--seeds` = 1,000,000,000,000 {NEEDS}",
    ),
    "sizes: seeds of a CartPole study past 2**62": (
        ["experiment", "cartpole", "--config", str(CONFIGS / "cartpole_linear.toml"),
         "--first-seed", str(2**62), "--seeds", "2", "--out", "{root}/study"], "pass 2**62",
    ),
    "sizes: a smoothing window longer than the curve": (
        ["plot", "{root}/run", "--smooth", HUGE], "`smooth` must be a window in [1, 3]"
    ),
    **(
        {
            "sizes: seeds of a tuning trial": (
                ["tune", "{root}/tune.toml", "--seeds", HUGE, "--out", "{root}/study"],
                f"`--seeds` = 1,000,000,000,000 {NEEDS}",
            ),
            "sizes: worker processes of a tuning study": (
                ["tune", "{root}/tune.toml", "--workers", HUGE, "--out", "{root}/study"],
                f"`--workers` = 1,000,000,000,000 {NEEDS}",
            ),
            "sizes: fresh seeds of a tuning study": (
                ["tune", "{root}/tune.toml", "--fresh-seeds", HUGE, "--out", "{root}/study"],
                f"`--fresh-seeds` = 1,000,000,000,000 {NEEDS}",
            ),
        }
        if TUNE
        else {}
    ),
}  # fmt: skip

MEASURES = {  # a measuring command refuses an input on which its number means nothing
    "measures: a CartPole study of another task": (
        ["experiment", "cartpole", "--config", str(CONFIGS / "short_corridor.toml"), "--seeds",
         "1", "--out", "{root}/study"], "needs a CartPole-v1 config",
    ),
    "measures: a CartPole study of another reward": (
        ["experiment", "cartpole", "--config", "{root}/cartpole_kwargs.toml", "--seeds", "1",
         "--out", "{root}/study"], "needs no env_kwargs",
    ),
    "measures: estimators against ∇J = 0": (
        ["experiment", "estimators", "--gamma", "0", "--episodes", "200", "--out", "{root}/lab"],
        "the exact ∇J is 0 at this θ",
    ),
    "measures: estimators on too few episodes to judge": (
        ["experiment", "estimators", "--episodes", "10", "--out", "{root}/lab"],
        "no gradient component was touched by 100 episodes",
    ),
    "measures: a gradient check at an infinite scale": (
        ["check", "--env", "CartPole-v1", "--scale", "inf"], "`scale` must be a finite number"
    ),
    "measures: a gradient check where differences cannot resolve θ": (
        ["check", "--env", "CartPole-v1", "--scale", "1e300"],
        "cannot resolve the finite-difference step",
    ),
    "measures: evaluate no episodes": (["evaluate", "{root}/run", "--episodes", "0"], "--episodes"),
    "measures: a plot window of nothing": (["plot", "{root}/run", "--smooth", "0"], "--smooth"),
    **(
        {
            "measures: solved at NaN": (
                ["tune", "{root}/tune.toml", "--solved-at", "nan", "--out", "{root}/study"],
                "`--solved-at` must be a finite return; got nan",
            )
        }
        if TUNE
        else {}
    ),
}  # fmt: skip

SCALES = {  # non-finite or out-of-range scales, each refused by name
    f"config value: {key}={value}": (
        ["train", "--env", env, "--algorithm", algorithm, "--set", f"{key}={value}"],
        expected,
    )
    for key, value, env, algorithm, expected in [
        ("policy.lr", "inf", "CartPole-v1", "ppo", "`policy.lr` = inf: Input should be a finite"),
        ("value.lr", "inf", "CartPole-v1", "ppo", "`value.lr` = inf: Input should be a finite"),
        ("value.clip_range", "inf", "CartPole-v1", "ppo", "`value.clip_range` = inf"),
        ("policy.init_scale", "inf", "CartPole-v1", "reinforce", "`policy.init_scale` = inf"),
        ("features.width", "inf", "CartPole-v1", "reinforce", "`features.width` = inf"),
        ("policy.log_std0", "1e308", "Pendulum-v1", "reinforce", "`log_std0` must lie strictly"),
        ("hyperparameters.gamma", "nan", "CartPole-v1", "ppo", "`gamma` must be a finite number"),
        ("hyperparameters.clip_range", "inf", "CartPole-v1", "ppo", "`clip_range` must be in"),
        ("hyperparameters.alpha_theta", "inf", "gradlogpi/ShortCorridor-v0", "reinforce",
         "`alpha_theta` must be a finite number"),
        ("hyperparameters.gae_lambda", "nan", "CartPole-v1", "ppo", "`gae_lambda` must be a finite"),
        ("env_kwargs.render_mode", "bogus", "CartPole-v1", "reinforce",
         "`env_kwargs.render_mode` = 'bogus': 'CartPole-v1' declares the render modes"),
    ]
}  # fmt: skip

LIBRARY_CALLS = {  # the rest of docs/guide/errors.md's rows: one case each
    "combination: a video of an env without rgb_array frames": (
        ["evaluate", "{root}/run", "--video", "{root}/videos"], "cannot render rgb_array frames"
    ),
    "combination: a step cap of 0 in env_kwargs": (
        ["train", "--env", "CartPole-v1", "--algorithm", "reinforce", "--set",
         "env_kwargs.max_episode_steps=0"], "Expect the `max_episode_steps` to be positive",
    ),
    "combination: the lab's π(right) outside (0, 1)": (
        ["experiment", "estimators", "--p-right", "1.5"], "`p_right` must be in (0, 1); got 1.5"
    ),
    "combination: the lab's θ scale infinite": (
        ["experiment", "estimators", "--env", "FrozenLake-v1", "--theta-scale", "inf"],
        "`scale` must be a finite number; got inf",
    ),
    "sweeps: an unknown backend": (
        ["sweep", "{root}/sweep_good.toml", "--backend", "dask", "--out", "{root}/sweep_dask"],
        "`backend` must be 'local' or 'ray'; got 'dask'",
    ),
    "filesystem: book figure output a file": (
        ["experiment", "sutton-barto", "--runs", "1", "--episodes", "2", "--quiet", "--out",
         "{root}/a_file"], "a_file",
    ),
    **(
        {
            "filesystem: a study storage that cannot be opened": (
                ["tune", "{root}/tune.toml", "--storage", "foo://bar", "--out", "{root}/study"],
                "`--storage` = 'foo://bar' cannot be opened",
            )
        }
        if TUNE
        else {}
    ),
}  # fmt: skip

FILES_READ = {  # every file a command parses, broken the two ways TOML can be
    "filesystem: sweep file not UTF-8": (["sweep", "{root}/garbage.toml"], "not UTF-8"),
    "filesystem: sweep file bad TOML": (["sweep", "{root}/bad_syntax.toml"], "invalid TOML"),
    "filesystem: study config bad TOML": (
        ["experiment", "cartpole", "--config", "{root}/bad_syntax.toml"], "invalid TOML"
    ),
    "filesystem: check config not UTF-8": (["check", "--config", "{root}/garbage.toml"], "not UTF-8"),
    "filesystem: plot output with no name": (
        ["plot", "{root}/run", "--out", ""], "`--out` must name a file stem"
    ),
    **(
        {"filesystem: tune config not UTF-8": (["tune", "{root}/garbage.toml"], "not UTF-8")}
        if TUNE
        else {}
    ),
}  # fmt: skip

CASES: dict[str, tuple[list[str], str]] = {
    **config_value_cases(),
    **COMBINATIONS,
    **SET_SYNTAX,
    **FILESYSTEM,
    **READERS,
    **SWEEPS,
    **RESUME,
    **CODE,
    **SIZES,
    **MEASURES,
    **SCALES,
    **FILES_READ,
    **LIBRARY_CALLS,
}

HANG_SECONDS = 120
"""A case still running after this long is a hang (each is refused in well under a second)."""


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` in the CLI hides it."""


@pytest.fixture
def no_hang():
    """Fail a case that runs past HANG_SECONDS instead of stalling the suite."""

    def stop(signum, frame):
        raise Hang(f"the case ran past {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(HANG_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def fingerprint(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != ".lock"
    }


def test_there_are_at_least_150_cases_in_every_category():
    counts = Counter(name.split(":")[0] for name in CASES)
    assert sum(counts.values()) >= 150, counts
    assert set(counts) == {
        "config value", "combination", "--set", "filesystem", "readers", "sweeps", "resume",
        "config code", "sizes", "measures",
    }  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_gets_one_named_error(root, tmp_path, monkeypatch, no_hang, case):
    monkeypatch.chdir(tmp_path)  # whatever a case would write by default lands here
    arguments, expected = CASES[case]
    protected = {name: fingerprint(root / name) for name in ("run", "sweep_out")}
    result = invoke(*(argument.format(root=root) for argument in arguments))
    output = result.output
    assert result.exit_code == 2, output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert "Traceback" not in output
    assert expected in " ".join(output.split()), output
    for name, prints in protected.items():
        assert fingerprint(root / name) == prints, f"{name} changed"


@pytest.mark.parametrize(
    "refusal",
    [
        MemoryError("Unable to allocate 7.28 TiB for an array"),  # NumPy's
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 TB"),
    ],
)
def test_an_allocation_no_check_foresaw_is_one_line_not_a_traceback(root, monkeypatch, refusal):
    from gradlogpi.runs import plots

    def refuse(*args, **kwargs):
        raise refusal

    monkeypatch.setattr(plots, "curve_statistics", refuse)
    result = invoke("plot", root / "run", "--out", root / "never")
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: out of memory ({refusal})" in result.output


def test_another_runtime_error_is_not_called_out_of_memory(root, monkeypatch):
    from gradlogpi.runs import plots

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(plots, "curve_statistics", broken)
    result = invoke("plot", root / "run", "--out", root / "never")
    assert isinstance(result.exception, RuntimeError)  # a bug stays a bug, with its traceback


def test_a_sweep_starts_no_more_worker_processes_than_members(root, tmp_path, monkeypatch):
    from gradlogpi.runs import sweep

    started = []

    class Inline:  # a pool that records its size and runs the members here
        def __init__(self, workers):
            started.append(workers)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, function, *arguments):
            from concurrent.futures import Future

            future = Future()
            future.set_result(function(*arguments))
            return future

        @staticmethod
        def completed(futures):
            return iter(list(futures))

    monkeypatch.setattr(sweep, "WorkerPool", Inline)
    result = invoke(
        "sweep", root / "sweep_good.toml", "--workers", 10**12, "--out", tmp_path / "sweep"
    )
    assert result.exit_code == 0, result.output
    assert started == [1]  # one member: one process, not 10**12


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tmp_path):
    from gradlogpi.runs.ownership import claim

    with claim(tmp_path / "busy"):
        result = invoke("train", *CORRIDOR, *TINY, "--run-dir", tmp_path / "busy", "--quiet")
    assert result.exit_code == 2
    assert f"another gradlogpi process (pid {os.getpid()}) is writing this run" in " ".join(
        result.output.split()
    )
    assert not (tmp_path / "busy" / "config.toml").exists()


def test_overwrite_replaces_only_a_runs_files(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", *CORRIDOR, *TINY, "--run-dir", run, "--quiet").exit_code == 0
    (run / "my_notes.txt").write_text("keep me\n")
    replaced = invoke(
        "train", "--env", "gradlogpi/GridWorld-v0", "--algorithm", "actor_critic", *TINY,
        "--run-dir", run, "--quiet", "--overwrite",
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert (run / "my_notes.txt").read_text() == "keep me\n"
    assert "GridWorld" in (run / "config.toml").read_text()


def test_run_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        run = tmp_path / "run"
        assert invoke("train", *CORRIDOR, *TINY, "--run-dir", run, "--quiet").exit_code == 0
    finally:
        os.umask(previous)
    assert (run / "config.toml").stat().st_mode & 0o777 == 0o644
    assert (run / "metrics.csv").stat().st_mode & 0o777 == 0o644


def test_ctrl_c_says_where_the_run_is_and_how_to_resume(tmp_path, monkeypatch):
    from gradlogpi.runs import train as train_module

    real = train_module._train

    def interrupted(config, run_dir, callback, state, episode_times, *rest):
        def stop(end):
            callback(end)
            if end.episode >= 3:
                raise KeyboardInterrupt

        return real(config, run_dir, stop, state, episode_times, *rest)

    monkeypatch.setattr(train_module, "_train", interrupted)
    run = tmp_path / "run"
    result = invoke(
        "train", *CORRIDOR, "--set", "hyperparameters.n_episodes=50", "--set",
        "checkpoint_every=2", "--run-dir", run, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 130
    assert f"continue it with: gradlogpi train --resume {run}" in result.output
    monkeypatch.setattr(train_module, "_train", real)
    resumed = invoke("train", "--resume", run, "--quiet")
    assert resumed.exit_code == 0, resumed.output
