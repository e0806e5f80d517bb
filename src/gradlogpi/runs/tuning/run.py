"""`gradlogpi tune` from start to finish: define the study, run its workers, report.

Workers run in the command's own process (`workers = 1`), in local processes, or as Ray
tasks; all of them share the one study in its storage. Local workers that die (killed,
out of memory) leave their trials running in the database: the command fails them, queues
their settings again and starts a new round of workers, up to `MAX_ROUNDS` rounds.
"""

from __future__ import annotations

import dataclasses
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradlogpi.errors import ConfigError, GradlogpiError, MissingExtraError, StudyError
from gradlogpi.runs.config import load_config
from gradlogpi.runs.tuning.report import (
    FRESH_SEEDS,
    StudyReport,
    check_on_fresh_seeds,
    study_report,
)
from gradlogpi.runs.tuning.space import flat_config, read_tune_table
from gradlogpi.runs.tuning.study import (
    Job,
    counted,
    default_storage,
    job_environment,
    open_study,
    recover_stale_trials,
    turn,
    work,
)
from gradlogpi.runs.tuning.trials import worker_context

MAX_ROUNDS = 5


@dataclass(frozen=True)
class TuneRequest:
    """What `gradlogpi tune` was asked to do."""

    config: Path
    study: str
    directory: Path
    """The study's directory: its trials' run directories, best.toml, plots, fresh seeds."""
    storage: str | None = None
    """An Optuna storage URL or journal:PATH; None: SQLite in `directory`."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """`--set` values, applied to every trial."""
    trials: int = 20
    """The study ends when it holds this many trials (earlier runs of the command count)."""
    seeds: int = 3
    workers: int = 1
    ray: bool = False
    fresh_seeds: int = FRESH_SEEDS
    solved_at: float | None = None
    quiet: bool = False

    @property
    def url(self) -> str:
        return self.storage if self.storage is not None else default_storage(self.directory)


def study_definition(path: Path, overrides: dict[str, Any], seeds: int) -> dict[str, Any]:
    """The definition a study keeps: its search space and settings, its seeds and the base
    config (with every hyperparameter written out), after checking that each end of every
    range and each choice makes a config that can be built.

    Raises:
      ConfigError: naming the file and key, for a bad [tune] table, a key no config has, a
        value a config refuses, or `evaluation_episodes` = 0 (trials are scored by it).
    """
    from gradlogpi.runs.train import check_buildable

    source = str(path)
    base = load_config(path, overrides)
    settings = read_tune_table(base.tune, source)
    if base.evaluation_episodes == 0:
        raise ConfigError(
            f"{source}: `evaluation_episodes` = 0, but `gradlogpi tune` scores each seed by "
            "its final evaluation; set it >= 1"
        )
    hyperparameters = dataclasses.asdict(base.algorithm_config())
    table = base.model_copy(update={"hyperparameters": hyperparameters}).model_dump(mode="json")
    table.pop("tune")
    flat = flat_config(table)
    for dimension in settings.space:
        candidates = dimension.candidates()
        labels = (
            ["a choice"] * len(candidates)
            if dimension.kind == "choices"
            else ["the low end", "the high end"]
        )
        for which, value in zip(labels, candidates, strict=True):
            try:
                check_buildable(load_config(None, {**flat, dimension.key: value, "runs": 1}))
            except ConfigError as error:
                reason = re.sub(r"^(the command line|--set [^:]+): ", "", str(error))
                raise ConfigError(
                    f"{source}: `tune.space.{dimension.key}`: {value!r} ({which}) makes a config "
                    f"that is refused: {reason}"
                ) from None
    return {
        "space": settings.space_dict(),
        "settings": {
            "startup_trials": settings.startup_trials,
            "warmup_evaluations": settings.warmup_evaluations,
        },
        "seeds": [base.seed + index for index in range(seeds)],
        "config": table,
    }


def tune(request: TuneRequest) -> StudyReport:
    """Run (or continue) the study until it holds `request.trials` trials; then re-run the
    best setting on fresh seeds and report (see the package docstring)."""
    import math

    from gradlogpi.runs.limits import check_seeds, check_workers

    if request.solved_at is not None and not math.isfinite(request.solved_at):
        raise ConfigError(f"`--solved-at` must be a finite return; got {request.solved_at}")
    check_seeds("--seeds", request.seeds)
    check_seeds("--fresh-seeds", request.fresh_seeds)
    if not request.ray:
        check_workers("--workers", request.workers)
    definition = study_definition(request.config, request.overrides, request.seeds)
    try:
        request.directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StudyError(
            f"{request.directory}: cannot make the study directory ({error})"
        ) from None
    study = open_study(request.url, request.study, definition)
    for _ in range(MAX_ROUNDS):
        with turn(request.directory):
            recover_stale_trials(study)
        if counted(study) >= request.trials:
            break
        run_workers(request)
    else:
        with turn(request.directory):
            recover_stale_trials(study)
        if counted(study) < request.trials:
            raise StudyError(
                f"study {request.study!r}: workers died in each of {MAX_ROUNDS} rounds; the "
                f"study holds {counted(study)} of {request.trials} trials (run the command "
                "again to continue it)"
            )
    if request.fresh_seeds > 0:
        check_on_fresh_seeds(
            request.url,
            request.study,
            request.directory,
            request.fresh_seeds,
            request.workers if not request.ray else 1,
            request.solved_at,
        )
    return study_report(request.url, request.study, request.directory)


def run_workers(request: TuneRequest) -> None:
    """One round of workers: in this process, in local processes or on Ray. Returns when they
    are done or a local one died (BrokenProcessPool: the caller recovers its trials)."""
    job = Job(
        request.url,
        request.study,
        os.fspath(request.directory.resolve()),
        request.trials,
        request.quiet,
        environment=job_environment(),
    )
    if request.ray or os.environ.get("RAY_ADDRESS"):
        run_on_ray(job, request.workers)
    elif request.workers == 1:
        work(job, 0)
    else:
        job = dataclasses.replace(job, parent=os.getpid())
        with ProcessPoolExecutor(request.workers, mp_context=worker_context()) as pool:
            futures = [pool.submit(work, job, index) for index in range(request.workers)]
            try:
                for future in futures:
                    future.result()
            except BrokenProcessPool:
                return


def run_on_ray(job: Job, workers: int) -> None:
    """`workers` Ray tasks, each a worker of the study (RAY_ADDRESS: that cluster, else a
    local Ray). The study's storage and directory must be reachable from every node."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError(
            '`gradlogpi tune --ray` needs Ray: pip install "gradlogpi[ray]"'
        ) from None
    from gradlogpi.rollouts.distributed import checked_ray_address

    if not ray.is_initialized():
        ray.init(
            address=checked_ray_address("RAY_ADDRESS", os.environ.get("RAY_ADDRESS")),
            include_dashboard=False,
            ignore_reinit_error=True,
            log_to_driver=not job.quiet,
        )
    remote: Any = ray.remote(max_retries=2)(work)  # a task that dies is run again
    try:
        ray.get([remote.remote(job, index) for index in range(workers)])
    except ray.exceptions.RayTaskError as error:
        cause = error.as_instanceof_cause()
        if isinstance(cause, GradlogpiError):
            raise cause from None
        raise


def report(study: str, directory: Path, storage: str | None = None) -> StudyReport:
    """The report of an existing study (best.toml and the plots written again); nothing runs
    (the study keeps its own definition: no config is needed)."""
    url = storage if storage is not None else default_storage(directory)
    if storage is None and not (directory / "study.db").exists():
        raise StudyError(
            f"{directory}: holds no study database (study.db); give the study's --out "
            "directory or its --storage"
        )
    return study_report(url, study, directory)
