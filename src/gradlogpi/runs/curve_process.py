"""curve.png/.svg drawn by a second process started with the run (`gradlogpi train`).

Drawing the learning curve at the end of a run costs about a third of a second, two thirds
of it importing matplotlib. `gradlogpi train` of CartPole's PPO takes about 3 s from
launch to exit, so that third was a tenth of what the user waits for, spent after training
had ended. A `CurveProcess` is started when the run starts: it imports matplotlib on
another core while the run trains, is handed the returns as soon as training ends, and
draws while this process evaluates the final policy and writes its checkpoint. The run
waits for it before it returns, so the run directory is whole when `train` returns.

A run too short for the child to have imported matplotlib by its end draws its curve
itself, as before (waiting would be slower), and so does one whose child cannot be
started, fails, or takes longer than `PATIENCE` seconds once handed its work: a curve is
never lost. Its files are written atomically either way, so a run killed while drawing
leaves no half-written image. GRADLOGPI_CURVE_PROCESS=off draws in this process always;
on a machine with one core the run does so by itself.

The protocol: the child writes one line to its stdout once matplotlib is imported (it is
ready); it reads its stdin to the end on a thread while it rehearses, so the run's write
never waits: one JSON line (run directory, title, label, seed, the returns' shape), then
the returns as float64 bytes. It exits 0 once both files are written; an empty stdin (the
run failed, was interrupted, or drew its own curve) ends it without drawing. A child given
up on while it draws gets SIGTERM first, which unwinds its atomic writes (no temporary file
is left), and SIGKILL after `STOPPING` seconds. It starts with `python -P`, so a module in
the working directory cannot shadow matplotlib.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

PATIENCE = 60.0
"""Seconds the run waits for the drawing once handed over, before drawing it itself."""
STOPPING = 2.0
"""Seconds a child given up on has after SIGTERM to remove a half-written file."""


def draw_curve(run_dir: Path, returns: np.ndarray, title: str, label: str, seed: int) -> None:
    """curve.png and curve.svg of `returns` [R, E] in `run_dir`, each written atomically."""
    import matplotlib.pyplot as plt

    from gradlogpi.runs.files import save_figure
    from gradlogpi.runs.plots import curve_statistics, plot_curves

    figure = plot_curves(
        [(label, curve_statistics(returns, seed=seed))], title=title, ylabel="Return"
    )
    save_figure(figure, run_dir / "curve.png", dpi=100)
    save_figure(figure, run_dir / "curve.svg")
    plt.close(figure)


def wanted() -> bool:
    """Whether a second process pays: more than one core is ours, matplotlib is not yet
    imported here, and GRADLOGPI_CURVE_PROCESS is not 'off'."""
    if os.environ.get("GRADLOGPI_CURVE_PROCESS", "on") == "off":
        return False
    if "matplotlib.pyplot" in sys.modules:
        return False
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else True


class CurveProcess:
    """The child that draws one run's curve (see the module): `hand_over` gives it the
    returns once training ends, `finish` waits for its files and draws them here if it
    did not. Use as a context manager: leaving it stops a child still there."""

    # -P: not the working directory first on sys.path (a matplotlib.py there would run)
    command: tuple[str, ...] = (sys.executable, "-P", "-m", "gradlogpi.runs.curve_process")

    def __init__(self, start: bool) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.work: tuple[Path, np.ndarray, str, str, int] | None = None
        self.handed = False
        """Whether the child was given the curve (it may be writing its files)."""
        if start:
            with contextlib.suppress(OSError):
                self.child = subprocess.Popen(
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )

    def __enter__(self) -> CurveProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """End the child if it is still there (an unused child, or one we gave up on)."""
        child, self.child = self.child, None
        if child is None:
            return
        if child.poll() is None and self.handed:
            # it may be writing a file: SIGTERM lets it remove its temporary file
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=STOPPING)
        if child.poll() is None:
            child.kill()  # unused, still importing, or past stopping: nothing to wait for
        child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the child has imported matplotlib (said so on its stdout), waiting up to
        `timeout` seconds for it."""
        if self.child is None or self.child.stdout is None:
            return False
        try:
            readable, _, _ = select.select([self.child.stdout], [], [], timeout)
        except (OSError, ValueError):  # no select on pipes here: take it as ready
            return True
        return bool(readable)

    def hand_over(
        self, run_dir: Path, returns: np.ndarray, title: str, label: str, seed: int
    ) -> None:
        """Give the child the curve to draw now, if it is ready; `finish` waits for it.
        A child still importing is stopped, and `finish` draws the curve here."""
        values = np.ascontiguousarray(returns, dtype=np.float64)
        self.work = (Path(run_dir), values, title, label, seed)
        if not self.ready():
            self.stop()
        if self.child is None or self.child.stdin is None:
            return
        header = {
            "run_dir": str(Path(run_dir).resolve()),
            "title": title,
            "label": label,
            "seed": int(seed),
            "shape": list(values.shape),
        }
        try:
            self.child.stdin.write(json.dumps(header).encode() + b"\n" + values.tobytes())
            self.child.stdin.close()
            self.handed = True
        except OSError:  # the child died (a broken pipe): draw here
            self.stop()

    def finish(self) -> bool:
        """Wait for the child's curve; draw it here if the child did not. Returns whether
        the child drew it."""
        drawn = False
        if self.child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                drawn = self.child.wait(timeout=PATIENCE) == 0
            self.stop()
        if not drawn and self.work is not None:
            draw_curve(*self.work)
        return drawn


def rehearse() -> None:
    """Draw a curve like a run's into memory, as PNG and SVG: matplotlib's import and its
    first drawing's loading (fonts, text layout), done while the run still trains."""
    import io

    import matplotlib.pyplot as plt

    from gradlogpi.runs.plots import curve_statistics, plot_curves

    returns = np.linspace(0.0, 1.0, 20)[None, :]
    statistics = curve_statistics(returns, seed=0)
    figure = plot_curves([("rehearsal (1 run)", statistics)], title="rehearsal", ylabel="Return")
    for file_format in ("png", "svg"):
        figure.savefig(io.BytesIO(), format=file_format, dpi=100)
    plt.close(figure)


def serve(stream: IO[bytes], announce: IO[bytes]) -> int:
    """The child's side: import matplotlib and say so on `announce`, rehearse while
    reading `stream` to its end, then draw the curve it holds."""
    import matplotlib.pyplot  # noqa: F401

    import gradlogpi.runs.plots  # noqa: F401

    with contextlib.suppress(OSError):  # a run that gave up on us closed the pipe
        announce.write(b"ready\n")
        announce.flush()
    # read on a thread: the run's write (returns of any size) never waits for the rehearsal
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(stream.read()), daemon=True)
    reader.start()
    rehearse()
    reader.join()
    line, _, data = received[0].partition(b"\n")
    if not line:
        return 0  # the run ended without a curve to draw
    header: dict[str, Any] = json.loads(line)
    shape = tuple(int(n) for n in header["shape"])
    returns = np.frombuffer(data, dtype=np.float64).reshape(shape)
    draw_curve(Path(header["run_dir"]), returns, header["title"], header["label"], header["seed"])
    return 0


def _terminated(signal_number: int, frame: object) -> None:
    raise SystemExit(128 + signal_number)  # unwinds: an atomic write removes its temporary


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    code = serve(sys.stdin.buffer, sys.stdout.buffer)
    # the files are written and renamed into place; skipping the interpreter's teardown
    # (matplotlib's and NumPy's modules, a tenth of a second) shortens the run's wait
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
