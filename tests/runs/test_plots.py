"""Plot labels."""

from gradlogpi.runs.plots import runs_count


def test_a_legend_counts_one_run_in_the_singular():
    assert runs_count(1) == "1 run"
    assert runs_count(5) == "5 runs"
