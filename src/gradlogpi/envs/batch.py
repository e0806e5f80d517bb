"""Batched dynamics: R independent copies of a shipped environment stepped as arrays.

A shipped environment exposes `batch_model()`, whose `reset` and `step` work on arrays of
states, one per run. The algorithms use it to learn many runs at once without a Python
call per run per step; the Gymnasium `step` of the same environment calls the same model,
so both follow one definition of the dynamics.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


class BatchModel(Protocol):
    """Array dynamics of one environment; states are whatever `observe` turns into obs.

    `step` takes no random generator, so the dynamics are deterministic given the state.
    A tabular model also sets `n_states` (states 0 … n_states − 1, observed as themselves);
    `gradlogpi.algorithms.compiled.tabular` can then tabulate it once and run compiled loops.
    """

    observation_shape: tuple[int, ...]

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Start states, one per generator, shape [R, ...]."""
        ...

    def step(
        self, states: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(next_states [R, ...], rewards [R], terminated [R]) for actions [R]."""
        ...

    def observe(self, states: np.ndarray) -> np.ndarray:
        """Observations of the states, shape [R, *observation_shape]."""
        ...


@runtime_checkable
class TabularModel(BatchModel, Protocol):
    """A `BatchModel` over states 0 … n_states − 1 (which the compiled loops can tabulate)."""

    n_states: int


class DiscreteModelEnv(gym.Env[np.int64, np.int64]):
    """A Gymnasium env whose dynamics are a `BatchModel` over integer states, stepped one at a time.

    Subclasses set `model`, `action_space`, `observation_space` and `render_mode` in
    `__init__` (after `check_render_mode`) and may add `render`.
    """

    model: Any
    state: np.int64 | None = None

    def check_render_mode(self, render_mode: str | None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"`render_mode` must be one of {self.metadata['render_modes']} or None; "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode

    def batch_model(self) -> Any:
        return self.model

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = np.int64(self.model.reset([self.np_random])[0])
        return self.state, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("Call reset before using step method.")
        if not self.action_space.contains(action):
            raise ValueError(f"`action` must be in {self.action_space}; got {action!r}")
        next_states, rewards, terminated = self.model.step(
            np.array([self.state]), np.array([action])
        )
        self.state = np.int64(next_states[0])
        return self.state, float(rewards[0]), bool(terminated[0]), False, {}
