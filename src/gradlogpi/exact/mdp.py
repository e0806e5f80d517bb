"""Finite MDPs as arrays, and models read off environments whose dynamics are known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np

from gradlogpi.errors import NonTerminatingError

__all__ = ["FiniteMDP", "NonTerminatingError", "model_of_env"]


@dataclass(frozen=True)
class FiniteMDP:
    """A finite MDP: states 0 … S−1, actions 0 … A−1.

    Attributes:
      transitions: P[s, a, s'] = Pr(S' = s' | s, a), shape [S, A, S]; rows of non-terminal
        states sum to 1 (a terminal state's rows are ignored).
      rewards: r[s, a] = E[R | s, a], shape [S, A].
      terminal: which states end the episode, bool [S] (their value is 0).
      start: the start distribution d0, shape [S], summing to 1.
      gamma: the discount γ in [0, 1]; γ = 1 needs episodes that end with probability 1.
      observations: what a policy observes in each state, shape [S, ...] (default: s).
    """

    transitions: np.ndarray
    rewards: np.ndarray
    terminal: np.ndarray
    start: np.ndarray
    gamma: float
    observations: np.ndarray | None = None

    def __post_init__(self) -> None:
        transitions = np.asarray(self.transitions, dtype=np.float64)
        if transitions.ndim != 3 or transitions.shape[0] != transitions.shape[2]:
            raise ValueError(f"`transitions` must have shape [S, A, S]; got {transitions.shape}")
        n_states, n_actions = transitions.shape[:2]
        rewards = np.asarray(self.rewards, dtype=np.float64)
        if rewards.shape != (n_states, n_actions):
            raise ValueError(
                f"`rewards` must have shape [S, A] = [{n_states}, {n_actions}]; got {rewards.shape}"
            )
        terminal = np.asarray(self.terminal, dtype=bool)
        start = np.asarray(self.start, dtype=np.float64)
        for name, array in (("terminal", terminal), ("start", start)):
            if array.shape != (n_states,):
                raise ValueError(f"`{name}` must have shape [S] = [{n_states}]; got {array.shape}")
        if (transitions < 0).any() or not np.allclose(
            transitions[~terminal].sum(axis=-1), 1.0, atol=1e-9
        ):
            raise ValueError(
                "`transitions` must be probabilities: P[s, a, :] >= 0 summing to 1 for every "
                "non-terminal s"
            )
        if (start < 0).any() or not np.isclose(start.sum(), 1.0, atol=1e-9):
            raise ValueError(f"`start` must be a distribution summing to 1; got sum {start.sum()}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"`gamma` must be in [0, 1]; got {self.gamma!r}")
        observations = (
            np.arange(n_states) if self.observations is None else np.asarray(self.observations)
        )
        if observations.shape[0] != n_states:
            raise ValueError(
                f"`observations` must have one row per state ({n_states}); got {observations.shape}"
            )
        for name, value in (
            ("transitions", transitions), ("rewards", rewards), ("terminal", terminal),
            ("start", start), ("observations", observations),
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.transitions.shape[1])

    def with_gamma(self, gamma: float) -> FiniteMDP:
        """The same dynamics with another discount."""
        return FiniteMDP(
            self.transitions, self.rewards, self.terminal, self.start, gamma, self.observations
        )


def model_of_env(env: gym.Env, gamma: float) -> FiniteMDP:
    """The `FiniteMDP` of an environment whose dynamics are published.

    Reads the shipped tabular tasks (short corridor, grid world: their deterministic
    `batch_model()`), and Gymnasium's toy-text environments that publish `P`
    (FrozenLake, CliffWalking, Taxi: `env.unwrapped.P[s][a]` = [(probability, next state,
    reward, terminated), …]). Time limits are not part of the model.

    Raises:
      ValueError: naming the environment, if its dynamics are not known.
    """
    inner = env.unwrapped
    table = getattr(inner, "P", None)
    if isinstance(table, dict):
        return _from_toy_text(inner, table, gamma)
    model_of = getattr(inner, "batch_model", None)
    model = model_of() if callable(model_of) else None
    if model is not None and hasattr(model, "n_states"):
        n_actions = int(cast(gym.spaces.Discrete, inner.action_space).n)
        return _from_tabular_model(model, n_actions, gamma)
    name = env.spec.id if env.spec is not None else type(inner).__name__
    raise ValueError(
        f"`env` {name!r} does not publish its dynamics: exact gradients need a finite MDP "
        "(the shipped gradlogpi/ShortCorridor-v0 and gradlogpi/GridWorld-v0, or Gymnasium's FrozenLake, "
        "CliffWalking, Taxi)"
    )


def _from_toy_text(inner: Any, table: dict, gamma: float) -> FiniteMDP:
    n_states, n_actions = int(inner.observation_space.n), int(inner.action_space.n)
    transitions = np.zeros((n_states, n_actions, n_states))
    rewards = np.zeros((n_states, n_actions))
    terminal = np.zeros(n_states, dtype=bool)
    for state, by_action in table.items():
        for action, outcomes in by_action.items():
            for probability, next_state, reward, terminated in outcomes:
                transitions[state, action, next_state] += probability
                rewards[state, action] += probability * reward
                if terminated:
                    terminal[next_state] = True
    start = np.asarray(getattr(inner, "initial_state_distrib", None), dtype=np.float64)
    if start.shape != (n_states,):
        start = np.zeros(n_states)
        start[int(inner.reset(seed=0)[0])] = 1.0
    start = start / start.sum()
    return FiniteMDP(transitions, rewards, terminal, start, gamma)


def _from_tabular_model(model: Any, n_actions: int, gamma: float) -> FiniteMDP:
    n_states = int(model.n_states)
    states = np.repeat(np.arange(n_states), n_actions)
    actions = np.tile(np.arange(n_actions), n_states)
    next_states, step_rewards, terminated = model.step(states, actions)
    transitions = np.zeros((n_states, n_actions, n_states))
    transitions[states, actions, next_states] = 1.0
    terminal = np.zeros(n_states, dtype=bool)
    terminal[next_states[terminated]] = True
    starts = model.reset([np.random.default_rng(k) for k in range(64)])
    start = np.bincount(starts, minlength=n_states) / starts.size
    rewards = step_rewards.reshape(n_states, n_actions).astype(np.float64)
    return FiniteMDP(
        transitions, rewards, terminal, start, gamma, model.observe(np.arange(n_states))
    )
