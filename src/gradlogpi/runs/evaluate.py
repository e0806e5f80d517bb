"""Evaluating policies: during training (periodic, final, the best kept) and afterwards.

Evaluation episodes are fresh: their seeds come from `EVALUATION_SEED` + the run's seed,
streams training never draws from. Two modes, always stated: "stochastic" samples
actions as training does; "greedy" takes argmax_a π(a|s) (or the Gaussian's mean), as
Stable-Baselines3's deterministic evaluation.

A run directory gets `evaluations.csv` (every evaluation: periodic and final),
`evaluation.json` (the final policy's evaluation and each run's best) and, with
`eval_every` > 0, `checkpoint_best.npz/.json` (each run's best-evaluated θ).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from gradlogpi.algorithms.on_policy.config import CollectionConfig
from gradlogpi.errors import CheckpointError, ConfigError
from gradlogpi.features.normalization import ObservationNormalizer
from gradlogpi.policies import Policy, of_run
from gradlogpi.policies.normalized import ObservationNormalizedPolicy
from gradlogpi.runs.build import build_policy, make_config_env, with_env_defaults
from gradlogpi.runs.checkpoints import check_arrays, load_checkpoint, save_checkpoint
from gradlogpi.runs.config import TrainConfig, load_run_config
from gradlogpi.runs.files import atomic_open, write_csv
from gradlogpi.runs.limits import check_evaluation, check_networks

EVALUATION_SEED = 10_000
EVALUATION_COLUMNS = (
    "run", "unit", "index", "kind", "mode", "episodes", "mean_return", "ci_low", "ci_high",
    "truncated",
)  # fmt: skip
Checkpoint = Literal["last", "best"]


@dataclass(frozen=True)
class Evaluation:
    """Mean return of fresh episodes with a 95% percentile-bootstrap interval."""

    mean_return: float
    ci_low: float
    ci_high: float
    episodes: int
    truncated: int
    run: int
    seed: int
    mode: str = "stochastic"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate_one(
    env: Any, policy: Policy, episodes: int, seed: int, greedy: bool, run: int = 0
) -> Evaluation:
    """`episodes` fresh episodes of `policy` (one run) seeded from `seed`."""
    from gradlogpi.rollouts.episodes import evaluate_policy
    from gradlogpi.runs.plots import bootstrap_interval

    returns, truncated = evaluate_policy(env, policy, episodes, seed, greedy)
    low, high = bootstrap_interval(returns, np.random.default_rng(seed), n_resamples=5000)
    mode = "greedy" if greedy else "stochastic"
    return Evaluation(
        float(returns.mean()), float(low), float(high), episodes, int(truncated.sum()), run, seed,
        mode,
    )  # fmt: skip


class EvaluationLog:
    """The evaluations of a training run, each run's best θ, and their files.

    `evaluate(policy, index)` evaluates every run of `policy` (θ [R, P]) at progress
    `index`; `first_run` offsets the run numbers for runs learned one after another.
    """

    def __init__(self, run_dir: Path, config: TrainConfig, resumed_after: int | None = None):
        self.run_dir, self.config = run_dir, config
        self.env = make_config_env(config)
        self.unit = config.algorithm_spec().unit
        self.rows: list[dict[str, Any]] = []
        self.best: dict[int, tuple[float, int, np.ndarray]] = {}  # run: (mean, index, θ [P])
        # run: the observation statistics the best θ acted with (runs that normalise)
        self.best_statistics: dict[int, dict[str, np.ndarray]] = {}
        if resumed_after is not None:
            self._reload(resumed_after)

    def _reload(self, resumed_after: int) -> None:
        """After a resume: the evaluations (and bests) up to the checkpoint's progress."""
        import csv

        path = self.run_dir / "evaluations.csv"
        if path.exists():
            try:
                with open(path, newline="", encoding="utf-8") as handle:
                    reader = csv.DictReader(handle)
                    if list(reader.fieldnames or []) != list(EVALUATION_COLUMNS):
                        raise ValueError(
                            f"expected the columns {list(EVALUATION_COLUMNS)}; got "
                            f"{reader.fieldnames}"
                        )
                    for line, row in enumerate(reader, start=2):
                        if None in row.values() or None in row:
                            raise ValueError(f"line {line} does not have one value per column")
                        if row["kind"] == "periodic" and int(row["index"]) <= resumed_after:
                            self.rows.append(row)
            except (ValueError, UnicodeDecodeError, csv.Error) as error:
                raise CheckpointError(
                    f"{path}: cannot be read to resume the run's evaluations ({error})"
                ) from None
        if (self.run_dir / "checkpoint_best.json").exists():
            arrays, metadata = load_checkpoint(self.run_dir / "checkpoint_best")
            for entry in metadata.get("best", []):
                if entry["index"] <= resumed_after:
                    run = entry["run"]
                    self.best[run] = (entry["mean_return"], entry["index"], arrays["theta"][run])
                    if "observation_mean" in arrays:
                        self.best_statistics[run] = {
                            name: arrays[f"observation_{name}"][run]
                            for name in ("mean", "var", "count")
                        }

    @property
    def greedy(self) -> bool:
        return self.config.evaluation_mode == "greedy"

    def evaluate(
        self, policy: Policy, index: int, kind: str = "periodic", first_run: int = 0
    ) -> list[Evaluation]:
        """Evaluate every run of `policy` at progress `index` (an episode or an update).

        The final policy plays `evaluation_episodes` episodes, a periodic evaluation
        (`kind` = "periodic", every `eval_every` units) `eval_episodes`.
        """
        theta = policy.get_theta()
        seed = EVALUATION_SEED + self.config.seed
        episodes = self.config.evaluation_episodes if kind == "final" else self.config.eval_episodes
        evaluations = []
        for row in range(theta.shape[0]):
            single = of_run(policy, row)  # θ [P]: one run's policy
            run = first_run + row
            evaluation = evaluate_one(self.env, single, episodes, seed, self.greedy, run)
            evaluations.append(evaluation)
            self.rows.append(
                {
                    "run": run, "unit": self.unit, "index": index, "kind": kind,
                    "mode": evaluation.mode, "episodes": evaluation.episodes,
                    "mean_return": evaluation.mean_return, "ci_low": evaluation.ci_low,
                    "ci_high": evaluation.ci_high, "truncated": evaluation.truncated,
                }
            )  # fmt: skip
            best = self.best.get(run)
            if kind == "periodic" and (best is None or evaluation.mean_return > best[0]):
                self.best[run] = (evaluation.mean_return, index, theta[row].copy())
                if isinstance(policy, ObservationNormalizedPolicy):
                    self.best_statistics[run] = policy.normalizer.get_state()
        self.write_rows()
        if kind == "periodic":
            self.write_best()
        return evaluations

    def write_rows(self) -> None:
        rows = [[row[column] for column in EVALUATION_COLUMNS] for row in self.rows]
        write_csv(self.run_dir / "evaluations.csv", EVALUATION_COLUMNS, rows)

    def write_best(self) -> None:
        """checkpoint_best: each run's best-evaluated θ so far, [R, P]."""
        runs = sorted(self.best)
        theta = np.stack([self.best[run][2] for run in runs])
        best = [
            {"run": run, "index": self.best[run][1], "mean_return": self.best[run][0]}
            for run in runs
        ]
        metadata = {
            "config": self.config.model_dump(mode="json"),
            "best": best,
            "unit": self.unit,
            "mode": "greedy" if self.greedy else "stochastic",
        }
        arrays = {"theta": theta}
        if self.best_statistics:
            for name in ("mean", "var", "count"):
                arrays[f"observation_{name}"] = np.stack(
                    [self.best_statistics[run][name] for run in runs]
                )
        save_checkpoint(self.run_dir / "checkpoint_best", arrays, metadata)

    def write_summary(self, final: list[Evaluation]) -> Path:
        """evaluation.json: the final policy's evaluation of every run, and each run's best."""
        summary = {
            "mode": "greedy" if self.greedy else "stochastic",
            "episodes": self.config.evaluation_episodes,
            "seed": EVALUATION_SEED + self.config.seed,
            "unit": self.unit,
            "final": [evaluation.as_dict() for evaluation in final],
            "best": [
                {"run": run, "index": index, "mean_return": mean}
                for run, (mean, index, _) in sorted(self.best.items())
            ],
        }
        path = self.run_dir / "evaluation.json"
        with atomic_open(path, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
        return path

    def close(self) -> None:
        self.env.close()


def load_run(run_dir: str | Path, run: int = 0, checkpoint: Checkpoint = "last") -> tuple[Any, Any]:
    """(config, policy) of run `run` of a run directory, θ from its last or best checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").exists():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    config = load_run_config(run_dir)
    if checkpoint not in ("last", "best"):
        raise ValueError(f"`checkpoint` must be 'last' or 'best'; got {checkpoint!r}")
    name = "checkpoint" if checkpoint == "last" else "checkpoint_best"
    if checkpoint == "best" and not (run_dir / "checkpoint_best.json").exists():
        raise CheckpointError(
            f"{run_dir}: no best checkpoint; it is kept when training evaluates as it goes "
            "(--set eval_every=N)"
        )
    arrays, _ = load_checkpoint(run_dir / name)
    where = run_dir / f"{name}.npz"
    check_arrays(where, arrays, {"theta": ("f", (config.runs, None))})  # θ: [runs, d]
    theta = arrays["theta"]
    if not 0 <= run < theta.shape[0]:
        raise ConfigError(f"`run` must be in [0, {theta.shape[0]}) for {run_dir}; got {run}")
    if not np.all(np.isfinite(theta[run])):
        raise CheckpointError(
            f"{run_dir}: the {name} holds non-finite θ for run {run} (NaN or inf); it cannot "
            "be evaluated"
        )
    env = make_config_env(config)
    check_networks(with_env_defaults(config, env), env)
    policy = build_policy(config, env)
    check_arrays(where, arrays, {"theta": ("f", (config.runs, policy.get_flat().shape[-1]))})
    try:
        policy.set_flat(theta[run])
    except ValueError as error:
        raise CheckpointError(
            f"{run_dir}: checkpoint does not fit the configured policy ({error})"
        ) from None
    return config, with_observation_statistics(policy, config, arrays, run, f"{run_dir}/{name}")


def with_observation_statistics(
    policy: Policy, config: TrainConfig, arrays: dict[str, np.ndarray], run: int, where: str
) -> Policy:
    """`policy` as it acted in training: on observations normalised by the checkpoint's
    statistics of run `run`, where the run normalised them (none to find is an error)."""
    settings = config.algorithm_config()
    if not (isinstance(settings, CollectionConfig) and settings.normalize_observations):
        return policy
    if "observation_mean" not in arrays:
        raise CheckpointError(
            f"{where}: the run normalised its observations (normalize_observations = true) "
            "but the checkpoint holds no observation statistics; its policy cannot be "
            "evaluated without them"
        )
    normalizer = ObservationNormalizer(
        np.shape(arrays["observation_mean"])[1:], settings.normalization_clip
    )
    try:
        normalizer.set_state(
            {name: arrays[f"observation_{name}"][run] for name in ("mean", "var", "count")}
        )
    except (ValueError, KeyError, IndexError) as error:
        raise CheckpointError(f"{where}: its observation statistics do not fit ({error})") from None
    return cast(Policy, ObservationNormalizedPolicy(policy, normalizer))


def evaluate(
    run_dir: str | Path,
    episodes: int = 100,
    seed: int = 0,
    run: int = 0,
    checkpoint: Checkpoint = "last",
    greedy: bool = False,
) -> Evaluation:
    """Mean return of `episodes` fresh episodes with a 95% percentile-bootstrap interval.

    Raises:
      ConfigError: if the run directory or `run` is not there, or the episodes' returns
        could not fit in memory.
      CheckpointError: if the checkpoint is missing, damaged or does not fit the config.
    """
    check_evaluation("episodes", episodes)
    config, policy = load_run(run_dir, run, checkpoint)
    return evaluate_one(make_config_env(config), policy, episodes, seed, greedy, run)


def record_video(
    run_dir: str | Path, out: str | Path, episodes: int = 1, seed: int = 0, run: int = 0
) -> list[Path]:
    """Record `episodes` episodes of the trained policy with Gymnasium's RecordVideo (MP4).

    Needs an environment that renders "rgb_array" and the `video` extra (moviepy).
    """
    import gymnasium as gym
    from gymnasium.wrappers import RecordVideo

    from gradlogpi.errors import MissingExtraError

    config, policy = load_run(run_dir, run)
    try:
        env = make_config_env(config, render_mode="rgb_array")
    except (ConfigError, TypeError) as error:
        raise ConfigError(
            f"`env` = {config.env!r} cannot render rgb_array frames for a video ({error})"
        ) from None
    if "rgb_array" not in env.metadata.get("render_modes", []):
        raise ConfigError(f"`env` = {config.env!r} has no rgb_array render mode; no video possible")
    out = Path(out)
    try:
        recorder = RecordVideo(
            env,
            str(out),
            episode_trigger=lambda _: True,
            name_prefix="evaluation",
            disable_logger=True,
        )
    except gym.error.DependencyNotInstalled as error:
        raise MissingExtraError(
            f'videos need moviepy: pip install "gradlogpi[video]" ({error})'
        ) from None
    rng = np.random.default_rng(seed)
    try:
        for episode in range(episodes):
            obs, _ = recorder.reset(seed=seed + episode)
            done = False
            while not done:
                action = policy.sample(np.asarray(obs), rng)
                obs, _, terminated, truncated, _ = recorder.step(action)
                done = terminated or truncated
    except gym.error.DependencyNotInstalled as error:
        # the env's renderer needs a package of its own (pygame for classic control)
        raise MissingExtraError(
            f'`env` = {config.env!r} cannot draw frames: pip install "gradlogpi[video]" ({error})'
        ) from None
    finally:
        recorder.close()
    return sorted(out.glob("evaluation-episode-*.mp4"))
