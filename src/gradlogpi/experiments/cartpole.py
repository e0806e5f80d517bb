"""Solving CartPole-v1: episodes and steps until a policy averages ≥ 475 over 100 episodes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradlogpi.algorithms import EpisodeEnd, StopTraining
from gradlogpi.rollouts.episodes import evaluate_policy
from gradlogpi.runs.config import load_config
from gradlogpi.runs.train import run_algorithm

SOLVED_RETURN = 475.0
EVALUATION_EPISODES = 100


@dataclass(frozen=True)
class SolveOutcome:
    seed: int
    solved: bool
    episodes: int  # training episodes until solved (or in all)
    steps: int  # training environment steps until solved (or in all)
    evaluation_return: float  # mean over 100 evaluation episodes at the end
    wall_time: float


def solve(config_path: str | Path, seed: int) -> SolveOutcome:
    """Train with the config and `seed`; stop once a 100-episode evaluation averages ≥ 475.

    The evaluation runs whenever the latest training batch (or the last 10 episodes)
    averages ≥ 475, with evaluation seeds separate from training.
    """
    import time

    config = load_config(config_path, {"seed": seed, "runs": 1})
    progress = {"episodes": 0, "steps": 0, "recent": [], "evaluation": float("nan")}
    start = time.perf_counter()

    def watch(end: EpisodeEnd) -> None:
        progress["episodes"] += int(end.returns.size)
        progress["steps"] += int(end.lengths.sum())
        progress["recent"] = ([*progress["recent"], *np.ravel(end.returns).tolist()])[-10:]
        if np.mean(progress["recent"]) >= SOLVED_RETURN and end.policy is not None:
            returns, _ = evaluate_policy(
                config.env, end.policy, EVALUATION_EPISODES, seed=10_000 + seed
            )
            progress["evaluation"] = float(returns.mean())
            if returns.mean() >= SOLVED_RETURN:
                raise StopTraining

    result = run_algorithm(config, watch)
    if not progress["evaluation"] >= SOLVED_RETURN:
        returns, _ = evaluate_policy(
            config.env, result.policy_of_run(0), EVALUATION_EPISODES, seed=10_000 + seed
        )
        progress["evaluation"] = float(returns.mean())
    solved = progress["evaluation"] >= SOLVED_RETURN
    return SolveOutcome(
        seed,
        solved,
        progress["episodes"],
        progress["steps"],
        progress["evaluation"],
        time.perf_counter() - start,
    )


def solve_study(config_path: str | Path, seeds: range = range(5)) -> list[SolveOutcome]:
    return [solve(config_path, seed) for seed in seeds]


def summary(outcomes: list[SolveOutcome]) -> dict[str, float]:
    solved = [o for o in outcomes if o.solved]
    return {
        "solved": len(solved),
        "seeds": len(outcomes),
        "median_episodes": float(np.median([o.episodes for o in solved]))
        if solved
        else float("nan"),
        "median_steps": float(np.median([o.steps for o in solved])) if solved else float("nan"),
    }
