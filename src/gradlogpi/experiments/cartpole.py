"""CartPole-v1 solved: the final policy of a config, seed by seed, on fresh episodes.

A seed counts as solved when the policy training ends with — the one a user saves —
averages ≥ 475 over 100 evaluation episodes whose seeds training never used. With
`stop_when_solved`, training instead stops at the first update whose policy passes that
evaluation (checked whenever the recent training episodes average ≥ 475), which measures
how many episodes and steps solving takes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.algorithms import EpisodeEnd, StopTraining
from gradlogpi.errors import ConfigError
from gradlogpi.rollouts.episodes import evaluate_policy
from gradlogpi.runs.config import load_config
from gradlogpi.runs.files import atomic_open
from gradlogpi.runs.train import run_algorithm

SOLVED_RETURN = 475.0
EVALUATION_EPISODES = 100
EVALUATION_SEED = 10_000  # + the training seed: evaluation episodes training never saw


def check_study(config: Any, config_path: str | Path, first_seed: int, seeds: int) -> None:
    """Refuse a study whose measurement would mean nothing or could not be held.

    "Solved" is CartPole-v1's own threshold (475 over 100 episodes): a config for another
    task, or CartPole made with other `env_kwargs` (another reward), is refused rather than
    reported unsolved. So are seeds past `MAX_SEED`, a seed count whose records could not
    fit in memory, and sizes in the config that `check_config_sizes` refuses.

    Raises:
      ConfigError: naming the key or flag, what was expected and what was received.
    """
    from gradlogpi.runs.build import make_config_env, with_env_defaults
    from gradlogpi.runs.limits import check_config_sizes, check_seeds

    if config.env != "CartPole-v1":
        raise ConfigError(
            f"{config_path}: `env` = {config.env!r}; `experiment cartpole` measures whether "
            "CartPole-v1 is solved (≥ 475 over 100 episodes), so it needs a CartPole-v1 config "
            "(train other tasks with gradlogpi train)"
        )
    if config.env_kwargs:
        raise ConfigError(
            f"{config_path}: `env_kwargs` = {config.env_kwargs!r}; CartPole-v1's threshold of "
            "475 holds for the environment as registered, so the study needs no env_kwargs"
        )
    check_seeds("--seeds", seeds, first_seed)
    env = make_config_env(config)
    try:
        check_config_sizes(with_env_defaults(config, env), env)
    finally:
        env.close()


@dataclass(frozen=True)
class SolveOutcome:
    """One seed of a CartPole study."""

    seed: int
    solved: bool  # the evaluated policy averages ≥ 475
    episodes: int  # training episodes until solved (stop_when_solved) or in all
    steps: int  # training environment steps, likewise
    evaluation_return: float  # mean over 100 evaluation episodes of the evaluated policy
    evaluation_min: float  # the worst of those episodes
    wall_time: float


def solve(
    config_path: str | Path,
    seed: int,
    stop_when_solved: bool = False,
    callback: Callable[[EpisodeEnd], None] | None = None,
) -> tuple[SolveOutcome, np.ndarray]:
    """Train the config with `seed`; evaluate the final policy (or stop once one solves).

    Returns the outcome and the training returns of every episode, shape [E].
    """
    config = load_config(config_path, {"seed": seed, "runs": 1})
    counts = {"episodes": 0, "steps": 0}
    recent: list[float] = []  # the returns of the last 10 episodes
    evaluated: dict[str, np.ndarray] = {}
    start = time.perf_counter()

    def watch(end: EpisodeEnd) -> None:
        counts["episodes"] += int(np.size(end.returns))
        counts["steps"] += int(np.sum(end.lengths))
        recent[:] = [*recent, *np.ravel(end.returns).tolist()][-10:]
        if callback is not None:
            callback(end)
        recent_mean = float(np.mean(recent)) if recent else 0.0
        if stop_when_solved and recent_mean >= SOLVED_RETURN and end.policy is not None:
            returns, _ = evaluate_policy(
                config.env, end.policy, EVALUATION_EPISODES, seed=EVALUATION_SEED + seed
            )
            if returns.mean() >= SOLVED_RETURN:
                evaluated["returns"] = returns
                raise StopTraining

    result = run_algorithm(config, watch)
    returns = evaluated.get("returns")
    if returns is None:
        returns, _ = evaluate_policy(
            config.env, result.policy_of_run(0), EVALUATION_EPISODES, seed=EVALUATION_SEED + seed
        )
    outcome = SolveOutcome(
        seed,
        bool(returns.mean() >= SOLVED_RETURN),
        counts["episodes"],
        counts["steps"],
        float(returns.mean()),
        float(returns.min()),
        time.perf_counter() - start,
    )
    return outcome, result.returns[0]


def study_key(config_path: str | Path, stop_when_solved: bool) -> str:
    """What a kept seed's result depends on: the config file's bytes and `stop_when_solved`."""
    digest = hashlib.sha256(Path(config_path).read_bytes()).hexdigest()
    return f"{digest}:{'stop_when_solved' if stop_when_solved else 'full'}"


def seed_path(out: Path, seed: int) -> Path:
    """Where a study in `out` keeps seed `seed`'s finished result."""
    return out / "seeds" / f"seed_{seed}.json"


def keep_seed(out: Path, key: str, outcome: SolveOutcome, returns: np.ndarray) -> Path:
    """Keep a finished seed's outcome and training returns, so a re-run reuses them."""
    path = seed_path(out, outcome.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "outcome": asdict(outcome), "returns": np.asarray(returns).tolist()}
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    return path


def kept_seed(out: Path, key: str, seed: int) -> tuple[SolveOutcome, np.ndarray] | None:
    """The seed's kept result if it was finished with the same `key`, else None."""
    try:
        record = json.loads(seed_path(out, seed).read_text(encoding="utf-8"))
        if record.get("key") != key:
            return None
        return SolveOutcome(**record["outcome"]), np.asarray(record["returns"], dtype=float)
    except (OSError, ValueError, TypeError, KeyError):
        return None  # none, unreadable or of another form: trained again


def solve_study(
    config_path: str | Path, seeds: range = range(5), stop_when_solved: bool = False
) -> list[SolveOutcome]:
    """`solve` for every seed (no progress, no files)."""
    return [solve(config_path, seed, stop_when_solved)[0] for seed in seeds]


def summary(outcomes: list[SolveOutcome]) -> dict[str, float]:
    """Seeds solved, and the median training episodes and steps of the solved ones."""
    solved = [o for o in outcomes if o.solved]
    return {
        "solved": len(solved),
        "seeds": len(outcomes),
        "median_episodes": float(np.median([o.episodes for o in solved]))
        if solved
        else float("nan"),
        "median_steps": float(np.median([o.steps for o in solved])) if solved else float("nan"),
    }


def write_study(
    outcomes: list[SolveOutcome], curves: list[np.ndarray], title: str, out: Path
) -> list[Path]:
    """cartpole.csv (one row per seed), cartpole.png/.svg (training curves), summary.md."""
    import matplotlib.pyplot as plt

    from gradlogpi.runs.files import save_figure

    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "cartpole.csv"
    with atomic_open(csv_path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(outcomes[0])))
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)
    figure, axes = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for outcome, returns in zip(outcomes, curves, strict=True):
        label = f"seed {outcome.seed}: final policy {outcome.evaluation_return:.0f}"
        axes.plot(np.arange(1, returns.size + 1), returns, linewidth=0.8, label=label)
    axes.axhline(SOLVED_RETURN, color="black", linestyle="--", linewidth=0.8)
    axes.set_xlabel("Training episode")
    axes.set_ylabel("Return")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=6, ncol=2, loc="lower right")
    png = save_figure(figure, out / "cartpole.png", dpi=100)
    svg = save_figure(figure, out / "cartpole.svg")
    plt.close(figure)
    result = summary(outcomes)
    lines = [
        f"# {title}",
        "",
        f"Solved (final policy ≥ {SOLVED_RETURN:g} over {EVALUATION_EPISODES} evaluation "
        f"episodes): {result['solved']}/{result['seeds']}",
        "",
        "| seed | solved | evaluation mean | evaluation min | training episodes | steps | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o.seed} | {'yes' if o.solved else 'no'} | {o.evaluation_return:.1f} | "
        f"{o.evaluation_min:.0f} | {o.episodes} | {o.steps} | {o.wall_time:.1f} |"
        for o in outcomes
    ]
    summary_path = out / "summary.md"
    with atomic_open(summary_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return [csv_path, png, svg, summary_path]
