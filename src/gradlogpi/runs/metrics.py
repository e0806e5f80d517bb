"""Reading the metrics a run directory holds, trusting nothing in the file."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from gradlogpi.errors import ConfigError

REQUIRED = ("run", "episode", "return")


def read_returns(path: str | Path) -> np.ndarray:
    """Returns [R, E] from a run's metrics.csv (runs as rows, episodes as columns).

    Every row is checked: the columns are there, run and episode are integers >= 0 and
    appear once each, returns are finite numbers, and the file ends with a whole row (a
    file cut mid-row, e.g. −9 for −93, is refused rather than plotted).

    Raises:
      ConfigError: naming the file, the line and what is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    if text and not text.endswith("\n"):
        raise ConfigError(f"{path}: the last row is incomplete (the file was cut short)")
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{path}: no `{missing[0]}` column; is this a run's metrics.csv?")
    values: dict[tuple[int, int], float] = {}
    for line, row in enumerate(reader, start=2):
        try:
            run, episode = int(row["run"]), int(row["episode"])
            value = float(row["return"])
        except (TypeError, ValueError):
            raise ConfigError(
                f"{path}, line {line}: expected integer run and episode and a number return; "
                f"got run={row.get('run')!r}, episode={row.get('episode')!r}, "
                f"return={row.get('return')!r}"
            ) from None
        if run < 0 or episode < 0:
            raise ConfigError(
                f"{path}, line {line}: run and episode must be >= 0; got {run}, {episode}"
            )
        if not math.isfinite(value):
            raise ConfigError(f"{path}, line {line}: return must be finite; got {value}")
        if (run, episode) in values:
            raise ConfigError(f"{path}, line {line}: run {run} episode {episode} appears twice")
        values[(run, episode)] = value
    if not values:
        raise ConfigError(f"{path}: no metric rows")
    runs = max(run for run, _ in values) + 1
    episodes = max(episode for _, episode in values) + 1
    if len(values) != runs * episodes:  # counted before allocating [runs, episodes]
        raise ConfigError(
            f"{path}: missing (run, episode) rows; runs 0..{runs - 1} and episodes "
            f"0..{episodes - 1} need {runs * episodes} rows, the file has {len(values)}"
        )
    returns = np.full((runs, episodes), np.nan)
    for (run, episode), value in values.items():
        returns[run, episode] = value
    return returns
