"""Progress display (rich) for learning runs; silent when quiet, plain lines when piped.

One line per curve (or per run learned on its own), counting what the algorithm counts:
episodes (of all lockstep runs at once) or updates, as its registry entry says. The
running mean is always named: the mean return of the last `RECENT_EPISODES` episodes,
the same statistic the end-of-training summary prints.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import functools
import sys
import time
from collections.abc import Callable, Iterator
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
from rich.text import Text

from gradlogpi.algorithms.common import RECENT_EPISODES, EpisodeEnd

MEAN_LABEL = f"mean return of the last {RECENT_EPISODES} episodes"


class _TimeLeft(TimeRemainingColumn):
    """Rich's estimate of the time left, or the one a line carries in its `left` field."""

    def render(self, task: Any) -> Text:
        left = task.fields.get("left")
        if left is None:
            return super().render(task)
        return Text(left, style="progress.remaining")


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss, as rich shows the time left."""
    return str(datetime.timedelta(seconds=max(int(seconds), 0)))


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

    `evaluation_seconds` is the time spent in evaluations during training so far (fed by
    `add_evaluation`); once some was spent, every line shows it.
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
        self.evaluation_seconds = 0.0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            _TimeLeft(),
            console=console,
            disable=disable or not console.is_terminal,
        )

    def __enter__(self) -> EpisodeProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def add_evaluation(self, seconds: float) -> None:
        """Count `seconds` more spent evaluating the policy during training (`eval_every`)."""
        self.evaluation_seconds += seconds

    def _detail(self, rate: str, mean: str) -> str:
        text = f"{self.unit}  {rate} steps/s  {MEAN_LABEL} {mean}"
        if self.evaluation_seconds > 0:
            text += f"  evaluations {self.evaluation_seconds:.1f} s"
        return text

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
                label, total=self.total, completed=self.already, detail=self._detail("-", "-")
            )
            line = self.lines[label] = _Line(task, self.last_report, done=self.already)
        self.last_report = now
        line.done += end.units  # a compiled run reports several episodes at once
        line.steps += int(np.sum(end.lengths))
        line.recent.extend(np.ravel(end.returns).tolist())
        rate = line.steps / max(now - line.start, 1e-9)
        mean = float(np.mean(line.recent)) if line.recent else float("nan")
        detail = self._detail(f"{rate:,.0f}", f"{mean:.2f}")
        self.progress.update(line.task, advance=end.units, detail=detail)
        crossed = line.done // self.every > (line.done - end.units) // self.every
        if (
            not self.disable
            and not self.console.is_terminal
            and (crossed or line.done == self.total)
        ):
            self.console.print(
                f"{label}: {self.unit} {line.done}/{self.total}, {rate:,.0f} steps/s, "
                f"{MEAN_LABEL} {mean:.2f}"
                + (
                    f", evaluations {self.evaluation_seconds:.1f} s"
                    if self.evaluation_seconds > 0
                    else ""
                ),
                soft_wrap=True,  # one line per report, however narrow the pipe
            )


class StudyProgress(EpisodeProgress):
    """`EpisodeProgress` of a command that learns `items` runs, with an overall line "seed k of N".

    `noun` names the items ("seed" for `experiment cartpole`, "member" for `sweep`). Call
    `begin(key)` before training an item in this process (it returns the item's callback)
    and `finish()` after it, or only `finish()` for an item learned elsewhere (a worker
    process, a Ray task). The overall line's time left is the time per unit learned so far
    by this command times the units left; with no units seen here, the time per item
    finished here times the items left. `reused` items (finished before) count as done.
    """

    def __init__(
        self,
        console: Console,
        total: int,
        items: int,
        reused: int = 0,
        unit: str = "episodes",
        disable: bool = False,
        noun: str = "seed",
    ):
        super().__init__(console, total, unit=unit, disable=disable)
        self.items = items
        self.noun = noun
        self.reused = reused
        self.finished = reused
        self.started = time.perf_counter()
        self.current: str | None = None
        self.overall = self.progress.add_task(
            self._overall(), total=items, completed=reused, detail=f"{noun}s", left="-:--:--"
        )

    def __enter__(self) -> StudyProgress:
        self.progress.__enter__()
        return self

    def _overall(self) -> str:
        return f"{self.noun} {min(self.finished + 1, self.items)} of {self.items}"

    def time_left(self) -> float | None:
        """Seconds left for the items not finished, or None before anything was learned."""
        elapsed = time.perf_counter() - self.started
        learned = sum(line.done for line in self.lines.values())
        if learned == 0:
            finished_here = self.finished - self.reused
            if finished_here == 0:
                return None
            return elapsed / finished_here * (self.items - self.finished)
        current = self.lines.get(self.current) if self.current is not None else None
        left = (self.items - self.finished) * self.total - (current.done if current else 0)
        return elapsed / learned * max(left, 0)

    def begin(self, key: Any) -> Any:
        """Start item `key`'s line ("seed 3", "member alpha=0.1__seed=0"); returns its callback."""
        self.current = f"{self.noun} {key}"
        return functools.partial(self.update, self.current)

    def update(self, label: str, end: EpisodeEnd) -> None:
        super().update(label, end)
        left = self.time_left()
        self.progress.update(
            self.overall,
            description=self._overall(),
            left="-:--:--" if left is None else clock(left),
        )

    def finish(self) -> None:
        """One more item is finished (its results kept)."""
        self.finished += 1
        self.current = None
        left = self.time_left()
        shown = "-:--:--" if left is None else clock(left)
        self.progress.update(
            self.overall, completed=self.finished, description=self._overall(), left=shown
        )
        if not self.disable and not self.console.is_terminal:
            self.console.print(
                f"{self.noun}s: {self.finished} of {self.items} finished, {shown} left",
                soft_wrap=True,
            )


@contextlib.contextmanager
def interrupted(kept: Callable[[], str], again: str) -> Iterator[None]:
    """Ctrl-C in a long command: one line saying what was kept and how to continue; exit 130.

    `kept()` describes what is kept when the interrupt comes ("kept seeds 0, 1 in out/seeds");
    `again` is the command that continues. Shared by `experiment cartpole`, `sweep` and
    `bash dev.sh compare`.
    """
    try:
        yield
    except KeyboardInterrupt:
        print(f"interrupted: {kept()}; continue with: {again}", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
