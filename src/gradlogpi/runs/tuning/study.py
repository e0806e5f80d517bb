"""A study in a real database: opened, checked against its definition, worked on, recovered.

The storage is any URL Optuna accepts (SQLite, PostgreSQL, MySQL) or `journal:PATH`
(Optuna's journal file, for file systems without SQLite's locking). The study keeps its
definition (search space, seeds, the base config) beside its trials; opening it again with
another definition is refused, naming the difference, so one study never mixes settings.

A worker asks for trials until the study holds the number wanted (complete, pruned, failed or
running: the trials of every worker and every earlier run of the command count). Workers on
one machine take turns to ask (a lock file in the study directory), so none is started twice
and the count is never overshot. A trial whose worker died stays in the study marked failed
and is queued again with the same setting (up to `MAX_RETRIES` times); the retry continues
the first try's run directories from their checkpoints. Dead workers on this host are found
by their process; those elsewhere by their heartbeat (a trial's `alive_at`, written every
`HEARTBEAT_SECONDS`): none for `GRACE_SECONDS` and it is failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.errors import GradlogpiError, StudyError
from gradlogpi.runs.tuning.space import (
    TuneSettings,
    base_settings,
    dimension,
    flat_config,
    space_differences,
    value_differences,
)
from gradlogpi.runs.tuning.trials import (
    objective,
    optuna_module,
    process_alive,
    process_identity,
)

DEFINITION_KEY = "gradlogpi"
MAX_RETRIES = 3
HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 120
SQLITE_TIMEOUT_SECONDS = 120


def default_storage(directory: Path) -> str:
    """The SQLite database in the study's directory (an absolute URL: workers may start
    elsewhere)."""
    return f"sqlite:///{(directory / 'study.db').resolve()}"


def open_storage(url: str) -> Any:
    """An Optuna storage for `url`; StudyError naming the URL when it cannot be opened.

    `journal:PATH` is Optuna's journal file storage; anything else an RDB URL.
    """
    optuna_module()  # MissingExtraError without the extra
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    try:
        if url.startswith("journal:"):
            return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
        engine_kwargs = (
            {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}}
            if url.startswith("sqlite")
            else {}
        )
        return RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as error:  # the driver's own error types: sqlite, psycopg2, a bad URL
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StudyError(
            f"`--storage` = {url!r} cannot be opened ({type(error).__name__}: {reason}); give "
            "an RDB URL Optuna accepts (sqlite:///PATH, postgresql://…) or journal:PATH"
        ) from None


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Optuna's warnings that an API it uses is experimental are not the user's."""
    optuna = optuna_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_study(url: str, name: str, definition: dict[str, Any] | None = None) -> Any:
    """The study `name` in the storage at `url`.

    With a `definition`, the study is created if it does not exist, and an existing one must
    have been made with the same definition. Without one, it must exist.

    Raises:
      StudyError: the storage cannot be opened, the study does not exist (no definition),
        was not made by `gradlogpi tune`, or was made with another search space, seeds or
        settings (each difference named).
    """
    optuna = optuna_module()
    storage = open_storage(url)
    if definition is None:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            names = optuna.get_all_study_names(storage)
            raise StudyError(
                f"no study {name!r} in {url}; it holds {names if names else 'no studies'}"
            ) from None
    else:
        study = optuna.create_study(
            study_name=name, storage=storage, direction="maximize", load_if_exists=True
        )
        if DEFINITION_KEY not in study.user_attrs and not study.trials:
            study.set_user_attr(DEFINITION_KEY, definition)
    stored = study.user_attrs.get(DEFINITION_KEY)
    if stored is None:
        raise StudyError(
            f"study {name!r} in {url} was not made by `gradlogpi tune` (it has no definition); "
            "choose another --study"
        )
    if definition is not None:
        check_definition(stored, definition, name, url)
    return study


def check_definition(stored: dict[str, Any], current: dict[str, Any], name: str, url: str) -> None:
    """StudyError naming every difference between a study's definition and this command's."""
    differences = []
    changed_space = space_differences(stored["space"], current["space"])
    if changed_space:
        differences.append("its search space changed: " + "; ".join(changed_space))
    if stored["seeds"] != current["seeds"]:
        differences.append(f"its seeds were {stored['seeds']}, now {current['seeds']}")
    changed = value_differences(
        {"tune.startup_trials": stored["settings"]["startup_trials"],
         "tune.warmup_evaluations": stored["settings"]["warmup_evaluations"],
         **added_at_their_defaults(fixed_settings(stored), fixed_settings(current)),
         **fixed_settings(stored)},
        {"tune.startup_trials": current["settings"]["startup_trials"],
         "tune.warmup_evaluations": current["settings"]["warmup_evaluations"],
         **fixed_settings(current)},
    )  # fmt: skip
    if changed:
        differences.append("the settings every trial shares changed: " + "; ".join(changed))
    if differences:
        raise StudyError(
            f"study {name!r} in {url} was made with another definition: "
            + " | ".join(differences)
            + ". Its trials would not be comparable: restore the config, or start a new "
            "study (--study NAME)"
        )


def added_at_their_defaults(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The settings gradlogpi gained after a study began (absent from its definition) that
    this command leaves at their defaults: they change nothing, so they count as the same.
    A new setting given another value still counts as a change."""
    from gradlogpi.runs.config import TrainConfig

    defaults = flat_config(TrainConfig().model_dump(mode="json"))
    return {
        key: value
        for key, value in current.items()
        if key not in stored and key in defaults and defaults[key] == value
    }


def fixed_settings(definition: dict[str, Any]) -> dict[str, Any]:
    """The base config as {dotted key: value}, less what each trial sets (searched keys,
    seed, runs)."""
    flat = base_settings(definition)
    for key in [*definition["space"], "seed", "runs", "tune"]:
        flat.pop(key, None)
    return flat


def settings_of(definition: dict[str, Any]) -> TuneSettings:
    """The search space and settings stored in a definition."""
    space = tuple(dimension(key, form, "the study") for key, form in definition["space"].items())
    return TuneSettings(space, **definition["settings"])


def retry(study: Any, trial: Any) -> None:
    """Queue a failed trial's setting again (its directory, so that its seeds resume), up to
    MAX_RETRIES times; nothing when it was already queued again."""
    optuna = optuna_module()
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRIES:
        return
    for other in study.get_trials(deepcopy=False):
        if trial.number in other.system_attrs.get("retry_history", []):
            return
    fresh = ("process", "alive_at", "error")  # the retry's own, once a worker takes it
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in fresh}
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=user_attrs,
            system_attrs={
                **trial.system_attrs,
                "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                "retry_history": history,
            },
        )
    )


def recover_stale_trials(study: Any) -> list[int]:
    """Fail (and queue again) the running trials whose worker is dead: on this host, its
    process has ended; elsewhere, its heartbeat is older than GRACE_SECONDS. Their numbers."""
    optuna = optuna_module()
    storage = study._storage
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if not stale(trial):
            continue
        try:
            storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished meanwhile
        retry(study, storage.get_trial(trial._trial_id))
        recovered.append(trial.number)
    return recovered


def stale(trial: Any) -> bool:
    """Whether a running trial's worker is dead (a trial no worker of ours took: never)."""
    identity = trial.user_attrs.get("process")
    if identity is None:
        return False
    alive = process_alive(identity)
    if alive is not None:
        return not alive
    beat = trial.user_attrs.get("alive_at", trial.datetime_start.timestamp())
    return bool(time.time() - beat > GRACE_SECONDS)


@contextlib.contextmanager
def heartbeat(trial: Any) -> Iterator[None]:
    """While the block runs, the trial's `alive_at` is renewed every HEARTBEAT_SECONDS."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                trial.set_user_attr("alive_at", time.time())
            except Exception:  # the trial was finished (or failed by another worker)
                return

    trial.set_user_attr("alive_at", time.time())
    thread = threading.Thread(target=beat, name="gradlogpi-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def turn(directory: Path) -> Iterator[None]:
    """The study's lock (directory/study.lock): one worker on this machine asks at a time."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "study.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def counted(study: Any) -> int:
    """The trials that count towards `--trials`: all but those queued and not yet started
    and those whose worker died (their retry counts instead)."""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(
        1
        for t in trials
        if t.state != state.WAITING and not (t.state == state.FAIL and t.number in retried)
    )


@dataclass(frozen=True)
class Job:
    """What every worker of a round is given (picklable: local processes and Ray tasks)."""

    url: str
    name: str
    directory: str
    trials: int
    quiet: bool = False
    parent: int | None = None
    """The command's pid: a local worker whose command is gone stops after its trial."""
    environment: dict[str, str] = field(default_factory=dict)
    """The command's GRADLOGPI_* variables (a fork server's workers would see its own)."""


def job_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("GRADLOGPI_")}


def work(job: Job, index: int) -> None:
    """Worker `index`: run trials of the study until it holds `job.trials` (see `counted`),
    in the command's process, in a local worker process or as a Ray task."""
    optuna = optuna_module()
    for key in [key for key in os.environ if key.startswith("GRADLOGPI_")]:
        if key not in job.environment:
            del os.environ[key]
    os.environ.update(job.environment)
    study = open_study(job.url, job.name)
    definition = study.user_attrs[DEFINITION_KEY]
    settings = settings_of(definition)
    seed = np.random.SeedSequence([definition["config"]["seed"], index, len(study.trials)])
    with quiet_warnings():
        study.sampler = optuna.samplers.TPESampler(
            n_startup_trials=settings.startup_trials, seed=int(seed.generate_state(1)[0])
        )
    study.pruner = optuna.pruners.MedianPruner(
        n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_evaluations
    )
    directory = Path(job.directory)
    while job.parent is None or running(job.parent):
        with turn(directory):
            recover_stale_trials(study)
            if counted(study) >= job.trials:
                return
            with quiet_warnings():
                trial = study.ask()  # a queued retry first
            trial.set_user_attr("process", process_identity())
        finished = run_trial(study, trial, definition, settings, directory)
        if finished is not None and not job.quiet:
            announce(finished)


def run_trial(
    study: Any, trial: Any, definition: dict[str, Any], settings: TuneSettings, directory: Path
) -> Any:
    """Run the objective and tell the study how it ended; the finished trial (None when
    another worker failed it meanwhile, taking it for dead).

    A setting that raises a gradlogpi error (it diverges, a config it makes is refused)
    fails its trial, the error kept in the trial's `error`. An interrupted trial (Ctrl-C)
    is failed and queued again, to resume from its checkpoints next time.
    """
    optuna = optuna_module()
    state = optuna.trial.TrialState
    value, outcome = None, state.FAIL
    with heartbeat(trial):
        try:
            value = objective(trial, definition, settings.space, directory)
            outcome = state.COMPLETE
        except optuna.TrialPruned:
            outcome = state.PRUNED
        except GradlogpiError:
            pass
        except (KeyboardInterrupt, SystemExit):
            finished = tell(study, trial, None, state.FAIL)
            if finished is not None:
                retry(study, finished)
            raise
        except BaseException:
            tell(study, trial, None, state.FAIL)
            raise
    return tell(study, trial, value, outcome)


def tell(study: Any, trial: Any, value: float | None, outcome: Any) -> Any:
    """study.tell; None when the trial was already finished by another worker."""
    try:
        with quiet_warnings(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a non-finite value: FAIL
            return study.tell(trial, value, state=outcome)
    except (ValueError, RuntimeError):  # optuna: "Cannot tell a FAIL trial"
        return None


def running(pid: int) -> bool:
    """Whether process `pid` still runs (a worker's command: the workers' parent may be a
    fork server)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def announce(trial: Any) -> None:
    """One line per finished trial: its state, value, seeds and setting."""
    value = "" if trial.value is None else f" {trial.value:.4g}"
    seeds = trial.user_attrs.get("seed_returns", {})
    per_seed = ", ".join(f"seed {s}: {v:.4g}" for s, v in seeds.items())
    setting = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    error = f" ({trial.user_attrs['error']})" if "error" in trial.user_attrs else ""
    print(
        f"trial {trial.number} {trial.state.name.lower()}{value}"
        f"{f' ({per_seed})' if per_seed else ''}: {setting}{error}",
        flush=True,
    )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
