"""The progress display: units, rates and the named running mean."""

import numpy as np


def test_progress_times_a_line_from_the_report_before_its_first(monkeypatch):
    """A compiled curve's first report covers a whole chunk: its rate must count that time."""
    from rich.console import Console

    import gradlogpi.runs.progress as progress_module
    from gradlogpi.algorithms.common import EpisodeEnd

    clock = iter([0.0, 2.0, 3.0])  # display starts; curve A reports at 2 s; curve B at 3 s
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    display = progress_module.EpisodeProgress(Console(quiet=True), total=10, disable=True)
    report = EpisodeEnd(4, np.zeros((1, 5)), np.full((1, 5), 100), np.zeros((1, 5), bool), units=5)
    display.update("A", report)
    display.update("B", report)
    assert display.lines["A"].start == 0.0 and display.lines["B"].start == 2.0
