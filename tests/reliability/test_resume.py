"""Train N episodes, or train, SIGKILL, resume to N: identical parameters, RNG states and metrics."""

import csv
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradlogpi.runs.checkpoints import load_checkpoint

CONFIG = """
env = "{env}"
algorithm = "{algorithm}"
seed = 5
runs = {runs}
checkpoint_every = 4
[policy]
kind = "{policy}"
[features]
kind = "{features}"
[hyperparameters]
{budget} = 12
"""

KILL_AFTER_EPISODE_9 = textwrap.dedent(
    """
    import os, signal, sys
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.train import train
    def die(end):
        if end.episode == 9:   # after the checkpoint at episode 8 (index 7), before the end
            os.kill(os.getpid(), signal.SIGKILL)
    train(load_config(sys.argv[1]), sys.argv[2], callback=die)
    """
)


def metric_rows(path):
    with open(path, newline="") as handle:
        return [
            {k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(handle)
        ]


@pytest.mark.parametrize(
    ("env", "algorithm", "runs", "policy", "features"),
    [
        ("gradlogpi/ShortCorridor-v0", "reinforce", 3, "linear_softmax", "corridor"),
        ("gradlogpi/GridWorld-v0", "actor_critic", 2, "matrix_softmax", "border"),
        ("CartPole-v1", "reinforce_baseline", 1, "matrix_softmax", "raw"),
        ("CartPole-v1", "neural_reinforce", 1, "neural_softmax", "raw"),
        ("CartPole-v1", "batch_pg", 1, "neural_softmax", "raw"),
        ("gradlogpi/LQR-v0", "batch_pg", 1, "linear_gaussian", "raw"),
    ],
)
def test_kill_and_resume_equals_uninterrupted(tmp_path, env, algorithm, runs, policy, features):
    config = tmp_path / "config.toml"
    if policy == "neural_softmax":
        pytest.importorskip("torch")
    budget = "n_updates" if algorithm == "batch_pg" else "n_episodes"
    text = CONFIG.format(
        env=env, algorithm=algorithm, runs=runs, policy=policy, features=features, budget=budget
    )
    if algorithm == "batch_pg":
        text += "episodes_per_update = 4\nnum_envs = 2\n"
    if env == "gradlogpi/LQR-v0":
        text += 'update = "natural"\ngamma = 0.9\n'  # the plain default step size diverges on LQR
    config.write_text(text)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gradlogpi.cli",
            "train",
            "--config",
            config,
            "--run-dir",
            straight,
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )
    crashed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_EPISODE_9, config, killed], capture_output=True
    )
    assert crashed.returncode == -9
    _, metadata = load_checkpoint(killed / "checkpoint")
    episodes_saved = 8 * (4 if algorithm == "batch_pg" else 1)  # batch_pg checkpoints per update
    assert metadata["episodes"] == episodes_saved
    assert (
        len(metric_rows(killed / "metrics.csv")) == episodes_saved * runs
    )  # what was saved is all there
    subprocess.run(
        [sys.executable, "-m", "gradlogpi.cli", "train", "--resume", killed, "--quiet"],
        check=True,
        capture_output=True,
    )
    arrays_straight, meta_straight = load_checkpoint(straight / "checkpoint")
    arrays_killed, meta_killed = load_checkpoint(killed / "checkpoint")
    for name in arrays_straight:
        np.testing.assert_array_equal(arrays_killed[name], arrays_straight[name], err_msg=name)
    assert meta_killed["state"] == meta_straight["state"]  # RNG states and counters
    assert metric_rows(killed / "metrics.csv") == metric_rows(
        straight / "metrics.csv"
    )  # no gaps, no duplicates


def test_resume_refuses_a_non_resumable_checkpoint(tmp_path):
    from gradlogpi.errors import CheckpointError
    from gradlogpi.runs.checkpoints import save_checkpoint
    from gradlogpi.runs.config import config_to_toml, load_config
    from gradlogpi.runs.train import resume

    (tmp_path / "config.toml").write_text(config_to_toml(load_config(None)))
    save_checkpoint(tmp_path / "checkpoint", {"theta": np.zeros((1, 10))}, {})
    with pytest.raises(CheckpointError, match="holds no resumable state"):
        resume(tmp_path)


KILL_AFTER = textwrap.dedent(
    """
    import os, signal, sys
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.train import train
    def die(end):
        if end.episode == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
    train(load_config(sys.argv[1]), sys.argv[2], callback=die)
    """
)


def run_files(run_dir):
    return {
        name: (run_dir / name).read_bytes()
        for name in ("config.toml", "metrics.csv", "checkpoint.npz", "checkpoint.json")
    }


def test_killed_anywhere_resumed_twice_and_finished_runs_stay_as_they_are(tmp_path):
    """Kill at episodes 0, 5 and 11 (the last, before the final save); resume; resume again."""
    config = tmp_path / "config.toml"
    text = CONFIG.format(
        env="gradlogpi/ShortCorridor-v0",
        algorithm="reinforce",
        runs=2,
        policy="linear_softmax",
        features="corridor",
        budget="n_episodes",
    )
    config.write_text(text.replace("checkpoint_every = 4", "checkpoint_every = 1"))
    straight = tmp_path / "straight"
    train_command = [sys.executable, "-m", "gradlogpi.cli", "train", "--quiet"]
    subprocess.run([*train_command, "--config", config, "--run-dir", straight], check=True)
    finished = run_files(straight)
    for kill_at in (0, 5, 11):
        killed = tmp_path / f"killed_{kill_at}"
        crashed = subprocess.run(
            [sys.executable, "-c", KILL_AFTER, config, killed, str(kill_at)], capture_output=True
        )
        assert crashed.returncode == -9
        for _ in range(2):  # the second resume finds the run complete
            resumed = subprocess.run(
                [*train_command, "--resume", killed], capture_output=True, text=True, check=True
            )
        assert "already complete; nothing to do" in resumed.stdout
        arrays_straight, _ = load_checkpoint(straight / "checkpoint")
        arrays_killed, meta_killed = load_checkpoint(killed / "checkpoint")
        assert meta_killed["complete"]
        for name in arrays_straight:
            np.testing.assert_array_equal(arrays_killed[name], arrays_straight[name], err_msg=name)
        assert metric_rows(killed / "metrics.csv") == metric_rows(straight / "metrics.csv")
    again = subprocess.run(
        [*train_command, "--resume", straight], capture_output=True, text=True, check=True
    )
    assert "already complete; nothing to do" in again.stdout
    assert run_files(straight) == finished  # not a byte changed


ON_POLICY = """
env = "CartPole-v1"
algorithm = "{algorithm}"
seed = 7
checkpoint_every = 1
[policy]
kind = "{policy}"
{policy_settings}
[value]
kind = "{critic}"
{critic_settings}
[hyperparameters]
n_updates = 9
num_envs = 2
steps_per_env = 24
collection = "steps"
{settings}
"""

NEURAL = "hidden = [16, 16]"


def on_policy_config(tmp_path, algorithm, policy, critic, settings="", backend="torch"):
    text = ON_POLICY.format(
        algorithm=algorithm,
        policy=policy,
        policy_settings=(NEURAL + f'\nbackend = "{backend}"')
        if policy.startswith("neural")
        else "",
        critic=critic,
        critic_settings=NEURAL + "\nepochs = 2\nminibatches = 2" if critic == "neural" else "",
        settings=settings,
    )
    if policy == "matrix_softmax":
        text = text.replace("[value]", '[features]\nkind = "raw"\n[value]')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


KILL_AT_UPDATES = textwrap.dedent(
    """
    import os, signal, sys
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.train import resume, train
    kill_at = int(sys.argv[3])
    def die(end):
        if end.episode == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[4] == "train":
        train(load_config(sys.argv[1]), sys.argv[2], callback=die)
    else:
        resume(sys.argv[2], callback=die)
    """
)


@pytest.mark.parametrize(
    ("algorithm", "policy", "critic", "settings"),
    [
        ("ppo", "neural_softmax", "neural", "epochs = 2\nminibatches = 2"),
        (
            "ppo",
            "neural_softmax+jax",
            "neural",
            'epochs = 2\nminibatches = 3\ntarget_kl = 0.01\nvalue_fitting = "joint"',
        ),
        ("a2c", "neural_gaussian+jax", "neural", ""),
        ("ppo", "neural_gaussian+jax+gsde", "neural", "epochs = 2\nminibatches = 2"),
        ("ppo", "matrix_softmax", "linear", "epochs = 2\nminibatches = 3"),
        (
            "ppo",
            "matrix_softmax",
            "linear",
            "epochs = 2\nnormalize_observations = true\nnormalize_rewards = true",
        ),
        ("trpo", "matrix_softmax", "linear", ""),
        ("batch_pg", "matrix_softmax", "linear", 'baseline = "value"'),
        ("a2c", "neural_softmax", "neural", ""),
    ],
)
def test_on_policy_runs_killed_at_random_updates_resume_bit_for_bit(
    tmp_path, algorithm, policy, critic, settings
):
    """SIGKILL at random updates, twice (the second time while resuming): the final
    checkpoint's arrays and every metrics row equal an uninterrupted run's, on both
    neural backends (policy+jax: the compiled one)."""
    policy, _, backend = policy.partition("+")
    backend, _, exploration = backend.partition("+")
    if policy.startswith("neural"):
        pytest.importorskip(backend or "torch")
    config = on_policy_config(tmp_path, algorithm, policy, critic, settings, backend or "torch")
    if policy == "neural_gaussian":
        config.write_text(config.read_text().replace("CartPole-v1", "Pendulum-v1"))
    if exploration == "gsde":  # its exploration matrices held 5 steps, across no update
        text = config.read_text().replace("[value]", "[policy.gsde]\nsample_every = 5\n[value]")
        config.write_text(text)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_command = [sys.executable, "-m", "gradlogpi.cli", "train", "--quiet"]
    subprocess.run([*train_command, "--config", config, "--run-dir", straight], check=True)
    first, second = sorted(
        np.random.default_rng(len(algorithm + policy)).choice(8, 2, replace=False)
    )
    for kill_at, how in ((first, "train"), (second, "resume")):
        crashed = subprocess.run(
            [sys.executable, "-c", KILL_AT_UPDATES, config, killed, str(kill_at), how],
            capture_output=True,
            text=True,
        )
        assert crashed.returncode == -9, crashed.stderr
        _, metadata = load_checkpoint(killed / "checkpoint")
        # the checkpoint of the update it was killed after (saved before the callback ran)
        assert not metadata["complete"] and metadata["state"]["episode"] == kill_at
    subprocess.run([*train_command, "--resume", killed], check=True, capture_output=True)
    arrays_straight, meta_straight = load_checkpoint(straight / "checkpoint")
    arrays_killed, meta_killed = load_checkpoint(killed / "checkpoint")
    assert sorted(arrays_killed) == sorted(arrays_straight)
    assert any(name.startswith("extra_collector_env_") for name in arrays_straight)
    for name in arrays_straight:
        np.testing.assert_array_equal(arrays_killed[name], arrays_straight[name], err_msg=name)
    assert meta_killed["state"] == meta_straight["state"]  # RNG states and counters
    assert metric_rows(killed / "metrics.csv") == metric_rows(straight / "metrics.csv")


def test_a_run_killed_before_its_first_checkpoint_says_so_and_how_to_start_again(tmp_path):
    config = on_policy_config(tmp_path, "ppo", "matrix_softmax", "linear")
    config.write_text(config.read_text().replace("checkpoint_every = 1", "checkpoint_every = 0"))
    killed = tmp_path / "killed"
    crashed = subprocess.run(
        [sys.executable, "-c", KILL_AT_UPDATES, config, killed, "0", "train"], capture_output=True
    )
    assert crashed.returncode == -9
    assert not (killed / "checkpoint.json").exists()
    answer = subprocess.run(
        [sys.executable, "-m", "gradlogpi.cli", "train", "--resume", killed],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 2
    message = answer.stderr.strip().splitlines()
    assert len(message) == 1 and "stopped before its first checkpoint" in message[0]
    assert f"--config {killed / 'config.toml'} --run-dir {killed} --overwrite" in message[0]


VECTOR_RUNS = """
env = "CartPole-v1"
algorithm = "reinforce"
seed = 3
runs = 4
checkpoint_every = 1
[policy]
kind = "matrix_softmax"
[features]
kind = "raw"
[hyperparameters]
n_episodes = 12
alpha_theta = 0.01
gamma = 0.99
runs_in_vector_env = true
"""


def test_runs_in_a_vector_env_killed_at_random_episodes_resume_bit_for_bit(tmp_path):
    """`reinforce` with `runs_in_vector_env`: SIGKILL at random episodes, twice (the second
    time while resuming); the final checkpoint (θ, statistics, episodes in flight, the vector
    env's snapshot, noise position) and every metrics row equal an uninterrupted run's."""
    config = tmp_path / "config.toml"
    config.write_text(VECTOR_RUNS)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_command = [sys.executable, "-m", "gradlogpi.cli", "train", "--quiet"]
    subprocess.run([*train_command, "--config", config, "--run-dir", straight], check=True)
    first, second = sorted(np.random.default_rng(12).choice(11, 2, replace=False))
    for kill_at, how in ((first, "train"), (second, "resume")):
        crashed = subprocess.run(
            [sys.executable, "-c", KILL_AT_UPDATES, config, killed, str(kill_at), how],
            capture_output=True,
            text=True,
        )
        assert crashed.returncode == -9, crashed.stderr
        _, metadata = load_checkpoint(killed / "checkpoint")
        assert not metadata["complete"] and metadata["state"]["episode"] == kill_at
    subprocess.run([*train_command, "--resume", killed], check=True, capture_output=True)
    arrays_straight, meta_straight = load_checkpoint(straight / "checkpoint")
    arrays_killed, meta_killed = load_checkpoint(killed / "checkpoint")
    assert sorted(arrays_killed) == sorted(arrays_straight)
    assert {"extra_env_state", "extra_episode_steps", "extra_next_actions"} <= set(arrays_straight)
    for name in arrays_straight:
        np.testing.assert_array_equal(arrays_killed[name], arrays_straight[name], err_msg=name)
    assert meta_killed["state"] == meta_straight["state"]  # noise position, RNG states
    assert metric_rows(killed / "metrics.csv") == metric_rows(straight / "metrics.csv")


@pytest.fixture(scope="module")
def finished_corridor(tmp_path_factory):
    """A finished one-run corridor run (θ [1, 2], 3 episodes), made once."""
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.train import train

    run_dir = tmp_path_factory.mktemp("finished") / "run"
    overrides = {"runs": 1, "hyperparameters.n_episodes": 3, "evaluation_episodes": 1}
    train(load_config("configs/short_corridor.toml", overrides), run_dir)
    return run_dir


def damaged_copy(source, target, change, complete):
    """A copy of `source` whose checkpoint's arrays are changed by `change` (resaved, so that
    its sha256 matches), marked complete or not."""
    import shutil

    from gradlogpi.runs.checkpoints import save_checkpoint

    shutil.copytree(source, target)
    arrays, metadata = load_checkpoint(source / "checkpoint")
    change(arrays)
    metadata["complete"] = complete
    for key in ("sha256", "format_version", "versions", "arrays"):
        metadata.pop(key, None)
    save_checkpoint(target / "checkpoint", arrays, metadata)
    return target


def replace(name, value):
    def change(arrays):
        arrays[name] = value

    return change


@pytest.mark.parametrize("complete", [False, True])
@pytest.mark.parametrize(
    ("change", "found"),
    [
        (
            lambda arrays: arrays.pop("theta"),
            "array `theta` is missing; expected float of shape (1, 2); found arrays "
            "['tracker_diverged_at', 'tracker_lengths', 'tracker_returns', 'tracker_truncated']",
        ),
        (replace("theta", np.zeros((1, 5))), "array `theta` must be float of shape (1, 2); "
         "got float64 of shape (1, 5)"),
        (replace("theta", np.zeros((1, 2), np.float32).astype(int)), "array `theta` must be "
         "float of shape (1, 2); got int64 of shape (1, 2)"),
        (replace("tracker_lengths", np.zeros((1, 3))), "array `tracker_lengths` must be "
         "integer of shape (1, 3); got float64 of shape (1, 3)"),
        (replace("tracker_truncated", np.zeros((1, 2), bool)), "array `tracker_truncated` "
         "must be bool of shape (1, 3); got bool of shape (1, 2)"),
        (replace("tracker_diverged_at", np.array(["never"])), "array `tracker_diverged_at` "
         "must have a numeric dtype (bool, integer or float); got <U5"),
        (replace("optimizer_0_step", np.array(["x"])), "array `optimizer_0_step` must have a "
         "numeric dtype (bool, integer or float); got <U1"),
    ],
)  # fmt: skip
def test_resume_refuses_arrays_that_are_not_what_the_config_implies(
    finished_corridor, tmp_path, change, found, complete
):
    import re

    from gradlogpi.errors import CheckpointError
    from gradlogpi.runs.train import resume

    run_dir = damaged_copy(finished_corridor, tmp_path / "run", change, complete)
    message = f"checkpoint {run_dir / 'checkpoint.npz'}: {found}"
    with pytest.raises(CheckpointError, match=re.escape(message)):
        resume(run_dir)
