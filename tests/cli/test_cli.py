"""End to end through subprocesses, as a user runs them, on tiny budgets."""

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PYTHON = sys.executable
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def gradlogpi(*args, cwd=None, check=True):
    completed = subprocess.run(
        [PYTHON, "-m", "gradlogpi.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"gradlogpi {' '.join(map(str, args))} failed:\n{completed.stdout}\n{completed.stderr}"
        )
    return completed


def test_explain_prints_the_seed_numbers():
    out = gradlogpi("explain").stdout
    assert "π(a0|s) = 0.7" in out and "π(a1|s) = 0.3" in out
    assert "= (0, 0, -0.3)" in out  # the seed answer's score for a0
    assert "= (0, 0, 0.7)" in out
    assert "onehot(a0) − π = (0.3, -0.3)" in out  # the matrix form's bias score


def test_check_passes_for_a_configured_policy():
    completed = gradlogpi(
        "check", "--env", "CartPole-v1", "--policy", "matrix_softmax", "--features", "raw"
    )
    assert "PASSED" in completed.stdout


def test_train_evaluate_plot(tmp_path):
    run_dir = tmp_path / "run"
    completed = gradlogpi(
        "train",
        "--env",
        "gradlogpi/ShortCorridor-v0",
        "--algorithm",
        "reinforce",
        "--policy",
        "linear_softmax",
        "--features",
        "corridor",
        "--runs",
        "3",
        "--seed",
        "1",
        "--set",
        "hyperparameters.n_episodes=20",
        "--set",
        "policy.p_right0=0.3",
        "--run-dir",
        run_dir,
        "--quiet",
    )
    assert completed.stdout.strip().splitlines()[-1] == f"run directory: {run_dir}"
    for name in (
        "config.toml",
        "metrics.csv",
        "checkpoint.npz",
        "checkpoint.json",
        "curve.png",
        "curve.svg",
    ):
        assert (run_dir / name).exists(), name
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert lines[0] == "run,episode,step,return,length,truncated,wall_time"
    assert len(lines) == 1 + 3 * 20
    evaluation = json.loads(gradlogpi("evaluate", run_dir, "--episodes", "30", "--json").stdout)
    assert {"mean_return", "ci_low", "ci_high", "episodes"} <= set(evaluation)
    assert evaluation["episodes"] == 30
    assert evaluation["ci_low"] <= evaluation["mean_return"] <= evaluation["ci_high"]
    # π(right) ≈ 0.3 after 20 small steps: the exact value is v(0.3) ≈ −18.1
    assert -40 < evaluation["mean_return"] < -8
    out = tmp_path / "compare"
    gradlogpi("plot", run_dir, run_dir, "--out", out)
    assert out.with_suffix(".png").stat().st_size > 1000
    assert out.with_suffix(".svg").read_text().startswith("<?xml")
    # without --out, under results/ (ignored by git), never the directory it ran in
    gradlogpi("plot", run_dir, cwd=tmp_path)
    assert (tmp_path / "results" / "learning_curves.png").exists()


def test_train_from_config_file_with_flag_override(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        'env = "gradlogpi/GridWorld-v0"\nalgorithm = "actor_critic"\n[policy]\nkind = "matrix_softmax"\n'
        '[features]\nkind = "border"\n[hyperparameters]\nn_episodes = 5\n'
    )
    run_dir = tmp_path / "grid"
    gradlogpi("train", "--config", config, "--seed", "4", "--run-dir", run_dir, "--quiet")
    written = (run_dir / "config.toml").read_text()
    assert "seed = 4" in written and "alpha_w" in written  # resolved, with the algorithm's defaults


def test_malformed_config_gets_a_named_error(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('env = "CartPole-v1"\n[policy]\nkind = "linear_softmax"\nunknown_key = 3\n')
    completed = gradlogpi("train", "--config", config, check=False)
    assert completed.returncode == 2
    assert f"{config}: `policy.unknown_key` = 3" in completed.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("env = [\n")
    completed = gradlogpi("train", "--config", broken, check=False)
    assert completed.returncode == 2 and f"{broken}: invalid TOML" in completed.stderr


def test_experiment_writes_csv_and_png(tmp_path):
    gradlogpi(
        "experiment",
        "sutton-barto",
        "--figure",
        "13.2",
        "--runs",
        "3",
        "--episodes",
        "15",
        "--out",
        tmp_path,
        "--quiet",
    )
    header = (tmp_path / "fig13_2.csv").read_text().splitlines()[0]
    assert header == "curve,episode,mean_return,standard_error,runs,truncated_runs"
    assert (tmp_path / "fig13_2.png").stat().st_size > 1000


def test_envs_lists_shipped_environments():
    out = gradlogpi("envs").stdout
    assert (
        "gradlogpi/ShortCorridor-v0" in out
        and "gradlogpi/GridWorld-v0" in out
        and "gradlogpi/LQR-v0" in out
    )


def test_algorithms_lists_the_registries_and_each_config():
    from gradlogpi.algorithms import ALGORITHMS
    from gradlogpi.runs.feature_kinds import FEATURE_KINDS
    from gradlogpi.runs.policy_kinds import POLICY_KINDS

    listing = gradlogpi("algorithms").stdout
    assert all(name in listing for name in ALGORITHMS)
    assert all(kind.summary in listing for kind in POLICY_KINDS.values())
    assert all(kind.summary in listing for kind in FEATURE_KINDS.values())
    help_text = gradlogpi("train", "--help").stdout
    assert all(name in help_text for name in [*POLICY_KINDS, *FEATURE_KINDS])
    settings = gradlogpi("algorithms", "actor_critic").stdout
    assert "lambda_theta" in settings and "Trace decay λ^θ of the actor" in settings
    unknown = gradlogpi("algorithms", "sac", check=False)
    assert unknown.returncode == 2 and "`algorithm` must be one of" in unknown.stderr


def test_an_unknown_algorithm_in_a_config_is_a_named_error(tmp_path):
    completed = gradlogpi("train", "--algorithm", "sac", "--run-dir", tmp_path / "run", check=False)
    assert completed.returncode == 2
    assert "`algorithm` = 'sac'" in completed.stderr and "'reinforce'" in completed.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["train"],
        ["evaluate"],
        ["plot"],
        ["check"],
        ["explain"],
        ["algorithms"],
        ["experiment", "sutton-barto"],
        ["experiment", "estimators"],
    ],
)
def test_help_everywhere(command):
    completed = gradlogpi(*command, "--help")
    assert "Usage" in completed.stdout


MUJOCO_CONFIGS = ("inverted_pendulum_ppo", "inverted_double_pendulum_ppo", "hopper_ppo")
"""Shipped configs of MuJoCo tasks (extra gradlogpi[mujoco]): skipped without it."""


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("cartpole_linear", ["hyperparameters.n_updates=1", "hyperparameters.steps_per_env=16"]),
        ("cartpole_neural", ["hyperparameters.n_updates=2", "hyperparameters.steps_per_env=8"]),
        ("lqr_gaussian", ["hyperparameters.n_updates=2", "hyperparameters.episodes_per_update=16"]),
        (
            "pendulum_gaussian",
            ["hyperparameters.n_updates=1", "hyperparameters.episodes_per_update=8"],
        ),
        (
            "cartpole_natural_pg",
            ["hyperparameters.n_updates=2", "hyperparameters.steps_per_env=8", "value.epochs=1"],
        ),
        ("short_corridor", ["hyperparameters.n_episodes=3", "runs=2"]),
        ("grid_world", ["hyperparameters.n_episodes=3", "runs=2"]),
        ("cartpole_steps", ["hyperparameters.n_updates=2", "hyperparameters.steps_per_env=8"]),
        ("cartpole_trpo", ["hyperparameters.n_updates=2", "hyperparameters.steps_per_env=16"]),
        ("cartpole_a2c", ["hyperparameters.n_updates=3"]),
        (
            "acrobot_ppo",
            [
                "hyperparameters.n_updates=1",
                "hyperparameters.steps_per_env=8",
                "hyperparameters.epochs=1",
                "hyperparameters.minibatches=2",
                "value.epochs=1",
                "value.minibatches=2",
            ],
        ),
        (
            "pendulum_ppo",
            [
                "hyperparameters.n_updates=1",
                "hyperparameters.steps_per_env=64",
                "hyperparameters.epochs=1",
                "hyperparameters.minibatches=2",
                "value.epochs=1",
                "value.minibatches=2",
            ],
        ),
        (
            "lunarlander_ppo",
            [
                "hyperparameters.n_updates=1",
                "hyperparameters.steps_per_env=16",
                "hyperparameters.epochs=1",
                "hyperparameters.minibatches=2",
                "value.epochs=1",
                "value.minibatches=2",
            ],
        ),
        (
            "mountaincar_ppo",
            [
                "hyperparameters.n_updates=2",
                "hyperparameters.steps_per_env=8",
                "hyperparameters.epochs=1",
                "hyperparameters.minibatches=2",
                "value.epochs=1",
                "value.minibatches=2",
            ],
        ),
        *(
            (
                name,
                [
                    "hyperparameters.n_updates=2",
                    "hyperparameters.steps_per_env=16",
                    "hyperparameters.epochs=1",
                    "hyperparameters.minibatches=2",
                    "value.epochs=1",
                    "value.minibatches=2",
                ],
            )
            for name in MUJOCO_CONFIGS
        ),
    ],
)
def test_every_shipped_config_trains(tmp_path, name, overrides):
    if name == "lunarlander_ppo":
        pytest.importorskip("Box2D", reason="LunarLander needs gymnasium[box2d]")
    if name in MUJOCO_CONFIGS:
        pytest.importorskip("mujoco", reason="the MuJoCo tasks need gradlogpi[mujoco]")
    config = Path(__file__).resolve().parents[2] / "configs" / f"{name}.toml"
    # three evaluation episodes: the final evaluation is tested elsewhere, here it is cost
    settings = [*overrides, "evaluation_episodes=3"]
    args = [arg for item in settings for arg in ("--set", item)]
    # in-process (Typer's runner): the subprocess tests above cover the entry point, and
    # twelve configs × two commands would otherwise pay PyTorch's import 24 times
    from typer.testing import CliRunner

    from gradlogpi.cli.app import app

    run_dir = str(tmp_path / name)
    trained = CliRunner().invoke(
        app, ["train", "--config", str(config), *args, "--run-dir", run_dir, "--quiet"]
    )
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / name / "checkpoint.npz").exists()
    evaluated = CliRunner().invoke(app, ["evaluate", run_dir, "--episodes", "3", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert np.isfinite(json.loads(evaluated.stdout)["mean_return"])


def test_the_list_above_covers_every_shipped_config():
    shipped = {
        path.stem for path in (Path(__file__).resolve().parents[2] / "configs").glob("*.toml")
    }
    listed = {
        mark.args[1][k][0]
        for mark in test_every_shipped_config_trains.pytestmark
        if mark.name == "parametrize"
        for k in range(len(mark.args[1]))
    }
    assert shipped == listed


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "board"
    gradlogpi(
        "train",
        "--env",
        "gradlogpi/ShortCorridor-v0",
        "--algorithm",
        "reinforce",
        "--policy",
        "linear_softmax",
        "--features",
        "corridor",
        "--set",
        "hyperparameters.n_episodes=6",
        "--set",
        "tensorboard=true",
        "--run-dir",
        run_dir,
        "--quiet",
    )
    accumulator = EventAccumulator(str(run_dir / "tensorboard"))
    accumulator.Reload()
    events = accumulator.Scalars("return/mean")
    assert [event.step for event in events] == list(range(6))
    assert all(event.value < 0 for event in events)  # −1 per step in the corridor


def test_evaluate_records_a_video(tmp_path):
    pytest.importorskip("moviepy")
    run_dir = tmp_path / "grid"
    gradlogpi(
        "train",
        "--env",
        "gradlogpi/GridWorld-v0",
        "--algorithm",
        "actor_critic",
        "--policy",
        "matrix_softmax",
        "--features",
        "border",
        "--set",
        "hyperparameters.n_episodes=3",
        "--run-dir",
        run_dir,
        "--quiet",
    )
    completed = gradlogpi(
        "evaluate",
        run_dir,
        "--episodes",
        "2",
        "--video",
        tmp_path / "videos",
        "--video-episodes",
        "2",
    )
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 2 and all(v.stat().st_size > 500 for v in videos)
    assert f"video: {videos[0]}" in completed.stdout


def test_check_with_overrides_for_unbounded_dimensions():
    # the README's example: CartPole's velocities need bounds for Fourier features
    bounds = "[[-2.4,2.4],[-3,3],[-0.21,0.21],[-3.5,3.5]]"
    completed = gradlogpi(
        "check",
        "--env",
        "CartPole-v1",
        "--policy",
        "matrix_softmax",
        "--features",
        "fourier",
        "--set",
        f"features.bounds={bounds}",
    )
    assert "PASSED" in completed.stdout
    missing = gradlogpi(
        "check",
        "--env",
        "CartPole-v1",
        "--policy",
        "matrix_softmax",
        "--features",
        "fourier",
        check=False,
    )
    assert missing.returncode == 2 and "observation dimension 1 is unbounded" in missing.stderr


@pytest.mark.parametrize(
    ("env", "policy", "features"),
    [
        ("gradlogpi/ShortCorridor-v0", "linear_softmax", "corridor"),
        ("gradlogpi/GridWorld-v0", "matrix_softmax", "border"),
        ("gradlogpi/LQR-v0", "linear_gaussian", "raw"),
        ("CartPole-v1", "matrix_softmax", "raw"),
        ("Acrobot-v1", "matrix_softmax", "raw"),
        ("MountainCar-v0", "matrix_softmax", "raw"),
        ("Pendulum-v1", "linear_gaussian", "raw"),
        ("FrozenLake-v1", "matrix_softmax", "onehot"),
    ],
)
def test_train_with_only_an_env_picks_defaults_that_fit_it(tmp_path, env, policy, features):
    import tomllib

    run_dir = tmp_path / "run"
    gradlogpi(
        "train", "--env", env, "--run-dir", run_dir, "--quiet",
        "--set", "hyperparameters.n_updates=1", "--set", "hyperparameters.episodes_per_update=2",
        "--set", "hyperparameters.num_envs=2",
    )  # fmt: skip
    written = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    assert (written["policy"]["kind"], written["features"]["kind"]) == (policy, features)


def test_cartpole_videos_work_or_name_the_extra(tmp_path):
    pytest.importorskip("moviepy")
    run_dir = tmp_path / "cartpole"
    gradlogpi(
        "train", "--env", "CartPole-v1", "--run-dir", run_dir, "--quiet",
        "--set", "hyperparameters.n_updates=1", "--set", "hyperparameters.episodes_per_update=2",
    )  # fmt: skip
    script = (
        "import sys\n"
        "sys.modules['pygame'] = None  # as if the renderer's package were missing\n"
        "from gradlogpi.errors import MissingExtraError\n"
        "from gradlogpi.runs.evaluate import record_video\n"
        "try:\n"
        f"    record_video({str(run_dir)!r}, {str(tmp_path / 'none')!r})\n"
        "except MissingExtraError as error:\n"
        "    print('missing:', error)\n"
    )
    missing = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, check=True)
    assert "missing: `env` = 'CartPole-v1' cannot draw frames: pip install" in missing.stdout
    pytest.importorskip("pygame")
    completed = gradlogpi("evaluate", run_dir, "--episodes", "1", "--video", tmp_path / "videos")
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 500
    assert "Traceback" not in completed.stderr


def test_experiment_cartpole_writes_its_files(tmp_path):
    import tomllib

    import tomli_w

    settings = tomllib.loads((CONFIGS / "cartpole_linear.toml").read_text())
    settings["hyperparameters"].update(n_updates=2, steps_per_env=16)
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(settings))
    out = tmp_path / "study"
    completed = gradlogpi(
        "experiment", "cartpole", "--config", config, "--seeds", "2", "--first-seed", "3",
        "--out", out,
    )  # fmt: skip
    assert "solved 0/2" in completed.stdout
    rows = (out / "cartpole.csv").read_text().splitlines()
    assert rows[0].startswith("seed,solved,episodes") and [r.split(",")[0] for r in rows[1:]] == [
        "3",
        "4",
    ]
    assert (out / "cartpole.png").stat().st_size > 1000
    assert "| 3 | no |" in (out / "summary.md").read_text()


def test_the_estimator_lab_reports_every_estimator(tmp_path):
    completed = gradlogpi(
        "experiment", "estimators", "--env", "gradlogpi/GridWorld-v0", "--gamma", "0.9",
        "--episodes", "3000", "--out", tmp_path,
    )  # fmt: skip
    assert "reinforce_without_gamma_t" in completed.stdout
    # the table says what an unbiased estimator's numbers may reach by chance
    assert "largest |z| (by chance <)" in completed.stdout
    assert "by chance in at most 1 study in 1000" in " ".join(completed.stdout.split())
    with (tmp_path / "estimators.csv").open() as file:
        rows = {row["estimator"]: row for row in csv.DictReader(file)}
    assert float(rows["actor_critic_wrong_critic"]["bias_in_standard_errors"]) > 10
    assert float(rows["actor_critic"]["bias_in_standard_errors"]) < 4.5
    assert (tmp_path / "estimators.png").stat().st_size > 10_000
    refused = gradlogpi("experiment", "estimators", "--env", "CartPole-v1", check=False)
    assert refused.returncode == 2 and "does not publish its dynamics" in refused.stderr


def test_explain_shows_the_theorem_terms_of_one_state():
    completed = gradlogpi("explain", "--env", "gradlogpi/ShortCorridor-v0", "--state", "1")
    # at π(right) = 1/2: q(1, left) = −7, q(1, right) = −13, η(1) = 4, share (−6, 6)
    assert "q_π = -7.0000" in completed.stdout and "q_π = -13.0000" in completed.stdout
    assert "η(s) = Σ_t γ^t Pr(S_t = s) = 4.0000" in completed.stdout
    assert "= (-6, 6)" in completed.stdout
    refused = gradlogpi(
        "explain", "--env", "gradlogpi/ShortCorridor-v0", "--state", "9", check=False
    )
    assert refused.returncode == 2 and "`state` must be in 0 … 3" in refused.stderr


def test_a_setting_that_cannot_be_built_leaves_no_run_directory(tmp_path):
    """Tile coding over CartPole's unbounded velocities is refused before the run directory
    exists, so the corrected command can use the same --run-dir without --overwrite."""
    run_dir = tmp_path / "run"
    base = ["train", "--env", "CartPole-v1", "--algorithm", "reinforce", "--policy",
            "matrix_softmax", "--features", "tiles", "--set", "hyperparameters.n_episodes=2",
            "--run-dir", str(run_dir), "--quiet"]  # fmt: skip
    refused = gradlogpi(*base, check=False)
    assert refused.returncode != 0 and "unbounded" in refused.stderr + refused.stdout
    assert not run_dir.exists()
    bounds = "features.bounds=[[-4.8,4.8],[-3,3],[-0.4189,0.4189],[-3,3]]"
    gradlogpi(*base, "--set", bounds)
    assert (run_dir / "metrics.csv").exists()  # the same directory, trained


def test_version_prints_the_package_version():
    from gradlogpi import __version__

    completed = gradlogpi("--version")
    assert completed.stdout == f"gradlogpi {__version__}\n"


def test_plot_and_experiment_outputs_default_under_results():
    import typer

    from gradlogpi.cli.app import app

    group: Any = typer.main.get_command(app)
    experiments = group.commands["experiment"]
    commands = {"plot": group.commands["plot"]}
    commands |= {f"experiment {name}": command for name, command in experiments.commands.items()}
    assert len(commands) == 4
    for name, command in commands.items():
        (out,) = [param for param in command.params if param.name == "out"]
        assert Path(out.default).parts[0] == "results", (name, out.default)


@pytest.mark.parametrize(
    ("arguments", "start", "end"),
    [
        (["--algorithm", "ppoo"], "--algorithm: `algorithm` = 'ppoo': ", "did you mean 'ppo'?"),
        (
            ["--policy", "linear_softmx"],
            "--policy: `policy.kind` = 'linear_softmx': ",
            "did you mean 'linear_softmax'?",
        ),
        (
            ["--features", "tilez"],
            "--features: `features.kind` = 'tilez': ",
            "did you mean 'tiles'?",
        ),
        (["--env", "CartPol-v1"], "--env: `env` = 'CartPol-v1': ", "Did you mean: `CartPole`?"),
        (
            ["--env", "CartPole-v1", "--policy", "linear_gaussian"],
            "--policy: `policy.kind` = 'linear_gaussian' needs a Box action space",
            "",
        ),
        # --set and config files keep their own names
        (["--set", "algorithm=ppoo"], "--set algorithm: `algorithm` = 'ppoo': ", "'ppo'?"),
        (
            ["--config", str(CONFIGS / "short_corridor.toml"), "--set", "policy.kind=x"],
            "--set policy.kind: `policy.kind` = 'x': ",
            "",
        ),
    ],
)
def test_an_error_names_the_flag_the_user_typed(tmp_path, arguments, start, end):
    completed = gradlogpi("train", *arguments, "--run-dir", tmp_path / "run", check=False)
    assert completed.returncode == 2
    message = completed.stderr.strip()
    assert message.startswith(f"error: {start}"), message
    assert message.endswith(end), message
    assert not (tmp_path / "run").exists()


def test_check_names_the_flag_of_an_unknown_env():
    completed = gradlogpi("check", "--env", "NoSuch-v0", check=False)
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: --env: `env` = 'NoSuch-v0': ")


def test_the_command_ends_after_its_exit_handlers_and_with_its_exit_status(tmp_path):
    """A successful command ends without the interpreter's teardown, but every exit
    handler still runs and what it printed is flushed; a failing one keeps its status."""
    import subprocess
    import sys

    program = (
        "import atexit, sys\n"
        "class TornDown:\n"
        "    def __del__(self):\n"
        "        sys.stdout.write(' torn down')\n"
        "kept = TornDown()  # deleted only by the interpreter's teardown\n"
        "atexit.register(lambda: print('handler ran', end=''))\n"
        "from gradlogpi.cli.app import main\n"
        "sys.argv = ['gradlogpi', *sys.argv[1:]]\n"
        "main()\n"
    )
    script = tmp_path / "run.py"
    script.write_text(program)
    done = subprocess.run(
        [sys.executable, str(script), "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("handler ran")  # and no teardown after it
    failed = subprocess.run(
        [sys.executable, str(script), "no-such-command"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2
    assert "handler ran" in failed.stdout
