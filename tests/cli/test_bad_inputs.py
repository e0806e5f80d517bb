"""No traceback from any command: every bad input ends in one named error line, exit 2."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "a_directory").mkdir()
    os.mkfifo(root / "a_fifo")
    config_only = root / "config_only"
    config_only.mkdir()
    shutil.copy(CONFIGS / "short_corridor.toml", config_only / "config.toml")
    run = root / "run"
    subprocess.run(
        [sys.executable, "-m", "gradlogpi.cli", "train", "--env", "gradlogpi/ShortCorridor-v0",
         "--algorithm", "reinforce", "--set", "hyperparameters.n_episodes=3", "--set",
         "evaluation_episodes=2", "--run-dir", run, "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip
    return root


CASES = {
    "missing config": ("train --config {root}/missing.toml", "no such config file"),
    "config is a directory": ("train --config {root}/a_directory", "not a regular file"),
    "config is a FIFO": ("train --config {root}/a_fifo", "not a regular file"),
    "unknown env": ("train --env NoSuchEnv-v0", "`env` = 'NoSuchEnv-v0'"),
    "bad --set value": ("train --set hyperparameters.alpha_theta=fast", "--set hyperparameters"),
    "--set at the wrong level": ("train --set alpha_theta=0.1", "`hyperparameters.alpha_theta`"),
    "resume nothing": ("train --resume {root}/nonexistent", "/nonexistent: no such run directory"),
    "resume a directory that holds no run": (
        "train --resume {root}/a_directory",
        "not a run directory (no config.toml)",
    ),
    "resume without a checkpoint": (
        "train --resume {root}/config_only",
        "stopped before its first checkpoint",
    ),
    "Gaussian on Discrete actions": (
        "train --env CartPole-v1 --policy linear_gaussian",
        "needs a Box action space",
    ),
    "raw features of Discrete states": (
        "train --env gradlogpi/ShortCorridor-v0 --features raw",
        "needs a Box observation space",
    ),
    "linear policy, neural algorithm": (
        "train --env CartPole-v1 --algorithm neural_reinforce --policy matrix_softmax",
        "needs a neural policy",
    ),
    "neural policy, lockstep algorithm": (
        "train --env CartPole-v1 --algorithm reinforce --policy neural_softmax",
        "needs a linear policy",
    ),
    "evaluate nothing": ("evaluate {root}/nonexistent", "not a run directory"),
    "evaluate a run index too far": (
        "evaluate {root}/run --run-index 5",
        "`run` must be in [0, 1)",
    ),
    "evaluate a best never kept": ("evaluate {root}/run --checkpoint best", "no best checkpoint"),
    "evaluate an unknown checkpoint": ("evaluate {root}/run --checkpoint middle", "last or best"),
    "plot nothing": ("plot {root}/nonexistent", "not a run directory"),
    "check an unknown env": ("check --env NoSuch-v0", "`env` = 'NoSuch-v0'"),
    "check unbounded features": (
        "check --env CartPole-v1 --features fourier",
        "--set features.bounds=",
    ),
    "explain an unknown env": ("explain --env NoSuch-v0", "`env` = 'NoSuch-v0'"),
    "missing sweep": ("sweep {root}/missing.toml", "no such sweep file"),
    "unknown figure": ("experiment sutton-barto --figure 13.3", "13.1, 13.2"),
    "cartpole study without a config": (
        "experiment cartpole --config {root}/missing.toml",
        "no such config file",
    ),
    "unknown algorithm": ("algorithms nope", "`algorithm` must be one of"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_gets_a_named_error_not_a_traceback(places, case):
    arguments, expected = CASES[case]
    completed = subprocess.run(
        [sys.executable, "-m", "gradlogpi.cli", *arguments.format(root=places).split()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 2, output
    assert "Traceback" not in output
    assert expected in " ".join(output.split()), output
