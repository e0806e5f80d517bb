"""`train`: a configured run from start to finish, writing a run directory.

runs/<env>__<algorithm>__<seed>__<time>/
    .lock             held by the process writing the run (one writer at a time)
    config.toml       the fully resolved configuration
    metrics.csv       run, episode, step, return, length, truncated, wall_time
    checkpoint.npz    final parameters (and .json metadata: versions, config, counters)
    curve.png/.svg    learning curve (mean and bootstrap 95% band across runs)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.algorithms import EpisodeEnd, RunResult
from gradlogpi.algorithms.common import stacked_results
from gradlogpi.core.threads import one_blas_thread
from gradlogpi.errors import ConfigError, GradlogpiError
from gradlogpi.runs.build import build_policy, build_value, make_config_env, with_env_defaults
from gradlogpi.runs.checkpoints import save_checkpoint
from gradlogpi.runs.config import TrainConfig, config_to_toml
from gradlogpi.runs.curve_process import CurveProcess
from gradlogpi.runs.curve_process import wanted as wanted_curve_process
from gradlogpi.runs.evaluate import Evaluation, EvaluationLog
from gradlogpi.runs.files import atomic_open, write_csv
from gradlogpi.runs.limits import check_config_sizes
from gradlogpi.runs.ownership import checked_directory, claim, described

METRICS_COLUMNS = ("run", "episode", "step", "return", "length", "truncated", "wall_time")


@dataclass
class TrainOutcome:
    """What `train` produced: the learning result and where it was written."""

    result: RunResult
    run_dir: Path
    config: TrainConfig
    already_complete: bool = False
    """`resume` found the run finished: nothing was learned or written."""
    evaluation: list[Evaluation] = dataclasses.field(default_factory=list)
    """The final policy of each run on fresh episodes (empty with evaluation_episodes = 0)."""


def default_run_dir(config: TrainConfig, root: Path = Path("runs")) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.env)
    path = root / f"{name}__{config.algorithm}__{config.seed}__{stamp}"
    suffix = 2
    while path.exists():  # two runs started in the same second: a fresh directory each
        path = root / f"{name}__{config.algorithm}__{config.seed}__{stamp}-{suffix}"
        suffix += 1
    return path


def resolved(config: TrainConfig) -> TrainConfig:
    """The config with every default written out: the algorithm's, and those by the env."""
    hyperparameters = dataclasses.asdict(config.algorithm_config())
    env = make_config_env(config)
    try:
        config = with_env_defaults(config, env)
    finally:
        env.close()
    return config.model_copy(update={"hyperparameters": hyperparameters})


def check_buildable(config: TrainConfig) -> None:
    """Build the features, policy and critic the config names, and throw them away: a bad
    setting (unbounded tile coding, a wrong shape) is refused before a run directory exists,
    so a failed start leaves nothing that a second try would have to --overwrite."""
    env = make_config_env(config)
    try:
        check_config_sizes(with_env_defaults(config, env), env)
        build_policy(config, env)
        if config.algorithm_spec().needs_value(config.algorithm_config()):
            build_value(config, env)
    finally:
        env.close()


def run_algorithm(
    config: TrainConfig,
    callback: Callable[[EpisodeEnd], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Build everything the config names and run its algorithm (no files written).

    Algorithms that learn runs in lockstep get all of them in one call; the others learn
    run k after run k − 1, run k with spawn k of the seed and its own initial policy.
    """
    spec = config.algorithm_spec()
    env = make_config_env(config)
    policy = build_policy(config, env)
    settings = config.algorithm_config()
    value = build_value(config, env) if spec.needs_value(settings) else None
    if spec.vector_envs and config.env_kwargs:
        raise ConfigError(
            f"`env_kwargs` are not supported with {spec.name} (vector envs are made from the id)"
        )
    if spec.lockstep_runs:
        runs = config.runs if config.runs > 1 else None
        return spec.learn(
            env,
            policy,
            settings,
            value=value,
            seed=config.seed,
            runs=runs,
            callback=callback,
            resume=resume,
        )
    if resume is not None and config.runs > 1:
        raise ConfigError(f"resuming {spec.name!r} supports runs = 1; this run has {config.runs}")
    seeds = [
        int(s.generate_state(1)[0]) for s in np.random.SeedSequence(config.seed).spawn(config.runs)
    ]
    # run k > 0: its own initial policy and critic, built with seed spawn k
    models = [(policy, value)]
    for seed in seeds[1:]:
        run_config = config.model_copy(update={"seed": seed})
        models.append(
            (build_policy(run_config, env), None if value is None else build_value(run_config, env))
        )
    if config.runs > 1 and spec.learns_together(settings):
        from gradlogpi.algorithms.on_policy.loop import RunStart

        # the same runs as one after another below, learned update by update together
        starts = [RunStart(seed, *model) for seed, model in zip(seeds, models, strict=True)]
        return spec.learn(
            env, policy, settings, value=value, seed=config.seed, runs=starts, callback=callback
        )
    results = []
    for k, (seed, (run_policy, run_value)) in enumerate(zip(seeds, models, strict=True)):
        run_callback = callback
        if callback is not None and config.runs > 1:
            run_callback = functools.partial(_of_run, callback, k)
        results.append(
            spec.learn(
                env,
                run_policy,
                settings,
                value=run_value,
                seed=seed,
                callback=run_callback,
                resume=resume,
            )
        )
    return stacked_results(results, config.seed)


def _of_run(callback: Callable[[EpisodeEnd], None], run: int, end: EpisodeEnd) -> None:
    callback(dataclasses.replace(end, run=run))


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    callback: Callable[[EpisodeEnd], None] | None = None,
    overwrite: bool = False,
    on_evaluation: Callable[[float], None] | None = None,
    curve_process: bool = False,
) -> TrainOutcome:
    """Run `config` and write its run directory (see the module docstring).

    With `checkpoint_every = N`, resumable algorithms also checkpoint every N episodes
    (parameters, RNG states, statistics and metrics so far), so `resume` can continue a
    killed run to the same result, bit for bit.

    The run directory is locked while training; one that already holds a run is refused
    unless `overwrite` (which removes only the files a run writes). `on_evaluation` is told
    the seconds of each evaluation during training (`eval_every`), before `callback`.
    With `curve_process`, curve.png/.svg are drawn by a second process started with the
    run where that pays (`runs.curve_process`: what `gradlogpi train` does); the files are
    the same either way.
    """
    config = resolved(config)
    check_buildable(config)
    run_dir = run_dir if run_dir is not None else default_run_dir(config)
    with claim(run_dir, overwrite=overwrite) as path, filesystem_errors(path):
        with atomic_open(path / "config.toml", "w", encoding="utf-8") as handle:
            handle.write(config_to_toml(config))
        with CurveProcess(curve_process and wanted_curve_process()) as curve:
            return _train(config, path, callback, None, [], on_evaluation, curve)


@contextlib.contextmanager
def filesystem_errors(run_dir: Path) -> Iterator[None]:
    """A filesystem refusal while writing the run (disk full, permissions) as one named line."""
    try:
        yield
    except GradlogpiError:
        raise
    except OSError as error:
        raise described(error, run_dir) from None


def resume(
    run_dir: str | Path,
    *,
    callback: Callable[[EpisodeEnd], None] | None = None,
    on_evaluation: Callable[[float], None] | None = None,
    curve_process: bool = False,
) -> TrainOutcome:
    """Continue a run from its last checkpoint; the result equals an uninterrupted run's.
    `on_evaluation` and `curve_process` as in `train`."""
    from gradlogpi.runs.config import load_run_config

    run_dir = checked_directory(run_dir)
    config = load_run_config(run_dir)
    with claim(run_dir, resuming=True), filesystem_errors(run_dir):
        return _resume(run_dir, config, callback, on_evaluation, curve_process)


def units_done(run_dir: Path) -> int:
    """Progress units (episodes or updates) a run's last checkpoint covers; 0 when it has
    none or its metadata cannot be read (resuming then says why)."""
    try:
        metadata = json.loads((Path(run_dir) / "checkpoint.json").read_text(encoding="utf-8"))
        return int(metadata["state"]["episode"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _resume(
    run_dir: Path,
    config: TrainConfig,
    callback: Callable[[EpisodeEnd], None] | None,
    on_evaluation: Callable[[float], None] | None = None,
    curve_process: bool = False,
) -> TrainOutcome:
    from gradlogpi.errors import CheckpointError
    from gradlogpi.runs.checkpoints import load_checkpoint

    if not (run_dir / "checkpoint.json").exists() and not (run_dir / "checkpoint.npz").exists():
        raise CheckpointError(
            f"{run_dir}: the run was stopped before its first checkpoint, so nothing was "
            f"saved to resume from; start it again with: gradlogpi train --config "
            f"{run_dir / 'config.toml'} --run-dir {run_dir} --overwrite"
        )
    arrays, metadata = load_checkpoint(run_dir / "checkpoint")
    if metadata.get("complete"):
        check_resumable_arrays(run_dir, config, arrays)
        return TrainOutcome(stored_result(run_dir, config, arrays), run_dir, config, True)
    reason = config.algorithm_spec().not_resumable(config.algorithm_config())
    if reason is not None:
        raise CheckpointError(f"{run_dir}: {reason}")
    if "state" not in metadata:
        raise CheckpointError(
            f"{run_dir}: the checkpoint holds no resumable state (algorithm {config.algorithm!r})"
        )
    check_resumable_arrays(run_dir, config, arrays)
    state = dict(metadata["state"])
    for name in ("theta", "w"):
        if name in arrays and not np.all(np.isfinite(arrays[name])):
            raise CheckpointError(
                f"{run_dir}: the checkpoint's {name} holds NaN or inf; it cannot be resumed"
            )
    state["theta"] = arrays["theta"]
    if "w" in arrays:
        state["w"] = arrays["w"]
    state["tracker"] = {
        name: arrays[f"tracker_{name}"]
        for name in ("returns", "lengths", "truncated", "diverged_at")
    }
    optimizer_arrays = {
        name: value for name, value in arrays.items() if name.startswith("optimizer_")
    }
    if optimizer_arrays:
        state["optimizer_arrays"] = optimizer_arrays
    if state.get("optimizer_groups") is None:
        state.pop("optimizer_groups", None)
    state["arrays"] = {
        name.removeprefix("extra_"): value
        for name, value in arrays.items()
        if name.startswith("extra_")
    }
    episode_times = list(metadata.get("episode_times", []))
    with CurveProcess(curve_process and wanted_curve_process()) as curve:
        return _train(config, run_dir, callback, state, episode_times, on_evaluation, curve)


def check_resumable_arrays(
    run_dir: Path, config: TrainConfig, arrays: dict[str, np.ndarray]
) -> None:
    """Refuse a checkpoint whose arrays are not what the config implies, before any is used:
    θ [runs, d] for the configured policy, w [runs, k] for its critic, the tracker's
    [runs, episodes] returns, lengths and truncation flags and [runs] divergence points."""
    from gradlogpi.runs.checkpoints import check_arrays

    where = run_dir / "checkpoint.npz"
    runs = config.runs
    env = make_config_env(config)
    try:
        width = build_policy(config, env).get_flat().shape[-1]
        settings = config.algorithm_config()
        value = build_value(config, env) if config.algorithm_spec().needs_value(settings) else None
    finally:
        env.close()
    expected: dict[str, Any] = {
        "theta": ("f", (runs, width)),
        "tracker_returns": ("f", (runs, None)),
        "tracker_diverged_at": ("iu", (runs,)),
    }
    if "w" in arrays:
        expected["w"] = ("f", (runs, None if value is None else value.get_flat().size))
    check_arrays(where, arrays, expected)
    episodes = arrays["tracker_returns"].shape[1]
    check_arrays(
        where,
        arrays,
        {"tracker_lengths": ("iu", (runs, episodes)), "tracker_truncated": ("b", (runs, episodes))},
    )


def _train(
    config: TrainConfig,
    run_dir: Path,
    callback: Callable[[EpisodeEnd], None] | None,
    state: dict[str, Any] | None,
    episode_times: list[float],
    on_evaluation: Callable[[float], None] | None,
    curve: CurveProcess,
) -> TrainOutcome:
    """Learn (from `state` if resuming), evaluate, and write the run's files; `curve`
    draws curve.png/.svg (in its process if it started one, else here)."""
    offset = episode_times[-1] if episode_times else 0.0
    start = time.perf_counter()
    last: dict[str, Any] = {"saved": start}
    board = tensorboard_writer(run_dir) if config.tensorboard else None
    evaluations = EvaluationLog(run_dir, config, None if state is None else state["episode"])

    def record(end: EpisodeEnd) -> None:
        # one time per episode (or update) the report covers
        episode_times.extend([offset + time.perf_counter() - start] * end.units)
        last["end"] = end
        if board is not None and end.returns.size:  # an update can finish no episode
            board.add_scalar("return/mean", float(np.mean(end.returns)), end.episode)
            board.add_scalar("length/mean", float(np.mean(end.lengths)), end.episode)
            board.add_scalar("truncated/fraction", float(np.mean(end.truncated)), end.episode)
        done = end.episode + 1
        if crossed_multiple(done, end.units, config.eval_every) and end.policy is not None:
            began = time.perf_counter()
            for evaluation in evaluations.evaluate(end.policy, end.episode, first_run=end.run or 0):
                if board is not None:
                    tag = f"evaluation/mean_return/run_{evaluation.run}"
                    board.add_scalar(tag, evaluation.mean_return, end.episode)
            if on_evaluation is not None:
                on_evaluation(time.perf_counter() - began)
        every = config.checkpoint_every
        # a report may cover several episodes (compiled runs): save when it crosses a multiple
        # runs learned one after another or together (end.run set) cannot be resumed: no snapshots
        due = crossed_multiple(done, end.units, every) or (
            config.checkpoint_seconds > 0
            and time.perf_counter() - last["saved"] >= config.checkpoint_seconds
        )
        if due and end.snapshot is not None and end.run is None:
            save_resumable(run_dir, config, end.snapshot(), episode_times)
            last["saved"] = time.perf_counter()
        if callback is not None:
            callback(end)

    with one_blas_thread():  # small matrices: more BLAS threads only synchronise
        try:
            result = run_algorithm(config, record, state)
            drawn = result.returns.shape[1] > 0  # no curve when no episode ended
            if drawn:  # drawn aside while the final evaluation and checkpoint are made
                curve.hand_over(run_dir, result.returns, *curve_labels(result, config))
            end = last.get("end")
            final = final_evaluation(
                evaluations, result, end.episode if end is not None else result.returns.shape[1] - 1
            )
        finally:
            evaluations.close()
            if board is not None:
                board.close()
    write_metrics(run_dir / "metrics.csv", result, episode_times)
    end = last.get("end")
    if end is not None and end.snapshot is not None and end.run is None:
        # the same form as every checkpoint before it, marked complete
        save_resumable(run_dir, config, end.snapshot(), episode_times, complete=True)
    else:
        # no snapshot (step collection), or several runs (one after another or together): every run's θ
        metadata = {**checkpoint_metadata(config, result), "complete": True}
        save_checkpoint(run_dir / "checkpoint", stored_arrays(result), metadata)
    if drawn:
        curve.finish()
    return TrainOutcome(result, run_dir, config, evaluation=final)


def crossed_multiple(done: int, units: int, every: int) -> bool:
    """Whether a report that moved progress from done − units to done passed a multiple of `every`."""
    return bool(every) and done // every > (done - units) // every


def final_evaluation(evaluations: EvaluationLog, result: RunResult, index: int) -> list[Evaluation]:
    """Every run's final policy on fresh episodes (into evaluations.csv, evaluation.json).

    `index` is the last progress unit (episode or update) learned.
    """
    if evaluations.config.evaluation_episodes == 0:
        return []
    final = []
    for run in range(result.n_runs):
        final += evaluations.evaluate(result.policy_of_run(run), index, "final", run)
    evaluations.write_summary(final)
    return final


def stored_arrays(result: RunResult) -> dict[str, np.ndarray]:
    """θ [R, P] (and w [R, k]) of every run and the statistics, as a final checkpoint holds them."""
    arrays = {"theta": result.parameters, **observation_statistics(result.extra)}
    if result.value_parameters is not None:
        arrays["w"] = result.value_parameters
    for name in ("returns", "lengths", "truncated", "diverged_at"):
        arrays[f"tracker_{name}"] = getattr(result, name)
    return arrays


def stored_result(run_dir: Path, config: TrainConfig, arrays: dict[str, np.ndarray]) -> RunResult:
    """The `RunResult` of a finished run, read back from its final checkpoint."""
    from gradlogpi.runs.evaluate import load_run

    _, policy = load_run(run_dir, 0)
    return RunResult(
        arrays["tracker_returns"],
        arrays["tracker_lengths"],
        arrays["tracker_truncated"],
        arrays["tracker_diverged_at"],
        policy,
        arrays["theta"],
        value_parameters=arrays.get("w"),
        seed=config.seed,
        config=config.algorithm_config(),
    )


def observation_statistics(extra: dict[str, Any]) -> dict[str, np.ndarray]:
    """observation_mean, observation_var [R, *shape] and observation_count [R] of a run
    that normalised its observations (what `evaluate` needs beside θ); {} otherwise."""
    normalizers = extra.get("observation_normalizers")
    if normalizers is None:
        return {}
    states = [normalizer.get_state() for normalizer in normalizers]
    return {f"observation_{name}": np.stack([s[name] for s in states]) for name in states[0]}


def tensorboard_writer(run_dir: Path) -> Any:
    """A TensorBoard SummaryWriter into run_dir/tensorboard (PyTorch's, with the tensorboard package)."""
    from gradlogpi.errors import MissingExtraError

    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingExtraError(
            'TensorBoard logging needs: pip install "gradlogpi[tensorboard]"'
        ) from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def save_resumable(
    run_dir: Path,
    config: TrainConfig,
    state: dict[str, Any],
    episode_times: list[float],
    complete: bool = False,
) -> None:
    """Checkpoint everything a resumable algorithm needs, and the metrics so far.

    `complete` marks the final checkpoint: resuming the run then changes nothing.
    """
    arrays = {"theta": state["theta"], **state.get("optimizer_arrays", {})}
    arrays.update({f"extra_{name}": value for name, value in state.get("arrays", {}).items()})
    if "collector_normalizer_mean" in state.get("arrays", {}):  # for `evaluate`, as [R, …]
        for name in ("mean", "var", "count"):
            arrays[f"observation_{name}"] = state["arrays"][f"collector_normalizer_{name}"][None]
    if "w" in state:
        arrays["w"] = state["w"]
    for name, values in state["tracker"].items():
        arrays[f"tracker_{name}"] = values
    callbacks = state["episode"] + 1  # episodes, or updates
    # per-episode algorithms preallocate one column per episode; per-update ones grow
    by_update = config.algorithm_spec().unit == "updates"
    episodes = state["tracker"]["returns"].shape[1] if by_update else callbacks
    metadata = {
        "config": config.model_dump(mode="json"),
        "episodes": episodes,
        "runs": int(state["theta"].shape[0]),
        "environment_steps": int(state["tracker"]["lengths"][:, :episodes].sum()),
        "episode_times": episode_times[:callbacks],
        "state": {
            "episode": state["episode"],
            "runs": state["runs"],
            "counters": state["counters"],
            "optimizer_groups": state.get("optimizer_groups"),
            "extra": state.get("extra"),
        },
        "complete": complete,
    }
    partial = RunResult(
        state["tracker"]["returns"][:, :episodes],
        state["tracker"]["lengths"][:, :episodes],
        state["tracker"]["truncated"][:, :episodes],
        state["tracker"]["diverged_at"],
        None,  # type: ignore[arg-type]  # only the statistics are written
        state["theta"],
    )
    save_checkpoint(run_dir / "checkpoint", arrays, metadata)
    write_metrics(run_dir / "metrics.csv", partial, episode_times[:callbacks])


def checkpoint_metadata(config: TrainConfig, result: RunResult) -> dict[str, Any]:
    return {
        "config": config.model_dump(mode="json"),
        "episodes": int(result.returns.shape[1]),
        "runs": int(result.returns.shape[0]),
        "environment_steps": int(result.lengths.sum()),
        "diverged_at": result.diverged_at.tolist(),
    }


def write_metrics(path: Path, result: RunResult, episode_times: list[float]) -> None:
    """One row per run and episode; wall time is when that episode's callback fired."""
    n_runs, n_episodes = result.returns.shape
    steps = np.cumsum(result.lengths, axis=1)
    per_episode = np.array(episode_times) if len(episode_times) else np.zeros(0)
    rows = []
    for run in range(n_runs):
        for episode in range(n_episodes):
            wall = _episode_wall_time(per_episode, run, episode, n_runs, n_episodes)
            rows.append(
                (
                    run,
                    episode,
                    int(steps[run, episode]),
                    f"{result.returns[run, episode]:.6g}",
                    int(result.lengths[run, episode]),
                    int(result.truncated[run, episode]),
                    f"{wall:.4f}",
                )
            )
    write_csv(path, METRICS_COLUMNS, rows)


def _episode_wall_time(
    times: np.ndarray, run: int, episode: int, n_runs: int, n_episodes: int
) -> float:
    if times.size == 0:
        return float("nan")
    if times.size == n_episodes:  # one callback per episode index, all runs at once
        return float(times[episode])
    if times.size == n_runs * n_episodes:  # runs one after another
        return float(times[run * n_episodes + episode])
    index = min(
        int((episode + 1) / n_episodes * times.size) - 1, times.size - 1
    )  # batches of episodes
    return float(times[max(index, 0)])


def curve_labels(result: RunResult, config: TrainConfig) -> tuple[str, str, int]:
    """(title, legend label, seed) of a run's curve.png/.svg."""
    from gradlogpi.runs.plots import runs_count

    label = f"{config.algorithm} ({runs_count(result.returns.shape[0])})"
    title = f"{config.env}: {config.algorithm}, {config.policy.kind}"
    return title, label, config.seed
