"""Evaluating a trained run: load its checkpoint, play N episodes, a confidence interval."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.errors import CheckpointError, ConfigError
from gradlogpi.runs.build import build_policy, make_config_env
from gradlogpi.runs.checkpoints import load_checkpoint
from gradlogpi.runs.config import load_config


@dataclass(frozen=True)
class Evaluation:
    mean_return: float
    ci_low: float
    ci_high: float
    episodes: int
    truncated: int
    run: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_run(run_dir: str | Path, run: int = 0) -> tuple[Any, Any]:
    """(config, policy) of run `run` of a run directory, parameters from its checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").exists():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    config = load_config(run_dir / "config.toml")
    arrays, _ = load_checkpoint(run_dir / "checkpoint")
    theta = arrays["theta"]
    if not 0 <= run < theta.shape[0]:
        raise ValueError(f"`run` must be in [0, {theta.shape[0]}) for {run_dir}; got {run}")
    env = make_config_env(config)
    policy = build_policy(config, env)
    try:
        policy.set_flat(theta[run])
    except ValueError as error:
        raise CheckpointError(
            f"{run_dir}: checkpoint does not fit the configured policy ({error})"
        ) from None
    return config, policy


def evaluate(run_dir: str | Path, episodes: int = 100, seed: int = 0, run: int = 0) -> Evaluation:
    """Mean return of `episodes` fresh episodes with a 95% percentile-bootstrap interval."""
    from gradlogpi.rollouts.episodes import evaluate_policy
    from gradlogpi.runs.plots import bootstrap_interval

    config, policy = load_run(run_dir, run)
    returns, truncated = evaluate_policy(make_config_env(config), policy, episodes, seed)
    low, high = bootstrap_interval(returns, np.random.default_rng(seed), n_resamples=5000)
    return Evaluation(
        float(returns.mean()), float(low), float(high), episodes, int(truncated.sum()), run, seed
    )


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
    finally:
        recorder.close()
    return sorted(out.glob("evaluation-episode-*.mp4"))
