"""`bash dev.sh compare` keeps each finished run: a re-run continues; Ctrl-C says what was kept.

The runs themselves (SB3 and ours, minutes each, in the compare venv) are replaced by a
stand-in that returns a record at once: what is tested is the bookkeeping around them.
"""

import json

import pytest

compare = pytest.importorskip("benchmarks.compare")


def stand_in(job, quick, out):
    return {**job, "returns": [1.0], "lengths": [1], "seconds": 0.1, "final": 9.0}


class InlinePool:
    """The compare's worker pool, run here: a call runs when its result is waited for (so
    monkeypatched runs take effect, and the runs before a Ctrl-C are kept)."""

    def __init__(self, workers, fresh=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, function, *arguments):
        from concurrent.futures import Future

        future = Future()
        future.call = (function, arguments)
        return future

    @staticmethod
    def completed(futures):
        for future in list(futures):
            function, arguments = future.call
            try:
                future.set_result(function(*arguments))
            except Exception as error:
                future.set_exception(error)
            yield future


def test_ctrl_c_keeps_the_finished_runs_and_a_rerun_does_only_the_rest(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "compare"
    every = [compare.job_key(job) for job in compare.jobs_for(compare.make_tasks(True), [0, 1])]
    assert len(every) == 8  # --quick: CartPole, 2 seeds; SB3, SBX, our neural and linear policies
    arguments = ["--quick", "--workers", "1", "--out", str(out)]
    started = []

    def interrupted_on_the_third(job, quick, out):
        started.append(compare.job_key(job))
        if len(started) == 3:
            raise KeyboardInterrupt
        return stand_in(job, quick, out)

    monkeypatch.setattr(compare, "WorkerPool", InlinePool)
    monkeypatch.setattr(compare, "write_config", lambda *args: None)
    monkeypatch.setattr(compare, "run_job", interrupted_on_the_third)
    with pytest.raises(SystemExit) as stopped:
        compare.main(arguments)
    assert stopped.value.code == 130
    log = out / "runs.jsonl"
    error = capsys.readouterr().err
    assert f"interrupted: kept 2 of 8 finished runs in {log}" in error
    assert "continue with: bash dev.sh compare --quick --workers 1 --out" in error
    kept = [compare.job_key(json.loads(line)) for line in log.read_text().splitlines()]
    assert [list(k) for k in kept] == [list(k) for k in started[:2]]

    ran = []

    def counted(job, quick, out):
        ran.append(compare.job_key(job))
        return stand_in(job, quick, out)

    monkeypatch.setattr(compare, "run_job", counted)
    monkeypatch.setattr(compare, "report", lambda *args: "report")
    assert compare.main(arguments) == 0
    assert "6 runs to do (2 already in" in capsys.readouterr().out
    assert ran == [key for key in every if key not in kept]
    assert len(log.read_text().splitlines()) == len(every)
