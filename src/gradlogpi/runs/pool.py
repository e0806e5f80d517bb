"""Worker processes that a long command can stop on Ctrl-C (sweeps, the SB3 comparison).

`concurrent.futures.ProcessPoolExecutor` alone handles Ctrl-C badly: a wait without a
timeout does not see it until a result arrives, its shutdown waits for every queued call,
and its workers each get the terminal's interrupt in the middle of a run. Here the workers
ignore Ctrl-C, the parent waits in short slices, and on any exception (Ctrl-C included)
the parent cancels what has not started and ends the workers, so the command can say at
once what was kept.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from gradlogpi.core.threads import worker_start_method


def _leave_interrupts_to_the_parent() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class WorkerPool:
    """`workers` processes; use as a context manager, `submit` calls, iterate `completed`.

    `fresh`: each call in a new process, so no library's imports, threads or caches
    carry over from one call to the next (what a timing comparison needs). Workers start
    from a fresh server process, never forked from this one (`worker_start_method`).
    """

    def __init__(self, workers: int, *, fresh: bool = False):
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context(worker_start_method()),
            initializer=_leave_interrupts_to_the_parent,
            max_tasks_per_child=1 if fresh else None,
        )

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: Any) -> None:
        if kind is None:
            self.executor.shutdown()
            return
        # ProcessPoolExecutor has no public way to end its workers before Python 3.14, and
        # its shutdown forgets them: they are ended first (a run cut short writes no result)
        processes = getattr(self.executor, "_processes", None) or {}
        for process in list(processes.values()):
            process.terminate()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, function: Callable[..., Any], *arguments: Any) -> Future:
        """Queue `function(*arguments)` for a worker."""
        return self.executor.submit(function, *arguments)

    @staticmethod
    def completed(futures: Iterable[Future]) -> Iterator[Future]:
        """The futures as they finish (as `as_completed`), waiting so that Ctrl-C is seen."""
        waiting = set(futures)
        while waiting:
            finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
            yield from finished
