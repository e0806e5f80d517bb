import subprocess
import sys
import time

import pytest

from gradlogpi.errors import ConfigError
from gradlogpi.runs.sweep import read_sweep, run_sweep, summarise

SWEEP = """
seeds = [0, 1]
[base]
env = "gradlogpi/ShortCorridor-v0"
algorithm = "reinforce"
[base.policy]
kind = "linear_softmax"
p_right0 = 0.3
[base.features]
kind = "corridor"
[base.hyperparameters]
n_episodes = EPISODES
[grid]
"hyperparameters.alpha_theta" = [0.001, 0.002]
"""


def sweep_file(tmp_path, episodes=10):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace("EPISODES", str(episodes)))
    return path


def test_members_are_the_grid_times_seeds(tmp_path):
    _, _, members = read_sweep(sweep_file(tmp_path))
    assert len(members) == 4
    assert len({m.name for m in members}) == 4


def test_same_numbers_with_one_or_two_workers_and_completed_members_skipped(tmp_path):
    path = sweep_file(tmp_path)
    one = run_sweep(path, tmp_path / "one", workers=1)
    two = run_sweep(path, tmp_path / "two", workers=2)
    for first, second in zip(one, two, strict=True):
        assert (tmp_path / "one" / first["name"] / "metrics.csv").read_text().split("\n")[1].split(
            ","
        )[:6] == (tmp_path / "two" / second["name"] / "metrics.csv").read_text().split("\n")[
            1
        ].split(",")[:6]
        assert first["final_mean_return"] == second["final_mean_return"]
    # run again: nothing is redone
    stamps = {
        m["name"]: (tmp_path / "one" / m["name"] / "done.json").stat().st_mtime_ns for m in one
    }
    (tmp_path / "one" / one[0]["name"] / "done.json").unlink()  # as if killed before finishing
    again = run_sweep(path, tmp_path / "one", workers=1)
    assert [m["name"] for m in again] == [m["name"] for m in one]
    for member in one[1:]:
        assert (tmp_path / "one" / member["name"] / "done.json").stat().st_mtime_ns == stamps[
            member["name"]
        ]
    rows = summarise(again)
    assert len(rows) == 2 and all(row["seeds"] == 2 for row in rows)


def test_killed_sweep_resumes_without_loss_or_duplicates(tmp_path):
    path = sweep_file(tmp_path, episodes=150)
    out = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "gradlogpi.cli", "sweep", str(path), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*/done.json")):
        time.sleep(0.05)
    process.kill()
    process.wait()
    finished_before = {p.parent.name for p in out.glob("*/done.json")}
    assert 1 <= len(finished_before) < 4
    summaries = run_sweep(path, out)
    assert len(summaries) == 4
    for summary in summaries:
        lines = (out / summary["name"] / "metrics.csv").read_text().strip().splitlines()
        assert len(lines) == 1 + 150  # every episode once: no gaps, no duplicates


def test_bad_sweep_file_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('seeds = "all"\n')
    with pytest.raises(ConfigError, match="`seeds` = 'all': expected a non-empty list"):
        read_sweep(path)
    path.write_text('seeds = [0]\n[grid]\n"hyperparameters.alpha_theta" = []\n')
    with pytest.raises(ConfigError, match="expected a non-empty list of values"):
        read_sweep(path)
