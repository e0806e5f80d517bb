"""What a study found: the top trials, best.toml, Optuna's plots, and the best setting on
fresh seeds.

STUDY/
    best.toml                    the best setting as a config for `gradlogpi train`
    history.png, importance.png  Optuna's optimisation history and parameter importances
    fresh.json                   the best setting re-run on seeds the study never used
    fresh/trial_<n>/seed_<s>/    those runs
"""

from __future__ import annotations

import json
import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradlogpi.runs.config import config_to_toml
from gradlogpi.runs.files import atomic_open, save_figure
from gradlogpi.runs.tuning.study import DEFINITION_KEY, counted, open_study
from gradlogpi.runs.tuning.trials import (
    optuna_module,
    run_seed,
    setting_config,
    trial_config,
    worker_context,
)

FRESH_SEEDS = 10


@dataclass(frozen=True)
class TrialRow:
    """One trial as the report shows it."""

    number: int
    state: str
    value: float | None
    seed_returns: dict[str, float]
    params: dict[str, Any]
    seconds: float | None
    error: str | None = None
    retry_of: int | None = None


@dataclass
class StudyReport:
    """A study's state: counts, the best trials, the files written, the fresh-seed check."""

    name: str
    storage: str
    directory: Path
    seeds: list[int]
    counts: dict[str, int]
    top: list[TrialRow]
    best: TrialRow | None
    wall_clock: float
    """Seconds from the first trial's start to the last one's end."""
    files: list[Path] = field(default_factory=list)
    fresh: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report in words (the table of the top trials is `table()`)."""
        counts = self.counts
        killed = counts["retried"]
        lines = [
            f"study {self.name!r} ({self.storage}): {counts['counted']} trials: "
            f"{counts['complete']} complete, {counts['pruned']} pruned, "
            f"{counts['failed'] - killed} failed, {counts['running']} running"
            + (f" (and {killed} tries whose worker died, each queued again)" if killed else "")
            + f"; {self.wall_clock:.1f} s wall-clock; each setting scored on seeds {self.seeds} "
            "(mean final evaluation)"
        ]
        if self.best is not None:
            lines.append(
                f"best: trial {self.best.number}, {self.best.value:.4g}: "
                + ", ".join(f"{k} = {_short(v)}" for k, v in self.best.params.items())
            )
        if self.fresh is not None:
            lines.append(fresh_line(self.fresh))
        lines += self.notes
        if self.files:
            lines.append("wrote " + ", ".join(str(path) for path in self.files))
        return lines

    def table(self) -> Any:
        """The top trials as a rich Table: value, each seed's final evaluation, the setting."""
        from rich.table import Table

        table = Table(title=f"Study {self.name}: the best trials (mean final evaluation)")
        for column in ("trial", "state", "value", *(f"seed {s}" for s in self.seeds)):
            table.add_column(column, justify="right")
        keys = sorted({key for row in self.top for key in row.params})
        for key in keys:
            table.add_column(key.split(".")[-1])
        table.add_column("seconds", justify="right")
        for row in self.top:
            table.add_row(
                str(row.number),
                row.state,
                "" if row.value is None else f"{row.value:.4g}",
                *(_number(row.seed_returns.get(str(seed))) for seed in self.seeds),
                *(_short(row.params.get(key, "")) for key in keys),
                _number(row.seconds, ".1f"),
            )
        return table


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: float | None, form: str = ".4g") -> str:
    return "" if value is None else format(value, form)


def fresh_line(fresh: dict[str, Any]) -> str:
    """The fresh-seed check in one line: mean, spread and k/N solved."""
    returns = fresh["returns"]
    n = len(returns)
    mean = sum(returns) / n
    error = (
        math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1) / n) if n > 1 else float("nan")
    )
    seeds = fresh["seeds"]
    line = (
        f"the best setting (trial {fresh['trial']}) on {n} fresh seeds ({seeds[0]}-{seeds[-1]}, "
        f"never used by the study): mean final evaluation {mean:.4g} ± {error:.2g} (s.e.), "
        f"min {min(returns):.4g}, max {max(returns):.4g}"
    )
    if fresh["threshold"] is not None:
        line += f"; solved {fresh['solved']}/{n} (final evaluation ≥ {fresh['threshold']:g})"
    return line + f"; {fresh['seconds']:.1f} s"


def study_report(
    url: str, name: str, directory: Path, top: int = 10, write: bool = True
) -> StudyReport:
    """The report of the study `name` at `url`; with `write`, best.toml and the plots are
    (re)written into `directory`."""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    study = open_study(url, name)
    definition = study.user_attrs[DEFINITION_KEY]
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    rows = [row_of(t) for t in trials]
    complete = sorted(
        (r for r in rows if r.state == "complete"), key=lambda r: r.value or 0, reverse=True
    )
    others = [r for r in rows if r.state != "complete"]
    counts = {
        "counted": counted(study),
        "complete": len(complete),
        "pruned": sum(t.state == state.PRUNED for t in trials),
        "failed": sum(t.state == state.FAIL for t in trials),
        "retried": sum(t.state == state.FAIL and t.number in retried for t in trials),
        "running": sum(t.state == state.RUNNING for t in trials),
    }
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    wall_clock = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    report = StudyReport(
        name,
        url,
        directory,
        list(definition["seeds"]),
        counts,
        (complete + sorted(others, key=lambda r: r.number))[:top],
        complete[0] if complete else None,
        wall_clock,
    )
    errors = [row for row in rows if row.error is not None and row.state == "fail"]
    for row in errors[:3]:
        report.notes.append(f"trial {row.number} failed: {row.error}")
    if len(errors) > 3:
        report.notes.append(f"… and {len(errors) - 3} more failed trials (their `error` attribute)")
    if write and report.best is not None:
        report.files.append(write_best(directory, definition, report.best, name))
        report.files += write_plots(study, directory, report.notes)
    fresh = read_fresh(directory)
    if fresh is not None and report.best is not None:
        if fresh["trial"] == report.best.number:
            report.fresh = fresh
        else:
            report.notes.append(
                f"the fresh-seed check ran for trial {fresh['trial']}, no longer the best; "
                "run the command again (it checks the new best)"
            )
    return report


def row_of(trial: Any) -> TrialRow:
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    return TrialRow(
        trial.number,
        trial.state.name.lower(),
        trial.value,
        dict(trial.user_attrs.get("seed_returns", {})),
        dict(trial.params),
        seconds,
        trial.user_attrs.get("error"),
        trial.system_attrs.get("failed_trial"),
    )


def write_best(directory: Path, definition: dict[str, Any], best: TrialRow, name: str) -> Path:
    """best.toml: the base config with the best trial's values, for `gradlogpi train`."""
    config = setting_config(definition, best.params)
    per_seed = ", ".join(f"seed {s}: {v:.4g}" for s, v in best.seed_returns.items())
    header = [
        f"# found by `gradlogpi tune`, study {name!r}: trial {best.number}, mean final "
        f"evaluation {best.value:.6g} over seeds {definition['seeds']} ({per_seed})",
        "# searched: " + ", ".join(f"{k} = {v!r}" for k, v in best.params.items()),
        "# train it: gradlogpi train --config best.toml",
        "",
    ]
    path = directory / "best.toml"
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(header) + config_to_toml(config))
    return path


def write_plots(study: Any, directory: Path, notes: list[str]) -> list[Path]:
    """Optuna's optimisation history and parameter importances (matplotlib) as PNGs."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    written = []
    for filename, plot in (
        ("history.png", plots.plot_optimization_history),
        ("importance.png", plots.plot_param_importances),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # experimental API; equal importances
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            notes.append(f"no {filename}: {error}")
            continue
        figure: Any = axes.figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        written.append(save_figure(figure, directory / filename, dpi=100))
        plt.close(figure)
    return written


def read_fresh(directory: Path) -> dict[str, Any] | None:
    path = directory / "fresh.json"
    if not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def fresh_seeds(study_seeds: list[int], n: int) -> list[int]:
    """n seeds after the study's: never used to choose the setting."""
    return list(range(max(study_seeds) + 1, max(study_seeds) + 1 + n))


def check_on_fresh_seeds(
    url: str, name: str, directory: Path, n: int = FRESH_SEEDS, workers: int = 1,
    solved_at: float | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """Re-run the best setting on `n` fresh seeds (`workers` processes); fresh.json.

    Each seed is a run directory under fresh/trial_<n>/ (a finished one is read back, an
    unfinished one resumed). "Solved" is a final evaluation ≥ `solved_at`, by default the
    environment's `reward_threshold` (CartPole-v1: 475); None where neither exists.
    """
    import time

    study = open_study(url, name)
    definition = study.user_attrs[DEFINITION_KEY]
    optuna = optuna_module()
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    seeds = fresh_seeds(definition["seeds"], n)
    out = directory / "fresh" / f"trial_{best.number:04d}"
    arguments = [
        (trial_config(definition, best.params, seed), out / f"seed_{seed}") for seed in seeds
    ]
    start = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=worker_context()) as pool:
            returns = list(pool.map(run_seed, *zip(*arguments, strict=True)))
    else:
        returns = [run_seed(config, run_dir) for config, run_dir in arguments]
    threshold = solved_at if solved_at is not None else reward_threshold(definition)
    fresh = {
        "trial": best.number,
        "params": best.params,
        "seeds": seeds,
        "returns": returns,
        "threshold": threshold,
        "solved": None if threshold is None else sum(r >= threshold for r in returns),
        "seconds": time.perf_counter() - start,
        "directory": os.fspath(out),
    }
    with atomic_open(directory / "fresh.json", "w", encoding="utf-8") as handle:
        json.dump(fresh, handle, indent=2)
    return fresh


def reward_threshold(definition: dict[str, Any]) -> float | None:
    """The environment's registered `reward_threshold` (None when it has none)."""
    from gradlogpi.runs.build import make_config_env

    env = make_config_env(setting_config(definition, {}))
    try:
        threshold = None if env.spec is None else env.spec.reward_threshold
    finally:
        env.close()
    return None if threshold is None else float(threshold)
