"""Gymnasium's Acrobot-v1, all sub-environments stepped as arrays (a native vector env).

Gymnasium's `AcrobotEnv` integrates its dynamics with a Python RK4 on five-element
arrays: in a vector env of 16 Acrobots that is most of a PPO run's time. `AcrobotVectorEnv`
is the same `SyncVectorEnv` of `gym.make("Acrobot-v1")` copies, stepped as arrays: the
same float64 operations in the same order, elementwise, so every observation, reward and
flag is bit-for-bit the sync vector env's for the same seeds and actions (a test steps
both). Two places need care for that: the scalar code squares by `x ** 2` on NumPy
scalars, which is the C library's `pow` (not always `x * x`; `np.float_power` calls the
same `pow`), and a reset state is float32, so its first observation is computed in float32.
Each sub-environment keeps its own random generator, seeded as `SyncVectorEnv` seeds its
copies, for its resets.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

TORQUES = np.array(AcrobotEnv.AVAIL_TORQUE, dtype=np.float64)
"""Torque of each action (as np.append makes it in AcrobotEnv.step: float64)."""
RESET_LOW, RESET_HIGH = -0.1, 0.1
"""AcrobotEnv.reset's default bounds of the initial state."""


def squared(x: np.ndarray) -> np.ndarray:
    """x ** 2 as NumPy computes it on a float64 scalar: the C library's pow(x, 2)."""
    return np.float_power(x, 2)


_M1, _M2 = AcrobotEnv.LINK_MASS_1, AcrobotEnv.LINK_MASS_2
_L1 = AcrobotEnv.LINK_LENGTH_1
_LC1, _LC2 = AcrobotEnv.LINK_COM_POS_1, AcrobotEnv.LINK_COM_POS_2
_I1 = _I2 = AcrobotEnv.LINK_MOI
_G = 9.8
# AcrobotEnv._dsdt's constant factors, each the same Python expression it evaluates first
# (its products associate to the left, so these are its intermediate results exactly)
_D1_BASE = _M1 * _LC1**2  # then + m2 * (...) + I1 + I2
_D1_INNER = _L1**2 + _LC2**2  # then + 2·l1·lc2·cos θ2
_D1_COS = 2 * _L1 * _LC2
_D2_INNER = _LC2**2  # then + l1·lc2·cos θ2
_D2_COS = _L1 * _LC2
_PHI2 = _M2 * _LC2 * _G
_PHI1_SQUARE = -_M2 * _L1 * _LC2
_PHI1_PRODUCT = 2 * _M2 * _L1 * _LC2
_PHI1_GRAVITY = (_M1 * _LC1 + _M2 * _L1) * _G
_DD2_SQUARE = _M2 * _L1 * _LC2
_DD2_DENOMINATOR = _M2 * _LC2**2 + _I2  # then − d2²/d1


def state_derivative(state: np.ndarray, torque: np.ndarray) -> np.ndarray:
    """AcrobotEnv._dsdt ("book" dynamics) of states [4, N] under torques [N], elementwise
    in its order of operations: [dθ1, dθ2, d²θ1, d²θ2] as [4, N]."""
    pi = np.pi
    theta1, theta2, dtheta1, dtheta2 = state
    cos2, sin2 = np.cos(theta2), np.sin(theta2)
    d1 = _D1_BASE + _M2 * (_D1_INNER + _D1_COS * cos2) + _I1 + _I2
    d2 = _M2 * (_D2_INNER + _D2_COS * cos2) + _I2
    phi2 = _PHI2 * np.cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        _PHI1_SQUARE * squared(dtheta2) * sin2
        - _PHI1_PRODUCT * dtheta2 * dtheta1 * sin2
        + _PHI1_GRAVITY * np.cos(theta1 - pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - _DD2_SQUARE * squared(dtheta1) * sin2 - phi2) / (
        _DD2_DENOMINATOR - squared(d2) / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return np.stack((dtheta1, dtheta2, ddtheta1, ddtheta2))


def rk4_step(state: np.ndarray, torque: np.ndarray, dt: float) -> np.ndarray:
    """Gymnasium's `rk4` over [0, dt] of states [4, N] (the torque, the fifth component of
    its augmented state, has derivative 0 and stays as it is)."""
    dt2 = dt / 2.0

    k1 = state_derivative(state, torque)
    k2 = state_derivative(state + dt2 * k1, torque)
    k3 = state_derivative(state + dt2 * k2, torque)
    k4 = state_derivative(state + dt * k3, torque)
    return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def wrapped(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Gymnasium's `wrap`, elementwise: add or subtract the period until x is in range."""
    period = high - low
    while np.any(x > high):
        x = np.where(x > high, x - period, x)
    while np.any(x < low):
        x = np.where(x < low, x + period, x)
    return x


class AcrobotVectorEnv(gym.vector.VectorEnv):
    """`num_envs` Acrobot-v1 environments, as `gym.make_vec("Acrobot-v1", num_envs,
    vectorization_mode="sync")` makes them (NEXT_STEP autoreset, the step cap of
    `max_episode_steps`), stepped as arrays.

    `reset(seed=...)` seeds as `SyncVectorEnv` does: a list gives each sub-environment its
    seed, an int s the seeds s, s + 1, ...

    Args:
      num_envs: sub-environments.
      max_episode_steps: episodes are truncated after this many steps (Acrobot-v1: 500).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    seeds_each_env = True
    """reset takes one seed per sub-environment, as `SyncVectorEnv`."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500):
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        single = AcrobotEnv()
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.state: np.ndarray | None = None  # [4, N] float64
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.autoreset = np.zeros(num_envs, dtype=bool)
        self.generators = [seeding.np_random()[0] for _ in range(num_envs)]

    @property
    def generator_states(self) -> np.ndarray:
        """Each sub-environment's PCG64 state as uint64 [N, 6]: state and increment (high
        and low words), has_uint32, uinteger (for snapshots)."""
        rows = []
        for generator in self.generators:
            bits = generator.bit_generator.state
            state, inc = bits["state"]["state"], bits["state"]["inc"]
            low = 2**64 - 1
            words = [state >> 64, state & low, inc >> 64, inc & low]
            rows.append([*words, bits["has_uint32"], bits["uinteger"]])
        return np.array(rows, dtype=np.uint64)

    @generator_states.setter
    def generator_states(self, rows: np.ndarray) -> None:
        generators = []
        for row in np.asarray(rows, dtype=np.uint64).tolist():
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": (row[0] << 64) | row[1], "inc": (row[2] << 64) | row[3]},
                "has_uint32": row[4],
                "uinteger": row[5],
            }
            generators.append(generator)
        self.generators = generators

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        seeds: list[int | None]
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + k for k in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(
                f"`seed` must be an int or {self.num_envs} seeds (one per sub-environment); "
                f"got {len(seeds)}"
            )
        for k, one in enumerate(seeds):
            if one is not None:
                self.generators[k] = seeding.np_random(one)[0]
        initial = np.stack([self._initial_state(k) for k in range(self.num_envs)], axis=1)
        self.state = initial.astype(np.float64)
        self.steps[:] = 0
        self.autoreset[:] = False
        return self._observations(initial), {}

    def _initial_state(self, k: int) -> np.ndarray:
        """Sub-environment k's reset state, float32 [4], from its own generator."""
        return (
            self.generators[k].uniform(low=RESET_LOW, high=RESET_HIGH, size=(4,)).astype(np.float32)
        )

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.state is None:
            raise gym.error.ResetNeeded("reset the vector env before stepping it")
        torque = TORQUES[np.asarray(actions, dtype=np.int64)]
        state = rk4_step(self.state, torque, AcrobotEnv.dt)
        state[0] = wrapped(state[0], -np.pi, np.pi)
        state[1] = wrapped(state[1], -np.pi, np.pi)
        state[2] = np.minimum(np.maximum(state[2], -AcrobotEnv.MAX_VEL_1), AcrobotEnv.MAX_VEL_1)
        state[3] = np.minimum(np.maximum(state[3], -AcrobotEnv.MAX_VEL_2), AcrobotEnv.MAX_VEL_2)
        terminated = -np.cos(state[0]) - np.cos(state[1] + state[0]) > 1.0
        self.steps += 1
        truncated = self.steps >= self.max_episode_steps
        rewards = np.where(terminated, 0.0, -1.0)
        observations = self._observations(state)
        # NEXT_STEP autoreset: a sub-environment done at the last step only resets now
        resetting = np.flatnonzero(self.autoreset)
        for k in resetting.tolist():
            initial = self._initial_state(k)
            state[:, k] = initial
            observations[k] = self._observations(initial[:, None])[0]
        self.steps[resetting] = 0
        rewards[resetting] = 0.0
        terminated[resetting] = False
        truncated[resetting] = False
        self.state = state
        self.autoreset = terminated | truncated
        return observations, rewards, terminated, truncated, {}

    @staticmethod
    def _observations(state: np.ndarray) -> np.ndarray:
        """AcrobotEnv._get_ob of states [4, N] (float32 or float64, computed in their
        dtype), float32 [N, 6]."""
        theta1, theta2, dtheta1, dtheta2 = state
        return np.stack(
            [np.cos(theta1), np.sin(theta1), np.cos(theta2), np.sin(theta2), dtheta1, dtheta2],
            axis=1,
        ).astype(np.float32)
