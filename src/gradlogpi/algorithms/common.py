"""What the learning algorithms share: results, step-size schedules, run-axis set-up."""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradlogpi.core._checks import check_in_range, check_positive, check_positive_int

Schedule = Literal["constant", "linear", "inverse_sqrt"]


def step_size(alpha: float, schedule: Schedule, episode: int, n_episodes: int) -> float:
    """α at an episode: constant; linear decay to 0 at the last episode; or α/√(1 + episode)."""
    if schedule == "constant":
        return alpha
    if schedule == "linear":
        return alpha * (1.0 - episode / n_episodes)
    if schedule == "inverse_sqrt":
        return alpha / np.sqrt(1.0 + episode)
    raise ValueError(f"`schedule` must be 'constant', 'linear' or 'inverse_sqrt'; got {schedule!r}")


def validate_common(config: Any) -> None:
    """Checks every algorithm config shares; raises ValueError naming the field."""
    check_positive_int("n_episodes", config.n_episodes)
    check_in_range("gamma", config.gamma, 0.0, 1.0)
    for name in ("alpha_theta", "alpha_w"):
        if hasattr(config, name):
            check_positive(name, getattr(config, name))
    if config.max_episode_steps is not None:
        check_positive_int("max_episode_steps", config.max_episode_steps)
    step_size(1.0, config.schedule, 0, 1)


@dataclass
class RunResult:
    """What a learning call returns: per-run, per-episode statistics and the final parameters.

    Arrays have a leading run axis R (R = 1 when `runs` was not given).

    Attributes:
      returns: undiscounted return of every episode, shape [R, E].
      lengths: steps of every episode, shape [R, E].
      truncated: whether the episode hit the step cap, bool, shape [R, E].
      diverged_at: index of the update that made θ (or w) non-finite, −1 if none, shape [R].
        A diverged run keeps its last finite parameters and stops learning.
      policy: the learned policy, θ of shape [R, P] (or [P] when `runs` was not given).
      value: the learned critic or baseline, if the algorithm has one.
      wall_time: seconds spent.
      run_ids: the run indices k of the rows (run k's streams are spawn k of the seed).
    """

    returns: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray
    diverged_at: np.ndarray
    policy: Any
    value: Any = None
    seed: int | None = None
    wall_time: float = 0.0
    config: Any = None
    run_ids: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return self.returns.shape[0]

    @property
    def collapsed(self) -> np.ndarray:
        """Runs whose last episode hit the step cap (the policy stopped reaching the end), [R]."""
        return self.truncated[:, -1]

    def summary(self) -> dict[str, Any]:
        last = max(1, self.returns.shape[1] // 10)
        return {
            "runs": self.n_runs,
            "episodes": self.returns.shape[1],
            "final_mean_return": float(self.returns[:, -last:].mean()),
            "truncated_episodes": int(self.truncated.sum()),
            "collapsed_runs": int(self.collapsed.sum()),
            "diverged_runs": int((self.diverged_at >= 0).sum()),
            "wall_time": self.wall_time,
        }


class Tracker:
    """Collects episode statistics and guards parameters against non-finite updates."""

    def __init__(self, n_runs: int, n_episodes: int):
        self.returns = np.zeros((n_runs, n_episodes))
        self.lengths = np.zeros((n_runs, n_episodes), dtype=np.int64)
        self.truncated = np.zeros((n_runs, n_episodes), dtype=bool)
        self.diverged_at = np.full(n_runs, -1, dtype=np.int64)
        self.start = time.perf_counter()

    def record(self, episode: int, returns: np.ndarray, lengths: np.ndarray, truncated: np.ndarray):
        self.returns[:, episode] = returns
        self.lengths[:, episode] = lengths
        self.truncated[:, episode] = truncated

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "returns": self.returns.copy(),
            "lengths": self.lengths.copy(),
            "truncated": self.truncated.copy(),
            "diverged_at": self.diverged_at.copy(),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for name in ("returns", "lengths", "truncated", "diverged_at"):
            target = getattr(self, name)
            target[...] = np.asarray(state[name], dtype=target.dtype)

    def stop_after(self, episode: int) -> None:
        """Keep only episodes 0 … episode (learning ended early)."""
        self.returns = self.returns[:, : episode + 1]
        self.lengths = self.lengths[:, : episode + 1]
        self.truncated = self.truncated[:, : episode + 1]

    @property
    def learning(self) -> np.ndarray:
        """Runs still learning (not diverged), bool [R]."""
        return self.diverged_at < 0

    @contextlib.contextmanager
    def guarded(self, update: int, *parameters: np.ndarray) -> Iterator[None]:
        """Run an update of `parameters` (arrays [R, P], changed in place) safely.

        Overflow inside the block is expected, not warned about: afterwards, each run whose
        parameters are no longer finite gets its values from before the block back, is
        marked diverged at `update`, and learns no more.
        """
        before = [p.copy() for p in parameters]
        with np.errstate(over="ignore", invalid="ignore"):
            yield
        bad = np.zeros(len(self.diverged_at), dtype=bool)
        for after in parameters:
            bad |= ~np.isfinite(after).all(axis=-1)
        if bad.any():
            for after, old in zip(parameters, before, strict=True):
                after[bad] = old[bad]
            self.diverged_at[bad & (self.diverged_at < 0)] = update

    def result(
        self,
        policy: Any,
        value: Any,
        seed: int | None,
        config: Any,
        single: bool,
        run_ids: Any = None,
    ) -> RunResult:
        if single:
            policy.theta = policy.theta[0]
            if value is not None:
                value.w = value.w[0]
        return RunResult(
            self.returns,
            self.lengths,
            self.truncated,
            self.diverged_at,
            policy,
            value,
            seed,
            time.perf_counter() - self.start,
            config,
            None if run_ids is None else np.asarray(run_ids),
        )


def per_run_copy(model: Any, n_runs: int, attribute: str) -> Any:
    """A deep copy of a policy or value function whose parameters get a run axis [R, P]."""
    duplicate = copy.deepcopy(model)
    parameters = getattr(duplicate, attribute)
    if parameters.ndim == 1:
        parameters = np.tile(parameters, (n_runs, 1))
    elif parameters.shape[0] != n_runs:
        raise ValueError(
            f"`{attribute}` of the given model has {parameters.shape[0]} runs; "
            f"`runs` asks for {n_runs}"
        )
    setattr(duplicate, attribute, np.array(parameters, dtype=np.float64))
    return duplicate


@dataclass(frozen=True)
class EpisodeEnd:
    """Passed to a `callback` after every episode (of all runs at once)."""

    episode: int
    returns: np.ndarray  # [R]
    lengths: np.ndarray  # [R]
    truncated: np.ndarray  # [R]
    policy: Any = None  # the policy being learned (batch and neural algorithms), read-only use
    snapshot: Any = (
        None  # () -> the state to continue from after this episode (resumable algorithms)
    )


class StopTraining(Exception):
    """Raise from a callback to end learning early; the result covers what was done."""


def check_policy_fits_env(policy: Any, env: Any) -> None:
    """ValueError unless the policy's actions and observations match the environment's spaces."""
    from gymnasium import spaces

    if isinstance(env.action_space, spaces.Box):
        action_dim = getattr(policy, "action_dim", None)
        if action_dim is None:
            raise TypeError(
                f"a Box action space needs a Gaussian policy; got {type(policy).__name__}"
            )
        if (action_dim,) != env.action_space.shape:
            raise ValueError(
                f"`policy` must have action_dim={env.action_space.shape[0]} (the action space); "
                f"got {action_dim}"
            )
    elif not isinstance(env.action_space, spaces.Discrete):
        raise TypeError(f"the action space must be Discrete or Box; got {env.action_space}")
    elif policy.n_actions != int(env.action_space.n):
        raise ValueError(
            f"`policy` must have n_actions={int(env.action_space.n)} (the action space of "
            f"{env.spec.id if env.spec else type(env).__name__}); got {policy.n_actions}"
        )
    features = (
        getattr(policy, "features", None) or getattr(policy, "state_features", None) or policy
    )
    expected = tuple(env.observation_space.shape or ())
    shape = getattr(features, "observation_shape", None)
    if shape is not None and tuple(shape) != expected:
        raise ValueError(
            f"`policy` features must take observations of shape {expected} (the observation "
            f"space); got observation_shape {tuple(shape)}"
        )


def capture_state(
    episode: int, policy: Any, value: Any, runs: Any, tracker: Tracker, **counters: int
) -> dict[str, Any]:
    """What a resumable algorithm needs to continue after `episode` exactly as if never stopped.

    Arrays: θ (and w) [R, P], the statistics so far; JSON: RNG states and counters.
    """
    state = {
        "episode": episode,
        # always [R, P]: one run without a run axis (batch_pg) is stored as R = 1
        "theta": np.atleast_2d(policy.theta).copy()
        if hasattr(policy, "theta")
        else policy.get_flat()[None],
        "runs": runs.get_state() if runs is not None else {},
        "tracker": tracker.get_state(),
        "counters": counters,
    }
    if value is not None:
        state["w"] = np.atleast_2d(value.get_flat())
    if hasattr(policy, "optimizer_state"):
        state["optimizer_arrays"], state["optimizer_groups"] = policy.optimizer_state()
    return state


def restore_state(
    state: dict[str, Any], policy: Any, value: Any, runs: Any, tracker: Tracker
) -> int:
    """Put a captured state back; returns the first episode still to run."""
    current = np.atleast_2d(policy.theta) if hasattr(policy, "theta") else policy.get_flat()[None]
    if np.shape(state["theta"]) != current.shape:
        raise ValueError(
            f"`resume` holds θ of shape {np.shape(state['theta'])}; this run has {current.shape}"
        )
    if hasattr(policy, "theta"):
        policy.theta[...] = np.reshape(state["theta"], policy.theta.shape)
    else:
        policy.set_flat(state["theta"][0])
    if "optimizer_arrays" in state:
        policy.load_optimizer_state(state["optimizer_arrays"], state["optimizer_groups"])
    if value is not None:
        value.set_flat(np.asarray(state["w"]).reshape(value.get_flat().shape))
    if runs is not None:
        runs.set_state(state["runs"])
    tracker.set_state(state["tracker"])
    return int(state["episode"]) + 1


@dataclass
class Setup:
    """Everything a lockstep algorithm starts from (see `start_learning`)."""

    policy: Any  # a copy of the user's policy, θ [R, P]
    value: Any  # a copy of the user's value function, w [R, k], or None
    runs: Any  # the `Runs` of the environment
    tracker: Tracker
    first_episode: int
    single: bool  # `runs` was None: give results without a run axis
    run_ids: list[int]


def start_learning(
    env: Any, policy: Any, value: Any, config: Any, seed: int | None, runs: Any, resume: Any
) -> Setup:
    """Check the arguments, copy the models with a run axis, open the runs, maybe resume."""
    from gradlogpi.algorithms.rollout import Runs, make_env, policy_streams, run_indices

    env = make_env(env)
    check_policy_fits_env(policy, env)
    run_ids, single = run_indices(runs)
    policy = per_run_copy(policy, len(run_ids), "theta")
    value = None if value is None else per_run_copy(value, len(run_ids), "w")
    environments = Runs(env, policy_streams(seed, run_ids, policy), config.max_episode_steps)
    tracker = Tracker(len(run_ids), config.n_episodes)
    first_episode = (
        0 if resume is None else restore_state(resume, policy, value, environments, tracker)
    )
    return Setup(policy, value, environments, tracker, first_episode, single, run_ids)


def report_episode(
    callback: Any,
    episode: int,
    tracker: Tracker,
    lengths: Any,
    truncated: Any,
    policy: Any,
    value: Any,
    runs: Any,
    **counters: int,
) -> None:
    """Call `callback` (if any) with the `EpisodeEnd` of an episode of the lockstep runs.

    `counters` (e.g. actor-critic's update count) go into its snapshot.
    """
    if callback is not None:
        callback(
            EpisodeEnd(
                episode,
                tracker.returns[:, episode],
                lengths,
                truncated,
                snapshot=functools.partial(
                    capture_state, episode, policy, value, runs, tracker, **counters
                ),
            )
        )
