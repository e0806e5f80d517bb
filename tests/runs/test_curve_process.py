"""curve.png/.svg drawn by a second process (`gradlogpi train`): the same files as drawn
in the run's own process, and drawn there whenever the second process cannot."""

import subprocess
import sys

import numpy as np
import pytest

from gradlogpi.runs import curve_process, train
from gradlogpi.runs.config import load_config
from gradlogpi.runs.curve_process import CurveProcess, draw_curve

RETURNS = np.random.default_rng(0).uniform(0.0, 500.0, size=(3, 240))


def drawn_here(tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    draw_curve(here, RETURNS, "CartPole-v1: ppo, neural_softmax", "ppo (3 runs)", 7)
    return here


def test_the_second_process_draws_the_curve_this_process_would(tmp_path):
    aside = tmp_path / "aside"
    aside.mkdir()
    with CurveProcess(start=True) as curve:
        assert curve.ready(timeout=60)  # matplotlib imported, as after a run of seconds
        curve.hand_over(aside, RETURNS, "CartPole-v1: ppo, neural_softmax", "ppo (3 runs)", 7)
        assert curve.finish()  # the child drew it, not this process
    here = drawn_here(tmp_path)
    assert (aside / "curve.png").read_bytes() == (here / "curve.png").read_bytes()
    assert (aside / "curve.svg").stat().st_size > 0
    assert sorted(p.name for p in aside.iterdir()) == ["curve.png", "curve.svg"]  # no temp files


@pytest.mark.parametrize(
    "command",
    [
        (sys.executable, "-c", "import sys; sys.exit(3)"),  # fails before reading its work
        (sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(1)"),  # after
        ("/nonexistent/python",),  # cannot be started at all
    ],
)
def test_a_curve_the_second_process_did_not_draw_is_drawn_here(tmp_path, monkeypatch, command):
    monkeypatch.setattr(CurveProcess, "command", command)
    with CurveProcess(start=True) as curve:
        curve.hand_over(tmp_path, RETURNS, "CartPole-v1: ppo, neural_softmax", "ppo (3 runs)", 7)
        assert not curve.finish()
    here = drawn_here(tmp_path)
    assert (tmp_path / "curve.png").read_bytes() == (here / "curve.png").read_bytes()


def test_a_second_process_given_no_work_ends_with_the_run():
    with CurveProcess(start=True) as curve:
        child = curve.child
        assert child is not None and child.poll() is None
    assert child.returncode is not None  # reaped: no zombie
    assert child.stdin.closed and child.stdout.closed


def test_returns_larger_than_a_pipe_are_handed_over_whole(tmp_path):
    many = np.random.default_rng(1).normal(size=(4, 20_000))  # 640 kB: ten pipe buffers
    aside = tmp_path / "aside"
    aside.mkdir()
    with CurveProcess(start=True) as curve:
        assert curve.ready(timeout=60)
        curve.hand_over(aside, many, "t", "ppo (4 runs)", 3)
        assert curve.finish()
    draw_curve(tmp_path, many, "t", "ppo (4 runs)", 3)
    assert (aside / "curve.png").read_bytes() == (tmp_path / "curve.png").read_bytes()


def test_a_module_in_the_working_directory_does_not_shadow_the_childs(tmp_path, monkeypatch):
    (tmp_path / "matplotlib.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('ran').touch()\n"
    )
    monkeypatch.chdir(tmp_path)
    with CurveProcess(start=True) as curve:
        assert curve.ready(timeout=60)
        curve.hand_over(tmp_path, RETURNS, "t", "l", 0)
        assert curve.finish()
    assert not (tmp_path / "ran").exists()


CAUGHT_WRITING = """
import signal, sys, time
from gradlogpi.runs import curve_process
from gradlogpi.runs.files import atomic_open
signal.signal(signal.SIGTERM, curve_process._terminated)
print("ready", flush=True)
run_dir = sys.argv[1]
with atomic_open(run_dir + "/curve.png", "wb") as handle:
    handle.write(b"half")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_child_given_up_on_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    command = (sys.executable, "-c", CAUGHT_WRITING, str(tmp_path))
    monkeypatch.setattr(CurveProcess, "command", command)
    monkeypatch.setattr(curve_process, "PATIENCE", 2.0)
    with CurveProcess(start=True) as curve:
        assert curve.ready(timeout=30)
        curve.hand_over(tmp_path, RETURNS, "t", "l", 0)
        assert not curve.finish()  # past its patience: SIGTERM, then drawn here
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "curve.svg"]


def test_a_run_that_ends_before_the_process_is_ready_draws_its_own_curve(tmp_path, monkeypatch):
    # a child that never says it is ready: a run shorter than matplotlib's import
    command = (sys.executable, "-c", "import time; time.sleep(60)")
    monkeypatch.setattr(CurveProcess, "command", command)
    with CurveProcess(start=True) as curve:
        child = curve.child
        curve.hand_over(tmp_path, RETURNS, "t", "l", 0)
        assert child is not None and child.poll() is not None  # stopped at once
        assert not curve.finish()
    assert (tmp_path / "curve.png").exists() and (tmp_path / "curve.svg").exists()


def test_one_that_outlasts_its_patience_is_ended_and_the_curve_drawn_here(tmp_path, monkeypatch):
    ready_then_asleep = "import time; print('ready', flush=True); time.sleep(60)"
    monkeypatch.setattr(CurveProcess, "command", (sys.executable, "-c", ready_then_asleep))
    monkeypatch.setattr(curve_process, "PATIENCE", 0.2)
    with CurveProcess(start=True) as curve:
        child = curve.child
        assert curve.ready(timeout=30)
        curve.hand_over(tmp_path, RETURNS, "t", "l", 0)
        assert child is not None and child.poll() is None  # handed the work, drawing
        assert not curve.finish()
    assert child.poll() is not None
    assert (tmp_path / "curve.png").exists() and (tmp_path / "curve.svg").exists()


def children_catch_up(monkeypatch):
    """A run of 30 short episodes ends before matplotlib is imported: hand the curve over
    once the child is ready. Returns the list `finish` appends its answers to."""
    hand_over, finish, finished = CurveProcess.hand_over, CurveProcess.finish, []

    def hand_over_when_ready(self, *args):
        assert self.child is None or self.ready(timeout=60)
        hand_over(self, *args)

    monkeypatch.setattr(CurveProcess, "hand_over", hand_over_when_ready)
    monkeypatch.setattr(CurveProcess, "finish", lambda self: finished.append(finish(self)))
    return finished


def test_train_with_the_curve_process_writes_the_same_curve(tmp_path, monkeypatch):
    monkeypatch.setattr(curve_process, "wanted", lambda: True)
    monkeypatch.setattr(train, "wanted_curve_process", lambda: True)
    started = []
    original = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    finished = children_catch_up(monkeypatch)
    overrides = {"runs": 2, "hyperparameters.n_episodes": 30, "evaluation_episodes": 1}
    config = load_config("configs/short_corridor.toml", overrides)
    aside = train.train(config, tmp_path / "aside", curve_process=True)
    assert started == [CurveProcess.command] and finished == [True]  # the child drew it
    here = train.train(config, tmp_path / "here")
    assert started == [CurveProcess.command] and finished == [True, False]  # the API's default
    np.testing.assert_array_equal(aside.result.returns, here.result.returns)
    png = [(run / "curve.png").read_bytes() for run in (aside.run_dir, here.run_dir)]
    assert png[0] == png[1]


def test_the_curve_process_is_not_wanted_when_switched_off_or_matplotlib_is_here(monkeypatch):
    monkeypatch.setenv("GRADLOGPI_CURVE_PROCESS", "off")
    assert not curve_process.wanted()
    monkeypatch.delenv("GRADLOGPI_CURVE_PROCESS")
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", object())
    assert not curve_process.wanted()


def test_a_resumed_run_draws_its_curve_aside_too(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "wanted_curve_process", lambda: True)
    finished = children_catch_up(monkeypatch)
    overrides = {"hyperparameters.n_episodes": 30, "checkpoint_every": 10, "evaluation_episodes": 1}
    config = load_config("configs/short_corridor.toml", {"runs": 1, **overrides})

    def interrupt(end):
        if end.episode == 14:  # after the checkpoint at episode 10
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train(config, tmp_path / "resumed", callback=interrupt, curve_process=True)
    assert finished == [] and not (tmp_path / "resumed" / "curve.png").exists()
    resumed = train.resume(tmp_path / "resumed", curve_process=True)
    whole = train.train(config, tmp_path / "whole")
    assert finished == [True, False]  # the resumed run's child drew it; the API's did not
    np.testing.assert_array_equal(resumed.result.returns, whole.result.returns)
    png = [(run / "curve.png").read_bytes() for run in (resumed.run_dir, whole.run_dir)]
    assert png[0] == png[1]
