"""The short corridor with switched actions (Sutton & Barto 2018, Example 13.1)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from gradlogpi.envs.batch import DiscreteModelEnv

LEFT, RIGHT = 0, 1
TERMINAL = 3


def short_corridor_value(p_right: np.ndarray | float) -> np.ndarray:
    """Exact value of the start state when every state takes `right` with probability p.

    From the Bellman equations v0 = −1 + p v1 + (1−p) v0, v1 = −1 + p v0 + (1−p) v2,
    v2 = −1 + (1−p) v1 (the step into the terminal state gives −1 and v(terminal) = 0):
    v(S0) = 2(p − 2) / (p(1 − p)), maximised at p* = 2 − √2 with v* = −(6 + 4√2) ≈ −11.657
    (Exercise 13.1).
    """
    p = np.asarray(p_right, dtype=np.float64)
    return 2.0 * (p - 2.0) / (p * (1.0 - p))


OPTIMAL_P_RIGHT = 2.0 - np.sqrt(2.0)
OPTIMAL_VALUE = -(6.0 + 4.0 * np.sqrt(2.0))


class ShortCorridorModel:
    """Array dynamics of the short corridor: states 0, 1, 2, terminal 3."""

    observation_shape: tuple[int, ...] = ()
    n_states = 4

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        return np.zeros(len(rngs), dtype=np.int64)

    def step(
        self, states: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        move = np.where(actions == RIGHT, 1, -1)
        move = np.where(states == 1, -move, move)  # the second state reverses the actions
        next_states = np.clip(states + move, 0, TERMINAL)  # left in the first state stays put
        return next_states, np.full(states.shape, -1.0), next_states == TERMINAL

    def observe(self, states: np.ndarray) -> np.ndarray:
        return states


class ShortCorridorEnv(DiscreteModelEnv):
    """
    ## Description
    The short corridor gridworld with switched actions of Sutton & Barto (2018), Example 13.1.
    Three non-terminal states and a terminal one, in a row. In the first and third state
    the actions move as labelled; in the second they are reversed. `left` in the first
    state stays put. Every state looks the same to the agent: use the features
    x(s, right) = [1, 0], x(s, left) = [0, 1] (`short_corridor_features`).

    ## Action Space
    `Discrete(2)`: 0 = left, 1 = right.

    ## Observation Space
    `Discrete(4)`: the position 0, 1, 2, or 3 (terminal). A policy meant to match the
    book must not look at it.

    ## Rewards
    −1 on every step, including the one that enters the terminal state.

    ## Starting State
    Position 0.

    ## Episode End
    Terminates on reaching position 3. Registered with `max_episode_steps=1000`: a policy
    that collapsed onto one action never arrives, and its episode is truncated.

    ## Arguments
    `gym.make("gradlogpi/ShortCorridor-v0")`

    ## Version History
    * v0: initial version.

    Examples:
      >>> import gymnasium as gym
      >>> env = gym.make("gradlogpi/ShortCorridor-v0")
      >>> env.reset(seed=0)
      (np.int64(0), {})
      >>> env.step(1)[:3]
      (np.int64(1), -1.0, False)
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None):
        self.check_render_mode(render_mode)
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Discrete(4)
        self.model = ShortCorridorModel()
        self.state = None

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            cells = ["S" if i == self.state else ("G" if i == TERMINAL else ".") for i in range(4)]
            return " ".join(cells) + "   (actions reversed in cell 1)"
        return None


def short_corridor_features() -> Any:
    """φ(s, left) = [0, 1], φ(s, right) = [1, 0] in every state (Example 13.1)."""
    from gradlogpi.features import TableFeatures

    return TableFeatures(np.array([[0.0, 1.0], [1.0, 0.0]]))


def theta_for_p_right(p_right: float) -> np.ndarray:
    """θ with π(right) = p under `short_corridor_features`: θ = (logit(p), 0)."""
    return np.array([np.log(p_right / (1.0 - p_right)), 0.0])
