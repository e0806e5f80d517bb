"""A run directory has one owner and one history.

`claim` validates the path, refuses a directory that already holds a run (unless told to
replace it, and then removes only the files a run writes), and holds an exclusive lock
(`fcntl.flock` on `<run>/.lock`) for as long as the writer lives; a second writer is
refused by name. The lock is released when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gradlogpi.errors import RunDirectoryError

RUN_FILES = (
    "config.toml",
    "checkpoint.npz",
    "checkpoint.json",
    "checkpoint_best.npz",
    "checkpoint_best.json",
    "metrics.csv",
    "evaluations.csv",
    "evaluation.json",
    "curve.png",
    "curve.svg",
)
"""Every file `gradlogpi train` writes directly in a run directory."""

LOCK_NAME = ".lock"


def holds_a_run(path: Path) -> bool:
    """Whether `path` already has any of a run's files."""
    return any((path / name).exists() for name in RUN_FILES)


def checked_directory(run_dir: str | os.PathLike) -> Path:
    """The run directory as a Path; named errors for what can never be one."""
    text = os.fspath(run_dir)
    if not text.strip():
        raise RunDirectoryError("`--run-dir` must be a directory path; got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"{path}: exists and is not a directory; choose another --run-dir")
    return path


def described(error: OSError, path: Path) -> RunDirectoryError:
    """An OSError as one line naming the path and the problem."""
    reason = error.strerror or type(error).__name__
    where = error.filename if error.filename is not None else path
    return RunDirectoryError(f"{where}: {reason.lower()}")


@contextlib.contextmanager
def claim(
    run_dir: str | os.PathLike, *, overwrite: bool = False, resuming: bool = False
) -> Iterator[Path]:
    """Own `run_dir` for the block: create it, lock it, and (with `overwrite`) clear its run.

    Args:
      run_dir: the run directory.
      overwrite: replace a run already there (only the files a run writes are removed).
      resuming: the run there is being continued: it must exist, and is kept.

    Raises:
      RunDirectoryError: naming the path, for an empty path, a file, a directory holding a
        run (without `overwrite`), one another process is writing, or a filesystem refusal.
    """
    path = checked_directory(run_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = open(path / LOCK_NAME, "a+")
    except OSError as error:
        raise described(error, path) from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise described(error, path) from None
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise RunDirectoryError(
                f"{path}: another gradlogpi process (pid {owner}) is writing this run; wait "
                "for it to finish or choose another --run-dir"
            ) from None
        if not resuming and holds_a_run(path):
            if not overwrite:
                raise RunDirectoryError(
                    f"{path}: already holds a run; continue it with --resume {path}, replace "
                    "it with --overwrite, or choose another --run-dir"
                )
            for name in RUN_FILES:
                with contextlib.suppress(FileNotFoundError):
                    (path / name).unlink()
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield path
    finally:
        handle.close()  # closing the descriptor releases the lock
