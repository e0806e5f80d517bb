"""Collectors: where the on-policy loop gets each update's experience, behind one signature.

    collect(policy, update) -> (FragmentBatch, FinishedEpisodes)

- `StepCollector` (rollouts.vector): every sub-environment of a vector env takes
  `steps_per_env` steps per update and runs on across updates (A2C/PPO-style).
- `EpisodeCollector`: whole episodes, each with its own seeds, on local or Ray rollout
  workers (batch REINFORCE/GPOMDP-style), laid out as a batch of one column per episode.
- `RayStepCollector`: step collection with the sub-environments split over Ray actors;
  θ goes out once per update, the batch is the one local step collection gives.

Every collector can give and take its state as arrays (`get_state`/`set_state`), so a
run that uses it resumes where it was killed.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gradlogpi.core.named_arrays import under_prefix, with_prefix
from gradlogpi.features.normalization import ObservationNormalizer
from gradlogpi.policies.contract import Policy
from gradlogpi.rollouts.distributed import RolloutPool, checked_ray_address, require_ray
from gradlogpi.rollouts.vector import (
    FinishedEpisodes,
    FragmentBatch,
    FragmentSplitter,
    StepCollector,
    Steps,
    make_vector_env,
)


@runtime_checkable
class Collector(Protocol):
    """What the on-policy loop asks of a source of experience."""

    def collect(self, policy: Policy, update: int) -> tuple[FragmentBatch, FinishedEpisodes]:
        """One update's steps taken with `policy`, and the episodes that ended in it."""

    def get_state(self) -> dict[str, np.ndarray]:
        """Arrays from which `set_state` continues exactly (empty: nothing carried over)."""

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from `get_state`'s arrays."""

    def close(self) -> None:
        """Release the environments (and workers)."""

    @property
    def restarted(self) -> bool:
        """`set_state` found no environment snapshot: the episodes in flight restarted."""

    @property
    def normalizer(self) -> ObservationNormalizer | None:
        """The running observation statistics the policy sees through (None: raw)."""


class EpisodeCollector:
    """`episodes_per_update` whole episodes per update (rounded up to a multiple of
    num_envs), each seeded by (seed, update, env, episode), from a `RolloutPool`.

    Nothing carries over between updates, so its state is empty."""

    def __init__(self, env_id: str, config: Any, policy: Policy, seed: int | None):
        self.pool = RolloutPool(env_id, config, policy, seed, config.ray_address)
        self.quota = -(-config.episodes_per_update // config.num_envs)
        self.restarted = False  # every update starts its own episodes: nothing in flight
        self.normalizer = None  # whole episodes are collected unnormalised

    def collect(self, policy: Policy, update: int) -> tuple[FragmentBatch, FinishedEpisodes]:
        episodes = self.pool.collect(policy.get_flat(), update, self.quota)
        finished = FinishedEpisodes(
            np.array([float(e.rewards.sum()) for e in episodes]),
            np.array([e.length for e in episodes]),
            np.array([e.truncated for e in episodes]),
        )
        return FragmentBatch.from_episodes(episodes), finished

    def get_state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def close(self) -> None:
        self.pool.close()


class StepWorker:
    """Sub-environments first_env … first_env + num_envs − 1 of total_envs, stepped by a
    copy of the policy whose θ is replaced every update (a Ray actor's body)."""

    def __init__(self, env_id: str, config: Any, policy: Policy, seed: int | None, first_env: int):
        per_worker = config.num_envs // config.rollout_workers
        envs = make_vector_env(
            env_id,
            per_worker,
            config.vectorization_mode,
            config.max_episode_steps,
            autoreset=True,
            seed=seed,
        )
        self.collector = StepCollector(
            envs,
            seed,
            config.steps_per_env,
            env_id,
            first_env=first_env,
            total_envs=config.num_envs,
        )
        self.policy = copy.deepcopy(policy)

    def step(self, parameters: np.ndarray, update: int) -> Steps:
        self.policy.set_flat(parameters)
        return self.collector.step(self.policy, update)

    def get_state(self) -> dict[str, np.ndarray]:
        return self.collector.get_state()

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.collector.set_state(state)

    def restarted(self) -> bool:
        return self.collector.restarted

    def close(self) -> None:
        self.collector.close()


class RayStepCollector:
    """Step collection on `rollout_workers` Ray actors, `num_envs / rollout_workers`
    sub-environments each; the learner cuts the steps into fragments.

    Sub-environment k gets the seed and noise it would get in one local `StepCollector`,
    whichever worker steps it, so the batch equals local collection's. `RAY_ADDRESS` (or
    `ray_address`) joins an existing cluster; otherwise Ray starts on this machine.
    """

    def __init__(self, env_id: str, config: Any, policy: Policy, seed: int | None):
        ray = require_ray()
        if not ray.is_initialized():
            ray.init(
                address=checked_ray_address("hyperparameters.ray_address", config.ray_address),
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=False,
            )
        per_worker = config.num_envs // config.rollout_workers
        actor = ray.remote(StepWorker)
        self.workers = [
            actor.remote(env_id, config, policy, seed, j * per_worker)
            for j in range(config.rollout_workers)
        ]
        self.splitter = FragmentSplitter(config.num_envs)
        self.per_worker = per_worker
        self.normalizer = None  # refused with Ray by the config: one set of statistics per run

    @property
    def restarted(self) -> bool:
        ray = require_ray()
        return any(ray.get([w.restarted.remote() for w in self.workers]))

    def collect(self, policy: Policy, update: int) -> tuple[FragmentBatch, FinishedEpisodes]:
        ray = require_ray()
        shared = ray.put(policy.get_flat())  # sent once, read by every worker
        parts = ray.get([w.step.remote(shared, update) for w in self.workers])
        return self.splitter.split(Steps.side_by_side(parts))

    def get_state(self) -> dict[str, np.ndarray]:
        ray = require_ray()
        state = with_prefix(self.splitter.get_state(), "splitter_")
        for j, part in enumerate(ray.get([w.get_state.remote() for w in self.workers])):
            state.update(with_prefix(part, f"worker{j}_"))
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        ray = require_ray()
        self.splitter.set_state(under_prefix(state, "splitter_"))
        calls = []
        for j, worker in enumerate(self.workers):
            calls.append(worker.set_state.remote(under_prefix(state, f"worker{j}_")))
        ray.get(calls)
        if self.restarted:
            self.splitter.forget_episodes()

    def close(self) -> None:
        ray = require_ray()
        for worker in self.workers:
            ray.kill(worker)
