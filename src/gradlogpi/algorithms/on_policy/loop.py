"""The one on-policy loop: collect with π_θ, improve θ (and the critic), repeat.

batch_pg, A2C, PPO and TRPO differ only in their `improve`; collection (steps, whole
episodes, Ray workers), the divergence guard, progress, checkpoints and resume are here,
once:

    Loop for each update u:
        batch ← collector.collect(π_θ, u)         (the episodes that ended are recorded)
        statistics ← improve(π, v̂, batch, state)  (θ put back if it became non-finite)
        report the update (progress, evaluation, checkpoint)

A checkpoint holds everything that decides what happens next: θ and the optimiser,
the critic and its optimiser, the loop's random stream, the statistics, and the
collector's state including the environments' snapshot. A resumed run continues bit
for bit; where an environment cannot be snapshotted its episodes in flight restart
(and the resumed run says so).
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import (
    EpisodeEnd,
    EpisodeRecord,
    Inputs,
    RunResult,
    StopTraining,
    capture_state,
    check_policy_fits_env,
    one_run,
    restore_state,
    step_size,
    update_kept_finite,
)
from gradlogpi.algorithms.on_policy.config import CollectionConfig
from gradlogpi.core.named_arrays import under_prefix, with_prefix
from gradlogpi.core.threads import one_blas_thread
from gradlogpi.features.normalization import ObservationNormalizer, RewardScaler
from gradlogpi.policies import Policy, ValueFunction
from gradlogpi.policies.normalized import ObservationNormalizedPolicy
from gradlogpi.rollouts.collectors import Collector, EpisodeCollector, RayStepCollector
from gradlogpi.rollouts.episodes import make_env
from gradlogpi.rollouts.vector import FragmentBatch, Shaping, StepCollector, make_vector_env

C = TypeVar("C", bound=CollectionConfig)


@dataclass
class UpdateState(Generic[C]):
    """What an improver knows of the update besides the batch."""

    update: int
    """Index of the update, from 0."""
    fraction: float
    """The schedule's factor for this update (1 when constant)."""
    config: C
    """The algorithm's settings."""
    random: np.random.Generator
    """The run's stream for improvers that draw (PPO's minibatch shuffles); checkpointed."""


Improve = Callable[
    [Policy, ValueFunction | None, FragmentBatch, UpdateState[Any]], dict[str, float]
]
"""improve(policy, critic, batch, state) -> statistics: change θ (and the critic) in place
from one update's batch; return what is worth logging about it (floats by name)."""


def vector_env_id(env: str | gym.Env) -> str:
    """The registered id vector envs are made from: `env` itself, or the id of its spec."""
    if isinstance(env, str):
        return env
    if isinstance(env, gym.Env) and env.spec is not None:
        return env.spec.id
    raise TypeError(
        "`env` must be a registered Gymnasium id or an environment made by gymnasium.make "
        f"(on-policy algorithms make vector envs from the id); got {type(env).__name__}"
    )


def make_collector(
    env_id: str, config: CollectionConfig, policy: Policy, seed: int | None
) -> Collector:
    """The collector `config.collection` names."""
    if config.collection == "episodes":
        return EpisodeCollector(env_id, config, policy, seed)
    if config.collection == "ray":
        return RayStepCollector(env_id, config, policy, seed)
    envs = make_vector_env(
        env_id,
        config.num_envs,
        config.vectorization_mode,
        config.max_episode_steps,
        autoreset=True,
        seed=seed,
    )
    normalizer = scaler = None
    if config.normalize_observations:
        shape = tuple(envs.single_observation_space.shape or ())
        normalizer = ObservationNormalizer(shape, config.normalization_clip)
    if config.normalize_rewards:
        scaler = RewardScaler(config.num_envs, config.gamma, config.normalization_clip)
    return StepCollector(
        envs,
        seed,
        config.steps_per_env,
        env_id,
        shaping=Shaping(normalizer, scaler, config.clip_actions),
    )


def acting(policy: Policy, collector: Collector) -> Policy:
    """The policy as it acts outside the loop: on normalised observations with the
    collector's statistics as they are now (frozen), when the run normalises them."""
    normalizer = collector.normalizer
    if normalizer is None:
        return policy
    return cast(Policy, ObservationNormalizedPolicy(policy, normalizer))


def train_on_policy(
    name: str, improve: Improve, inputs: Inputs, *, needs_critic: bool
) -> RunResult:
    """Learn one run of `name` (the policy and critic given are copied, not modified).

    Args:
      name: the algorithm's name, for messages.
      improve: the algorithm's update (`Improve`).
      inputs: the algorithm's arguments (env, policy, config, value, seed, runs, callback,
        resume).
      needs_critic: whether `value` must be given.
    """
    with one_blas_thread():  # small matrices: more BLAS threads only add synchronisation
        return _train_on_policy(name, improve, inputs, needs_critic)


def _train_on_policy(name: str, improve: Improve, inputs: Inputs, needs_critic: bool) -> RunResult:
    env, policy, config, value = inputs.env, inputs.policy, inputs.config, inputs.value
    seed, runs, callback, resume = inputs.seed, inputs.runs, inputs.callback, inputs.resume
    one_run(name, runs)
    if needs_critic and value is None:
        raise ValueError(
            f"`value` must be a critic for {name} (e.g. LinearValue(RawState(k))); got None"
        )
    env_id = vector_env_id(env)
    probe = make_env(env_id)
    cap = config.max_episode_steps or (probe.spec.max_episode_steps if probe.spec else None)
    check_policy_fits_env(policy, probe)
    probe.close()
    if cap is None and config.collection == "episodes":
        raise ValueError(
            f"`max_episode_steps` must be given for {env_id} (no registered cap); got None"
        )
    policy, value = copy.deepcopy(policy), copy.deepcopy(value)
    random = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    record = EpisodeRecord()
    collector = make_collector(env_id, config, policy, seed)
    try:
        first_update = 0
        if resume is not None:
            first_update = restore_state(resume, policy, value, None, record)
            restore_loop_state(resume, value, random, collector)
            if collector.restarted:
                warnings.warn(
                    f"{env_id} cannot be snapshotted: the episodes in flight at update "
                    f"{first_update} restart",
                    stacklevel=2,
                )
        snapshot: Snapshot | None = None
        for update in range(first_update, config.n_updates):
            batch, finished = collector.collect(policy, update)
            record.add(finished.returns, finished.lengths, finished.truncated)
            state = UpdateState(
                update, step_size(1.0, config.schedule, update, config.n_updates), config, random
            )
            statistics: dict[str, float] = {}
            step = functools.partial(
                _improve_into, statistics, improve, policy, value, batch, state
            )
            if not update_kept_finite(policy, step):
                record.diverged_at = update
                break
            if callback is not None:
                snapshot = Snapshot(update, policy, value, record, random, collector)
                end = EpisodeEnd(
                    update,
                    finished.returns,
                    finished.lengths,
                    finished.truncated,
                    acting(policy, collector),
                    snapshot,
                    statistics=statistics,
                )
                try:
                    callback(end)
                except StopTraining:
                    break
        if snapshot is not None:
            snapshot()  # taken now: the final checkpoint asks after the envs are closed
    finally:
        collector.close()
    result = record.result(policy, value, seed, config)
    if collector.normalizer is not None:
        result.extra["observation_normalizers"] = [collector.normalizer.frozen()]
    return result


def _improve_into(
    statistics: dict[str, float],
    improve: Improve,
    policy: Policy,
    value: ValueFunction | None,
    batch: FragmentBatch,
    state: UpdateState[C],
) -> None:
    statistics.update(improve(policy, value, batch, state))


class Snapshot:
    """() -> the state after `update`, taken when first asked (a checkpoint is due) and
    kept: the loop takes the last one before it closes the collector."""

    def __init__(
        self,
        update: int,
        policy: Policy,
        value: ValueFunction | None,
        record: EpisodeRecord,
        random: np.random.Generator,
        collector: Collector,
    ):
        self.sources = (update, policy, value, record, random, collector)
        self.taken: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any]:
        if self.taken is None:
            update, policy, value, record, random, collector = self.sources
            state = capture_state(update, policy, value, None, record)
            arrays = with_prefix(collector.get_state(), "collector_")
            extra: dict[str, Any] = {"random": random.bit_generator.state}
            if value is not None:
                critic_arrays, extra["critic"] = value.training_state()
                arrays.update(with_prefix(critic_arrays, "critic_"))
            state["arrays"], state["extra"] = arrays, extra
            self.taken = state
        return self.taken


def restore_loop_state(
    state: dict[str, Any],
    value: ValueFunction | None,
    random: np.random.Generator,
    collector: Collector,
) -> None:
    """Put back what `Snapshot` added to `capture_state`'s state."""
    arrays, extra = state.get("arrays", {}), state.get("extra") or {}
    if "random" in extra:
        random.bit_generator.state = extra["random"]
    collector.set_state(under_prefix(arrays, "collector_"))
    if value is not None and "critic" in extra:
        value.load_training_state(
            under_prefix(arrays, "critic_"),
            extra["critic"],
        )
