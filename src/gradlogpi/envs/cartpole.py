"""Gymnasium's native vector CartPole, its step one compiled call (extra `gradlogpi[fast]`).

Gymnasium's `CartPoleVectorEnv` steps all its sub-environments as NumPy arrays: about
thirty array operations a step, plus a check of the actions, each a microsecond or more
however few the sub-environments. With 100 runs of linear REINFORCE at once (benchmark
P7) that was most of the time. `CompiledCartPoleVectorEnv` is the same class with `step`
done by one Numba call: the same float64 operations in the same order, elementwise, so
every observation, reward and flag is bit for bit Gymnasium's for the same seed and
actions (a test steps both). The autoreset states are drawn as Gymnasium draws them, by
its generator in Python, only on the steps where some sub-environment resets.

Up to `FEW_CARTS` sub-environments are stepped in Python floats instead (`math.cos`, the
same operations in the same order, bit for bit too): about 1 µs a cart on top of the
step's own 4 µs (12 µs for 8 carts) against the compiled call's 4 µs however few, but no
Numba to import and no kernels to load, a third of a second at start-up. A state or
constant that `math` refuses (an infinite angle, a zero mass) is stepped by Gymnasium's
own arrays, which give inf and NaN as they always did. For the zoo's 8-env CartPole PPO (100k steps) that third of a
second is more than the compiled step saves over the whole run.

Its snapshots are Gymnasium's `CartPoleVectorEnv`'s (the same attributes, named as that
class), so a run saved with either resumes with either.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv


def physical_constants(env: Any) -> np.ndarray:
    """[9] float64 of a CartPole env (single or vector: the same attributes), read when
    called, as Gymnasium's step reads them: gravity, masspole, total_mass, length,
    polemass_length, force_mag, tau, x_threshold, theta_threshold_radians."""
    return np.array(
        [
            env.gravity,
            env.masspole,
            env.total_mass,
            env.length,
            env.polemass_length,
            env.force_mag,
            env.tau,
            env.x_threshold,
            env.theta_threshold_radians,
        ]
    )


def _dynamics_python(x, x_dot, theta, theta_dot, push, constants):
    """One Euler step of CartPole from (x, ẋ, θ, θ̇) with the cart pushed right where
    `push` (action 1): (x, ẋ, θ, θ̇, ended), scalars in the compiled kernel, arrays [R] in
    `CartPoleModel`. Gymnasium's expressions in its order (a * b * c is (a * b) * c), so
    both are bit for bit its envs'."""
    gravity, masspole, total_mass, length, polemass_length, force_mag, tau = constants[:7]
    x_threshold, theta_threshold = constants[7], constants[8]
    force = (2.0 * push - 1.0) * force_mag  # np.sign(a − 0.5) · force_mag, ±1 exactly
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    x = x + tau * x_dot
    x_dot = x_dot + tau * xacc
    theta = theta + tau * theta_dot
    theta_dot = theta_dot + tau * thetaacc
    ended = (x < -x_threshold) | (x > x_threshold)
    ended = ended | (theta < -theta_threshold) | (theta > theta_threshold)
    return x, x_dot, theta, theta_dot, ended


_dynamics = _dynamics_python  # the compiled one once `_compiled` has run

FEW_CARTS = 8
"""Vector envs of up to this many sub-environments step in Python floats (see the module)."""


def _step_floats(
    state: np.ndarray,
    actions: np.ndarray,
    steps: np.ndarray,
    previous_done: np.ndarray,
    settings: tuple[np.ndarray, int, bool],
) -> tuple[np.ndarray, ...] | None:
    """`_step_python` in Python floats, for a few sub-environments: (state [4, N], steps
    [N] int32, observations [N, 4] float32, rewards [N] float32, terminated [N],
    truncated [N]) as new arrays, or None if an action is not 0 or 1."""
    constants, max_episode_steps, sutton_barto_reward = settings
    gravity, masspole, total_mass, length, polemass_length, force_mag, tau = constants[:7].tolist()
    x_threshold, theta_threshold = constants[7:9].tolist()
    pushes = actions.tolist()
    if any(push != 0 and push != 1 for push in pushes):
        return None
    positions, velocities, angles, angular_velocities = state.tolist()
    counts, done_before = steps.tolist(), previous_done.tolist()
    n = len(pushes)
    rewards, terminated, truncated = [0.0] * n, [False] * n, [False] * n
    for k in range(n):
        x, x_dot, theta, theta_dot = positions[k], velocities[k], angles[k], angular_velocities[k]
        # _dynamics_python's expressions in its order, written again for Python floats: its
        # np.cos returns NumPy scalars, whose arithmetic would triple this loop's cost
        force = (2.0 * (pushes[k] == 1) - 1.0) * force_mag
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
        thetaacc = (gravity * sintheta - costheta * temp) / (
            length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        positions[k] = x = x + tau * x_dot
        velocities[k] = x_dot + tau * xacc
        angles[k] = theta = theta + tau * theta_dot
        angular_velocities[k] = theta_dot + tau * thetaacc
        ended = x < -x_threshold or x > x_threshold or theta < -theta_threshold
        ended = ended or theta > theta_threshold
        counts[k] += 1
        if done_before[k]:  # this step only resets the sub-environment (the caller draws it)
            counts[k] = 0
            continue
        if sutton_barto_reward:  # −float32(terminated): −1 or −0
            rewards[k] = -1.0 if ended else -0.0
        else:
            rewards[k] = 1.0
        terminated[k] = ended
        truncated[k] = counts[k] >= max_episode_steps
    new_state = np.array([positions, velocities, angles, angular_velocities])
    return (
        new_state,
        np.array(counts, dtype=np.int32),
        np.array(new_state.T, dtype=np.float32, order="C"),
        np.array(rewards, dtype=np.float32),
        np.array(terminated),
        np.array(truncated),
    )


def _step_python(state, actions, steps, previous_done, settings, outputs):
    """CartPoleVectorEnv.step's dynamics and flags, one sub-environment at a time, in place.

    state [4, N] float64 (x, ẋ, θ, θ̇) is advanced and steps [N] counted; `settings` is
    (`physical_constants`, the step cap, the Sutton-Barto
    reward flag); `outputs` (observations [N, 4] float32, rewards [N] float32, terminated
    [N], truncated [N]) are written. Sub-environments done at the previous step
    (`previous_done`) get reward 0 and no flags, as Gymnasium's; their new states are drawn
    by the caller. Returns -1 if an action is not 0 or 1 (nothing changed), else the number
    of sub-environments that reset now.
    """
    constants, max_episode_steps, sutton_barto_reward = settings
    observations, rewards, terminated, truncated = outputs
    n = actions.shape[0]
    for k in range(n):
        if actions[k] != 0 and actions[k] != 1:
            return -1
    resets = 0
    for k in range(n):
        x, x_dot, theta, theta_dot, ended = _dynamics(
            state[0, k], state[1, k], state[2, k], state[3, k], actions[k] == 1, constants
        )
        state[0, k], state[1, k], state[2, k], state[3, k] = x, x_dot, theta, theta_dot
        steps[k] += 1
        if previous_done[k]:
            steps[k] = 0
            rewards[k] = 0.0
            terminated[k] = False
            truncated[k] = False
            resets += 1
        else:
            if sutton_barto_reward:  # −float32(terminated): −1 or −0
                rewards[k] = -1.0 if ended else -0.0
            else:
                rewards[k] = 1.0
            terminated[k] = ended
            truncated[k] = steps[k] >= max_episode_steps
        for i in range(4):
            observations[k, i] = np.float32(state[i, k])
    return resets


def _place_resets_python(state, done, draws, observations):
    """state[:, done] = draws and their observations, as Gymnasium's boolean-mask
    assignment fills them (draws [4, k] column by column over the done sub-environments)."""
    column = 0
    for k in range(done.shape[0]):
        if done[k]:
            for i in range(4):
                state[i, k] = draws[i, column]
                observations[k, i] = np.float32(draws[i, column])
            column += 1


@functools.cache
def _compiled() -> tuple[Any, Any]:
    import numba

    # error_model="numpy": x / 0 gives inf or NaN, as Gymnasium's arrays do (a zero mass)
    compile_ = numba.njit(cache=True, error_model="numpy")
    globals()["_dynamics"] = compile_(_dynamics_python)  # the kernel's callee
    return compile_(_step_python), compile_(_place_resets_python)


class CompiledCartPoleVectorEnv(CartPoleVectorEnv):
    """Gymnasium's `CartPoleVectorEnv` (same arguments, reset, rendering and NEXT_STEP
    autoreset) whose `step` is one compiled call; see the module. Needs Numba. The
    physical constants (`gravity`, `force_mag`, ...) are read at every step, as
    Gymnasium's; the semi-implicit integrator (`kinematics_integrator` other than "euler")
    steps as Gymnasium's."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._few = self.num_envs <= FEW_CARTS  # stepped in Python floats, Numba not imported
        if not self._few:
            self._step, self._place_resets = _compiled()

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.state is None:
            raise gym.error.ResetNeeded("reset the vector env before stepping it")
        if self.kinematics_integrator != "euler":
            return super().step(action)
        n = self.num_envs
        actions = np.asarray(action)
        if actions.dtype != np.int64 or actions.shape != (n,):
            # what Gymnasium's space accepts (other integer dtypes, bools), as int64
            if not self.action_space.contains(actions):
                raise ValueError(
                    f"`action` must be {n} actions of 0 or 1, one per sub-environment "
                    f"(in {self.action_space}); got {action!r}"
                )
            actions = actions.astype(np.int64)
        # updated in place: a restored snapshot's arrays may be read-only or of other dtypes
        state, steps = self.state, self.steps
        if not (state.flags.writeable and state.flags.c_contiguous and state.dtype == np.float64):
            state = self.state = np.array(state, dtype=np.float64, order="C")
        if not (steps.flags.writeable and steps.dtype == np.int32):
            steps = self.steps = np.array(steps, dtype=np.int32)
        # compiled code does not check bounds: a state of another shape must not reach it
        if state.shape != (4, n) or steps.shape != (n,) or np.shape(self.prev_done) != (n,):
            raise ValueError(
                f"the state must be [4, {n}] with steps and prev_done [{n}] (num_envs = {n}); "
                f"got {state.shape}, {steps.shape} and {np.shape(self.prev_done)}"
            )
        settings = (physical_constants(self), self.max_episode_steps, self._sutton_barto_reward)
        if self._few:
            try:
                stepped = _step_floats(state, actions, steps, np.asarray(self.prev_done), settings)
            except (ValueError, ZeroDivisionError):
                # an infinite angle (math.cos refuses it) or a zero mass or length: NumPy's
                # arrays give inf and NaN as Gymnasium's do; nothing was changed yet
                return super().step(actions)
            if stepped is None:
                raise ValueError(f"`action` must hold only 0 and 1; got {action!r}")
            state, self.steps, observations, rewards, terminated, truncated = stepped
            self.state = state
            done = np.asarray(self.prev_done, dtype=bool)
            resets = int(np.count_nonzero(done))
            if resets:  # as Gymnasium's boolean-mask assignment places them
                draws = self.np_random.uniform(low=self.low, high=self.high, size=(4, resets))
                state[:, done] = draws
                observations[done] = draws.T.astype(np.float32)
        else:
            observations = np.empty((n, 4), dtype=np.float32)
            rewards = np.empty(n, dtype=np.float32)
            terminated = np.empty(n, dtype=bool)
            truncated = np.empty(n, dtype=bool)
            outputs = (observations, rewards, terminated, truncated)
            resets = self._step(state, actions, steps, self.prev_done, settings, outputs)
            if resets < 0:
                raise ValueError(f"`action` must hold only 0 and 1; got {action!r}")
            if resets:
                draws = self.np_random.uniform(low=self.low, high=self.high, size=(4, resets))
                self._place_resets(state, self.prev_done, draws, observations)
        self.prev_done = terminated | truncated
        return observations, rewards, terminated, truncated, {}


class CartPoleModel:
    """Gymnasium's `CartPoleEnv` as a `BatchModel` (`envs.batch`): R copies' states [R, 4]
    stepped as arrays, the same float64 operations as its `step` in the same order, so
    each copy's observations, rewards and flags are bit for bit the env's own for the same
    seed and actions (a test plays both). Lockstep episodes (`rollouts.episodes.Runs`, in
    evaluations) step all copies at once with it instead of one env after another. One
    flag differs from `gym.make`'s copies, as for every array model in `Runs`: an episode
    that terminates on the step cap's own step is terminated only, where `TimeLimit` also
    calls it truncated (same returns; evaluations count fewer episodes at the limit).

    Args:
      env: the unwrapped `CartPoleEnv` whose constants and reward it takes. Its states
        start in `reset`'s default bounds (±0.05), as the lockstep runs reset without
        options.
    """

    observation_shape = (4,)

    def __init__(self, env: Any):
        self.env = env
        self.sutton_barto_reward = bool(env._sutton_barto_reward)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Start states [R, 4], each drawn as `CartPoleEnv.reset` draws it from its generator."""
        return np.stack([rng.uniform(low=-0.05, high=0.05, size=(4,)) for rng in rngs])

    def step(
        self, states: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(next_states [R, 4], rewards [R], terminated [R]) for actions [R] of 0 or 1."""
        actions = np.asarray(actions)
        if actions.shape != states.shape[:1] or not np.isin(actions, (0, 1)).all():
            raise ValueError(
                f"`actions` must be {states.shape[0]} actions of 0 or 1; got {actions!r}"
            )
        x, x_dot, theta, theta_dot = states.T
        x, x_dot, theta, theta_dot, terminated = _dynamics_python(
            x, x_dot, theta, theta_dot, actions == 1, physical_constants(self.env)
        )
        if self.sutton_barto_reward:
            rewards = np.where(terminated, -1.0, 0.0)
        else:
            rewards = np.ones(states.shape[0])
        return np.stack((x, x_dot, theta, theta_dot), axis=1), rewards, terminated

    def observe(self, states: np.ndarray) -> np.ndarray:
        """Observations [R, 4] float32, as `CartPoleEnv` returns its state."""
        return states.astype(np.float32)


def cartpole_model(env: Any) -> CartPoleModel | None:
    """A `CartPoleModel` of `env` (a `gym.make` chain) where it steps as `env` would: its
    core is Gymnasium's `CartPoleEnv` itself (not a subclass) with the Euler integrator and
    no rendering, under only the wrappers `gym.make` adds. Else None."""
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv
    from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

    layer = env
    while isinstance(layer, gym.Wrapper):
        if type(layer) not in (TimeLimit, OrderEnforcing, PassiveEnvChecker):
            return None
        layer = layer.env
    if type(layer) is not CartPoleEnv:
        return None
    if layer.kinematics_integrator != "euler" or layer.render_mode is not None:
        return None
    return CartPoleModel(layer)
