"""The README's demo command runs end to end and prints the seeds' worked numbers."""

import os
import re
import subprocess
import sys


def test_demo_prints_the_seed_answers_and_the_book_figure(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "gradlogpi.demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "MPLBACKEND": "Agg"},
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = completed.stdout
    assert "score for a0: φ(s,a0) − E_π[φ(s,·)] = [ 0.   0.  -0.3]" in out
    assert "score for a1: φ(s,a1) − E_π[φ(s,·)] = [0.  0.  0.7]" in out
    assert "[0.042 0.114 0.002 0.842]" in out
    baseline = re.search(
        r"REINFORCE with baseline .*?mean return over the last \d+ episodes (-?[\d.]+)", out
    )
    assert baseline is not None and -14.0 < float(baseline.group(1)) < -11.0
    assert (tmp_path / "out" / "demo" / "fig13_2.csv").exists()
    assert not (tmp_path / "results").exists()
    assert list((tmp_path / "runs").glob("CartPole-v1__ppo__*/metrics.csv"))
    # its last line is the README's next step: how `gradlogpi` gets on PATH
    last = out.strip().splitlines()[-1]
    assert "`source .venv/bin/activate` puts `gradlogpi` on your PATH" in last
    assert "Seed 00" not in out  # the questions' headings, not random-number seeds
