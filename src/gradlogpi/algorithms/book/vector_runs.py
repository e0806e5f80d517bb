"""Many REINFORCE runs at once through a Gymnasium task's native vector implementation.

`reinforce(..., runs=R)` with `ReinforceConfig(runs_in_vector_env=True)` steps all R runs
with one call per step of the task's array dynamics (e.g. Gymnasium's `CartPoleVectorEnv`,
`vectorization_mode="vector_entry_point"`), instead of R environment objects one after
another. Each run keeps its own θ and learns when its own episode ends; no run waits for
another (a run that has finished its episodes idles while the others go on).

Reproducibility: the same seed and R give the same numbers. Run k alone is *not* run k
among others: the vector environment has one random stream for all its sub-environments
(every autoreset draws from it) and the action noise of all runs is drawn in one array,
so what run k sees depends on when the other runs' episodes end. Use the default
(`runs_in_vector_env=False`) where run k must be the same whatever runs beside it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, cast

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import Lockstep, step_size
from gradlogpi.algorithms.compiled import linear
from gradlogpi.core.softmax import gumbel_noise
from gradlogpi.errors import ConfigError
from gradlogpi.features import RawState
from gradlogpi.policies import MatrixSoftmaxPolicy


def refuse_resume(resume: Any) -> None:
    """Runs in a vector env cannot be resumed: the vector env's state is not saved."""
    if resume is not None:
        raise ConfigError(
            "`runs_in_vector_env` runs cannot be resumed: the vector environment's state is "
            "not saved; got `resume`"
        )


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
    return gym.make_vec(
        spec.id,
        num_envs=runs.n_runs,
        vectorization_mode="vector_entry_point",
        max_episode_steps=runs.max_episode_steps,
    )


def learn_reinforce(lockstep: Lockstep, config: Any, envs: gym.vector.VectorEnv) -> None:
    """REINFORCE in every run until each has learned from `config.n_episodes` episodes.

    Per vector step: step all runs at once, then append each run's step to its own
    episode, let the runs whose episode ended learn from it (the summed or the book's
    per-step update, `ReinforceConfig.batch_update`) and pick every run's next action
    with its θ_k: one compiled call (`compiled.linear.vector_kernel`) after the env's step.
    """
    policy = cast(MatrixSoftmaxPolicy, lockstep.policy)  # check_vector_runs made sure
    tracker, n_runs = lockstep.tracker, lockstep.runs.n_runs
    cap = lockstep.runs.max_episode_steps
    record = linear.vector_kernel()
    seeds = np.random.SeedSequence(lockstep.seed).spawn(2)
    rng = np.random.default_rng(seeds[0])
    obs, _ = envs.reset(seed=int(seeds[1].generate_state(1)[0]))
    indices, values = run_inputs(policy, obs)
    width = indices.shape[-1]
    buffers = linear.VectorBuffers(
        np.zeros((n_runs, cap + 1, width), dtype=np.int64),
        np.zeros((n_runs, cap + 1, width)),
        np.zeros((n_runs, cap), dtype=np.int64),
        np.zeros((n_runs, cap)),
        np.zeros(n_runs, dtype=np.int64),
        np.ones(n_runs, dtype=bool),  # the reset's observations go in as the first step
        np.zeros(n_runs, dtype=np.int64),
    )
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
    actions = np.zeros(n_runs, dtype=np.int64)
    chunk = 64

    def noise_blocks() -> Iterator[np.ndarray]:  # Gumbel noise [R, A] of each step in turn
        while True:
            yield from gumbel_noise(rng.random((chunk, n_runs, policy.n_actions)))

    noise = noise_blocks()
    no_step = (actions, np.zeros(n_runs), *np.zeros((2, n_runs), bool))
    record(matrices, buffers, settings, log, no_step, (indices, values), next(noise), actions)
    reported = 0
    while reported < config.n_episodes:
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        outcome = (actions, rewards, terminated, truncated)
        states = run_inputs(policy, obs)
        if record(matrices, buffers, settings, log, outcome, states, next(noise), actions):
            finished = int(buffers.episodes.min())
            if finished > reported:
                stop = lockstep.report(finished - 1, units=finished - reported)
                reported = finished
                if stop:
                    break
    envs.close()


def run_inputs(policy: MatrixSoftmaxPolicy, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x(S) of every run as (indices, values) [R, m]; raw observations are read as they are."""
    features = policy.state_features
    if type(features) is RawState:
        return _every_feature(*obs.shape), obs
    return linear.state_inputs(features, obs)


@functools.cache
def _every_feature(n_runs: int, n_features: int) -> np.ndarray:
    return np.broadcast_to(np.arange(n_features), (n_runs, n_features))
