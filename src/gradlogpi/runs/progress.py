"""Progress display (rich) for learning runs; silent when quiet, plain lines when piped.

One line per curve (or per run learned on its own), counting what the algorithm counts:
episodes (of all lockstep runs at once) or updates, as its registry entry says. The
running mean is always named: the mean return of the last `RECENT_EPISODES` episodes,
the same statistic the end-of-training summary prints.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from gradlogpi.algorithms.common import RECENT_EPISODES, EpisodeEnd

MEAN_LABEL = f"mean return of the last {RECENT_EPISODES} episodes"


@dataclass
class _Line:
    """The counters of one progress line."""

    task: TaskID
    start: float  # when its first unit began: the previous report, not the line's first one
    done: int = 0
    steps: int = 0
    recent: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_EPISODES)
    )


class EpisodeProgress:
    """Progress of learning: units done, environment steps per second, the recent mean return.

    Use as a context manager; pass `update_episode` (one curve) or `update` (labelled
    curves) as the algorithm's callback. `total` is the units of one line: a curve's
    episodes, or one run's updates; `already` of them were done before (a resumed run).
    When the console is not a terminal, prints a plain line every `every` units of each
    line.
    """

    def __init__(
        self,
        console: Console,
        total: int,
        unit: str = "episodes",
        disable: bool = False,
        every: int = 100,
        already: int = 0,
    ):
        self.console = console
        self.total = total
        self.already = already
        self.unit = unit
        self.disable = disable
        self.every = every
        self.lines: dict[str, _Line] = {}
        self.last_report = time.perf_counter()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                f"{self.unit}  {{task.fields[rate]}} steps/s  {MEAN_LABEL} {{task.fields[mean]}}"
            ),
            TimeRemainingColumn(),
            console=console,
            disable=disable or not console.is_terminal,
        )

    def __enter__(self) -> EpisodeProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, label: str, end: EpisodeEnd) -> None:
        """Callback for labelled curves: one line per label."""
        self.update_episode(end, label)

    def update_episode(self, end: EpisodeEnd, label: str = "training") -> None:
        """Callback for one curve; runs learned one after another get a line each."""
        if end.run is not None:
            label = f"{label}, run {end.run}"
        now = time.perf_counter()
        line = self.lines.get(label)
        if line is None:
            # a compiled run's first report comes after a whole chunk: time it from the
            # report before (or the display's start), not from now
            task = self.progress.add_task(
                label, total=self.total, completed=self.already, rate="-", mean="-"
            )
            line = self.lines[label] = _Line(task, self.last_report, done=self.already)
        self.last_report = now
        line.done += end.units  # a compiled run reports several episodes at once
        line.steps += int(np.sum(end.lengths))
        line.recent.extend(np.ravel(end.returns).tolist())
        rate = line.steps / max(now - line.start, 1e-9)
        mean = float(np.mean(line.recent)) if line.recent else float("nan")
        self.progress.update(line.task, advance=end.units, rate=f"{rate:,.0f}", mean=f"{mean:.2f}")
        crossed = line.done // self.every > (line.done - end.units) // self.every
        if (
            not self.disable
            and not self.console.is_terminal
            and (crossed or line.done == self.total)
        ):
            self.console.print(
                f"{label}: {self.unit} {line.done}/{self.total}, {rate:,.0f} steps/s, "
                f"{MEAN_LABEL} {mean:.2f}"
            )
