"""Running R independent copies of an environment in lockstep, one episode at a time.

Every run has its own random streams, spawned from one seed with `SeedSequence.spawn`:
run k draws the same numbers whether it is learned alone or among R runs. Shipped
environments are stepped as arrays (`batch_model`); any other Gymnasium environment is
copied R times and stepped one copy at a time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from gradlogpi.core._checks import check_positive_int
from gradlogpi.errors import NonFiniteError


def make_env(env: str | gym.Env) -> gym.Env:
    """A Gymnasium environment from an id (shipped ids register on import) or as given."""
    if isinstance(env, str):
        import gradlogpi.envs  # noqa: F401  (registers the shipped environments)

        return gym.make(env)
    if not isinstance(env, gym.Env):
        raise TypeError(f"`env` must be a Gymnasium id or gymnasium.Env; got {type(env).__name__}")
    return env


def run_indices(runs: Any) -> tuple[list[int], bool]:
    """(run ids, whether a single run without a run axis was asked for) from `runs`.

    `runs` is None (one run, id 0, results without a run axis), an int R (runs 0 … R − 1),
    or a sequence of run ids (e.g. range(3, 4) learns run 3 alone, identical to run 3 of
    a larger batch).
    """
    if runs is None:
        return [0], True
    if isinstance(runs, (int, np.integer)) and not isinstance(runs, bool):
        return list(range(check_positive_int("runs", runs))), False
    try:
        ids = [int(k) for k in runs]
    except TypeError:
        raise TypeError(
            f"`runs` must be None, an int or a sequence of run ids; got {runs!r}"
        ) from None
    if not ids or min(ids) < 0 or len(set(ids)) != len(ids):
        raise ValueError(f"`runs` must be distinct run ids >= 0; got {ids}")
    return ids, False


def env_name(env: gym.Env) -> str:
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__


class RunStreams:
    """Random streams of the given runs of one experiment seed.

    Run k's streams come from `SeedSequence(seed).spawn(k + 1)[k]`, whatever other runs are
    learned beside it. Each run gets a Generator for its actions and an integer seed for
    its environment. Action uniforms are drawn in blocks per run, so a step costs no Python
    call per run.

    Args:
      seed: the experiment's seed (an int, or None for fresh entropy).
      run_ids: indices of the runs, e.g. range(R).
      block: uniforms drawn at a time per run.
    """

    def __init__(self, seed: int | None, run_ids: Any, *, block: int = 512):
        self.run_ids = np.asarray(list(run_ids), dtype=np.int64)
        if self.run_ids.size == 0 or self.run_ids.min() < 0:
            raise ValueError(f"`runs` must name at least one run index >= 0; got {list(run_ids)}")
        n_runs = self.run_ids.size
        spawned = np.random.SeedSequence(seed).spawn(int(self.run_ids.max()) + 1)
        children = [spawned[k] for k in self.run_ids]
        pairs = [child.spawn(2) for child in children]
        self.action_generators = [np.random.default_rng(policy) for policy, _ in pairs]
        self.env_seeds = [int(env.generate_state(1)[0]) for _, env in pairs]
        self.block = block
        self.uniforms = np.stack([g.random(block) for g in self.action_generators])
        self.position = np.zeros(n_runs, dtype=np.int64)

    def draw(self, active: np.ndarray, size: int = 1) -> np.ndarray:
        """`size` uniforms per run, shape [R, size]; only active runs advance their stream."""
        for run in np.flatnonzero(active & (self.position + size > self.block)):
            # keep the unread tail so the stream is the generator's sequence, unbroken
            tail = self.uniforms[run, self.position[run] :]
            fresh = self.action_generators[run].random(self.block - tail.size)
            self.uniforms[run] = np.concatenate([tail, fresh])
            self.position[run] = 0
        columns = np.minimum(self.position[:, None] + np.arange(size), self.block - 1)
        values = self.uniforms[np.arange(len(self.position))[:, None], columns]
        self.position += active * size
        return values

    def state(self) -> dict[str, Any]:
        """Everything needed to continue the streams exactly (for checkpoints)."""
        return {
            "generators": [g.bit_generator.state for g in self.action_generators],
            "uniforms": self.uniforms.copy(),
            "position": self.position.copy(),
        }


class Runs:
    """R lockstep copies of one environment with a step cap.

    `step(actions, active)` advances only the active runs; the others keep their state and
    observation, so arrays stay rectangular.
    """

    def __init__(self, env: gym.Env, streams: RunStreams, max_episode_steps: int | None):
        self.env = env
        self.name = env_name(env)
        self.n_runs = len(streams.env_seeds)
        self.streams = streams
        cap = max_episode_steps
        if cap is None and env.spec is not None:
            cap = env.spec.max_episode_steps
        if cap is None:
            raise ValueError(
                f"`max_episode_steps` must be given for {self.name}, which has no registered step "
                "cap (an episode that never ends would hang); got None"
            )
        self.max_episode_steps = check_positive_int("max_episode_steps", cap)
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        unwrapped = env.unwrapped
        self.model = unwrapped.batch_model() if hasattr(unwrapped, "batch_model") else None
        self.copies: list[gym.Env] = []
        if self.model is None:
            self.copies = [env] + [_copy_env(env) for _ in range(self.n_runs - 1)]
        self.episodes_started = 0
        self.run_index = np.arange(self.n_runs)

    def reset(self) -> np.ndarray:
        """Start a new episode in every run; observations [R, *obs_shape]."""
        first = self.episodes_started == 0
        self.episodes_started += 1
        self.steps = np.zeros(self.n_runs, dtype=np.int64)
        if self.model is not None:
            if first:
                self.model_rngs = [np.random.default_rng(s) for s in self.streams.env_seeds]
            self.states = self.model.reset(self.model_rngs)
            self.obs = self.model.observe(self.states)
        else:
            observations = []
            for run, env in enumerate(self.copies):
                obs, _ = env.reset(seed=self.streams.env_seeds[run] if first else None)
                observations.append(obs)
            self.obs = np.stack([np.asarray(o) for o in observations])
        self._check_finite(self.obs, "observation", np.ones(self.n_runs, bool))
        return self.obs

    def step(self, actions: np.ndarray, active: np.ndarray):
        """(obs [R, ...], rewards [R], terminated [R], truncated [R]) after one step."""
        rewards = np.zeros(self.n_runs)
        terminated = np.zeros(self.n_runs, dtype=bool)
        truncated = np.zeros(self.n_runs, dtype=bool)
        if self.model is not None:
            next_states, step_rewards, step_terminated = self.model.step(self.states, actions)
            self.states = np.where(_expand(active, next_states), next_states, self.states)
            self.obs = self.model.observe(self.states)
            rewards = np.where(active, step_rewards, 0.0)
            terminated = step_terminated & active
        else:
            obs = self.obs.copy()
            for run in np.flatnonzero(active):
                observation, reward, done, cut, _ = self.copies[run].step(actions[run])
                obs[run], rewards[run], terminated[run], truncated[run] = (
                    observation,
                    reward,
                    done,
                    cut,
                )
            self.obs = obs
        self.steps += active
        truncated |= active & ~terminated & (self.steps >= self.max_episode_steps)
        self._check_finite(rewards, "reward", active)
        self._check_finite(self.obs, "observation", active)
        return self.obs, rewards, terminated, truncated

    def _check_finite(self, values: np.ndarray, field: str, active: np.ndarray) -> None:
        if values.dtype.kind != "f" or np.isfinite(values).all():
            return
        bad = ~np.isfinite(values.reshape(self.n_runs, -1)).all(axis=1) & active
        if bad.any():
            run = int(np.flatnonzero(bad)[0])
            raise NonFiniteError(
                f"non-finite {field} from environment {self.name}: run {run}, episode "
                f"{self.episodes_started - 1}, step {int(self.steps[run])}, value {values[run]!r}"
            )

    def close(self) -> None:
        for env in self.copies[1:]:
            env.close()


def _copy_env(env: gym.Env) -> gym.Env:
    if env.spec is not None:
        return gym.make(env.spec)
    return copy.deepcopy(env)


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


@dataclass
class EpisodeBatch:
    """One episode of each of R runs, padded to the longest: arrays [R, T, ...].

    Steps past a run's end repeat its last observation and have reward 0 and mask False.
    """

    observations: np.ndarray  # [R, T + 1, *obs_shape]: S_0 … S_T
    actions: np.ndarray  # [R, T]: A_0 … A_{T−1}
    rewards: np.ndarray  # [R, T]: R_1 … R_T
    lengths: np.ndarray  # [R]
    terminated: np.ndarray  # [R] bool
    truncated: np.ndarray  # [R] bool

    @property
    def mask(self) -> np.ndarray:
        return np.arange(self.actions.shape[1]) < self.lengths[:, None]


def generate_episode(runs: Runs, policy: Any) -> EpisodeBatch:
    """Follow π(·|·, θ) from the start state to the end of the episode in every run.

    θ stays fixed during the episode (Monte Carlo methods update after it).
    """
    observations = [runs.reset()]
    actions, rewards = [], []
    active = np.ones(runs.n_runs, dtype=bool)
    lengths = np.zeros(runs.n_runs, dtype=np.int64)
    terminated = np.zeros(runs.n_runs, dtype=bool)
    truncated = np.zeros(runs.n_runs, dtype=bool)
    while active.any():
        a = policy.sample_from_uniforms(
            observations[-1], runs.streams.draw(active, policy.noise_size)
        )
        obs, r, done, cut = runs.step(a, active)
        observations.append(obs)
        actions.append(a)
        rewards.append(r)
        lengths += active
        terminated |= done
        truncated |= cut
        active &= ~(done | cut)
    return EpisodeBatch(
        np.stack(observations, axis=1),
        np.stack(actions, axis=1),
        np.stack(rewards, axis=1),
        lengths,
        terminated,
        truncated,
    )


def evaluate_policy(
    env: str | gym.Env, policy: Any, episodes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(returns [episodes], truncated [episodes]) of fresh episodes with a fixed policy.

    Linear policies play all episodes at once as lockstep runs; others one after another.
    """
    from gradlogpi.algorithms.common import per_run_copy

    env = make_env(env)
    if hasattr(policy, "theta"):
        copies = per_run_copy(policy, episodes, "theta")
        batch = generate_episode(Runs(env, RunStreams(seed, range(episodes)), None), copies)
        return batch.rewards.sum(axis=1), batch.truncated
    runs = Runs(env, RunStreams(seed, [0]), None)
    outcomes = [generate_episode(runs, policy) for _ in range(episodes)]
    return np.array([o.rewards.sum() for o in outcomes]), np.array(
        [bool(o.truncated[0]) for o in outcomes]
    )
