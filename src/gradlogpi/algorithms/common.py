"""What the learning algorithms share: results, step-size schedules, run-axis set-up."""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gradlogpi.core._checks import check_in_range, check_positive, check_positive_int
from gradlogpi.policies.contract import (
    ArrayPolicy,
    DiscretePolicy,
    GaussianPolicy,
    NetworkPolicy,
    Policy,
    ValueFunction,
    with_run_axis,
)
from gradlogpi.policies.normalized import ObservationNormalizedPolicy
from gradlogpi.rollouts.episodes import Runs, make_env, policy_streams, run_indices

Schedule = Literal["constant", "linear", "inverse_sqrt"]

RECENT_EPISODES = 100
"""Episodes of each run the summary's and the progress display's mean return covers."""


def step_size(alpha: float, schedule: Schedule, episode: int, n_episodes: int) -> float:
    """α at an episode: constant; linear decay to 0 at the last episode; or α/√(1 + episode)."""
    if schedule == "constant":
        return alpha
    if schedule == "linear":
        return alpha * (1.0 - episode / n_episodes)
    if schedule == "inverse_sqrt":
        return alpha / np.sqrt(1.0 + episode)
    raise ValueError(f"`schedule` must be 'constant', 'linear' or 'inverse_sqrt'; got {schedule!r}")


def report_chunks(first: int, n_episodes: int, watched: bool) -> Iterator[tuple[int, int]]:
    """(first, stop) episode ranges a compiled run learns between two reports.

    Unwatched, one range for the whole run; watched, about 50 ranges over the run, so a
    progress display or checkpoint sees it move while it keeps the compiled path.
    """
    size = max(1, -(-n_episodes // 50)) if watched else n_episodes
    for start in range(first, n_episodes, size):
        yield start, min(start + size, n_episodes)


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
      policy: the learned policy. Runs learned in lockstep share it (θ [R, P], or [P] when
        `runs` was not given); runs learned one after another keep run 0's. Either way
        `parameters` holds every run's θ and `policy_of_run(k)` acts as run k.
      parameters: θ of every run, shape [R, P].
      value: the learned critic or baseline, if the algorithm has one.
      value_parameters: w of every run, shape [R, k], or None.
      wall_time: seconds spent.
      run_ids: the run indices k of the rows (run k's streams are spawn k of the seed).
    """

    returns: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray
    diverged_at: np.ndarray
    policy: Policy
    parameters: np.ndarray
    value: ValueFunction | None = None
    value_parameters: np.ndarray | None = None
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
        """Runs whose last episode reached the step cap, bool [R].

        Where the cap is a failure (the short corridor: the policy stopped reaching the
        goal) such a run has collapsed; where it is the goal (CartPole's 500 steps) it has
        succeeded. The summary therefore calls it "reached the time limit". A run that
        finished no episode (a step budget shorter than one) has not.
        """
        if self.truncated.shape[1] == 0:
            return np.zeros(self.truncated.shape[0], dtype=bool)
        return self.truncated[:, -1]

    def policy_of_run(self, run: int) -> Policy:
        """A copy of the learned policy acting as run `run` (θ of shape [P])."""
        if not 0 <= run < self.parameters.shape[0]:
            raise IndexError(f"`run` must be in [0, {self.parameters.shape[0]}); got {run}")
        single = copy.deepcopy(self.policy)
        single.set_flat(self.parameters[run])
        normalizers = self.extra.get("observation_normalizers")
        if normalizers is not None:  # it learned on normalised observations: it acts on them
            return cast(Policy, ObservationNormalizedPolicy(single, normalizers[run]))
        return single

    def summary(self) -> dict[str, Any]:
        """Counts and the mean return of the last `RECENT_EPISODES` episodes of each run.

        `time_limit_episodes`: episodes that reached the step cap; `time_limit_runs`: runs
        whose last episode did (see `collapsed`).
        """
        last = min(RECENT_EPISODES, self.returns.shape[1])
        return {
            "runs": self.n_runs,
            "episodes": self.returns.shape[1],
            "final_window": last,
            "final_mean_return": float(self.returns[:, -last:].mean()) if last else float("nan"),
            "time_limit_episodes": int(self.truncated.sum()),
            "time_limit_runs": int(self.collapsed.sum()),
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

    def record(
        self, episode: int, returns: np.ndarray, lengths: np.ndarray, truncated: np.ndarray
    ) -> None:
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


def update_kept_finite(policy: Policy, update: Callable[[], object]) -> bool:
    """Run `update` (which changes θ in place) unless it leaves θ not finite, in which case
    θ goes back to what it was before; returns whether the update was kept."""
    if isinstance(policy, NetworkPolicy):  # networks do it without flat copies
        return policy.update_kept_finite(update)
    before = policy.get_flat()
    update()
    if np.all(np.isfinite(policy.get_flat())):
        return True
    policy.set_flat(before)
    return False


class EpisodeRecord:
    """The episodes one run finishes, update after update, in the order they end.

    For the algorithms that learn from batches (batch_pg, ppo), whose updates finish a
    varying number of episodes. `get_state`/`set_state` are `Tracker`'s state interface,
    so a snapshot holds the record as [1, E] arrays.
    """

    def __init__(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.truncated: list[bool] = []
        self.diverged_at = -1  # the update that made θ non-finite, −1 if none
        self.start = time.perf_counter()

    def add(self, returns: np.ndarray, lengths: np.ndarray, truncated: np.ndarray) -> None:
        """Episodes that ended in an update: returns, lengths, truncations, each [n]."""
        self.returns += np.asarray(returns).tolist()
        self.lengths += np.asarray(lengths).tolist()
        self.truncated += np.asarray(truncated).tolist()

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "returns": np.array([self.returns], dtype=np.float64),
            "lengths": np.array([self.lengths], dtype=np.int64),
            "truncated": np.array([self.truncated], dtype=bool),
            "diverged_at": np.array([self.diverged_at]),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.returns = np.asarray(state["returns"])[0].tolist()
        self.lengths = np.asarray(state["lengths"])[0].tolist()
        self.truncated = np.asarray(state["truncated"])[0].tolist()
        self.diverged_at = int(np.asarray(state["diverged_at"])[0])

    def result(
        self, policy: Policy, value: ValueFunction | None, seed: int | None, config: Any
    ) -> RunResult:
        """The `RunResult` of the run: one row, its columns the episodes in order."""
        state = self.get_state()
        return RunResult(
            state["returns"],
            state["lengths"],
            state["truncated"],
            state["diverged_at"],
            policy,
            policy.get_theta(),
            value,
            None if value is None else np.atleast_2d(value.get_flat()).copy(),
            seed,
            time.perf_counter() - self.start,
            config,
            np.array([0]),
        )


def stacked_results(
    results: list[RunResult], seed: int | None, wall_time: float | None = None
) -> RunResult:
    """Runs learned one at a time (or together, on-policy) as rows of one RunResult, the
    episodes cut to the fewest any run finished; `policy` is run 0's, `parameters` every
    run's θ [R, P]; `wall_time` defaults to the runs' sum (one after another)."""
    if len(results) == 1:
        return results[0]
    width = min(r.returns.shape[1] for r in results)
    values = [r.value_parameters for r in results]
    normalizers = [r.extra.get("observation_normalizers") for r in results]
    extra: dict[str, Any] = {}
    if all(n is not None for n in normalizers):  # the runs' statistics side by side
        extra["observation_normalizers"] = [
            n for per_run in normalizers if per_run for n in per_run
        ]
    return RunResult(
        np.concatenate([r.returns[:, :width] for r in results]),
        np.concatenate([r.lengths[:, :width] for r in results]),
        np.concatenate([r.truncated[:, :width] for r in results]),
        np.concatenate([r.diverged_at for r in results]),
        results[0].policy,
        np.concatenate([r.parameters for r in results]),
        results[0].value,
        None if values[0] is None else np.concatenate(values),  # type: ignore[arg-type]
        seed,
        sum(r.wall_time for r in results) if wall_time is None else wall_time,
        results[0].config,
        np.arange(len(results)),
        extra,
    )


@dataclass(frozen=True)
class EpisodeEnd:
    """Passed to a `callback` when learning has moved on by one or more progress units.

    A unit is an episode of all runs at once (per-episode algorithms) or an update (batch
    algorithms). Compiled runs report in chunks of several episodes, so that watching a
    run never slows it down: `units` says how many the report covers, and the statistics
    cover every episode finished since the last report.
    """

    episode: int  # the last episode (or update) covered, 0-based
    returns: np.ndarray  # returns of the episodes finished: [R] or [R, units], or [N] of a batch
    lengths: np.ndarray  # their lengths, same shape
    truncated: np.ndarray  # whether each hit the step cap, same shape
    policy: Policy | None = None  # the policy being learned, read-only use
    snapshot: Callable[[], dict[str, Any]] | None = None
    """() -> the state to continue from after `episode` (resumable algorithms), else None."""
    units: int = 1
    run: int | None = None  # which run, for runs learned one after another; None: all at once
    statistics: dict[str, float] = field(default_factory=dict)
    """What the update reported about itself (on-policy algorithms: KL, epochs, …)."""


Callback = Callable[[EpisodeEnd], None]


class StopTraining(Exception):
    """Raise from a callback to end learning early; the result covers what was done."""


def one_run(algorithm: str, runs: Any) -> None:
    """ValueError unless `runs` asks for one run (None, 1 or [0]): `algorithm` learns one per call."""
    if runs is None or (isinstance(runs, int) and not isinstance(runs, bool) and runs == 1):
        return
    if not isinstance(runs, (int, str)) and list(runs) == [0]:
        return
    raise ValueError(
        f"`runs` must be None or 1 for {algorithm}, which learns one run per call "
        f"(gradlogpi.runs.train learns R runs one after another); got {runs!r}"
    )


def check_policy_fits_env(policy: Policy, env: gym.Env) -> None:
    """ValueError unless the policy's actions and observations match the environment's spaces."""
    if not isinstance(policy, Policy):
        raise TypeError(
            "`policy` must follow gradlogpi.policies.Policy (log_prob, score, sample_from_noise, "
            f"actor, get_theta, …); got {type(policy).__name__}"
        )
    if isinstance(env.action_space, spaces.Box):
        if not isinstance(policy, GaussianPolicy):
            raise TypeError(
                f"a Box action space needs a Gaussian policy; got {type(policy).__name__}"
            )
        if (policy.action_dim,) != env.action_space.shape:
            raise ValueError(
                f"`policy` must have action_dim={env.action_space.shape[0]} (the action space); "
                f"got {policy.action_dim}"
            )
    elif not isinstance(env.action_space, spaces.Discrete):
        raise TypeError(f"the action space must be Discrete or Box; got {env.action_space}")
    elif not isinstance(policy, DiscretePolicy):
        raise TypeError(
            f"a Discrete action space needs a softmax policy; got {type(policy).__name__}"
        )
    elif policy.n_actions != int(env.action_space.n):
        raise ValueError(
            f"`policy` must have n_actions={int(env.action_space.n)} (the action space of "
            f"{env.spec.id if env.spec else type(env).__name__}); got {policy.n_actions}"
        )
    expected = tuple(env.observation_space.shape or ())
    shape = policy.observation_shape
    if tuple(shape) != expected:
        raise ValueError(
            f"`policy` features must take observations of shape {expected} (the observation "
            f"space); got observation_shape {tuple(shape)}"
        )


def capture_state(
    episode: int,
    policy: Policy,
    value: ValueFunction | None,
    runs: Runs | None,
    tracker: Any,
    **counters: int,
) -> dict[str, Any]:
    """What a resumable algorithm needs to continue after `episode` exactly as if never stopped.

    Arrays: θ [R, P] (and w [R, k]), the statistics so far; JSON: RNG states and counters.
    """
    state = {
        "episode": episode,
        "theta": policy.get_theta(),
        "runs": runs.get_state() if runs is not None else {},
        "tracker": tracker.get_state(),
        "counters": counters,
    }
    if value is not None:
        state["w"] = np.atleast_2d(value.get_flat())
    if isinstance(policy, NetworkPolicy):
        state["optimizer_arrays"], state["optimizer_groups"] = policy.optimizer_state()
    return state


def restore_state(
    state: dict[str, Any],
    policy: Policy,
    value: ValueFunction | None,
    runs: Runs | None,
    tracker: Any,
) -> int:
    """Put a captured state back; returns the first episode still to run."""
    current = policy.get_theta().shape
    if np.shape(state["theta"]) != current:
        raise ValueError(
            f"`resume` holds θ of shape {np.shape(state['theta'])}; this run has {current}"
        )
    policy.set_theta(np.asarray(state["theta"]))
    if "optimizer_arrays" in state and isinstance(policy, NetworkPolicy):
        policy.load_optimizer_state(state["optimizer_arrays"], state["optimizer_groups"])
    if value is not None:
        value.set_flat(np.asarray(state["w"]).reshape(value.get_flat().shape))
    if runs is not None:
        runs.set_state(state["runs"])
    tracker.set_state(state["tracker"])
    return int(state["episode"]) + 1


LoopState = Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]
"""() -> (arrays, JSON): what a loop keeps besides θ, the runs and the statistics (noise
positions, episodes in flight, environments' snapshots). A snapshot holds them as `arrays`
and `extra`; a checkpoint stores the arrays as `extra_<name>` and the rest as JSON, and
gives both back to `resume`."""


@dataclass
class Lockstep:
    """R runs learned at once: everything a per-episode algorithm starts from.

    `policy` and `value` are copies of the user's with a run axis (θ [R, P], w [R, k]);
    `runs` are the R environments; `tracker` collects the statistics.
    """

    policy: ArrayPolicy
    value: ValueFunction | None
    runs: Runs
    tracker: Tracker
    first_episode: int
    single: bool  # `runs` was None: give results without a run axis
    run_ids: list[int]
    seed: int | None
    callback: Callback | None

    def report(
        self,
        episode: int,
        units: int = 1,
        *,
        loop_state: LoopState | None = None,
        **counters: int,
    ) -> bool:
        """Tell the callback (if any) about episodes episode − units + 1 … episode.

        `counters` (e.g. actor-critic's update count) go into its snapshot, and so does
        what `loop_state` gives, as the snapshot's `arrays` and `extra`. Returns True
        when the callback asked to stop (raised `StopTraining`); the statistics then end
        at `episode`.
        """
        if self.callback is None:
            return False
        window = episode if units == 1 else slice(episode + 1 - units, episode + 1)
        tracker = self.tracker
        end = EpisodeEnd(
            episode,
            tracker.returns[:, window],
            tracker.lengths[:, window],
            tracker.truncated[:, window],
            self.policy,
            functools.partial(self.snapshot, episode, loop_state, counters),
            units,
        )
        try:
            self.callback(end)
        except StopTraining:
            self.tracker.stop_after(episode)
            return True
        return False

    def snapshot(
        self, episode: int, loop_state: LoopState | None, counters: dict[str, int]
    ) -> dict[str, Any]:
        """`capture_state` after `episode`, with what the loop keeps besides (`loop_state`)."""
        state = capture_state(episode, self.policy, self.value, self.runs, self.tracker, **counters)
        if loop_state is not None:
            state["arrays"], state["extra"] = loop_state()
        return state

    def result(self, config: Any) -> RunResult:
        """The `RunResult` of the runs (closing their environments)."""
        self.runs.close()
        policy, value = self.policy, self.value
        parameters = policy.get_theta()
        value_parameters = None if value is None else np.atleast_2d(value.get_flat()).copy()
        if self.single:
            policy.set_flat(policy.get_flat()[0])
            if value is not None:
                value.set_flat(value.get_flat()[0])
        return RunResult(
            self.tracker.returns,
            self.tracker.lengths,
            self.tracker.truncated,
            self.tracker.diverged_at,
            policy,
            parameters,
            value,
            value_parameters,
            self.seed,
            time.perf_counter() - self.tracker.start,
            config,
            np.asarray(self.run_ids),
        )


@dataclass(frozen=True)
class Inputs:
    """The arguments every algorithm takes, checked once (see `start_lockstep`)."""

    env: str | gym.Env
    policy: Policy
    config: Any
    value: ValueFunction | None = None
    seed: int | None = None
    runs: Any = None
    callback: Callback | None = None
    resume: dict[str, Any] | None = None


def start_lockstep(inputs: Inputs) -> Lockstep:
    """Check the arguments, copy the models with a run axis, open the runs, maybe resume."""
    env = make_env(inputs.env)
    check_policy_fits_env(inputs.policy, env)
    if not isinstance(inputs.policy, ArrayPolicy):
        raise TypeError(
            "`policy` must hold θ as an array (linear softmax, matrix softmax, linear Gaussian) "
            f"to learn runs in lockstep; got {type(inputs.policy).__name__}"
        )
    run_ids, single = run_indices(inputs.runs)
    shared: dict[int, Any] = {}  # one deepcopy memo: features the two share stay shared
    policy = with_run_axis(inputs.policy, len(run_ids), shared)
    value = None if inputs.value is None else with_run_axis(inputs.value, len(run_ids), shared)
    config = inputs.config
    environments = Runs(env, policy_streams(inputs.seed, run_ids, policy), config.max_episode_steps)
    tracker = Tracker(len(run_ids), config.n_episodes)
    first_episode = (
        0
        if inputs.resume is None
        else restore_state(inputs.resume, policy, value, environments, tracker)
    )
    return Lockstep(
        policy,
        value,
        environments,
        tracker,
        first_episode,
        single,
        run_ids,
        inputs.seed,
        inputs.callback,
    )
