"""`gradlogpi tune` as a user runs it: a study, its report re-printed, best.toml trained."""

import subprocess
import sys

import pytest

from gradlogpi.runs.config import load_config

pytest.importorskip("optuna")

CONFIG = """
env = "gradlogpi/ShortCorridor-v0"
algorithm = "reinforce"
eval_every = 10
evaluation_episodes = 10
[policy]
kind = "linear_softmax"
p_right0 = 0.3
[features]
kind = "corridor"
[hyperparameters]
n_episodes = 20
[tune.space]
"hyperparameters.alpha_theta" = {float = [1e-4, 1e-3], log = true}
"""


def gradlogpi(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gradlogpi.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_a_study_reports_again_and_its_best_toml_trains(tmp_path):
    from gradlogpi.runs.train import train

    (tmp_path / "corridor.toml").write_text(CONFIG)
    run = gradlogpi(
        "tune", "corridor.toml", "--trials", 2, "--seeds", 1, "--fresh-seeds", 2,
        "--solved-at", -20, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sum(line.startswith("trial ") for line in lines) == 2  # one line per trial
    assert any(line.startswith("study 'corridor' (sqlite:///") for line in lines)
    best = next(line for line in lines if line.startswith("best: trial "))
    fresh = next(line for line in lines if "on 2 fresh seeds (1-2, never used" in line)
    assert "solved " in fresh and "/2 (final evaluation ≥ -20)" in fresh
    study = tmp_path / "studies" / "corridor"
    assert {"study.db", "best.toml", "history.png", "importance.png", "fresh.json"} <= {
        p.name for p in study.iterdir()
    }

    again = gradlogpi("tune", "--report", "--study", "corridor", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    report = [line for line in again.stdout.splitlines() if not line.startswith("trial ")]
    assert report == [line for line in lines if not line.startswith("trial ")]  # re-printed
    assert best in report and fresh in report

    config = load_config(study / "best.toml")
    assert f"{config.hyperparameters['alpha_theta']:.4g}" in best
    assert train(config, tmp_path / "from-best").result.returns.shape == (1, 20)


def test_errors_end_in_one_named_line(tmp_path):
    (tmp_path / "corridor.toml").write_text(CONFIG)
    bad = gradlogpi("tune", "corridor.toml", "--storage", "nosuchdatabase://x", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: `--storage` = 'nosuchdatabase://x' cannot be opened")
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = gradlogpi("tune", "--report", "--study", "nothing", cwd=tmp_path)
    assert missing.returncode == 2 and "holds no study database" in missing.stderr
