"""Reading a run's metrics.csv, trusting nothing in the file."""

import re

import pytest

from gradlogpi.errors import ConfigError
from gradlogpi.runs.metrics import read_returns


def test_a_huge_run_index_is_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("run,episode,return\n999999999,999999999,1.0\n")
    message = (
        f"{path}: missing (run, episode) rows; runs 0..999999999 and episodes 0..999999999 "
        "need 1000000000000000000 rows, the file has 1"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_returns(path)


def test_a_missing_row_is_refused(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("run,episode,return\n0,0,1.0\n1,1,2.0\n")
    with pytest.raises(ConfigError, match=re.escape("need 4 rows, the file has 2")):
        read_returns(path)


def test_whole_rows_are_read_as_runs_by_episodes(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("run,episode,return\n0,0,1.0\n0,1,2.0\n")
    assert read_returns(path).tolist() == [[1.0, 2.0]]
