"""One trial of a study: the setting it samples, trained on each of the study's seeds.

Each seed of a trial is a normal run directory (`gradlogpi.runs.train.train`), so it
writes metrics, evaluations and checkpoints and resumes after a kill:

    STUDY/trials/<number>/seed_<s>/     config.toml, metrics.csv, evaluations.csv, checkpoint…

The trial's value is the mean over its seeds of each run's final evaluation (fresh episodes,
`evaluation_episodes`). While a seed trains, every evaluation that `eval_every` makes is
reported to the study's pruner, and a trial worse than the median of the others at the same
evaluation is stopped there (pruned).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradlogpi.algorithms import EpisodeEnd
from gradlogpi.errors import CheckpointError, ConfigError, GradlogpiError, MissingExtraError
from gradlogpi.runs.config import TrainConfig, load_config, load_run_config
from gradlogpi.runs.tuning.space import Dimension, base_settings

if TYPE_CHECKING:
    import optuna

STEPS_PER_SEED = 1_000_000
"""Pruning steps: evaluation j of the trial's i-th seed is step i·STEPS_PER_SEED + j, so the
pruner compares trials at the same seed and the same point of training."""

FAULT_VARIABLE = "GRADLOGPI_TUNE_FAULT_KILL_ONCE"
"""Fault injection for the tests: a path; the first trial to reach a checkpoint while it does
not exist creates it and SIGKILLs its own process (a worker killed mid-trial)."""


def optuna_module() -> Any:
    """The `optuna` module; MissingExtraError naming the extra when it is not installed."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError(
            '`gradlogpi tune` needs Optuna: pip install "gradlogpi[tune]"'
        ) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # gradlogpi prints each trial
    return optuna


PRELOADED = ("gradlogpi.runs.tuning.study", "gradlogpi.runs.train", "matplotlib.pyplot")


def worker_context() -> Any:
    """How worker processes start: from a fork server that has imported the library once
    (no threads, no database connections to inherit), else spawned."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))
    return context


def trial_config(definition: dict[str, Any], params: dict[str, Any], seed: int) -> TrainConfig:
    """The config of one seed of a trial: the study's base config, the trial's values, the seed
    and one run.

    Args:
      definition: the study's definition (its `config`, a config table with every
        hyperparameter written out).
      params: {dotted key: value} sampled for the trial.
      seed: the run's seed.
    """
    flat = base_settings(definition)
    return load_config(None, {**flat, **params, "seed": seed, "runs": 1})


def setting_config(definition: dict[str, Any], params: dict[str, Any]) -> TrainConfig:
    """The base config with `params` applied, seed and runs as the base config has them."""
    return load_config(None, {**base_settings(definition), **params})


def suggest(trial: optuna.Trial, dimension: Dimension) -> Any:
    """The trial's value of one searched key (a retried trial gets its stored value back)."""
    if dimension.kind == "choices":
        return trial.suggest_categorical(dimension.key, list(dimension.choices))
    if dimension.kind == "int":
        return trial.suggest_int(
            dimension.key,
            int(dimension.low),  # type: ignore[arg-type]
            int(dimension.high),  # type: ignore[arg-type]
            step=int(dimension.step or 1),
            log=dimension.log,
        )
    return trial.suggest_float(
        dimension.key,
        float(dimension.low),  # type: ignore[arg-type]
        float(dimension.high),  # type: ignore[arg-type]
        step=dimension.step,
        log=dimension.log,
    )


def final_evaluation(run_dir: Path) -> float:
    """The mean over the run's runs of its final policy's evaluation (evaluation.json)."""
    summary = json.loads((run_dir / "evaluation.json").read_text(encoding="utf-8"))
    returns = [entry["mean_return"] for entry in summary["final"]]
    if not returns:
        raise ConfigError(
            f"{run_dir}: the run has no final evaluation (evaluation_episodes = 0); "
            "`gradlogpi tune` scores each seed by it"
        )
    return float(sum(returns) / len(returns))


def run_seed(
    config: TrainConfig, run_dir: Path, callback: Callable[[EpisodeEnd], None] | None = None
) -> float:
    """Train (or resume, or read back) one seed's run directory; its final evaluation.

    A directory with a checkpoint of this very config is resumed (a finished one is only read
    back); anything else there is replaced.
    """
    from gradlogpi.runs.train import resume, train

    if (run_dir / "checkpoint.json").exists() and same_config(run_dir, config):
        try:
            resume(run_dir, callback=callback)
            return final_evaluation(run_dir)
        except CheckpointError:
            pass  # a checkpoint that cannot be resumed: train the seed again
    train(config, run_dir, callback=callback, overwrite=True)
    return final_evaluation(run_dir)


def same_config(run_dir: Path, config: TrainConfig) -> bool:
    """Whether the run in `run_dir` was configured as `config` (after resolving its defaults)."""
    from gradlogpi.runs.train import resolved

    try:
        stored = load_run_config(run_dir)
    except GradlogpiError:
        return False
    return stored.model_dump(mode="json") == resolved(config).model_dump(mode="json")


def periodic_evaluations(run_dir: Path, eval_every: int) -> list[tuple[int, float]]:
    """(ordinal, mean return) of every periodic evaluation in run_dir/evaluations.csv.

    The ordinal j counts the evaluations (0, 1, …): evaluation j is the one made on crossing
    (j + 1)·eval_every progress units.
    """
    path = run_dir / "evaluations.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["kind"] == "periodic"]
    by_ordinal: dict[int, list[float]] = {}
    for row in rows:
        ordinal = (int(row["index"]) + 1) // eval_every - 1
        by_ordinal.setdefault(ordinal, []).append(float(row["mean_return"]))
    return [(ordinal, sum(v) / len(v)) for ordinal, v in sorted(by_ordinal.items())]


class Pruning:
    """The callback of one seed's training: reports each `eval_every` evaluation to the trial
    and stops the trial (optuna.TrialPruned) when the pruner says so."""

    def __init__(self, trial: optuna.Trial, run_dir: Path, seed_index: int, eval_every: int):
        self.trial, self.run_dir = trial, run_dir
        self.seed_index, self.eval_every = seed_index, eval_every
        self.reported: set[int] = set()

    def __call__(self, end: EpisodeEnd) -> None:
        from gradlogpi.runs.train import crossed_multiple

        injected_fault(self.run_dir)
        if not crossed_multiple(end.episode + 1, end.units, self.eval_every):
            return
        for ordinal, value in periodic_evaluations(self.run_dir, self.eval_every):
            step = self.seed_index * STEPS_PER_SEED + ordinal
            if step not in self.reported:
                self.trial.report(value, step)
                self.reported.add(step)
        if self.trial.should_prune():
            optuna = optuna_module()
            raise optuna.TrialPruned(
                f"pruned at evaluation {len(self.reported)} of seed {self.seed_index}"
            )


def injected_fault(run_dir: Path) -> None:
    """See FAULT_VARIABLE."""
    marker = os.environ.get(FAULT_VARIABLE)
    if not marker or not (run_dir / "checkpoint.json").exists():
        return
    try:
        descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(descriptor)
    os.kill(os.getpid(), signal.SIGKILL)


def process_identity() -> str:
    """host:pid:start of this process: whether it still lives can be told on this host, even
    after its pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid())}"


def process_start(pid: int) -> str:
    """When process `pid` started (Linux: /proc/<pid>/stat field 22), "" where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text.rsplit(")", 1)[-1].split()[19]


def process_alive(identity: str) -> bool | None:
    """Whether the process of a `process_identity` lives: None when it ran on another host."""
    host, pid_text, start = identity.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            return False
        return fields[0] != "Z" and fields[19] == start  # not a zombie, not a reused pid
    return True


def objective(
    trial: optuna.Trial, definition: dict[str, Any], space: tuple[Dimension, ...], directory: Path
) -> float:
    """Sample the trial's setting, train it on every seed of the study; the mean final
    evaluation. A retried trial (its worker was killed) continues in its first try's directory.
    """
    folder = trial.user_attrs.get("directory") or f"trials/{trial.number:04d}"
    trial.set_user_attr("directory", folder)
    params = {dimension.key: suggest(trial, dimension) for dimension in space}
    seed_returns: dict[str, float] = dict(trial.user_attrs.get("seed_returns", {}))
    for index, seed in enumerate(definition["seeds"]):
        config = trial_config(definition, params, seed)
        run_dir = directory / folder / f"seed_{seed}"
        try:
            value = run_seed(config, run_dir, Pruning(trial, run_dir, index, config.eval_every))
        except GradlogpiError as error:
            trial.set_user_attr("error", str(error))
            raise
        seed_returns[str(seed)] = value
        trial.set_user_attr("seed_returns", seed_returns)
    values = [seed_returns[str(seed)] for seed in definition["seeds"]]
    return sum(values) / len(values)
