"""Rollout workers for batch policy gradient: local (one vector env) or Ray actors.

A worker holds its sub-environments and a copy of the policy. Each update the learner
sends the flat parameters once (`ray.put`), every worker collects its share of the batch,
and the episodes come back in worker order. Episode seeds are keyed by the global
sub-environment index, so the batch is the same for any number of workers.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np

from gradlogpi.errors import MissingExtraError
from gradlogpi.policies.contract import Policy
from gradlogpi.rollouts.vector import (
    Episode,
    EpisodeSeeds,
    collect_episodes,
    make_vector_env,
)


def episode_cap(env_id: str, envs: Any) -> int:
    """The step cap registered for `env_id`'s vector env, else for one env made from the
    id (an entry point that returns a wrapped, capped env registers no cap of its own, but
    the env it makes reports its inner one); ValueError if neither has one."""
    cap = envs.spec.max_episode_steps if envs.spec is not None else None
    if cap is None:
        probe = gym.make(env_id)
        cap = probe.spec.max_episode_steps if probe.spec is not None else None
        probe.close()
    if cap is None:
        raise ValueError(
            f"`max_episode_steps` must be given for {env_id} (no registered cap); got None"
        )
    return int(cap)


class RolloutWorker:
    """Sub-environments first_env … first_env + num_envs − 1 and a policy copy.

    Args:
      env_id: Gymnasium id.
      num_envs: sub-environments this worker steps.
      first_env: global index of its first sub-environment.
      mode: "sync" or "async" vectorisation.
      max_episode_steps: step cap (None: the registered one).
      policy: a policy to copy (its parameters are replaced every update).
      seed: the experiment seed.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        first_env: int,
        mode: str,
        max_episode_steps: int | None,
        policy: Policy,
        seed: int | None,
    ):
        self.envs = make_vector_env(env_id, num_envs, mode, max_episode_steps)
        self.cap = max_episode_steps or episode_cap(env_id, self.envs)
        self.first_env = first_env
        self.policy = copy.deepcopy(policy)
        self.seeds = EpisodeSeeds(seed)
        self.env_id = env_id

    def collect(self, parameters: np.ndarray, update: int, n_episodes: int) -> list[Episode]:
        """This worker's episodes of `update` with θ = `parameters`."""
        self.policy.set_flat(parameters)
        return collect_episodes(
            self.envs,
            self.policy,
            n_episodes,
            self.seeds,
            update,
            self.cap,
            self.env_id,
            self.first_env,
        )

    def close(self) -> None:
        self.envs.close()


class RolloutPool:
    """`workers` rollout workers splitting `num_envs` sub-environments; local or on Ray."""

    def __init__(
        self, env_id: str, config: Any, policy: Policy, seed: int | None, address: str | None = None
    ):
        workers = config.rollout_workers
        per_worker = config.num_envs // workers
        self.backend = config.rollout_backend
        self.per_worker = per_worker
        arguments = [
            (
                env_id,
                per_worker,
                j * per_worker,
                config.vectorization_mode,
                config.max_episode_steps,
                policy,
                seed,
            )
            for j in range(workers)
        ]
        if self.backend == "ray":
            ray = require_ray()
            if not ray.is_initialized():
                ray.init(
                    address=checked_ray_address("hyperparameters.ray_address", address),
                    include_dashboard=False,
                    ignore_reinit_error=True,
                    log_to_driver=False,
                )
            actor = ray.remote(RolloutWorker)
            self.workers = [actor.remote(*args) for args in arguments]
        else:
            self.workers = [RolloutWorker(*args) for args in arguments]

    def collect(self, parameters: np.ndarray, update: int, quota: int) -> list[Episode]:
        """Every worker's `quota` episodes per sub-environment, concatenated in worker order."""
        n_episodes = quota * self.per_worker
        if self.backend == "ray":
            ray = require_ray()
            shared = ray.put(parameters)  # sent once, read by every worker
            batches = ray.get([w.collect.remote(shared, update, n_episodes) for w in self.workers])
        else:
            batches = [w.collect(parameters, update, n_episodes) for w in self.workers]
        return [episode for batch in batches for episode in batch]

    def close(self) -> None:
        if self.backend == "ray":
            ray = require_ray()
            for worker in self.workers:
                ray.kill(worker)
        else:
            for worker in self.workers:
                worker.close()


def checked_ray_address(argument: str, address: str | None) -> str | None:
    """`address` (or RAY_ADDRESS where it is None) if something answers there, else ConfigError.

    Ray retries an address where nothing listens for minutes before it fails; a cluster
    address HOST:PORT (or ray://HOST:PORT) is tried here first with a 5-second TCP connect.
    None, 'auto' and 'local' are Ray's own and passed on unchecked.
    """
    import os
    import socket

    from gradlogpi.errors import ConfigError

    given = address if address is not None else os.environ.get("RAY_ADDRESS")
    if given is None or given.strip() in ("", "auto", "local"):
        return address
    where = argument if address is not None else "RAY_ADDRESS"
    host, _, port = given.strip().removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"`{where}` = {given!r}: expected a Ray cluster address HOST:PORT (or "
            "ray://HOST:PORT, auto, local)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError, OverflowError) as error:
        raise ConfigError(
            f"`{where}` = {given!r}: no Ray cluster answers there ({error}); start one with "
            "`ray start --head` or leave the address out for a local Ray"
        ) from None
    return address


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError('the Ray backend needs Ray: pip install "gradlogpi[ray]"') from None
    return ray
