"""Many REINFORCE runs at once through a Gymnasium task's native vector implementation.

`reinforce(..., runs=R)` with `ReinforceConfig(runs_in_vector_env=True)` steps all R runs
with one call per step of the task's array dynamics (e.g. Gymnasium's `CartPoleVectorEnv`,
`vectorization_mode="vector_entry_point"`, stepped in one compiled call where Numba is:
`envs.cartpole`), instead of R environment objects one after another. Each run keeps its
own θ and learns when its own episode ends; no run waits for another (a run that has
finished its episodes idles while the others go on).

Reproducibility: the same seed and R give the same numbers. Run k alone is *not* run k
among others: the vector environment has one random stream for all its sub-environments
(every autoreset draws from it) and the action noise of all runs is drawn in one array,
so what run k sees depends on when the other runs' episodes end. Use the default
(`runs_in_vector_env=False`) where run k must be the same whatever runs beside it.

Resume: a snapshot (`EpisodeEnd.snapshot()`) holds everything that decides what happens
next: θ and the statistics (`capture_state`), the noise stream's position, every run's
episode in flight and the vector env's own snapshot (`envs.snapshots`). `resume=` with it
continues bit for bit. Where the vector env cannot be snapshotted, the episodes in flight
restart (and a warning says so); the episodes already learned from are kept.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, cast

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import Lockstep, step_size
from gradlogpi.algorithms.compiled import linear
from gradlogpi.core.named_arrays import under_prefix, with_prefix
from gradlogpi.core.softmax import gumbel_noise
from gradlogpi.envs.snapshots import restore_vector_env, vector_env_snapshot
from gradlogpi.errors import ConfigError
from gradlogpi.features import RawState
from gradlogpi.policies import MatrixSoftmaxPolicy
from gradlogpi.rollouts.vector import native_twin_spec

CHUNK = 64
"""Vector steps whose noise is drawn in one call."""

ENV_PREFIX = "env_"
"""Key prefix of the vector env's snapshot among a snapshot's arrays."""


def check_vector_runs(lockstep: Lockstep) -> gym.vector.VectorEnv:
    """The native vector env for `lockstep`'s runs, or a ConfigError naming what is missing."""
    runs, policy = lockstep.runs, lockstep.policy
    spec = runs.env.spec
    if spec is None or spec.vector_entry_point is None:
        raise ConfigError(
            "`runs_in_vector_env` needs an environment with a native vector implementation "
            f"(a registered `vector_entry_point`, e.g. CartPole-v1); {runs.name} has none"
        )
    if type(policy) is not MatrixSoftmaxPolicy:
        raise ConfigError(
            "`runs_in_vector_env` needs a MatrixSoftmaxPolicy (state features × weights); "
            f"got {type(policy).__name__}"
        )
    # CartPole-v1's native vector env stepped in one compiled call where Numba is
    return gym.make_vec(
        native_twin_spec(spec.id) or spec.id,
        num_envs=runs.n_runs,
        vectorization_mode="vector_entry_point",
        max_episode_steps=runs.max_episode_steps,
    )


def learn_reinforce_in_vector_env(
    lockstep: Lockstep,
    config: Any,
    envs: gym.vector.VectorEnv,
    resume: dict[str, Any] | None = None,
) -> None:
    """REINFORCE in every run until each has learned from `config.n_episodes` episodes.

    Per vector step: step all runs at once, then append each run's step to its own
    episode, let the runs whose episode ended learn from it (the summed or the book's
    per-step update, `ReinforceConfig.batch_update`) and pick every run's next action
    with its θ_k: one compiled call (`compiled.linear.vector_kernel`) after the env's step.
    `resume` (a snapshot, with `lockstep` already restored from it) continues from there.
    The caller closes `envs`.
    """
    policy = cast(MatrixSoftmaxPolicy, lockstep.policy)  # check_vector_runs made sure
    tracker, n_runs = lockstep.tracker, lockstep.runs.n_runs
    cap = lockstep.runs.max_episode_steps
    record = linear.vector_kernel()
    seeds = np.random.SeedSequence(lockstep.seed).spawn(2)
    noise = NoiseStream(np.random.default_rng(seeds[0]), n_runs, policy.n_actions)
    env_state = None if resume is None else snapshot_part(resume, ENV_PREFIX)
    reset = seeds[1]
    if resume is not None and not env_state:
        # the episodes in flight restart from fresh states: a stream of its own per restart
        reset = np.random.SeedSequence(lockstep.seed, spawn_key=(2, lockstep.first_episode))
    obs, _ = envs.reset(seed=int(reset.generate_state(1)[0]))
    indices, values = run_inputs(policy, obs)
    buffers = empty_buffers(n_runs, cap, indices.shape[-1])
    alphas = [
        step_size(config.alpha_theta, config.schedule, e, config.n_episodes)
        for e in range(config.n_episodes)
    ]
    settings = linear.VectorSettings(
        np.array(alphas),
        float(config.gamma),
        config.discount_weighting,
        not config.batch_update,
        cap,
    )
    log = linear.VectorLog(tracker.returns, tracker.lengths, tracker.truncated, tracker.diverged_at)
    if not policy.theta.flags.c_contiguous:  # the kernel updates θ through a view
        policy.theta = np.ascontiguousarray(policy.theta)
    matrices = linear.as_matrix(policy)
    actions = np.zeros(n_runs, dtype=np.int64)  # every run's next action
    if resume is not None:
        restore_loop(resume, buffers, actions, noise)
    if env_state:
        restore_vector_env(envs, env_state)
    else:  # the reset's observations go in as every run's first step
        if resume is not None:
            warnings.warn(
                f"{lockstep.runs.name}'s vector environment cannot be snapshotted: the "
                f"episodes in flight at episode {lockstep.first_episode} restart",
                stacklevel=3,
            )
        buffers.restarting[:] = True
        no_step = (actions, np.zeros(n_runs), *np.zeros((2, n_runs), bool))
        record(matrices, buffers, settings, log, no_step, (indices, values), noise.next(), actions)
    loop_state = functools.partial(snapshot_loop, buffers, actions, noise, envs)
    reported = lockstep.first_episode
    while reported < config.n_episodes:
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        outcome = (actions, rewards, terminated, truncated)
        states = run_inputs(policy, obs)
        if record(matrices, buffers, settings, log, outcome, states, noise.next(), actions):
            finished = int(buffers.episodes.min())
            if finished > reported:
                units = finished - reported
                stop = lockstep.report(finished - 1, units=units, loop_state=loop_state)
                reported = finished
                if stop:
                    break


class NoiseStream:
    """The Gumbel noise [R, A] of each vector step in turn, drawn `CHUNK` steps at a time.

    Its state is the generator's state before the block in use and the position in that
    block: restoring both draws the block again, so every later step gets the noise it
    would have got.
    """

    def __init__(self, rng: np.random.Generator, n_runs: int, n_actions: int):
        self.rng, self.shape = rng, (CHUNK, n_runs, n_actions)
        self.block_start: dict[str, Any] = {}
        self.block, self.offset = self._draw(), 0

    def _draw(self) -> np.ndarray:
        self.block_start = dict(self.rng.bit_generator.state)
        return gumbel_noise(self.rng.random(self.shape))

    def next(self) -> np.ndarray:
        """The next step's noise, [R, A]."""
        if self.offset == CHUNK:
            self.block, self.offset = self._draw(), 0
        self.offset += 1
        return self.block[self.offset - 1]

    def get_state(self) -> dict[str, Any]:
        """JSON: the generator's state before the block in use, and the steps taken of it."""
        return {"block_start": self.block_start, "offset": self.offset}

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["block_start"]
        self.block, self.offset = self._draw(), int(state["offset"])


def empty_buffers(n_runs: int, cap: int, width: int) -> linear.VectorBuffers:
    """Room for every run's episode of up to `cap` steps, x(S) of `width` (indices, values)."""
    return linear.VectorBuffers(
        np.zeros((n_runs, cap + 1, width), dtype=np.int64),
        np.zeros((n_runs, cap + 1, width)),
        np.zeros((n_runs, cap), dtype=np.int64),
        np.zeros((n_runs, cap)),
        np.zeros(n_runs, dtype=np.int64),
        np.zeros(n_runs, dtype=bool),
        np.zeros(n_runs, dtype=np.int64),
    )


def episodes_in_flight(buffers: linear.VectorBuffers) -> dict[str, np.ndarray]:
    """Every run's episode so far, as copies cut to the longest: x(S_0 … S_t) [R, T + 1, m],
    A_0 … A_{t−1} and R_1 … R_t [R, T], its steps t [R], zeros past t (a run whose episode
    just ended has none: it restarts at the next step), and the episodes learned from [R]."""
    steps = np.where(buffers.restarting, 0, buffers.steps)
    longest = int(steps.max())
    recorded = np.arange(longest + 1) <= steps[:, None]  # S_0 … S_t
    recorded &= ~buffers.restarting[:, None]
    acted = np.arange(longest) < steps[:, None]  # A_0 … A_{t−1}
    return {
        "indices": np.where(recorded[..., None], buffers.indices[:, : longest + 1], 0),
        "values": np.where(recorded[..., None], buffers.values[:, : longest + 1], 0.0),
        "actions": np.where(acted, buffers.actions[:, :longest], 0),
        "rewards": np.where(acted, buffers.rewards[:, :longest], 0.0),
        "steps": steps,
        "restarting": buffers.restarting.copy(),
        "episodes": buffers.episodes.copy(),
    }


def snapshot_loop(
    buffers: linear.VectorBuffers,
    actions: np.ndarray,
    noise: NoiseStream,
    envs: gym.vector.VectorEnv,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, JSON) of the loop's state (`common.LoopState`): the episodes in flight,
    every run's next action, the vector env's snapshot (none where it has no snapshot),
    and the noise stream's position."""
    arrays = with_prefix(episodes_in_flight(buffers), "episode_")
    arrays["next_actions"] = actions.copy()
    env_state = vector_env_snapshot(envs)
    if env_state is not None:
        arrays.update(with_prefix(env_state, ENV_PREFIX))
    return arrays, {"noise": noise.get_state()}


def snapshot_part(state: dict[str, Any], prefix: str) -> dict[str, np.ndarray]:
    """The arrays of a snapshot whose keys start with `prefix`, the prefix removed."""
    return under_prefix(state.get("arrays") or {}, prefix)


def restore_loop(
    state: dict[str, Any],
    buffers: linear.VectorBuffers,
    actions: np.ndarray,
    noise: NoiseStream,
) -> None:
    """Put back what `snapshot_loop` took (but the vector env): the episodes in flight, the
    next actions and the noise stream; ValueError if `state` is not of runs like these."""
    saved, extra = snapshot_part(state, "episode_"), state.get("extra") or {}
    next_actions = (state.get("arrays") or {}).get("next_actions")
    names = ("indices", "values", "actions", "rewards", "steps", "restarting", "episodes")
    if "noise" not in extra or next_actions is None or set(names) - set(saved):
        raise ValueError(
            "`resume` must be a snapshot of a `runs_in_vector_env` run (episodes in flight, "
            f"next actions, noise); got one with arrays {sorted(state.get('arrays') or {})}"
        )
    n_runs, cap_states, width = buffers.indices.shape
    rows = saved["indices"].shape[1] if saved["indices"].ndim == 3 else 0
    expected = (n_runs, rows, width)
    if saved["indices"].shape != expected or not 1 <= rows <= cap_states:
        raise ValueError(
            f"`resume` holds episodes in flight of shape {saved['indices'].shape}; these runs "
            f"take [{n_runs}, ≤ {cap_states}, {width}] (runs, step cap + 1, features)"
        )
    buffers.indices[:, :rows] = saved["indices"]
    buffers.values[:, :rows] = saved["values"]
    buffers.actions[:, : rows - 1] = saved["actions"]
    buffers.rewards[:, : rows - 1] = saved["rewards"]
    for name in ("steps", "restarting", "episodes"):
        getattr(buffers, name)[:] = saved[name]
    actions[:] = next_actions
    noise.set_state(extra["noise"])


def run_inputs(policy: MatrixSoftmaxPolicy, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x(S) of every run as (indices, values) [R, m]; raw observations are read as they are."""
    features = policy.state_features
    if type(features) is RawState:
        return _every_feature(*obs.shape), obs
    return linear.state_inputs(features, obs)


@functools.cache
def _every_feature(n_runs: int, n_features: int) -> np.ndarray:
    return np.broadcast_to(np.arange(n_features), (n_runs, n_features))
