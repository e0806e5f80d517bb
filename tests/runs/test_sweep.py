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


def invoke_sweep(path, out, *extra):
    from typer.testing import CliRunner

    from gradlogpi.cli.app import app

    return CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--quiet", *extra])


def test_ctrl_c_keeps_the_finished_members_and_a_rerun_runs_only_the_rest(tmp_path, monkeypatch):
    import gradlogpi.runs.sweep as sweep_module

    path = sweep_file(tmp_path)
    out = tmp_path / "sweep"
    real = sweep_module.run_member
    started = []

    def interrupted_on_the_second(*args, **kwargs):
        started.append(args[2].name)
        if len(started) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_member", interrupted_on_the_second)
    stopped = invoke_sweep(path, out)
    assert stopped.exit_code == 130, stopped.output
    assert f"interrupted: kept 1 of 4 members (each with done.json) in {out}" in stopped.output
    assert f"continue with: gradlogpi sweep {path} --out {out} --workers 1" in stopped.output
    kept = [p.parent.name for p in out.glob("*/done.json")]
    assert kept == [started[0]]
    stamp = (out / kept[0] / "done.json").stat().st_mtime_ns

    ran = []

    def counted(*args, **kwargs):
        ran.append(args[2].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_member", counted)
    resumed = invoke_sweep(path, out)
    assert resumed.exit_code == 0, resumed.output
    assert "reusing 1 of 4 members" in resumed.output
    assert sorted(ran) == sorted(set(m.name for m in read_sweep(path)[2]) - {kept[0]})
    assert (out / kept[0] / "done.json").stat().st_mtime_ns == stamp
    assert len(list(out.glob("*/done.json"))) == 4


def group_alive(group: int, within: float) -> bool:
    """Whether process group `group` still has a process after `within` seconds (reaped ones gone)."""
    import os

    deadline = time.time() + within
    while time.time() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


def test_ctrl_c_ends_the_worker_processes_and_keeps_what_finished(tmp_path):
    import os
    import signal

    path = tmp_path / "sweep.toml"
    path.write_text(
        SWEEP.replace("EPISODES", "50000").replace("[0.001, 0.002]", "[0.0001, 0.0002, 0.0003]")
    )
    out = tmp_path / "sweep"
    command = ["sweep", str(path), "--out", str(out), "--workers", "2", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gradlogpi.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("*/done.json")):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    kept = {p.parent.name for p in out.glob("*/done.json")}
    assert 1 <= len(kept) < 6
    assert f"interrupted: kept {len(kept)} of 6 members" in stderr
    assert "Traceback" not in stderr
    assert not group_alive(process.pid, within=30), "a worker process is left running"
    summaries = run_sweep(path, out)
    assert len(summaries) == 6
    for summary in summaries:
        lines = (out / summary["name"] / "metrics.csv").read_text().strip().splitlines()
        assert len(lines) == 1 + 50000  # every episode once: no gaps, no duplicates
