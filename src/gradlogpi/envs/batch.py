"""Batched dynamics: R independent copies of a shipped environment stepped as arrays.

A shipped environment exposes `batch_model()`, whose `reset` and `step` work on arrays of
states, one per run. The algorithms use it to learn many runs at once without a Python
call per run per step; the Gymnasium `step` of the same environment calls the same model,
so both follow one definition of the dynamics.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class BatchModel(Protocol):
    """Array dynamics of one environment; states are whatever `observe` turns into obs."""

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
