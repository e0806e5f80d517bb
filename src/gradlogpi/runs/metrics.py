"""Reading the metrics a run directory holds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def read_returns(path: str | Path) -> np.ndarray:
    """Returns [R, E] from a run's metrics.csv (runs as rows, episodes as columns)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no metric rows")
    runs = max(int(r["run"]) for r in rows) + 1
    episodes = max(int(r["episode"]) for r in rows) + 1
    returns = np.full((runs, episodes), np.nan)
    for row in rows:
        returns[int(row["run"]), int(row["episode"])] = float(row["return"])
    if np.isnan(returns).any():
        raise ValueError(f"{path}: missing (run, episode) rows")
    return returns
