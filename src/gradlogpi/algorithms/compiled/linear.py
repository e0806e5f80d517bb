"""Compiled per-step updates for linear softmax policies on any environment (Numba).

The book's REINFORCE (p. 328) steps θ once per step of the episode, each step at the θ the
previous one left; its actor-critic (p. 332) steps θ and w after every environment step.
On a Gymnasium task such as CartPole the arithmetic of one such step is a few dozen
multiplications, so NumPy's microsecond per call, not the arithmetic, is what they cost:
the per-step REINFORCE loop ran at a fifth of the raw environment's speed, actor-critic at
a twelfth. Here each is one small compiled loop:

- `reinforce_episodes`: returns, weights and the T sequential updates of an episode
  (generated with θ fixed) in one call per episode, for all lockstep runs;
- `actor_critic_step`: act + score + critic + actor update of one environment step in one
  call, which also picks the next action at S' with the updated θ;
- on one Gymnasium env, `learn_reinforce_one_env` (x(s) = s) also generates the episode
  with one call per step (`record_act`: record S_t, check it, act), and `learn_actor_critic`
  computes x(S') inside its step call for raw observations or a shared tile coder, so that
  the step loop holds little but the environment's step.

All work on `MatrixSoftmaxPolicy`'s θ seen as a matrix [A, k + 1] (W with b as its last
column), with dense state features x(s) [k] or sparse ones (indices of the value-1
features, as tile coding gives). The arithmetic is the NumPy path's, so results agree with
it to rounding. Without Numba (or with GRADLOGPI_NO_JIT=1) the same Python functions run
uncompiled: correct, but only worth it for tests.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import numpy as np

from gradlogpi.algorithms.common import step_size
from gradlogpi.algorithms.compiled.tabular import _gumbel_argmax_python, available
from gradlogpi.features import RawState, TileCoder
from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy, Policy, ValueFunction

_HELPERS = (
    "_logits",
    "_probabilities",
    "_ascend",
    "_value",
    "_gumbel_argmax",
    "_episode_weights",
    "_ascend_episode",
    "_actor_critic_step",
    "_tiles",
    "_advance",
    "_finite",
)


@functools.cache
def _compiled() -> dict[str, Any]:
    """The kernels by name, compiled on first use (see `tabular._compiled` for the why)."""
    import numba

    for name in _HELPERS:
        globals()[name] = numba.njit(cache=True)(globals()[f"{name}_python"])
    return {
        "reinforce_episodes": numba.njit(cache=True)(_reinforce_episodes_python),
        "actor_critic_step": globals()["_actor_critic_step"],
        "act": numba.njit(cache=True)(_act_python),
        "record_act": numba.njit(cache=True)(_record_act_python),
        "actor_critic_raw_step": numba.njit(cache=True)(_actor_critic_raw_step_python),
        "actor_critic_tiles_step": numba.njit(cache=True)(_actor_critic_tiles_step_python),
        "all_finite": numba.njit(cache=True)(_all_finite_python),
        "reinforce_recorded": numba.njit(cache=True)(_reinforce_recorded_python),
        "tiles": globals()["_tiles"],
        "vector_record": numba.njit(cache=True)(_vector_record_python),
    }


def _kernel(name: str) -> Any:
    """The kernel `name`, compiled where Numba is, else its plain Python (slow but right)."""
    return _compiled()[name] if available() else globals()[f"_{name}_python"]


def as_matrix(policy: MatrixSoftmaxPolicy) -> np.ndarray:
    """θ as [R, A, k + 1] (a view when θ is contiguous, which the lockstep θ is)."""
    return policy.theta.reshape(-1, policy.n_actions, policy.n_state_features + 1)


def state_inputs(features: Any, obs: Any) -> tuple[np.ndarray, np.ndarray]:
    """x(s) as (indices, values) [..., m] each: every feature for dense builders, the
    value-1 features for sparse ones, so one kernel serves both."""
    if features.sparse:
        indices = np.asarray(features.active(obs), dtype=np.int64)
        return indices, np.ones(indices.shape)
    values = np.asarray(features(obs), dtype=np.float64)
    return np.broadcast_to(np.arange(values.shape[-1]), values.shape), values


def supports(policy: Policy, value: ValueFunction | None = None) -> bool:
    """Whether these kernels can update `policy` (and the critic `value`)."""
    if not available() or type(policy) is not MatrixSoftmaxPolicy:
        return False
    return value is None or type(value) is LinearValue


def reinforce_episodes(
    policy: MatrixSoftmaxPolicy, batch: Any, alpha: np.ndarray, config: Any
) -> None:
    """REINFORCE from one episode of every run in one call: G_t, α γ^t G_t and the updates.

    The same as `reinforce.learn_from_episode` (to rounding: G_t by G_t = R_{t+1} + γ G_{t+1}),
    without the NumPy calls between its lines.

    Args:
      policy: its θ [R, P] is updated in place.
      batch: the runs' `EpisodeBatch` (observations, actions, rewards, lengths).
      alpha: each run's α for this episode (0 for a diverged run), [R].
      config: `ReinforceConfig` (gamma, discount_weighting, batch_update).
    """
    if not policy.theta.flags.c_contiguous:
        policy.theta = np.ascontiguousarray(policy.theta)
    indices, values = state_inputs(policy.state_features, batch.observations[:, :-1])
    settings = (float(config.gamma), bool(config.discount_weighting), not config.batch_update)
    _kernel("reinforce_episodes")(
        as_matrix(policy),
        indices,
        values,
        np.ascontiguousarray(batch.actions, dtype=np.int64),
        np.ascontiguousarray(batch.rewards, dtype=np.float64),
        np.ascontiguousarray(batch.lengths, dtype=np.int64),
        np.ascontiguousarray(alpha, dtype=np.float64),
        settings,
    )


def actor_critic_step_kernel() -> Any:
    """`_actor_critic_step_python`, compiled where Numba is."""
    return _kernel("actor_critic_step")


def _logits_python(matrix, indices, values, out):
    """out = W x + b for θ as a matrix [A, k + 1] and x(s) as (indices, values) [m]."""
    bias = matrix.shape[1] - 1
    for a in range(matrix.shape[0]):
        h = matrix[a, bias]
        for i in range(indices.shape[0]):
            h += matrix[a, indices[i]] * values[i]
        out[a] = h


def _probabilities_python(matrix, indices, values, out):
    """out = π(·|s) = softmax(W x + b), with the largest logit subtracted first."""
    _logits(matrix, indices, values, out)
    largest = out.max()
    total = 0.0
    for a in range(out.shape[0]):
        out[a] = np.exp(out[a] - largest)
        total += out[a]
    out /= total


def _ascend_python(matrix, indices, values, action, step, probabilities):
    """matrix ← matrix + step ∇ln π(a|s): row a' gains step (1[a' = a] − π(a'|s)) [x, 1]."""
    bias = matrix.shape[1] - 1
    for a in range(matrix.shape[0]):
        g = step * ((1.0 if a == action else 0.0) - probabilities[a])
        for i in range(indices.shape[0]):
            matrix[a, indices[i]] += g * values[i]
        matrix[a, bias] += g


def _value_python(w, indices, values):
    """v̂(s, w) = wᵀx(s)."""
    v = 0.0
    for i in range(indices.shape[0]):
        v += w[indices[i]] * values[i]
    return v


def _episode_weights_python(rewards, n_steps, alpha, settings, out):
    """out[t] = α γ^t G_t for t < n_steps, G_t = R_{t+1} + γ G_{t+1} computed backwards.

    `settings` is (γ, weight by γ^t, sequential); without the weighting out[t] = α G_t.
    """
    gamma, discount_weighting = settings[0], settings[1]
    g = 0.0
    for t in range(n_steps - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    discount = alpha
    for t in range(n_steps):
        out[t] *= discount
        if discount_weighting:
            discount *= gamma


def _ascend_episode_python(matrix, indices, values, actions, weights, n_steps, sequential):
    """θ ← θ + w_t ∇ln π(A_t|S_t, θ) for t < n_steps: each at the θ the previous step left
    (`sequential`), or all at the episode's θ and their sum added at the end."""
    probabilities = np.empty(matrix.shape[0])
    target = matrix if sequential else np.zeros_like(matrix)
    for t in range(n_steps):
        if weights[t] == 0.0:  # G_t = 0 (or a diverged run, α = 0): adds nothing
            continue
        _probabilities(matrix, indices[t], values[t], probabilities)
        _ascend(target, indices[t], values[t], actions[t], weights[t], probabilities)
    if not sequential:
        matrix += target


def _reinforce_episodes_python(
    matrices, indices, values, actions, rewards, lengths, alphas, settings
):
    """REINFORCE from one episode of every run, returns and weights included (see
    `reinforce_episodes`); `settings` is (γ, weight by γ^t, sequential)."""
    weights = np.empty(actions.shape[1])
    for run in range(matrices.shape[0]):
        _episode_weights(rewards[run], lengths[run], alphas[run], settings, weights)
        _ascend_episode(
            matrices[run], indices[run], values[run], actions[run], weights, lengths[run],
            settings[2],
        )  # fmt: skip


def _actor_critic_step_python(matrix, w, traces, here, there, noise, step):
    """One step of actor-critic (p. 332), then the action at S'; returns (A', δ).

    Args:
      matrix: θ as [A, k + 1], updated in place.
      w: the critic's weights [k_v], updated in place.
      traces: (z^θ, z^w) shaped as matrix and w, or empty ([0, 0], [0]) for the one-step
        algorithm.
      here: x(S) for the policy and for the critic, (indices, values) each.
      there: the same at S'.
      noise: Gumbel noise [A] for the action at S' (unused when the episode ended).
      step: [A_t, R, terminated, ended, γ, α^θ, α^w, I, γλ^θ, γλ^w] (flags as 0/1).
    """
    z_theta, z_w = traces
    state, value_state = here
    next_state, next_value_state = there
    action, reward, terminated, ended = int(step[0]), step[1], step[2] > 0.0, step[3] > 0.0
    gamma, alpha_theta, alpha_w, discount = step[4], step[5], step[6], step[7]
    v_next = 0.0 if terminated else _value(w, next_value_state[0], next_value_state[1])
    delta = reward + gamma * v_next - _value(w, value_state[0], value_state[1])
    probabilities = np.empty(matrix.shape[0])
    _probabilities(matrix, state[0], state[1], probabilities)  # π(·|S, θ) before the update
    indices, values = value_state
    if z_w.shape[0] == 0:  # one-step: z^w = x(S), z^θ = I ∇ln π(A|S, θ)
        for i in range(indices.shape[0]):
            w[indices[i]] += alpha_w * delta * values[i]
        _ascend(matrix, state[0], state[1], action, alpha_theta * discount * delta, probabilities)
    else:  # z ← γλ z + ∇, then w ← w + α^w δ z^w, θ ← θ + α^θ δ z^θ
        z_w *= step[9]
        for i in range(indices.shape[0]):
            z_w[indices[i]] += values[i]
        z_theta *= step[8]
        _ascend(z_theta, state[0], state[1], action, discount, probabilities)
        w += alpha_w * delta * z_w
        matrix += alpha_theta * delta * z_theta
    if ended:
        return 0, delta
    _logits(matrix, next_state[0], next_state[1], probabilities)  # h(S', ·) after the update
    return _gumbel_argmax(probabilities, noise), delta


def generates_one_env(lockstep: Any) -> bool:
    """Whether `learn_reinforce_one_env` applies: one run of a Gymnasium env, a linear θ over
    the raw observation (x(s) = s)."""
    return learns_one_env(lockstep) and type(lockstep.policy.state_features) is RawState


def learn_reinforce_one_env(lockstep: Any, config: Any) -> None:
    """REINFORCE on one Gymnasium env for the rest of the run: the episode is generated by
    one compiled call per step, which records S_t and acts, and learned from by one more.

    The loop of `reinforce` with `generate_episode` and `learn_from_episode` written for
    this case: nothing but the env's step and one small call happens per step, the episode
    is recorded straight into a preallocated array (row t: S_t, then A_t), and the guard
    against divergence is inside the update's call (θ saved, checked, put back). It reads
    the same noise, so it acts and learns as the NumPy path does (to rounding).
    """
    policy, runs, tracker = lockstep.policy, lockstep.runs, lockstep.tracker
    streams, cap = runs.streams, runs.max_episode_steps
    matrix = as_matrix(policy)[0]
    k = policy.n_state_features
    record = np.empty((cap + 1, k + 1))  # row t: S_t (k values), then A_t
    states, actions = record[:, :k], record[:, k]
    indices = np.broadcast_to(np.arange(k), (cap + 1, k))  # dense x(s): every feature
    episode_arrays = (indices, states, actions)
    backup = np.empty_like(matrix)
    settings = (float(config.gamma), bool(config.discount_weighting), not config.batch_update)
    record_act, learn = _kernel("record_act"), _kernel("reinforce_recorded")
    act_as = [np.int64(a) for a in range(policy.n_actions)]  # Discrete checks these fastest
    chunk, active = streams.chunk, np.ones(1, dtype=bool)
    for episode in range(lockstep.first_episode, config.n_episodes):
        alpha = step_size(config.alpha_theta, config.schedule, episode, config.n_episodes)
        if tracker.diverged_at[0] >= 0:
            alpha = 0.0  # a diverged run stops learning
        obs = runs.reset_one()
        step = runs.step_function()
        rewards: list[float] = []
        terminated = truncated = False
        for t in range(cap):
            if t % chunk == 0:
                streams.noise(t, active)  # draws the next `chunk` steps' noise
                block = streams.buffer[0]
            action = record_act(record, t, obs, matrix, block, t % chunk)
            if action < 0:
                runs.report_non_finite("observation", obs, t)
            obs, reward, terminated, truncated, _ = step(act_as[action])
            rewards.append(reward)
            if terminated or truncated:
                break
        n_steps = len(rewards)
        if record_act(record, n_steps, obs, matrix, block, 0) < 0:  # records S_T, checks it
            runs.report_non_finite("observation", obs, n_steps)
        total = math.fsum(rewards)
        if not math.isfinite(total):
            runs.report_non_finite("reward", rewards, n_steps)
        runs.steps[:] = n_steps
        rewarded = np.array(rewards, dtype=np.float64)
        if not learn(matrix, backup, episode_arrays, rewarded, n_steps, alpha, settings):
            if tracker.diverged_at[0] < 0:
                tracker.diverged_at[0] = episode
        tracker.returns[0, episode] = total
        tracker.lengths[0, episode] = n_steps
        tracker.truncated[0, episode] = truncated or not terminated
        if lockstep.report(episode):
            break


def learns_one_env(lockstep: Any) -> bool:
    """Whether `learn_actor_critic` applies: one run of a Gymnasium env, linear θ and w."""
    runs = lockstep.runs
    return runs.model is None and runs.n_runs == 1 and supports(lockstep.policy, lockstep.value)


def learn_actor_critic(lockstep: Any, config: Any, update: int) -> None:
    """Actor-critic on one Gymnasium env for the rest of the run, one kernel call per step.

    The loop is `actor_critic`'s (p. 332) with everything between two environment steps in
    one compiled call (`OneEnvActorCritic.step`). The divergence guard is per episode, not
    per step: θ and w are saved when an episode starts, and if they are not finite when it
    ends (or δ stops being finite, which ends it early) they go back to the saved values
    and the run learns no more, as the NumPy path's run does.
    """
    policy, runs, tracker = lockstep.policy, lockstep.runs, lockstep.tracker
    streams, cap = runs.streams, runs.max_episode_steps
    learner = OneEnvActorCritic(policy, lockstep.value, config)
    act_as = [np.int64(a) for a in range(policy.n_actions)]  # Discrete checks these fastest
    chunk, active = streams.chunk, np.ones(1, dtype=bool)
    for episode in range(lockstep.first_episode, config.n_episodes):
        fraction = step_size(1.0, config.schedule, episode, config.n_episodes)
        if tracker.diverged_at[0] >= 0:
            fraction = 0.0  # a diverged run stops learning
        obs = runs.reset_one()
        step = runs.step_function()
        streams.noise(0, active)
        block = streams.buffer[0]
        action = learner.start(obs, block, fraction)
        total, t = 0.0, 0
        terminated = truncated = False
        while True:
            if action < 0:  # the observation the kernel was given is not finite
                runs.report_non_finite("observation", obs, t)
            obs, reward, terminated, truncated, _ = step(act_as[action])
            t += 1
            total += reward
            truncated = truncated or (not terminated and t >= cap)
            status = 1 if terminated else 2 if truncated else 0  # 0: the episode goes on
            if status == 0 and t % chunk == 0:
                streams.noise(t, active)
                block = streams.buffer[0]
            action = learner.step(obs, block, t % chunk, reward, status)
            update += 1
            if action == DELTA_NOT_FINITE:  # a non-finite reward, or θ or w overflowed
                runs.report_non_finite("reward", [reward], t)
                runs.report_non_finite("observation", obs, t)
                break
            if status:
                if action < 0:
                    runs.report_non_finite("observation", obs, t)
                break
        runs.steps[:] = t
        if not learner.finish(action != DELTA_NOT_FINITE) and tracker.diverged_at[0] < 0:
            tracker.diverged_at[0] = update
        tracker.returns[0, episode], tracker.lengths[0, episode] = total, t
        tracker.truncated[0, episode] = truncated
        if lockstep.report(episode, update=update):
            break


DELTA_NOT_FINITE = -2
"""What a step kernel returns when δ is not finite (−1: the observation is not)."""


class OneEnvActorCritic:
    """θ and w of one run of `learn_actor_critic`, and its per-step call.

    Where both the policy and the critic see the raw observation (x(s) = s), or share one
    tile coder, the step is one compiled call (`_actor_critic_raw_step`,
    `_actor_critic_tiles_step`) that also computes and keeps x(S) and checks the
    observation; other features are computed in Python (`one_state_inputs`) and passed to
    `_actor_critic_step`.
    """

    def __init__(self, policy: MatrixSoftmaxPolicy, value: Any, config: Any):
        self.matrix = as_matrix(policy)[0]
        self.w = value.w.reshape(-1, value.n_parameters)[0]
        traced = config.lambda_theta > 0 or config.lambda_w > 0
        self.traces = (
            (np.zeros_like(self.matrix), np.zeros_like(self.w))
            if traced
            else (np.empty((0, 0)), np.empty(0))
        )
        self.saved = (np.empty_like(self.matrix), np.empty_like(self.w))
        gamma = config.gamma
        # [A_t, R, terminated, ended, γ, α^θ, α^w, I, γλ^θ, γλ^w] (see _actor_critic_step)
        self.settings = np.zeros(10)
        self.settings[4], self.settings[8] = gamma, gamma * config.lambda_theta
        self.settings[9] = gamma * config.lambda_w
        self.alphas = (config.alpha_theta, config.alpha_w)
        self.here: Any = None  # x(S) for the policy and the critic, features computed in Python
        self.step: Callable[[Any, np.ndarray, int, float, int], int]
        features = policy.state_features
        raw = type(features) is RawState and type(value.state_features) is RawState
        shared = value.state_features is features
        self.coding = (
            features.step_arithmetic() if shared and isinstance(features, TileCoder) else None
        )
        self.kind = "raw" if raw else "tiles" if self.coding is not None else "features"
        self.state: np.ndarray
        if self.kind == "raw":
            self.state = np.empty(policy.n_state_features)  # x(S), kept by the kernel
            self.step = functools.partial(
                _kernel("actor_critic_raw_step"),
                self.matrix,
                self.w,
                *self.traces,
                self.state,
                self.settings,
            )
        elif self.kind == "tiles":
            n_tilings = cast(TileCoder, features).n_active
            self.state = np.empty(n_tilings, dtype=np.int64)  # S's tiles, kept by the kernel
            self.step = functools.partial(
                _kernel("actor_critic_tiles_step"),
                self.matrix,
                self.w,
                *self.traces,
                self.state,
                self.settings,
                self.coding,
            )
        else:
            shared = value.state_features is policy.state_features
            policy_inputs = one_state_inputs(policy.state_features)
            value_inputs = policy_inputs if shared else one_state_inputs(value.state_features)
            kernel = actor_critic_step_kernel()

            def inputs(obs: Any) -> tuple[Any, Any]:
                state = policy_inputs(obs)
                return state, state if shared else value_inputs(obs)

            def step(obs: Any, block: np.ndarray, offset: int, reward: float, status: int) -> int:
                there = inputs(obs)
                settings = self.settings
                settings[1], settings[2], settings[3] = reward, status == 1, status > 0
                action, delta = kernel(
                    self.matrix, self.w, self.traces, self.here, there, block[offset], settings
                )
                settings[0] = action
                settings[7] *= settings[4]  # I ← γ I
                self.here = there
                return action if math.isfinite(delta) else DELTA_NOT_FINITE

            self.inputs, self.step = inputs, step

    def start(self, obs: Any, block: np.ndarray, fraction: float) -> int:
        """Start an episode at S_0 = obs: save θ and w, clear the traces, set I = 1 and the
        step sizes (× `fraction`); returns A_0 (−1 if obs is not finite)."""
        for saved, now in zip(self.saved, (self.matrix, self.w), strict=True):
            np.copyto(saved, now)
        for trace in self.traces:
            trace.fill(0.0)  # z^θ ← 0, z^w ← 0 (nothing to do for the one-step algorithm)
        settings = self.settings
        settings[5], settings[6] = self.alphas[0] * fraction, self.alphas[1] * fraction
        settings[7] = 1.0
        if self.kind == "raw":
            action = _kernel("record_act")(self.state[None], 0, obs, self.matrix, block, 0)
        elif not np.isfinite(obs).all():
            return -1
        elif self.kind == "tiles":
            self.state[:] = _kernel("tiles")(obs, self.coding)
            ones = np.ones(self.state.shape[0])
            action = _kernel("act")(self.matrix, (self.state, ones), block[0])
        else:
            self.here = self.inputs(obs)
            action = _kernel("act")(self.matrix, self.here[0], block[0])
        self.settings[0] = action
        return int(action)

    def finish(self, finite: bool) -> bool:
        """End an episode: if θ or w is not finite (or δ was not), put back the values of its
        start; returns whether they were kept."""
        if finite and _kernel("all_finite")(self.matrix, self.w):
            return True
        self.matrix[...], self.w[...] = self.saved
        return False


def one_state_inputs(features: Any) -> Any:
    """A function obs → x(s) as (indices, values) for one observation, as lean as it gets:
    raw observations pass through uncopied, tile coding is computed in compiled code (or
    by its step-loop `active_function` where its table is too large to precompute)."""
    arithmetic = features.step_arithmetic() if isinstance(features, TileCoder) else None
    if arithmetic is not None:
        tiles, ones = _kernel("tiles"), np.ones(features.n_active)
        return lambda obs: (tiles(obs, arithmetic), ones)
    if features.sparse:
        active = features.active_function()
        ones = np.ones(features.n_active)
        return lambda obs: (active(obs), ones)
    if type(features) is RawState:
        every = np.arange(features.n_features)
        return lambda obs: (every, obs)
    every = np.arange(features.n_features)
    return lambda obs: (every, features(obs))


class VectorBuffers(NamedTuple):
    """Each run's current episode in a vector env of R runs (see `algorithms.book.vector_runs`).

    indices, values [R, cap + 1, m]: x(S_t) as `state_inputs`; actions [R, cap] int64;
    rewards [R, cap]; steps [R] int64 (steps into the episode); restarting [R] bool (the
    next vector step only resets this run); episodes [R] int64 (episodes learned from).
    """

    indices: np.ndarray
    values: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    steps: np.ndarray
    restarting: np.ndarray
    episodes: np.ndarray


class VectorSettings(NamedTuple):
    """alphas [E]: α of each episode (the schedule); γ; γ^t weighting; per-step updates; cap."""

    alphas: np.ndarray
    gamma: float
    discount_weighting: bool
    sequential: bool
    cap: int


class VectorLog(NamedTuple):
    """The tracker's arrays, written in place: returns, lengths, truncated [R, E]; diverged_at [R]."""

    returns: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray
    diverged_at: np.ndarray


def vector_kernel() -> Any:
    """`_vector_record_python` (`algorithms.book.vector_runs`' step), compiled where Numba is."""
    return _kernel("vector_record")


def _tiles_python(obs, arithmetic):
    """`TileCoder.active_function(obs)`, the same arithmetic in compiled code: [n_tilings]."""
    scale, shift, lift, upper, strides, table = arithmetic
    out = np.empty(shift.shape[0], dtype=np.int64)
    for tiling in range(shift.shape[0]):
        flat = 0.0
        for i in range(shift.shape[1]):
            coordinate = np.floor(obs[i] * scale[i] + shift[tiling, i])
            coordinate = min(max(coordinate, lift[tiling, i]), upper[tiling, i])
            flat += coordinate * strides[i]
        out[tiling] = table[min(max(int(flat), 0), table.shape[0] - 1)]  # take(mode="clip")
    return out


def _act_python(matrix, state, noise):
    """argmax_a h(S, a) + G_a for θ as a matrix [A, k + 1] and x(S) as (indices, values)."""
    logits = np.empty(matrix.shape[0])
    _logits(matrix, state[0], state[1], logits)
    return _gumbel_argmax(logits, noise)


def _actor_critic_raw_step_python(
    matrix, w, z_theta, z_w, state, settings, obs, noise, offset, reward, status
):
    """`_actor_critic_step` where x(s) = s for the policy and the critic: S is `state` (x(S),
    overwritten with S' after the step), S' the raw `obs`, the next action's noise
    noise[offset]; `status` 0 (the episode goes on), 1 (S' is terminal) or 2 (cut short).
    Keeps A_t and I in `settings` for the next step. Returns A' (0 if the episode ended),
    −1 if `obs` is not finite, −2 if δ is not.
    """
    if not _finite(obs):
        return -1
    next_state = obs.astype(np.float64)
    every = np.arange(state.shape[0])
    action = _advance(
        (matrix, w, z_theta, z_w), settings, (every, state), (every, next_state),
        noise[offset], reward, status,
    )  # fmt: skip
    state[:] = next_state
    return action


def _actor_critic_tiles_step_python(
    matrix, w, z_theta, z_w, state, settings, coding, obs, noise, offset, reward, status
):
    """`_actor_critic_raw_step` where the policy and the critic share a tile coder: `state`
    holds the active tiles of S [n_tilings], and those of S' are computed here from `obs`
    with the coder's `step_arithmetic` (`coding`)."""
    if not _finite(obs):
        return -1
    next_state = _tiles(obs, coding)
    ones = np.ones(state.shape[0])
    action = _advance(
        (matrix, w, z_theta, z_w), settings, (state, ones), (next_state, ones),
        noise[offset], reward, status,
    )  # fmt: skip
    state[:] = next_state
    return action


def _advance_python(parameters, settings, here, there, noise, reward, status):
    """One step of `_actor_critic_step` from x(S) = `here` to x(S') = `there` (both the
    policy's and the critic's), keeping A_t and I = γ^t in `settings`; returns A', or −2
    if δ is not finite. `parameters` is (θ as a matrix, w, z^θ, z^w)."""
    matrix, w, z_theta, z_w = parameters
    settings[1], settings[2], settings[3] = reward, status == 1, status > 0
    action, delta = _actor_critic_step(
        matrix, w, (z_theta, z_w), (here, here), (there, there), noise, settings
    )
    settings[0] = action
    settings[7] *= settings[4]  # I ← γ I
    return action if np.isfinite(delta) else -2


def _finite_python(values):
    """Whether every value of the 1-D array `values` is finite."""
    for i in range(values.shape[0]):
        if not np.isfinite(values[i]):
            return False
    return True


def _all_finite_python(matrix, w):
    """Whether every value of θ (as a matrix) and w is finite."""
    return np.isfinite(matrix).all() and np.isfinite(w).all()


def _record_act_python(record, t, obs, matrix, noise, offset):
    """Write S_t = obs into row t of `record` and act there: argmax_a h(S_t, a) + G_a, with
    G = noise[offset], written after S_t; −1 (nothing acted) if S_t is not finite.

    record: [cap + 1, k + 1] float64; obs: the observation [k] (any float type);
    matrix: θ as [A, k + 1]; noise: a block of Gumbel noise [chunk, A].
    """
    k = obs.shape[0]
    bias = matrix.shape[1] - 1
    best, action = -np.inf, 0
    for i in range(k):
        value = np.float64(obs[i])
        if not np.isfinite(value):
            return -1
        record[t, i] = value
    for a in range(matrix.shape[0]):
        h = matrix[a, bias]
        for i in range(k):
            h += matrix[a, i] * record[t, i]
        h += noise[offset, a]
        if a == 0 or h > best:  # the first on a tie, as NumPy's argmax
            action, best = a, h
    record[t, k] = action
    return action


def _reinforce_recorded_python(matrix, backup, episode, rewards, n_steps, alpha, settings):
    """REINFORCE from one recorded episode of one run (see `learn_reinforce_one_env`), with
    the divergence guard: θ is put back and False returned if the update left it not finite.

    `episode` is x(S_t) as (indices, values) [T, m] each and the actions [T], which may be
    the float column of the record (A_t as 0.0, 1.0, …)."""
    indices, values, actions = episode
    backup[:] = matrix
    weights = np.empty(n_steps)
    _episode_weights(rewards, n_steps, alpha, settings, weights)
    _ascend_episode(matrix, indices, values, actions, weights, n_steps, settings[2])
    if np.isfinite(matrix).all():
        return True
    matrix[:] = backup
    return False


def _vector_record_python(matrices, buffers, settings, log, outcome, states, noise, next_actions):
    """Append one vector step to every run's episode; learn in the runs whose episode ended;
    then act: next_actions[r] = argmax_a h_r(S', a) + G_ra with the θ_r just updated.

    `outcome` is (actions [R], rewards [R], terminated [R], truncated [R]) of the step and
    `states` x(S') of its observations as (indices, values) [R, m]; `noise` the Gumbel
    noise [R, A] of the next step. A run whose episode ended records it, then takes
    REINFORCE's update (summed, or per step at the θ the previous step left), and if θ
    stopped being finite gets its θ from before the update back and learns no more.
    Returns the number of runs that ended an episode.
    """
    indices, values = states
    actions, rewards, terminated, truncated = outcome
    alphas, gamma, cap = settings.alphas, settings.gamma, settings.cap
    weights = np.empty(cap)
    backup = np.empty_like(matrices[0])
    ended_count = 0
    for run in range(matrices.shape[0]):
        if buffers.restarting[run]:  # this step only reset the run: its first observation
            buffers.indices[run, 0] = indices[run]
            buffers.values[run, 0] = values[run]
            buffers.steps[run] = 0
            buffers.restarting[run] = False
            continue
        t = buffers.steps[run]
        buffers.actions[run, t] = actions[run]
        buffers.rewards[run, t] = rewards[run]
        buffers.indices[run, t + 1] = indices[run]
        buffers.values[run, t + 1] = values[run]
        n_steps = t + 1
        buffers.steps[run] = n_steps
        if not (terminated[run] or truncated[run] or n_steps >= cap):
            continue
        ended_count += 1
        buffers.restarting[run] = True
        episode = buffers.episodes[run]
        if episode >= alphas.shape[0]:  # this run is done learning: it idles
            continue
        buffers.episodes[run] = episode + 1
        log.returns[run, episode] = buffers.rewards[run, :n_steps].sum()
        log.lengths[run, episode] = n_steps
        log.truncated[run, episode] = not terminated[run]
        if log.diverged_at[run] >= 0:
            continue
        matrix = matrices[run]
        backup[...] = matrix
        flags = (gamma, settings.discount_weighting, settings.sequential)
        _episode_weights(buffers.rewards[run], n_steps, alphas[episode], flags, weights)
        _ascend_episode(
            matrix, buffers.indices[run], buffers.values[run], buffers.actions[run], weights,
            n_steps, settings.sequential,
        )  # fmt: skip
        if not np.isfinite(matrix).all():
            matrix[...] = backup
            log.diverged_at[run] = episode
    logits = np.empty(matrices.shape[1])
    for run in range(matrices.shape[0]):  # after every update: `actions` is read above
        _logits(matrices[run], indices[run], values[run], logits)
        next_actions[run] = _gumbel_argmax(logits, noise[run])
    return ended_count


# the kernels call these names; as plain Python they run slowly but correctly, and
# `_compiled` rebinds them to compiled versions
_logits, _probabilities, _ascend = _logits_python, _probabilities_python, _ascend_python
_value, _gumbel_argmax = _value_python, _gumbel_argmax_python
_episode_weights, _ascend_episode = _episode_weights_python, _ascend_episode_python
_actor_critic_step, _tiles, _advance = _actor_critic_step_python, _tiles_python, _advance_python
_finite = _finite_python
