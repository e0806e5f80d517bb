"""Compiled inner loops for tabular tasks (optional extra `gradlogpi[fast]`, Numba).

The book's REINFORCE (with or without a learned baseline) and actor-critic step θ after
every step of an episode, one step after another. On a tabular task such as the short
corridor (4 states, 2 actions, 2 parameters) the arithmetic of a step is a few
multiplications, so NumPy's microsecond per call is nearly all of the cost, and a run
whose policy collapses onto 1000-step episodes keeps all the others of its lockstep batch
waiting. With Numba installed, `reinforce`, `reinforce_baseline` and `actor_critic` play
and learn each run's episode in one compiled call instead: the loops below are the book's
pseudocode (pp. 328, 330 and 332; plain REINFORCE is the baseline v̂ ≡ 0 with α^w = 0),
over tables of the dynamics, of φ(s, a) and of the critic's x(s).

They read the same random numbers as the NumPy path (the run's generator, `chunk` steps of
uniforms at a time) and do the same arithmetic, so runs agree with the NumPy path to
rounding (NumPy's vectorised exp and log differ from the compiled ones in the last bit).
Each run's episode is computed on its own, so run k is exactly the same alone or among
others. Set GRADLOGPI_NO_JIT=1 to use the NumPy path everywhere.

A kernel takes its tables, its settings, θ and w, and its outputs as small tuples
(`Tables`, `Settings`, `Parameters`, `EpisodeLog`), which Numba passes as they are.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from gradlogpi.algorithms.common import Lockstep, report_chunks, step_size
from gradlogpi.core.compilation import available
from gradlogpi.envs.batch import TabularModel
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy, Policy, ValueFunction

_HELPERS = ("_gumbel_block", "_gumbel_argmax", "_preferences_at", "_score_at")


@functools.cache
def _compiled() -> dict[str, Any]:
    """The compiled kernels by name, made on first use (Numba is a large import).

    The kernels call the helpers and each other by their global names, which Numba reads
    when it compiles; so those names are rebound to the compiled versions first.
    """
    import numba

    for name in (*_HELPERS, "_episode", "_actor_critic_episode"):
        globals()[name] = numba.njit(cache=True)(globals()[f"{name}_python"])
    return {
        "reinforce_run": numba.njit(cache=True)(_run_python),
        "actor_critic_run": numba.njit(cache=True)(_actor_critic_run_python),
    }


class Tables(NamedTuple):
    """A deterministic tabular model and a linear softmax policy's features, as tables.

    next_states [S, A] int64, rewards [S, A] float64 and terminated [S, A] bool: what taking
    action a in state s leads to; features [S, A, d]: φ(s, a); value_features [S, k]: x(s)
    of the critic or baseline.
    """

    next_states: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    features: np.ndarray
    value_features: np.ndarray


class Settings(NamedTuple):
    """The scalar settings a kernel reads (those of the algorithm it is not are unused)."""

    gamma: float
    discount_weighting: bool
    batch_update: bool
    lambda_theta: float
    lambda_w: float
    max_steps: int
    chunk: int  # steps of uniforms drawn at a time, as the NumPy path draws them


class Parameters(NamedTuple):
    """One run's θ [d] and w [k] (views into the lockstep arrays, updated in place)."""

    theta: np.ndarray
    w: np.ndarray


class StepSizes(NamedTuple):
    """α^θ and α^w of every episode of a window, [E] each."""

    theta: np.ndarray
    w: np.ndarray


class EpisodeLog(NamedTuple):
    """One run's episode statistics over a window: returns [E], lengths [E], truncated [E]."""

    returns: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray


def tabulate(model: Any, policy: Policy, value: ValueFunction | None = None) -> Tables | None:
    """The tables of `model` and `policy`, or None where the compiled path does not apply.

    It applies to a tabular model (`n_states` states observed as their indices) and to
    a linear softmax policy (`LinearSoftmaxPolicy`, `MatrixSoftmaxPolicy`) sampling by
    Gumbel-max, with finite tables. `value_features` [S, k] are x(s) of the baseline
    v̂(s, w) = wᵀx(s) (a `LinearValue`), or one feature fixed at 0 for plain REINFORCE.
    """
    if not available() or not isinstance(model, TabularModel):
        return None
    if isinstance(policy, LinearSoftmaxPolicy):
        builder = policy.features
    elif isinstance(policy, MatrixSoftmaxPolicy):
        builder = policy.bridge  # φ(s, a) = onehot(a) ⊗ [x(s), 1]: the same θ layout
    else:
        return None
    states = np.arange(model.n_states)
    if not np.array_equal(model.observe(states), states):
        return None
    grid_states, grid_actions = np.meshgrid(states, np.arange(policy.n_actions), indexing="ij")
    next_states, rewards, terminated = model.step(grid_states.ravel(), grid_actions.ravel())
    task = Tables(
        np.ascontiguousarray(next_states.reshape(grid_states.shape), dtype=np.int64),
        np.ascontiguousarray(rewards.reshape(grid_states.shape), dtype=np.float64),
        np.ascontiguousarray(terminated.reshape(grid_states.shape), dtype=np.bool_),
        np.ascontiguousarray(builder(states), dtype=np.float64),
        np.ascontiguousarray(
            np.zeros((states.size, 1)) if value is None else value.gradient(states),
            dtype=np.float64,
        ),
    )
    if not all(
        np.isfinite(table).all() for table in (task.rewards, task.features, task.value_features)
    ):
        return None
    return task


def kernel_settings(config: Any, lockstep: Lockstep) -> Settings:
    """The kernel settings of an algorithm config (REINFORCE's or actor-critic's)."""
    return Settings(
        float(config.gamma),
        bool(getattr(config, "discount_weighting", True)),
        bool(getattr(config, "batch_update", False)),
        float(getattr(config, "lambda_theta", 0.0)),
        float(getattr(config, "lambda_w", 0.0)),
        int(lockstep.runs.max_episode_steps),
        int(lockstep.runs.streams.chunk),
    )


def _window(
    lockstep: Lockstep, config: Any, first: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Start states [R, E] and step-size fractions [E] of episodes first … stop − 1.

    Start states are drawn episode by episode for all runs, as the NumPy loop draws them
    (a tabular model's steps draw no random numbers).
    """
    episodes = range(first, stop)
    starts = np.stack([lockstep.runs.reset() for _ in episodes], axis=1).astype(np.int64)
    fractions = np.array([step_size(1.0, config.schedule, e, config.n_episodes) for e in episodes])
    return starts, fractions


def _log(lockstep: Lockstep, run: int, first: int, stop: int) -> EpisodeLog:
    tracker = lockstep.tracker
    return EpisodeLog(
        tracker.returns[run, first:stop],
        tracker.lengths[run, first:stop],
        tracker.truncated[run, first:stop],
    )


def _parameters(lockstep: Lockstep, run: int) -> Parameters:
    w = np.zeros((lockstep.runs.n_runs, 1)) if lockstep.value is None else lockstep.value.w
    return Parameters(lockstep.policy.theta[run], w[run])


def learn_reinforce(task: Tables, lockstep: Lockstep, config: Any) -> None:
    """REINFORCE (with baseline) for the rest of the run, reporting to the callback in chunks.

    Unwatched, each run's episodes are one compiled call; watched, one call per chunk
    (`report_chunks`), so the callback sees the run move on the same fast path.
    """
    watched = lockstep.callback is not None
    for first, stop in report_chunks(lockstep.first_episode, config.n_episodes, watched):
        reinforce_runs(task, lockstep, config, first, stop)
        if lockstep.report(stop - 1, units=stop - first):
            break


def learn_actor_critic(task: Tables, lockstep: Lockstep, config: Any, update: int) -> None:
    """Actor-critic for the rest of the run (as `learn_reinforce`); `update` counts θ steps."""
    watched = lockstep.callback is not None
    for first, stop in report_chunks(lockstep.first_episode, config.n_episodes, watched):
        update = actor_critic_runs(task, lockstep, config, first, stop, update)
        if lockstep.report(stop - 1, units=stop - first, update=update):
            break


def reinforce_runs(task: Tables, lockstep: Lockstep, config: Any, first: int, stop: int) -> None:
    """REINFORCE (with baseline) episodes first … stop − 1 of every run, one call per run.

    θ (and w) are updated in place and the statistics written into the tracker. Run by
    run gives the same numbers as episode by episode, since runs share nothing.
    """
    starts, fractions = _window(lockstep, config, first, stop)
    alpha_w = getattr(config, "alpha_w", 0.0)  # plain REINFORCE: v̂ ≡ 0, α^w = 0
    step_sizes = StepSizes(config.alpha_theta * fractions, alpha_w * fractions)
    settings = kernel_settings(config, lockstep)
    tracker = lockstep.tracker
    for run in range(lockstep.runs.n_runs):
        diverged = _compiled()["reinforce_run"](
            lockstep.runs.streams.action_generators[run],
            _parameters(lockstep, run),
            starts[run],
            step_sizes,
            task,
            settings,
            _log(lockstep, run, first, stop),
            bool(tracker.diverged_at[run] < 0),
        )
        if diverged >= 0:
            tracker.diverged_at[run] = first + diverged
    lockstep.runs.steps = tracker.lengths[:, stop - 1].copy()


def actor_critic_runs(
    task: Tables, lockstep: Lockstep, config: Any, first: int, stop: int, first_update: int
) -> int:
    """Actor-critic episodes first … stop − 1 of every run, one call per run; θ, w in place.

    `diverged_at` counts updates as the lockstep loop does (one per step of the longest
    episode of each round), so it is set once every run's lengths are known. Returns the
    update count after the window.
    """
    starts, fractions = _window(lockstep, config, first, stop)
    tracker = lockstep.tracker
    learning = tracker.diverged_at < 0
    settings = kernel_settings(config, lockstep)
    diverged = np.full((lockstep.runs.n_runs, 2), -1, dtype=np.int64)  # (episode, step)
    for run in range(lockstep.runs.n_runs):
        step_sizes = StepSizes(
            config.alpha_theta * fractions * learning[run],
            config.alpha_w * fractions * learning[run],
        )
        _compiled()["actor_critic_run"](
            lockstep.runs.streams.action_generators[run],
            _parameters(lockstep, run),
            starts[run],
            step_sizes,
            task,
            settings,
            _log(lockstep, run, first, stop),
            diverged[run],
        )
    rounds = tracker.lengths[:, first:stop].max(axis=0)  # updates of each lockstep round
    update_starts = first_update + np.concatenate([[0], np.cumsum(rounds)[:-1]])
    newly = (diverged[:, 0] >= 0) & learning
    tracker.diverged_at[newly] = update_starts[diverged[newly, 0]] + diverged[newly, 1]
    lockstep.runs.steps = tracker.lengths[:, stop - 1].copy()
    return int(first_update + rounds.sum())


def _gumbel_block_python(generator, chunk, n_actions):
    """Gumbel noise for `chunk` steps, from uniforms drawn as the NumPy path draws them."""
    return -np.log(-np.log(np.maximum(generator.random((chunk, n_actions)), 1e-300)))


def _gumbel_argmax_python(preferences, noise):
    """argmax_a h_a + G_a, the first on a tie (as NumPy's argmax)."""
    action, best = 0, preferences[0] + noise[0]
    for a in range(1, preferences.shape[0]):
        if preferences[a] + noise[a] > best:
            action, best = a, preferences[a] + noise[a]
    return action


def _preferences_at_python(features, state, theta, out):
    """out[a] = h(s, a) = θᵀφ(s, a); returns the largest."""
    largest = -np.inf
    for a in range(features.shape[1]):
        h = 0.0
        for j in range(features.shape[2]):
            h += features[state, a, j] * theta[j]
        out[a] = h
        largest = max(largest, h)
    return largest


def _score_at_python(features, state, action, preferences, largest, out):
    """out = ∇ln π(a|s) = φ(s, a) − Σ_b π(b|s) φ(s, b); `preferences` become exp(h − max)."""
    total = 0.0
    for a in range(features.shape[1]):
        preferences[a] = np.exp(preferences[a] - largest)
        total += preferences[a]
    for j in range(features.shape[2]):
        expected = 0.0
        for a in range(features.shape[1]):
            expected += preferences[a] / total * features[state, a, j]
        out[j] = features[state, action, j] - expected


def _episode_python(generator, parameters, start, alpha_theta, alpha_w, tables, settings, buffers):
    """One episode of REINFORCE with baseline for one run (p. 330); θ [d], w [k] updated in place.

    `buffers` are (states, actions, rewards), each at least `max_steps` long; the episode is
    left in their first T entries. Returns (length T, terminated, total reward).
    """
    theta, w = parameters
    features, value_features = tables.features, tables.value_features
    states, actions, rewards = buffers
    n_actions, n_parameters = features.shape[1], features.shape[2]
    gamma, chunk = settings.gamma, settings.chunk
    # Generate an episode following π(·|·, θ): Gumbel-max over h(s, a) = θᵀφ(s, a)
    preferences = np.zeros((features.shape[0], n_actions))
    for s in range(features.shape[0]):
        _preferences_at(features, s, theta, preferences[s])
    state, length, terminated = start, 0, False
    noise = np.zeros((chunk, n_actions))
    while length < settings.max_steps:
        if length % chunk == 0:  # the NumPy path's draw: `chunk` steps of uniforms at a time
            noise = _gumbel_block(generator, chunk, n_actions)
        action = _gumbel_argmax(preferences[state], noise[length % chunk])
        states[length], actions[length] = state, action
        rewards[length] = tables.rewards[state, action]
        terminated = tables.terminated[state, action]
        state = tables.next_states[state, action]
        length += 1
        if terminated:
            break
    total_reward = 0.0
    for t in range(length):
        total_reward += rewards[t]
    # Loop for each step t: G ← Σ γ^{k−t−1} R_k; δ ← G − v̂(S_t, w);
    #   w ← w + α^w δ ∇v̂(S_t, w); θ ← θ + α^θ γ^t δ ∇ln π(A_t|S_t, θ)
    returns = np.zeros(length)
    following = 0.0
    for t in range(length - 1, -1, -1):
        following = rewards[t] + gamma * following
        returns[t] = following
    # batch_update: every step's δ and score at the θ and w of the episode's start
    step_theta = theta.copy() if settings.batch_update else theta
    step_w = w.copy() if settings.batch_update else w
    probabilities, score = np.zeros(n_actions), np.zeros(n_parameters)
    discount = 1.0
    for t in range(length):
        state, action = states[t], actions[t]
        baseline = 0.0
        for i in range(value_features.shape[1]):
            baseline += value_features[state, i] * step_w[i]
        delta = returns[t] - baseline
        for i in range(value_features.shape[1]):
            w[i] += alpha_w * delta * value_features[state, i]
        largest = _preferences_at(features, state, step_theta, probabilities)
        _score_at(features, state, action, probabilities, largest, score)
        step = alpha_theta * (discount if settings.discount_weighting else 1.0) * delta
        for j in range(n_parameters):
            theta[j] += step * score[j]
        discount *= gamma
    return length, terminated, total_reward


def _run_python(generator, parameters, starts, step_sizes, tables, settings, log, learning):
    """`_episode_python` for a window of episodes of one run.

    Returns the window index of the episode whose update went non-finite (undone, as
    `Tracker.guarded` does, and the run learns no more), or −1.
    """
    theta, w = parameters
    max_steps = settings.max_steps
    buffers = (np.zeros(max_steps, np.int64), np.zeros(max_steps, np.int64), np.zeros(max_steps))
    theta_before, w_before = theta.copy(), w.copy()
    diverged = -1
    for e in range(starts.shape[0]):
        theta_before[:] = theta
        w_before[:] = w
        learning_now = learning and diverged < 0  # a diverged run stops learning
        length, terminated, total_reward = _episode(
            generator,
            parameters,
            starts[e],
            step_sizes.theta[e] if learning_now else 0.0,
            step_sizes.w[e] if learning_now else 0.0,
            tables,
            settings,
            buffers,
        )
        log.returns[e], log.lengths[e], log.truncated[e] = total_reward, length, not terminated
        if not (np.isfinite(theta).all() and np.isfinite(w).all()):
            theta[:] = theta_before
            w[:] = w_before
            if learning_now:
                diverged = e
    return diverged


def _actor_critic_episode_python(
    generator, parameters, start, alpha_theta, alpha_w, tables, settings
):
    """One actor-critic episode of one run (p. 332), θ [d] and w [k] updated in place.

    Returns (length, terminated, total reward, step whose update diverged or −1). A step
    that makes θ or w non-finite is undone, and the run learns no more (`Tracker.guarded`).
    """
    theta, w = parameters
    features, value_features = tables.features, tables.value_features
    gamma, chunk = settings.gamma, settings.chunk
    lambda_theta, lambda_w = settings.lambda_theta, settings.lambda_w
    n_actions, n_parameters, n_value = features.shape[1], features.shape[2], w.shape[0]
    z_theta, z_w = np.zeros(n_parameters), np.zeros(n_value)
    theta_before, w_before = theta.copy(), w.copy()
    preferences, score = np.zeros(n_actions), np.zeros(n_parameters)
    noise = np.zeros((chunk, n_actions))
    traces = lambda_theta > 0 or lambda_w > 0
    state, length, terminated, total_reward, diverged = start, 0, False, 0.0, -1
    discount = 1.0  # I
    while length < settings.max_steps:
        if length % chunk == 0:  # the NumPy path's draw: `chunk` steps of uniforms at a time
            noise = _gumbel_block(generator, chunk, n_actions)
        # A ~ π(·|S, θ) by Gumbel-max; the preferences are kept for the score
        largest = _preferences_at(features, state, theta, preferences)
        action = _gumbel_argmax(preferences, noise[length % chunk])
        reward = tables.rewards[state, action]
        terminated = tables.terminated[state, action]
        following = tables.next_states[state, action]
        total_reward += reward
        length += 1
        # δ ← R + γ v̂(S', w) − v̂(S, w), v̂(S') = 0 at a terminal state (not at the step cap)
        value_here, value_next = 0.0, 0.0
        for i in range(n_value):
            value_here += value_features[state, i] * w[i]
            value_next += value_features[following, i] * w[i]
        delta = reward + (0.0 if terminated else gamma * value_next) - value_here
        learning = diverged < 0
        if learning:
            theta_before[:] = theta
            w_before[:] = w
        _score_at(features, state, action, preferences, largest, score)
        step_w = alpha_w if learning else 0.0
        step_theta = alpha_theta if learning else 0.0
        if traces:
            for i in range(n_value):
                z_w[i] = gamma * lambda_w * z_w[i] + value_features[state, i]
                w[i] += step_w * delta * z_w[i]
            for j in range(n_parameters):
                z_theta[j] = gamma * lambda_theta * z_theta[j] + discount * score[j]
                theta[j] += step_theta * delta * z_theta[j]
        else:
            for i in range(n_value):
                w[i] += step_w * delta * value_features[state, i]
            for j in range(n_parameters):
                theta[j] += step_theta * discount * delta * score[j]
        if learning and not (np.isfinite(theta).all() and np.isfinite(w).all()):
            theta[:] = theta_before
            w[:] = w_before
            diverged = length - 1
        discount *= gamma
        state = following
        if terminated:
            break
    return length, terminated, total_reward, diverged


def _actor_critic_run_python(
    generator, parameters, starts, step_sizes, tables, settings, log, diverged
):
    """`_actor_critic_episode_python` for a window of one run; `diverged` gets (episode, step)."""
    for e in range(starts.shape[0]):
        learning = diverged[0] < 0
        length, terminated, total_reward, step = _actor_critic_episode(
            generator,
            parameters,
            starts[e],
            step_sizes.theta[e] if learning else 0.0,
            step_sizes.w[e] if learning else 0.0,
            tables,
            settings,
        )
        log.returns[e], log.lengths[e], log.truncated[e] = total_reward, length, not terminated
        if learning and step >= 0:
            diverged[0], diverged[1] = e, step


# the kernels call these names; as plain Python they run slowly but correctly, and
# `_compiled` rebinds them to compiled versions
_gumbel_block, _gumbel_argmax = _gumbel_block_python, _gumbel_argmax_python
_preferences_at, _score_at = _preferences_at_python, _score_at_python
_episode, _actor_critic_episode = _episode_python, _actor_critic_episode_python
