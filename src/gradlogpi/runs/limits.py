"""Sizes a user chooses, checked against this machine's memory before anything is allocated.

A count in a config or on the command line (episodes, runs, seeds, sub-environments, hidden
units, sampled states) sizes arrays that NumPy or PyTorch would try to allocate whole. A
count whose arrays could never fit is refused here with a `ConfigError` naming the key or
flag, the value, the memory it would need at least, and the memory this machine has, instead
of NumPy's `MemoryError` (or a machine that swaps until it is killed) after the work began.

The estimates are lower bounds: only the arrays that grow with the count are counted.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from typing import Any

from gradlogpi.errors import ConfigError

EPISODE_RECORD_BYTES = 17
"""Bytes a run keeps per episode: its return (float64), length (int64), truncation flag."""
RUN_STREAM_BYTES = 1024
"""Bytes of one run's random streams (its SeedSequence and Generator), about 1 KiB."""
SEED_RECORD_BYTES = 256
"""Bytes a study keeps per seed at least: its number, its outcome and its record."""
WORKER_BYTES = 30 * 2**20
"""Bytes of one local worker process at least: a Python interpreter with NumPy imported."""
MAX_SEED = 2**62
"""The largest seed: offsets added to it (evaluation streams, a critic's seed + 1, seed + k
of a study) stay below 2**63, the most PyTorch's generator takes."""


def physical_memory() -> int:
    """This machine's memory in bytes (a generous 1 TiB where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 2**40


def in_bytes(size: int | float) -> str:
    """A byte count in words: '7.28 TiB', '512 B'."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_fits(argument: str, value: Any, needed: int | float, what: str) -> None:
    """Refuse `argument` = `value` when `what` would need more than this machine's memory.

    Raises:
      ConfigError: naming the argument, its value, the bytes needed and the bytes there are.
    """
    total = physical_memory()
    if needed > total:
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        raise ConfigError(
            f"`{argument}` = {shown} would need at least {in_bytes(needed)} of memory for "
            f"{what}; this machine has {in_bytes(total)} (lower `{argument}`)"
        )


def check_run_records(argument: str, value: int, runs: int, episodes: int) -> None:
    """The per-episode records of `runs` runs of `episodes` episodes each must fit."""
    needed = runs * (episodes * EPISODE_RECORD_BYTES + RUN_STREAM_BYTES)
    what = (
        f"the returns, lengths and time-limit flags of {runs:,} run(s) × {episodes:,} episodes"
        if episodes
        else f"the random streams of {runs:,} runs (about 1 KiB each)"
    )
    check_fits(argument, value, needed, what)


def check_evaluation(argument: str, episodes: int, runs: int = 1) -> None:
    """`episodes` fresh evaluation episodes of each of `runs` runs must fit their records."""
    check_fits(
        argument,
        episodes,
        runs * episodes * EPISODE_RECORD_BYTES,
        f"the returns of {episodes:,} evaluation episodes of {runs:,} run(s)",
    )


def mlp_parameters(sizes: Sequence[int]) -> int:
    """Weights and biases of a fully connected network with these layer widths."""
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(sizes))


def check_network(argument: str, hidden: Sequence[int], inputs: int, outputs: int) -> None:
    """A network `inputs` → `hidden` → `outputs` (float64 weights, their gradients and Adam's
    two moments: 32 bytes a parameter) must fit."""
    parameters = mlp_parameters([inputs, *hidden, outputs])
    check_fits(
        argument,
        list(hidden),
        parameters * 32,
        f"{parameters:,} parameters (float64 weights, gradients and Adam's two moments)",
    )


def check_workers(argument: str, workers: int) -> None:
    """`workers` local worker processes must fit (each at least `WORKER_BYTES`)."""
    check_fits(
        argument,
        workers,
        workers * WORKER_BYTES,
        f"{workers:,} worker processes (each a Python process with NumPy, at least 30 MiB)",
    )


def check_seeds(argument: str, count: int, first: int = 0) -> None:
    """`count` seeds from `first` on: their records must fit, the last at most MAX_SEED."""
    check_fits(argument, count, count * SEED_RECORD_BYTES, f"the records of {count:,} seeds")
    if first + count - 1 > MAX_SEED:
        raise ConfigError(
            f"`{argument}` = {count}: seeds {first} … {first + count - 1} pass 2**62, the "
            "largest seed"
        )


def observation_size(space: Any) -> int:
    """Numbers in one observation (1 for a Discrete one)."""
    shape = getattr(space, "shape", None) or ()
    return max(1, math.prod(shape))


def check_config_sizes(config: Any, env: Any) -> None:
    """Every count of a training config whose arrays grow with it, against this machine's
    memory: runs, episodes, evaluation episodes, sub-environments and their steps, and the
    hidden layers of neural policies and critics.

    Args:
      config: a `TrainConfig`.
      env: the environment it makes (for the sizes of observations and actions).
    """
    from gradlogpi.algorithms.on_policy.config import CollectionConfig

    spec = config.algorithm_spec()
    settings = config.algorithm_config()
    check_run_records("runs", config.runs, config.runs, 0)
    if spec.unit == "episodes":
        episodes = int(spec.total(settings))
        check_run_records("hyperparameters.n_episodes", episodes, config.runs, episodes)
    check_evaluation("evaluation_episodes", config.evaluation_episodes, config.runs)
    observation = observation_size(env.observation_space)
    if isinstance(settings, CollectionConfig):
        row = (observation + 6) * 8  # an observation, action, reward, flags, value, advantage
        check_fits(
            "hyperparameters.num_envs",
            settings.num_envs,
            settings.num_envs * row,
            f"one step of {settings.num_envs:,} sub-environments",
        )
        if settings.collection != "episodes":
            check_fits(
                "hyperparameters.steps_per_env",
                settings.steps_per_env,
                settings.num_envs * settings.steps_per_env * row,
                f"the rollout of {settings.num_envs:,} sub-environments × "
                f"{settings.steps_per_env:,} steps",
            )
    check_networks(config, env)


def check_networks(config: Any, env: Any) -> None:
    """The hidden layers of a neural policy and a neural critic against this machine's memory.

    Args:
      config: a `TrainConfig` whose `policy.kind` is set (`with_env_defaults`).
      env: the environment (for the sizes of observations and actions).
    """
    from gymnasium import spaces

    from gradlogpi.runs.policy_kinds import POLICY_KINDS

    observation = observation_size(env.observation_space)
    actions = env.action_space
    outputs = int(actions.n) if isinstance(actions, spaces.Discrete) else observation_size(actions)
    kind = POLICY_KINDS.get(config.policy.kind or "")
    if kind is not None and kind.family == "torch":
        check_network("policy.hidden", config.policy.hidden, observation, outputs)
    if config.value.kind == "neural":
        check_network("value.hidden", config.value.hidden, observation, 1)
