"""Collecting whole episodes from a Gymnasium vector environment.

Each episode (env k, episode e) of an update has its own seeds, derived from the
experiment seed with `SeedSequence(seed, spawn_key=(update, k, e))`: the environment's
reset seed and the uniforms behind the actions. So the same seed gives the same episodes
with sync, async or one-at-a-time environments, whatever the other sub-environments do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gradlogpi.core import compilation
from gradlogpi.core._checks import check_positive_int
from gradlogpi.core.named_arrays import under_prefix, with_prefix
from gradlogpi.core.threads import worker_start_method
from gradlogpi.errors import ConfigError, GradlogpiError, NonFiniteError
from gradlogpi.features.normalization import ObservationNormalizer, RewardScaler
from gradlogpi.policies.contract import Policy, exploration_period
from gradlogpi.rollouts.episodes import checked_env_id, env_construction_error, unwrapped_step


@dataclass
class Episode:
    """One complete episode: observations S_0 … S_{T−1}, actions A_0 … A_{T−1}, rewards R_1 … R_T."""

    observations: np.ndarray  # [T, *obs_shape]
    actions: np.ndarray  # [T, *action_shape]
    rewards: np.ndarray  # [T]
    terminated: bool
    truncated: bool
    final_observation: np.ndarray | None = None
    """S_T, where the episode stopped (a critic bootstraps there when it was truncated)."""

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])


def make_vector_env(
    env_id: str,
    num_envs: int,
    mode: str = "sync",
    max_episode_steps: int | None = None,
    *,
    autoreset: bool = False,
    seed: int | None = None,
) -> Any:
    """`gymnasium.make_vec`, by default with autoreset disabled (episodes reset under our seeds).

    `autoreset=True` lets the sub-environments reset themselves, for step collection
    (`StepCollector`); `mode` may then also be "vector_entry_point": the environment's own
    vectorised implementation, e.g. Gymnasium's CartPole (stepped in one compiled call
    where Numba is: `COMPILED_TWINS`), where there is one (for Acrobot-v1, gradlogpi's:
    `NATIVE_TWINS`); or "envpool":
    EnvPool's C++ implementation of the task (extra `gradlogpi[envpool]`), whose random
    stream is fixed when it is made, from `seed`.
    """
    import gradlogpi.envs  # noqa: F401  (registers the shipped environments)

    modes = ("sync", "async", "vector_entry_point", "envpool") if autoreset else ("sync", "async")
    if mode not in modes:
        raise ValueError(f"`vectorization_mode` must be one of {modes}; got {mode!r}")
    if mode == "envpool":
        return make_envpool(env_id, num_envs, max_episode_steps, seed)
    kwargs: dict[str, Any] = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    vector_kwargs: dict[str, Any] = {}
    if not autoreset:
        vector_kwargs["autoreset_mode"] = AutoresetMode.DISABLED
    if mode == "async":
        vector_kwargs["context"] = worker_start_method()
    if vector_kwargs:
        kwargs["vector_kwargs"] = vector_kwargs
    env_id = checked_env_id(env_id)
    num_envs = check_positive_int("num_envs", num_envs)
    try:
        spec = native_twin_spec(env_id) if mode == "vector_entry_point" else None
        return gym.make_vec(spec or env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    except GradlogpiError:
        raise
    except Exception as error:  # an unknown id, or the environment's own constructor
        raise env_construction_error(env_id, {}, error) from None


NATIVE_TWINS = {"Acrobot-v1": "gradlogpi.envs.acrobot:AcrobotVectorEnv"}
"""Gymnasium ids without a vector entry point of their own, and gradlogpi's native vector
env for each: the sync vector env of the id stepped as arrays, bit for bit the same."""

COMPILED_TWINS = {
    "gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv": (
        "gradlogpi.envs.cartpole:CompiledCartPoleVectorEnv"
    )
}
"""Gymnasium's own vector entry points that gradlogpi steps in one compiled call where
Numba is installed (extra `gradlogpi[fast]`), bit for bit the same."""


def native_twin_spec(env_id: str) -> Any:
    """`env_id`'s spec with gradlogpi's native vector env as its vector entry point, where
    Gymnasium's has none and gradlogpi ships one (`NATIVE_TWINS`), or where gradlogpi
    compiles Gymnasium's (`COMPILED_TWINS`, with Numba); else None. A copy: Gymnasium's
    registry, and so `gym.make_vec`'s default mode, stays as it was."""
    import dataclasses

    if env_id not in gym.registry:
        return None
    spec = gym.spec(env_id)
    twin = NATIVE_TWINS.get(env_id) if spec.vector_entry_point is None else None
    if twin is None and spec.vector_entry_point in COMPILED_TWINS:
        twin = COMPILED_TWINS[spec.vector_entry_point] if compilation.available() else None
    if twin is None:
        return None
    return dataclasses.replace(spec, vector_entry_point=twin)


def make_envpool(
    env_id: str, num_envs: int, max_episode_steps: int | None, seed: int | None
) -> Any:
    """EnvPool's vector env of `env_id` (Gymnasium API, NEXT_STEP autoreset), or a ConfigError."""
    try:
        import envpool
    except ImportError:
        raise ConfigError(
            "`vectorization_mode` = 'envpool' needs EnvPool: pip install 'gradlogpi[envpool]' "
            "(wheels exist for Linux x86-64 and some Pythons only)"
        ) from None
    if env_id not in envpool.list_all_envs():
        raise ConfigError(
            f"`vectorization_mode` = 'envpool': EnvPool has no task {env_id!r} "
            "(envpool.list_all_envs() lists them)"
        )
    kwargs: dict[str, Any] = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    # EnvPool takes its one seed when it is made; derive it as StepCollector derives its own
    first_seed = int(np.random.SeedSequence(seed).generate_state(1)[0] % 2**31)
    # Any: typed or not (EnvPool's stubs do not declare the attribute set below)
    envs: Any = envpool.make_gymnasium(
        env_id, num_envs=check_positive_int("num_envs", num_envs), seed=first_seed, **kwargs
    )
    cast(Any, envs).seeded_when_made = True  # StepCollector then resets it without seeds
    return envs


class EpisodeSeeds:
    """Seeds of episode (update u, env k, episode e): a reset seed and a block of uniforms."""

    def __init__(self, seed: int | None):
        self.entropy = np.random.SeedSequence(seed).entropy

    def episode(
        self, update: int, env: int, episode: int, n_uniforms: int
    ) -> tuple[int, np.ndarray]:
        sequence = np.random.SeedSequence(self.entropy, spawn_key=(update, env, episode))
        env_seed, action_seed = sequence.spawn(2)
        uniforms = np.random.default_rng(action_seed).random(n_uniforms)
        return int(env_seed.generate_state(1)[0]), uniforms


def collect_episodes(
    envs: gym.vector.VectorEnv,
    policy: Policy,
    n_episodes: int,
    seeds: EpisodeSeeds,
    update: int,
    max_episode_steps: int,
    env_name: str = "vector env",
    first_env: int = 0,
) -> list[Episode]:
    """Run `policy` until every sub-environment has finished its share of `n_episodes`.

    Env k collects episodes (k, 0), (k, 1), … ⌈n_episodes / num_envs⌉ of them; the list
    comes back ordered by (k, e), independent of how the sub-environments are stepped.
    Sub-environments that have their share keep stepping (a vector env steps all of them)
    and what they do is ignored.

    Args:
      envs: a Gymnasium vector env; its autoreset mode is read from its metadata.
      policy: any gradlogpi policy (`sample_from_uniforms`, `noise_size`).
      n_episodes: episodes wanted (rounded up to a multiple of num_envs).
      seeds: the experiment's `EpisodeSeeds`.
      update: index of the update (part of every episode's seed).
      max_episode_steps: the step cap (and length of each episode's block of noise).
      first_env: global index of sub-env 0 (a rollout worker holding envs k0 … k0 + n − 1),
        so episode seeds do not depend on how envs are split over workers.
    """
    num_envs = envs.num_envs
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    mode = mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)
    quota = math.ceil(n_episodes / num_envs)
    n_uniforms = policy.noise_size * (max_episode_steps + 1)
    counts = np.zeros(num_envs, dtype=np.int64)  # episodes started per env
    steps = np.zeros(num_envs, dtype=np.int64)
    noise = np.zeros(
        (
            num_envs,
            max_episode_steps + 1,
            *np.shape(policy.transform_noise(np.zeros(policy.noise_size))),
        )
    )
    finished: list[list[Episode]] = [[] for _ in range(num_envs)]
    # one episode in progress per env, written in place: no per-step Python loop over envs
    obs_shape = envs.single_observation_space.shape or ()
    obs_buffer = np.zeros((num_envs, max_episode_steps, *obs_shape))
    action_buffer: np.ndarray | None = None
    reward_buffer = np.zeros((num_envs, max_episode_steps))
    every = np.arange(num_envs)

    def start(k: int) -> int:
        env_seed, uniforms = seeds.episode(update, first_env + k, int(counts[k]), n_uniforms)
        noise[k] = policy.transform_noise(
            uniforms.reshape(max_episode_steps + 1, policy.noise_size)
        )
        counts[k] += 1
        steps[k] = 0
        return env_seed

    if type(envs) is gym.vector.SyncVectorEnv:
        plan = CollectionPlan(
            quota, max_episode_steps, mode, update, env_name, start, noise, counts
        )
        return _collect_stepping_only_wanted(envs, policy, plan)
    obs, _ = envs.reset(seed=[start(k) for k in range(num_envs)])  # type: ignore[arg-type]
    skip = np.zeros(num_envs, dtype=bool)  # NEXT_STEP: this step only resets that env
    while any(len(done) < quota for done in finished):
        actions = policy.sample_from_noise(obs, noise[every, steps])
        if action_buffer is None:
            action_buffer = np.zeros(
                (num_envs, max_episode_steps, *np.shape(actions)[1:]),
                dtype=np.asarray(actions).dtype,
            )
        next_obs, rewards, terminated, truncated, _ = envs.step(_env_actions(actions, envs))
        rewards = np.asarray(rewards, dtype=np.float64)
        counted = ~skip
        collecting = counted & (np.array([len(done) for done in finished]) < quota)
        rows = np.flatnonzero(collecting)
        if rows.size:
            bad = ~np.isfinite(rewards[rows]) | ~np.isfinite(
                next_obs[rows].reshape(rows.size, -1)
            ).all(axis=1)
            if bad.any():
                k = int(rows[np.flatnonzero(bad)[0]])
                field = "reward" if not np.isfinite(rewards[k]) else "observation"
                raise NonFiniteError(
                    f"non-finite {field} from environment {env_name}: env {k}, episode "
                    f"{int(counts[k]) - 1} of update {update}, step {int(steps[k])}"
                )
            obs_buffer[rows, steps[rows]] = obs[rows]
            action_buffer[rows, steps[rows]] = np.asarray(actions)[rows]
            reward_buffer[rows, steps[rows]] = rewards[rows]
        steps += counted
        cut = np.asarray(truncated, dtype=bool) | (steps >= max_episode_steps)
        ended = counted & (np.asarray(terminated, dtype=bool) | cut)
        for k in np.flatnonzero(ended & collecting).tolist():
            length = int(steps[k])
            finished[k].append(
                Episode(
                    obs_buffer[k, :length].copy(),
                    action_buffer[k, :length].copy(),
                    reward_buffer[k, :length].copy(),
                    bool(terminated[k]),
                    bool(cut[k] and not terminated[k]),
                    np.array(next_obs[k]),
                )
            )
        skip[:] = False
        obs = next_obs
        if ended.any():
            # only envs short of their share start a seeded episode (its seed and noise);
            # the others restart unseeded: what they do is ignored
            wanted = ended & (np.array([len(done) for done in finished]) < quota)
            steps[ended & ~wanted] = 0  # an ignored episode starts over too (start() does the rest)
            if mode == AutoresetMode.DISABLED:
                reset_seeds = [start(k) if wanted[k] else None for k in range(num_envs)]
                reset_obs, _ = envs.reset(seed=reset_seeds, options={"reset_mask": ended})  # type: ignore[arg-type]
                obs = np.where(_expand(ended, reset_obs), reset_obs, obs)
            else:
                for k in np.flatnonzero(wanted).tolist():
                    start(k)  # the env resets itself (its own seed); our noise still starts over
                if mode == AutoresetMode.NEXT_STEP:
                    skip |= ended
    return [episode for per_env in finished for episode in per_env[:quota]]


class CollectionPlan(NamedTuple):
    """What `collect_episodes` settled before stepping: episodes per env (`quota`), the step
    cap, the autoreset mode, the update and env name (for errors), `start(k)` (starts env
    k's next episode: its noise into noise[k], its count into counts[k]; returns its reset
    seed), and those two arrays."""

    quota: int
    cap: int
    mode: AutoresetMode
    update: int
    env_name: str
    start: Callable[[int], int]
    noise: np.ndarray
    counts: np.ndarray


def _collect_stepping_only_wanted(
    envs: gym.vector.SyncVectorEnv, policy: Policy, plan: CollectionPlan
) -> list[Episode]:
    """`collect_episodes` on a sync vector env, stepping only the sub-envs whose episodes
    are still wanted.

    A vector env steps every sub-env each time, so with one episode per env an update
    would wait for its longest episode while the others step for nothing (about 40% of the
    steps on CartPole). A sync vector env is a loop over its sub-envs; this is that loop
    over the sub-envs still collecting, with the actions of all of them drawn in one call.
    The episodes are the same as through the vector env: each starts as it would there
    (seeded by `start` at the update's first reset, or with the reset seed for
    AutoresetMode.DISABLED, else where the env's own random stream has got to) and reads
    its own noise.
    """
    quota, cap, mode, update, env_name, start, noise, counts = plan
    sub_envs = envs.envs
    num_envs = len(sub_envs)
    actor = policy.batch_actor()
    prepared: list[Any] = [None] * num_envs  # each env's episode noise, as `actor.act` takes it

    def begin(k: int, reset: bool) -> Any:
        seed = start(k)  # the episode's noise, and its reset seed
        prepared[k] = actor.prepare(noise[k])  # θ is fixed for the update: done ahead
        return np.array(sub_envs[k].reset(seed=seed if reset else None)[0])  # a copy, as below

    latest = [begin(k, True) for k in range(num_envs)]  # each env's latest observation
    # after the first update, below gym.make's checks (see `unwrapped_step`)
    step_of = [env.step if update == 0 else unwrapped_step(env, cap) for env in sub_envs]
    records: list[tuple[list[Any], list[Any], list[float]]] = [([], [], []) for _ in sub_envs]
    finished: list[list[Episode]] = [[] for _ in sub_envs]
    steps = [0] * num_envs
    collecting = list(range(num_envs))
    space = envs.single_action_space
    box_shape = space.shape if isinstance(space, gym.spaces.Box) else None
    while collecting:
        actions = actor.act(
            np.array([latest[k] for k in collecting]),
            np.array([prepared[k][steps[k]] for k in collecting]),
        )
        if box_shape is not None:
            actions = np.asarray(actions, dtype=space.dtype).reshape(len(collecting), *box_shape)
        still = []
        for action, k in zip(actions, collecting, strict=True):
            observations, taken, rewards = records[k]
            observations.append(latest[k])
            taken.append(action)
            obs, reward, terminated, truncated, _ = step_of[k](action)
            latest[k] = np.array(obs)  # a copy: an env may write its next observation into it
            rewards.append(float(reward))
            steps[k] += 1
            cut = bool(truncated) or steps[k] >= cap
            if not (terminated or cut):
                still.append(k)
                continue
            episode = Episode(
                np.array(observations),
                np.array(taken),
                np.array(rewards),
                bool(terminated),
                cut and not terminated,
                latest[k],
            )
            _check_episode(
                episode,
                latest[k],
                env_name,
                f"env {k}, episode {int(counts[k]) - 1} of update {update}",
            )
            finished[k].append(episode)
            records[k] = ([], [], [])
            if len(finished[k]) < quota:
                latest[k] = begin(k, mode == AutoresetMode.DISABLED)
                steps[k] = 0
                still.append(k)
        collecting = still
    return [episode for per_env in finished for episode in per_env]


def _check_episode(episode: Episode, last: np.ndarray, env_name: str, where: str) -> None:
    """NonFiniteError naming the first step whose reward or next observation is not finite.

    Checked once the episode has ended (one pass over its arrays, not a call per step), and
    before anything learns from it."""
    rewards, observations = episode.rewards, episode.observations
    if math.isfinite(math.fsum(rewards)) and np.isfinite(observations).all():
        if np.isfinite(last).all():
            return
    if not np.isfinite(observations[0]).all():
        raise NonFiniteError(
            f"non-finite observation from environment {env_name}: {where}, step 0 (the reset), "
            f"value {observations[0]!r}"
        )
    next_observations = np.concatenate([observations[1:], np.asarray(last)[None]])
    for t in range(episode.length):
        for field, value in (("reward", rewards[t]), ("observation", next_observations[t])):
            if not np.isfinite(value).all():
                raise NonFiniteError(
                    f"non-finite {field} from environment {env_name}: {where}, step {t + 1}, "
                    f"value {value!r}"
                )


def _env_actions(actions: np.ndarray, envs: gym.vector.VectorEnv, clip: bool = False) -> np.ndarray:
    """Actions as the vector env takes them; with `clip`, Box actions clipped to the
    space's bounds (the policy's sample, unclipped, is what is learned from)."""
    space = envs.single_action_space
    if isinstance(space, gym.spaces.Box):
        if clip:
            actions = np.clip(actions, space.low, space.high)
        return np.asarray(actions, dtype=space.dtype).reshape(envs.num_envs, *space.shape)
    return np.asarray(actions, dtype=np.int64)


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (np.ndim(like) - 1))


@dataclass
class Fragment(Episode):
    """The part of an episode collected in one update of step-based collection.

    An episode that straddles updates is split: its first fragment ends `cut` (the update's
    steps ran out, `final_observation` is where it stopped) and the next update goes on
    from there, acting with the new θ, in a fragment that starts at step `first_step` of
    its episode.
    """

    cut: bool = False
    first_step: int = 0
    final_observation: np.ndarray | None = None
    env: int = 0
    """The sub-environment it came from."""


@dataclass
class FinishedEpisodes:
    """Whole episodes that ended during one update: their returns, lengths, truncations."""

    returns: np.ndarray  # [n]
    lengths: np.ndarray  # [n]
    truncated: np.ndarray  # [n] bool


def padded_rows(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index [N, T], mask [N, T]) that pads N runs of items laid end to end into rows.

    Row i, column t reads item starts[i] + min(t, lengths[i] − 1): past its end a row
    repeats its last item, and `mask` is False there. T is the longest run.
    """
    n_steps = int(lengths.max())
    mask = np.arange(n_steps) < lengths[:, None]
    return starts[:, None] + np.minimum(np.arange(n_steps), lengths[:, None] - 1), mask


class FragmentSplitter:
    """Cuts each update's steps into fragments at episode ends, carrying every env's
    episode in progress (its steps and return so far) into the next update."""

    def __init__(self, num_envs: int):
        self.episode_steps = np.zeros(num_envs, dtype=np.int64)  # steps of the episode so far
        self.episode_returns = np.zeros(num_envs)

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "episode_steps": self.episode_steps.copy(),
            "episode_returns": self.episode_returns.copy(),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.episode_steps[...] = np.asarray(state["episode_steps"], dtype=np.int64)
        self.episode_returns[...] = np.asarray(state["episode_returns"], dtype=np.float64)

    def forget_episodes(self) -> None:
        """The episodes in flight are gone (their envs restart)."""
        self.episode_steps[...] = 0
        self.episode_returns[...] = 0.0

    def split(self, steps: Steps) -> tuple[FragmentBatch, FinishedEpisodes]:
        """Cut every env's counted steps at episode ends, as arrays (no loop over fragments)."""
        observations, actions, rewards = steps.observations, steps.actions, steps.rewards
        counted, ended, terminal = steps.counted, steps.ended, steps.terminated
        n_steps = counted.shape[0]
        # the counted steps laid out env by env, in time order within an env: [M]
        flat = np.flatnonzero(counted.T.reshape(-1))
        env_of, time_of = np.divmod(flat, n_steps)
        ends = ended[time_of, env_of]
        new = np.ones(flat.size, dtype=bool)  # a fragment starts here
        new[1:] = (env_of[1:] != env_of[:-1]) | ends[:-1]
        starts = np.flatnonzero(new)
        lengths = np.diff(np.append(starts, flat.size))
        last = starts + lengths - 1
        envs = env_of[starts]
        first_of_env = np.ones(starts.size, dtype=bool)
        first_of_env[1:] = envs[1:] != envs[:-1]
        carried_steps = np.where(first_of_env, self.episode_steps[envs], 0)
        carried_returns = np.where(first_of_env, self.episode_returns[envs], 0.0)
        step_rewards = steps.raw_rewards[time_of, env_of]  # returns are reported unscaled
        totals = (
            carried_returns + np.add.reduceat(step_rewards, starts)
            if starts.size
            else carried_returns
        )
        is_end = ends[last]
        is_terminal = terminal[time_of[last], env_of[last]]
        # the episodes still running carry their steps and return into the next update
        running = ~is_end
        self.episode_steps[np.unique(envs)] = 0
        self.episode_returns[np.unique(envs)] = 0.0
        self.episode_steps[envs[running]] = (carried_steps + lengths)[running]
        self.episode_returns[envs[running]] = totals[running]
        batch = FragmentBatch(
            observations,
            actions,
            rewards,
            time_of,
            env_of,
            starts,
            lengths,
            envs,
            carried_steps,
            ~is_end,
            is_terminal & is_end,
            is_end & ~is_terminal,
            steps.last_observations,
            counted,
            ended,
            terminal,
        )
        finished = FinishedEpisodes(
            totals[is_end], (carried_steps + lengths)[is_end], (is_end & ~is_terminal)[is_end]
        )
        return batch, finished


@dataclass
class FragmentBatch:
    """One update's steps, cut into fragments at episode ends: what `StepCollector` collects.

    The steps stay where the loop wrote them ([n_steps, num_envs, ...] arrays); fragment i
    is steps time_of[starts[i] : starts[i] + lengths[i]] of env envs[i] (through the index
    arrays time_of/env_of over the counted steps), so nothing is copied per fragment.
    `padded()` gives the [N, T] arrays the estimators take, `fragments()` `Fragment` objects.
    """

    step_observations: np.ndarray  # [n_steps, num_envs, *obs_shape]
    step_actions: np.ndarray  # [n_steps, num_envs, ...]
    step_rewards: np.ndarray  # [n_steps, num_envs]
    time_of: np.ndarray  # [M]: the counted steps, env by env
    env_of: np.ndarray  # [M]
    starts: np.ndarray  # [N]: first counted step of each fragment
    lengths: np.ndarray  # [N]
    envs: np.ndarray  # [N]: the sub-environment of each fragment
    first_steps: np.ndarray  # [N]: step of its episode at which each fragment starts
    cut: np.ndarray  # [N] bool: the update's steps ran out before the episode ended
    terminated: np.ndarray  # [N] bool
    truncated: np.ndarray  # [N] bool
    last_observations: np.ndarray  # [num_envs, *obs_shape]: where every env stopped
    step_counted: np.ndarray | None = None
    """[n_steps, num_envs] bool: a real step (False: a step that only reset its env)."""
    step_ended: np.ndarray | None = None
    """[n_steps, num_envs] bool: the episode ended at this step (terminated or time limit)."""
    step_terminated: np.ndarray | None = None
    """[n_steps, num_envs] bool: the episode terminated at this step (no bootstrap)."""
    stops_known: np.ndarray | None = None
    """[N] bool: S_T of each fragment is known (`stop_observations`): always for a cut one;
    for one the time limit truncated, under NEXT_STEP autoreset (not SAME_STEP, whose next
    observation is already the reset's) or for an episode with its final observation.
    None: every fragment's."""

    @staticmethod
    def from_episodes(episodes: list[Episode]) -> FragmentBatch:
        """Whole episodes as a batch, one per column: step layout [T + 1, N], episode i's
        steps 0 … T_i − 1 counted and row T_i holding S_T (where it stopped, uncounted),
        as a step collector would have left it."""
        n = len(episodes)
        lengths = np.array([e.length for e in episodes])
        width = int(lengths.max()) + 1
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        # the counted steps env by env are the episodes laid end to end: one scatter each
        env_of = np.repeat(np.arange(n), lengths)
        time_of = np.arange(env_of.size) - np.repeat(starts, lengths)
        observations = np.concatenate([e.observations for e in episodes])
        actions = np.concatenate([e.actions for e in episodes])
        step_observations = np.zeros((width, n, *observations.shape[1:]))
        step_actions = np.zeros((width, n, *actions.shape[1:]), dtype=actions.dtype)
        step_rewards = np.zeros((width, n))
        step_observations[time_of, env_of] = observations
        step_actions[time_of, env_of] = actions
        step_rewards[time_of, env_of] = np.concatenate([e.rewards for e in episodes])
        stops = np.stack(
            [
                e.observations[-1] if e.final_observation is None else e.final_observation
                for e in episodes
            ]
        )  # only a bootstrap reads S_T; without it the last state stands in
        step_observations[lengths, np.arange(n)] = stops
        time = np.arange(width)[:, None]
        counted = time < lengths
        ended = time == lengths - 1
        terminated = np.array([e.terminated for e in episodes])
        return FragmentBatch(
            step_observations,
            step_actions,
            step_rewards,
            time_of,
            env_of,
            starts,
            lengths,
            np.arange(n),
            np.array([e.first_step if isinstance(e, Fragment) else 0 for e in episodes]),
            np.zeros(n, dtype=bool),
            terminated,
            np.array([e.truncated for e in episodes]),
            stops,
            counted,
            ended,
            ended & terminated,
            np.array([not e.truncated or e.final_observation is not None for e in episodes]),
        )

    def next_observations(self) -> np.ndarray:
        """S_{t+1} of every step in its own episode, [n_steps, num_envs, *obs_shape].

        With NEXT_STEP autoreset the observation after an episode's last step is its final
        state (the reset comes one step later), so step t leads to observation t + 1, and
        the last step to where each env stopped.
        """
        return np.concatenate([self.step_observations[1:], self.last_observations[None]])

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(observations [N, T, ...], actions [N, T, ...], rewards [N, T], mask [N, T]).

        Past its end a row repeats its last step, with reward 0 and mask False.
        """
        rows, mask = padded_rows(self.starts, self.lengths)
        time, env = self.time_of[rows], self.env_of[rows]
        return (
            self.step_observations[time, env],
            self.step_actions[time, env],
            self.step_rewards[time, env] * mask,
            mask,
        )

    def stop_observations(self, rows: np.ndarray) -> np.ndarray:
        """S_T of fragments `rows`, the state after each one's last step: where its env
        stopped for a cut fragment, the final state of a truncated episode. [len(rows), ...]"""
        last = self.time_of[self.starts[rows] + self.lengths[rows] - 1]
        return self.next_observations()[last, self.envs[rows]]

    def fragments(self) -> list[Fragment]:
        """The fragments as `Fragment` objects, in (env, time) order."""
        out = []
        for i, (start, length) in enumerate(zip(self.starts, self.lengths, strict=True)):
            time = self.time_of[start : start + length]
            env = int(self.envs[i])
            out.append(
                Fragment(
                    self.step_observations[time, env],
                    self.step_actions[time, env],
                    self.step_rewards[time, env],
                    bool(self.terminated[i]),
                    bool(self.truncated[i]),
                    cut=bool(self.cut[i]),
                    first_step=int(self.first_steps[i]),
                    final_observation=self.last_observations[env] if self.cut[i] else None,
                    env=env,
                )
            )
        return out


@dataclass
class Steps:
    """What the sub-environments did in one update, in step layout: arrays [n_steps, E, ...].

    `counted` is False on a step that only reset its env (NEXT_STEP autoreset: the step
    after an episode's last); `ended` and `terminated` are True on an episode's last step
    (ended: terminated or cut by the time limit); `last_observations` [E, ...] are where
    every env stopped.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    counted: np.ndarray
    ended: np.ndarray
    terminated: np.ndarray
    last_observations: np.ndarray
    raw_rewards: np.ndarray
    """The rewards as the environments gave them (`rewards` may be scaled)."""

    @staticmethod
    def side_by_side(parts: list[Steps]) -> Steps:
        """The steps of several groups of sub-environments as one, envs in the given order."""
        if len(parts) == 1:
            return parts[0]
        return Steps(
            *(
                np.concatenate([getattr(p, name) for p in parts], axis=axis)
                for name, axis in (
                    ("observations", 1),
                    ("actions", 1),
                    ("rewards", 1),
                    ("counted", 1),
                    ("ended", 1),
                    ("terminated", 1),
                    ("last_observations", 0),
                    ("raw_rewards", 1),
                )
            )
        )


class Shaping(NamedTuple):
    """What a `StepCollector` does between the environments and the policy."""

    normalizer: ObservationNormalizer | None = None
    """Running normalisation of the observations the policy sees (None: raw)."""
    reward_scaler: RewardScaler | None = None
    """Running scaling of the rewards it learns from (None: raw); episode returns are
    reported unscaled either way."""
    clip_actions: bool = False
    """Send Box actions clipped to the action space's bounds (SB3's default); the batch
    keeps the sampled action, whose log-probability the update uses."""


class StepCollector:
    """Every sub-environment runs on across updates; each update takes `steps_per_env` steps.

    No sub-environment waits for another, so every step the vector env takes is used, the
    way A2C-style collectors work. The price: an episode can straddle two updates (see
    `Fragment`). Sub-environment k is seeded once, at the first reset, from
    `SeedSequence(seed)`, and the actions of update u come from uniforms keyed by u; so
    the same seed gives the same batches with sync, async or native vectorisation
    (where the environment's resets consume randomness the same way), and with the
    sub-environments split over several collectors (`first_env`, `total_envs`: this one
    steps envs first_env … first_env + E − 1 of total_envs, e.g. on a Ray worker).

    `get_state`/`set_state` hold everything that decides the next update: where each
    env is, its episode so far, and the environments' own snapshot
    (`gradlogpi.envs.vector_env_snapshot`). Where the environments cannot give one, a
    restored collector restarts its episodes in flight (`restarted` says so).

    Args:
      envs: an autoresetting Gymnasium vector env (`make_vector_env(..., autoreset=True)`).
      seed: the experiment seed.
      steps_per_env: steps every sub-environment takes per update.
      env_name: used in error messages.
      first_env: global index of this collector's first sub-environment.
      total_envs: sub-environments over all collectors (default: this one's).
      shaping: what happens between the environments and the policy (`Shaping`:
        observation normalisation, reward scaling, action clipping); None: nothing.
    """

    def __init__(
        self,
        envs: Any,
        seed: int | None,
        steps_per_env: int,
        env_name: str,
        *,
        first_env: int = 0,
        total_envs: int | None = None,
        shaping: Shaping | None = None,
    ):
        mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.mode = mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)
        if self.mode == AutoresetMode.DISABLED:
            raise ValueError(
                "step-based collection needs a vector env that resets its sub-environments; "
                "got autoreset_mode DISABLED"
            )
        self.envs = envs
        self.steps_per_env = check_positive_int("steps_per_env", steps_per_env)
        self.entropy = np.random.SeedSequence(seed).entropy
        self.env_name = env_name
        num_envs = envs.num_envs
        self.first_env = first_env
        self.total_envs = num_envs if total_envs is None else total_envs
        self.obs: np.ndarray | None = None
        self.resetting = np.zeros(num_envs, dtype=bool)  # NEXT_STEP: the next step only resets
        self.splitter = FragmentSplitter(num_envs)
        self.restarted = False
        """`set_state` found no environment snapshot: the episodes in flight restart."""
        shaping = shaping or Shaping()
        self.normalizer = shaping.normalizer
        self.reward_scaler = shaping.reward_scaler
        self.clip_actions = shaping.clip_actions

    def collect(self, policy: Policy, update: int) -> tuple[FragmentBatch, FinishedEpisodes]:
        """`steps_per_env` steps of every sub-env with `policy`, and the episodes that ended."""
        batch, finished = self.splitter.split(self.step(policy, update))
        if self.mode != AutoresetMode.NEXT_STEP:  # S_T of a truncated episode was not kept
            batch.stops_known = batch.cut | ~batch.truncated
        return batch, finished

    def _reset(self, update: int) -> None:
        envs, first = self.envs, self.first_env
        # the run's first reset seeds from the seed itself; a restart (no snapshot to
        # resume from) from the update it happens at
        sequence = np.random.SeedSequence(
            self.entropy, spawn_key=() if update == 0 or not self.restarted else (update,)
        )
        seeds = [int(s) for s in sequence.generate_state(self.total_envs)]
        mine = seeds[first : first + envs.num_envs]
        if getattr(envs, "seeded_when_made", False):  # EnvPool
            self.obs, _ = envs.reset()
        elif isinstance(
            envs.unwrapped, (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv)
        ) or getattr(envs.unwrapped, "seeds_each_env", False):
            self.obs, _ = envs.reset(seed=mine)
        else:  # a native vector env (most) takes one seed for all its sub-environments
            self.obs, _ = envs.reset(seed=mine[0])
        self.obs = self._seen(self.obs)

    def _seen(self, raw: np.ndarray) -> np.ndarray:
        """What the policy sees of the observations `raw` (normalised, if so set up)."""
        if self.normalizer is None:
            return raw
        self.normalizer.update(raw)
        return self.normalizer.normalize(raw)

    def step(self, policy: Policy, update: int) -> Steps:
        """`steps_per_env` steps of every sub-env with `policy`, in step layout."""
        envs, n_steps, num_envs = self.envs, self.steps_per_env, self.envs.num_envs
        if self.obs is None:
            self._reset(update)
        assert self.obs is not None  # the reset gave the first observations
        generator = np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(update,)))
        # step n acts with draw n, or with gSDE with draw n // period: one exploration
        # matrix per env held `period` steps from the update's first (0: the whole update)
        period = exploration_period(policy)
        held = 1 if period is None else (period or n_steps)
        draw_of_step = np.arange(n_steps) // held
        uniforms = generator.random((draw_of_step[-1] + 1, self.total_envs, policy.noise_size))
        if num_envs != self.total_envs:
            uniforms = uniforms[:, self.first_env : self.first_env + num_envs]
        noise = policy.transform_noise(uniforms)
        actor = policy.batch_actor()
        noise = actor.prepare(noise)  # θ is fixed for the update: per-step work done ahead
        observations = np.zeros((n_steps, *np.shape(self.obs)))
        rewards = np.zeros((n_steps, num_envs))
        raw_rewards = rewards if self.reward_scaler is None else np.zeros((n_steps, num_envs))
        terminated = np.zeros((n_steps, num_envs), dtype=bool)
        truncated = np.zeros((n_steps, num_envs), dtype=bool)
        actions: np.ndarray | None = None
        obs = self.obs
        resetting = self.resetting.copy()  # this step only resets the env (NEXT_STEP)
        for n, draw in enumerate(draw_of_step.tolist()):
            action = actor.act(obs, noise[draw])
            if actions is None:
                actions = np.zeros((n_steps, *np.shape(action)), dtype=np.asarray(action).dtype)
            env_action = _env_actions(action, envs, self.clip_actions)
            next_obs, reward, terminated[n], truncated[n], _ = envs.step(env_action)
            observations[n], actions[n], raw_rewards[n] = obs, action, reward
            if self.reward_scaler is not None:
                # a step that only resets its env (after a done one) is not part of a return
                rewards[n] = self.reward_scaler.scale(
                    raw_rewards[n], terminated[n] | truncated[n], ~resetting
                )
            if self.mode == AutoresetMode.NEXT_STEP:
                resetting = terminated[n] | truncated[n]
            obs = self._seen(next_obs)
        self.obs = obs
        # after the loop, as arrays: with NEXT_STEP autoreset the step after an episode's
        # last one only resets its env (and a reset step never ends an episode)
        done = terminated | truncated
        counted = np.ones((n_steps, num_envs), dtype=bool)  # False: an autoreset-only step
        if self.mode == AutoresetMode.NEXT_STEP:
            counted[0] = ~self.resetting
            counted[1:] = ~done[:-1]
            self.resetting = done[-1] & counted[-1]
        rewards *= counted
        if raw_rewards is not rewards:
            raw_rewards *= counted
        self._check_finite(raw_rewards, observations, counted, update)
        assert actions is not None  # steps_per_env >= 1: the first step made it
        return Steps(
            observations,
            actions,
            rewards,
            counted,
            done & counted,
            terminated & counted,
            np.asarray(self.obs),
            raw_rewards,
        )

    def get_state(self) -> dict[str, np.ndarray]:
        """Arrays that decide the next update: where each env is, its episode so far, and
        the environments' snapshot (`env_…`; absent where they cannot give one)."""
        from gradlogpi.envs.snapshots import vector_env_snapshot

        state = with_prefix(self.splitter.get_state(), "splitter_")
        for name, part in (("normalizer", self.normalizer), ("scaler", self.reward_scaler)):
            if part is not None:
                state.update(with_prefix(part.get_state(), f"{name}_"))
        if self.obs is None:
            return state
        snapshot = vector_env_snapshot(self.envs)
        state["observations"] = np.array(self.obs)
        state["resetting"] = self.resetting.copy()
        if snapshot is not None:
            state.update(with_prefix(snapshot, "env_"))
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from `get_state`'s arrays. Without an environment snapshot the episodes
        in flight cannot continue: they restart at the next update (`restarted`)."""
        from gradlogpi.envs.snapshots import restore_vector_env

        self.splitter.set_state(under_prefix(state, "splitter_"))
        for name, part in (("normalizer", self.normalizer), ("scaler", self.reward_scaler)):
            if part is not None:
                prefix = f"{name}_"
                part.set_state(under_prefix(state, prefix))
        if "observations" not in state:
            return  # saved before the first update
        snapshot = under_prefix(state, "env_")
        if not snapshot:
            self.restarted = True
            self.splitter.forget_episodes()
            return
        saved = None if self.normalizer is None else self.normalizer.get_state()
        self._reset(0)  # the wrappers' bookkeeping starts as a made and reset env's
        if self.normalizer is not None and saved is not None:
            self.normalizer.set_state(saved)  # that reset's observations are not the run's
        restore_vector_env(self.envs, snapshot)
        self.obs = np.array(state["observations"])
        self.resetting = np.array(state["resetting"], dtype=bool)

    def _check_finite(
        self, rewards: np.ndarray, observations: np.ndarray, counted: np.ndarray, update: int
    ) -> None:
        finite = np.isfinite(rewards) & np.isfinite(observations.reshape(*rewards.shape, -1)).all(
            axis=-1
        )
        bad = counted & ~finite
        if bad.any():
            n, k = (int(i) for i in np.argwhere(bad)[0])
            field = "reward" if not np.isfinite(rewards[n, k]) else "observation"
            raise NonFiniteError(
                f"non-finite {field} from environment {self.env_name}: env {k}, step {n} of "
                f"update {update}"
            )

    def close(self) -> None:
        self.envs.close()
