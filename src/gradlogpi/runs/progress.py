"""Progress display (rich) for learning runs; silent when quiet or not a terminal."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class EpisodeProgress:
    """Episodes done, environment steps per second and the recent mean return.

    Use as a context manager; pass `update` (or `update_episode`) as an algorithm callback.
    When the console is not a terminal, prints one plain line every `every` episodes.
    """

    def __init__(
        self, console: Console, total: int, runs: int = 1, disable: bool = False, every: int = 100
    ):
        self.console = console
        self.total = total
        self.runs = runs
        self.disable = disable
        self.every = every
        self.done = 0
        self.steps = 0
        self.recent: list[float] = []
        self.start = time.perf_counter()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} steps/s  mean return (last 10) {task.fields[mean]}"),
            TimeRemainingColumn(),
            console=console,
            disable=disable or not console.is_terminal,
        )

    def __enter__(self) -> EpisodeProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task("episodes", total=self.total, rate="-", mean="-")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, label: str, end: Any) -> None:
        self.update_episode(end, label)

    def update_episode(self, end: Any, label: str = "episodes") -> None:
        self.done += end.units  # a compiled run reports several episodes at once
        self.steps += int(end.lengths.sum())
        if end.returns.size:  # a step-collection update can finish no episode
            self.recent = ([*self.recent, float(np.mean(end.returns))])[-10:]
        rate = self.steps / max(time.perf_counter() - self.start, 1e-9)
        mean = sum(self.recent) / len(self.recent) if self.recent else float("nan")
        self.progress.update(
            self.task, advance=1, description=label, rate=f"{rate:,.0f}", mean=f"{mean:.2f}"
        )
        crossed = self.done // self.every > (self.done - end.units) // self.every
        if not self.disable and not self.console.is_terminal and crossed:
            self.console.print(
                f"{label}: episode {self.done}/{self.total}, {rate:,.0f} steps/s, mean return {mean:.2f}"
            )
