"""Running R independent copies of an environment in lockstep, one episode at a time.

Every run has its own random streams, spawned from one seed with `SeedSequence.spawn`:
run k draws the same numbers whether it is learned alone or among R runs. Shipped
environments are stepped as arrays (`batch_model`); any other Gymnasium environment is
copied R times and stepped one copy at a time.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from gradlogpi.core._checks import check_positive_int
from gradlogpi.envs.cartpole import cartpole_model
from gradlogpi.errors import ConfigError, GradlogpiError, NonFiniteError
from gradlogpi.policies.contract import ArrayPolicy, Policy, with_run_axis
from gradlogpi.policies.greedy import GreedyPolicy


def checked_env_id(env_id: str) -> str:
    """Refuse an id `module:Env` whose module was not imported on purpose.

    Gymnasium imports `module` to make such an env, which runs its code: a config file
    from someone else could run anything. The module must already be imported (by the
    config's `env_module`, which names it, or by the caller's own code).
    """
    if ":" in env_id:
        module = env_id.split(":", 1)[0]
        if module not in sys.modules:
            raise ConfigError(
                f"`env` = {env_id!r} would import the module {module!r} and run its code; "
                f"to allow it, name it: set env_module = {module!r} (or import it yourself)"
            )
    return env_id


def env_construction_error(env: str, env_kwargs: dict[str, Any], error: Exception) -> ConfigError:
    """The named error for an environment that Gymnasium or its own constructor would not
    make from the id and `env_kwargs` given (an unknown id, a keyword it does not accept)."""
    said = f"{type(error).__name__}: {error}"
    if env_kwargs:
        return ConfigError(
            f"`env_kwargs` = {env_kwargs!r} for `env` = {env!r}: the environment could not be "
            f"made with them; Gymnasium or the environment's constructor said {said}"
        )
    return ConfigError(
        f"`env` = {env!r}: the environment could not be made; Gymnasium or the "
        f"environment's constructor said {said}"
    )


def make_env(env: str | gym.Env) -> gym.Env:
    """A Gymnasium environment from an id (shipped ids register on import) or as given."""
    if isinstance(env, str):
        import gradlogpi.envs  # noqa: F401  (registers the shipped environments)

        env_id = checked_env_id(env)
        try:
            return gym.make(env_id)
        except GradlogpiError:
            raise
        except Exception as error:  # an unknown id, or the environment's own constructor
            raise env_construction_error(env, {}, error) from None
    if not isinstance(env, gym.Env):
        raise TypeError(f"`env` must be a Gymnasium id or gymnasium.Env; got {type(env).__name__}")
    return env


CHECKING_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)
"""The wrappers `gym.make` adds: a step cap and two checks of how the env is called."""


def unwrapped_step(env: gym.Env, cap: int) -> Any:
    """The env's `step`, without the wrappers `gym.make` adds when nothing else wraps it.

    Those wrappers check that reset comes first and that the env's first outputs fit its
    spaces, and count steps to the cap; a step loop that resets first and stops at `cap`
    itself (at most their cap) gets the same transitions without them, 1-2 µs sooner a
    step, about a tenth of a CartPole step. With any other wrapper (or a TimeLimit shorter
    than `cap`), every step goes through the whole chain: env.step.
    """
    inner = env
    while isinstance(inner, gym.Wrapper):
        if type(inner) not in CHECKING_WRAPPERS:
            return env.step
        if isinstance(inner, TimeLimit) and inner._max_episode_steps < cap:
            return env.step
        inner = inner.env
    return inner.step


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
    learned beside it: a Generator for its actions and an integer seed for its environment.

    Action noise is drawn per episode in chunks of `chunk` steps: at step 0, chunk, 2·chunk …
    of its episode, each active run draws `chunk · noise_size` uniforms from its own
    generator and turns them into the policy's noise (Gumbel for softmax, normal for
    Gaussian) in one vectorised call. A step then reads a view; what a run consumes
    depends only on its own episodes.

    Args:
      seed: the experiment's seed (an int, or None for fresh entropy).
      run_ids: indices of the runs, e.g. range(R).
      noise_size: uniforms per action (`policy.noise_size`).
      transform: the policy's `transform_noise`, uniforms [..., noise_size] → noise.
      chunk: steps of noise drawn at a time.
    """

    def __init__(
        self, seed: int | None, run_ids: Any, noise_size: int, transform: Any, *, chunk: int = 64
    ):
        self.run_ids = np.asarray(list(run_ids), dtype=np.int64)
        if self.run_ids.size == 0 or self.run_ids.min() < 0:
            raise ValueError(f"`runs` must name at least one run index >= 0; got {list(run_ids)}")
        spawned = np.random.SeedSequence(seed).spawn(int(self.run_ids.max()) + 1)
        pairs = [spawned[k].spawn(2) for k in self.run_ids]
        self.action_generators = [np.random.default_rng(policy) for policy, _ in pairs]
        self.env_seeds = [int(env.generate_state(1)[0]) for _, env in pairs]
        self.noise_size = noise_size
        self.transform = transform
        self.chunk = chunk
        self.buffer: np.ndarray | None = None

    def noise(self, t: int, active: np.ndarray) -> np.ndarray:
        """The noise of step t of the current episode for every run, shape [R, ...]."""
        offset = t % self.chunk
        if offset == 0:
            shape = (self.chunk, self.noise_size)
            if len(self.action_generators) == 1:  # one run (the common case): no copies
                uniforms = self.action_generators[0].random(shape)[None]
            else:
                uniforms = np.zeros((len(self.action_generators), *shape))
                for run in np.flatnonzero(active):
                    uniforms[run] = self.action_generators[run].random(shape)
            self.buffer = self.transform(uniforms)
        assert self.buffer is not None  # drawn at offset 0 of every episode
        return self.buffer[:, offset]

    def single(self, index: int) -> RunStreams:
        """The streams of run `run_ids[index]` alone (the same generator, not a copy)."""
        one = copy.copy(self)
        one.run_ids = self.run_ids[index : index + 1]
        one.action_generators = [self.action_generators[index]]
        one.env_seeds = [self.env_seeds[index]]
        one.buffer = None
        return one

    def get_state(self) -> list[Any]:
        """The action generators' states, JSON-serialisable (taken between episodes)."""
        return [g.bit_generator.state for g in self.action_generators]

    def set_state(self, states: list[dict[str, Any]]) -> None:
        for generator, state in zip(self.action_generators, states, strict=True):
            generator.bit_generator.state = state


def policy_streams(seed: int | None, run_ids: Any, policy: Policy) -> RunStreams:
    """`RunStreams` drawing the noise `policy` samples its actions from."""
    return RunStreams(seed, run_ids, policy.noise_size, policy.transform_noise)


def array_model(env: gym.Env, gymnasiums: bool = True) -> Any:
    """The `BatchModel` that steps copies of `env` as arrays: a shipped environment's
    `batch_model()`; with `gymnasiums`, also Gymnasium's CartPole (`cartpole_model`); else None."""
    unwrapped = env.unwrapped
    if hasattr(unwrapped, "batch_model"):
        return unwrapped.batch_model()
    return cartpole_model(env) if gymnasiums else None


class Runs:
    """R lockstep copies of one environment with a step cap.

    `step(actions, active)` advances only the active runs; the others keep their state and
    observation, so arrays stay rectangular. A shipped environment's copies are stepped as
    arrays (its `batch_model`); with `as_arrays`, so is Gymnasium's own CartPole
    (`envs.cartpole.cartpole_model`: the same episodes), for loops that never step one
    copy alone (evaluations).
    """

    def __init__(
        self,
        env: gym.Env,
        streams: RunStreams,
        max_episode_steps: int | None,
        *,
        as_arrays: bool = False,
    ):
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
        self.model = array_model(env, as_arrays)
        self.copies: list[gym.Env] = []
        if self.model is None:
            self.copies = [env] + [_copy_env(env) for _ in range(self.n_runs - 1)]
        self.episodes_started = 0
        self.steps = np.zeros(self.n_runs, dtype=np.int64)  # steps into each run's episode
        # one env's step loop steps below gym.make's checks once they have seen an episode
        self.lean_step = unwrapped_step(env, self.max_episode_steps) if self.copies else None

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
            if len(observations) == 1:
                self.obs = np.array(observations[0])[None]
            else:
                self.obs = np.stack([np.asarray(o) for o in observations])
        self._check_finite(self.obs, "observation", np.ones(self.n_runs, bool))
        return self.obs

    def step_function(self) -> Any:
        """The step for one env's loop this episode: through every wrapper in the first
        episode, so that Gymnasium's checks see it, then `unwrapped_step`'s."""
        return self.copies[0].step if self.episodes_started <= 1 else self.lean_step

    def reset_one(self) -> Any:
        """`reset` for one Gymnasium env: its observation as the env gives it (unchecked).

        For step loops that check observations themselves (the compiled paths)."""
        first = self.episodes_started == 0
        self.episodes_started += 1
        obs, _ = self.copies[0].reset(seed=self.streams.env_seeds[0] if first else None)
        return obs

    def report_non_finite(self, field: str, values: Any, steps: int) -> None:
        """NonFiniteError for run 0's current episode, `steps` steps into it, if a value is
        not finite: `values` is the latest observation, or the rewards of the last
        len(values) steps."""
        self.steps[:] = steps
        values = np.asarray(values, dtype=np.float64)
        if field == "reward":
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size == 0:
                return  # e.g. their sum overflowed; each is finite
            self.steps[:] = steps - len(values) + int(bad[0]) + 1
            values = values[bad[0]]
        self._check_finite(values[None], field, np.ones(1, dtype=bool))

    def step(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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

    def get_state(self) -> dict[str, Any]:
        """Everything that decides the next episodes: counters and environment RNG states."""
        if self.episodes_started == 0:
            env_states: list[Any] = []
        elif self.model is not None:
            env_states = [rng.bit_generator.state for rng in self.model_rngs]
        else:
            env_states = [env.unwrapped.np_random.bit_generator.state for env in self.copies]
        return {
            "episodes_started": self.episodes_started,
            "env_rngs": env_states,
            "actions": self.streams.get_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.episodes_started = int(state["episodes_started"])
        self.streams.set_state(state["actions"])
        if self.episodes_started == 0:
            return
        generators = []
        for saved in state["env_rngs"]:
            generator = np.random.default_rng()
            generator.bit_generator.state = saved
            generators.append(generator)
        if self.model is not None:
            self.model_rngs = generators
        else:
            for env, generator in zip(self.copies, generators, strict=True):
                env.reset()  # wrappers insist on a reset before anything; it uses a throwaway stream
                env.unwrapped._np_random = generator  # the next episode's reset goes on from here

    def check_episode(self, batch: EpisodeBatch) -> None:
        """NonFiniteError naming the first non-finite reward or observation of an episode."""
        for field, values in (
            ("reward", batch.rewards[0]),
            ("observation", batch.observations[0, 1:]),
        ):
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                step = int(
                    np.flatnonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1))[0]
                )
                raise NonFiniteError(
                    f"non-finite {field} from environment {self.name}: run 0, episode "
                    f"{self.episodes_started - 1}, step {step + 1}, value {values[step]!r}"
                )

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


def generate_episode(runs: Runs, policy: Policy) -> EpisodeBatch:
    """Follow π(·|·, θ) from the start state to the end of the episode in every run.

    θ stays fixed during the episode (Monte Carlo methods update after it). One generic
    Gymnasium env takes a lean loop (`policy.actor()`, see `gradlogpi.policies.actor`); otherwise all runs step as arrays.
    """
    if runs.model is None and runs.n_runs == 1:
        return _single_env_episode(runs, policy)
    observations = [runs.reset()]
    actions, rewards = [], []
    active = np.ones(runs.n_runs, dtype=bool)
    lengths = np.zeros(runs.n_runs, dtype=np.int64)
    terminated = np.zeros(runs.n_runs, dtype=bool)
    truncated = np.zeros(runs.n_runs, dtype=bool)
    t = 0
    while active.any():
        a = policy.sample_from_noise(observations[-1], runs.streams.noise(t, active))
        obs, r, done, cut = runs.step(a, active)
        observations.append(obs)
        actions.append(a)
        rewards.append(r)
        lengths += active
        terminated |= done
        truncated |= cut
        active &= ~(done | cut)
        t += 1
    return EpisodeBatch(
        np.stack(observations, axis=1),
        np.stack(actions, axis=1),
        np.stack(rewards, axis=1),
        lengths,
        terminated,
        truncated,
    )


def _single_env_episode(runs: Runs, policy: Policy) -> EpisodeBatch:
    """One episode of one Gymnasium env, with as little as possible between env steps."""
    streams, cap = runs.streams, runs.max_episode_steps
    obs = runs.reset()[0]
    step = runs.step_function()
    actor = policy.actor()
    act = actor.act
    observations, actions, rewards = [obs], [], []
    active = np.ones(1, dtype=bool)
    terminated = truncated = False
    chunk = streams.chunk
    for t in range(cap):
        if t % chunk == 0:
            streams.noise(t, active)
            assert streams.buffer is not None  # just drawn
            block = actor.prepare(streams.buffer[0])  # the next `chunk` steps' noise
        action = act(obs, block[t % chunk])
        obs, reward, terminated, truncated, _ = step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    truncated = bool(truncated or not terminated)
    batch = EpisodeBatch(
        np.asarray(observations)[None],
        np.asarray(actions)[None],
        np.asarray(rewards, dtype=np.float64)[None],
        np.array([len(rewards)]),
        np.array([bool(terminated)]),
        np.array([truncated]),
    )
    runs.steps[:] = len(rewards)
    runs.check_episode(batch)
    return batch


def evaluate_policy(
    env: str | gym.Env, policy: Policy, episodes: int, seed: int, greedy: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(returns [episodes], truncated [episodes]) of fresh episodes with a fixed policy.

    Episode k is run k of `seed` (its own streams). Array policies play them all at once
    as lockstep runs where the env steps as arrays (a shipped environment, or Gymnasium's
    CartPole: `array_model`), one after another on any other Gymnasium env (each through
    the one-env step loop; the same episodes, without R copies of the env stepped one by
    one). Neural policies play them in lockstep: one batched forward pass per step for
    all episodes still running, on arrays where the env steps as arrays, else on copies
    of the env. `greedy` acts with argmax_a π(a|s) (or the Gaussian's mean) instead of
    sampling.
    """
    if greedy:
        policy = GreedyPolicy(policy)
    env = make_env(env)
    if isinstance(policy, ArrayPolicy):
        streams = policy_streams(seed, range(episodes), policy)
        if array_model(env) is not None:
            copies = with_run_axis(policy, episodes)
            batch = generate_episode(Runs(env, streams, None, as_arrays=True), copies)
            return batch.rewards.sum(axis=1), batch.truncated
        played = [
            generate_episode(Runs(env, streams.single(k), None), policy) for k in range(episodes)
        ]
        return np.array([b.rewards.sum() for b in played]), np.array(
            [bool(b.truncated[0]) for b in played]
        )
    runs = Runs(env, policy_streams(seed, range(episodes), policy), None, as_arrays=True)
    try:
        batch = generate_episode(runs, policy)
    finally:
        runs.close()
    return batch.rewards.sum(axis=1), batch.truncated
