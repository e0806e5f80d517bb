"""The features protocol: state features x(s) and state-action features φ(s,a).

A *state-feature builder* maps a batch of observations [..., *observation_shape] to
x(s) of shape [..., k]. A *state-action builder* maps it to φ(s,·) of shape [..., A, d].
Two composers turn the first into the second: `ActionBlock` (φ(s,a) = onehot(a) ⊗ [x, 1],
the bridge to the matrix form) and `Stacked` (the seed answer's φ(s,a) = [x(s), a]).

Sparse builders (tile coding) also give `active(obs)`: the indices of their non-zero
features, each of value 1, so policies can work in O(active × actions) per step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

import numpy as np

from gradlogpi.core._checks import as_float_array, check_positive_int
from gradlogpi.errors import ShapeError


class StateFeatures(ABC):
    """Base of the x(s) builders. Subclasses set `n_features` and `observation_shape`."""

    n_features: int
    observation_shape: tuple[int, ...]
    sparse: bool = False

    @abstractmethod
    def __call__(self, obs: Any) -> np.ndarray:
        """State features x(s), float64, [..., k], for obs [..., *observation_shape]."""

    def batch_shape(self, obs: np.ndarray) -> tuple[int, ...]:
        """Leading batch axes of `obs`; ShapeError unless it ends in the observation shape."""
        n = len(self.observation_shape)
        if obs.ndim < n or obs.shape[obs.ndim - n :] != self.observation_shape:
            raise ShapeError(
                f"`obs` must have shape [..., {', '.join(map(str, self.observation_shape))}] "
                f"(observation_shape={self.observation_shape}); got {obs.shape}"
            )
        return obs.shape[: obs.ndim - n]

    def active(self, obs: Any) -> np.ndarray:
        """Indices of the non-zero (value 1) features, int, shape [..., m]; sparse builders only."""
        raise TypeError(f"{type(self).__name__} is dense; `active` needs a sparse builder")

    def active_function(self) -> Any:
        """A function obs → `active(obs)` for one observation, as lean as the builder can make it.

        The step loop calls it once per step; builders with set-up worth doing once
        (tile coding) override it.
        """
        return self.active


class StateActionFeatures(ABC):
    """Base of the φ(s,a) builders: `n_features` d and `n_actions` A."""

    n_features: int
    n_actions: int
    observation_shape: tuple[int, ...]
    sparse: bool = False

    @abstractmethod
    def __call__(self, obs: Any) -> np.ndarray:
        """φ(s,·), float64, shape [..., A, d]."""

    def batch_shape(self, obs: np.ndarray) -> tuple[int, ...]:
        return StateFeatures.batch_shape(self, obs)  # type: ignore[arg-type]

    def active(self, obs: Any) -> np.ndarray:
        """Indices of the non-zero (value 1) entries of φ(s,a), int, shape [..., A, m]."""
        raise TypeError(f"{type(self).__name__} is dense; `active` needs a sparse builder")


class ActionBlock(StateActionFeatures):
    """φ(s,a) = onehot(a) ⊗ [x(s), 1]: block a holds the state features, other blocks 0.

    A linear softmax over these features is exactly the matrix policy softmax(W x + b)
    with θ = [W | b] flattened row by row (`gradlogpi.core.matrix_to_theta`). Sparse state
    features stay sparse: m active state features give m + 1 active entries per action.

    Args:
      state_features: an x(s) builder with k features.
      n_actions: A >= 1.
      bias: append the constant 1 (default), giving d = A·(k+1); else d = A·k.
    """

    def __init__(self, state_features: StateFeatures, n_actions: int, *, bias: bool = True):
        self.state_features = state_features
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.bias = bias
        self.block_size = state_features.n_features + int(bias)
        self.n_features = self.n_actions * self.block_size
        self.observation_shape = state_features.observation_shape
        self.sparse = state_features.sparse

    def __call__(self, obs: Any) -> np.ndarray:
        x = self.state_features(obs)
        if self.bias:
            x = np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)
        phi = np.zeros((*x.shape[:-1], self.n_actions, self.n_features))
        for a in range(self.n_actions):
            phi[..., a, a * self.block_size : (a + 1) * self.block_size] = x
        return phi

    def active(self, obs: Any) -> np.ndarray:
        indices = self.state_features.active(obs)
        if self.bias:
            constant = np.full((*indices.shape[:-1], 1), self.state_features.n_features)
            indices = np.concatenate([indices, constant], axis=-1)
        offsets = self.block_size * np.arange(self.n_actions)[:, None]
        return indices[..., None, :] + offsets


class Stacked(StateActionFeatures):
    """The seed answer's stacked features φ(s,a) = [x(s), a] (or [x(s), onehot(a)]).

    Beware: the state part is the same for every action, so it cancels in the softmax and
    in the score (φ(s,a) − E_π[φ(s,·)] is 0 there). A policy over stacked features cannot
    depend on the state; it learns one action distribution for all states. That is what
    the seed's example shows (score (0, 0, −0.3)), and why `ActionBlock` is the usual
    choice. Stacked features suit tasks where every state looks the same (the short
    corridor) or where x(s) carries action-dependent information.

    Args:
      state_features: an x(s) builder with k features.
      n_actions: A >= 1.
      action_encoding: "index" appends a as a number (d = k + 1, the seed's form);
        "onehot" appends onehot(a) (d = k + A).
    """

    def __init__(
        self,
        state_features: StateFeatures,
        n_actions: int,
        *,
        action_encoding: Literal["index", "onehot"] = "index",
    ):
        if action_encoding not in ("index", "onehot"):
            raise ValueError(
                f"`action_encoding` must be 'index' or 'onehot'; got {action_encoding!r}"
            )
        self.state_features = state_features
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.action_encoding = action_encoding
        if action_encoding == "index":
            self.action_part = np.arange(self.n_actions, dtype=np.float64)[:, None]
        else:
            self.action_part = np.eye(self.n_actions)
        self.n_features = state_features.n_features + self.action_part.shape[1]
        self.observation_shape = state_features.observation_shape

    def __call__(self, obs: Any) -> np.ndarray:
        x = self.state_features(obs)
        repeated = np.broadcast_to(x[..., None, :], (*x.shape[:-1], self.n_actions, x.shape[-1]))
        action_part = np.broadcast_to(self.action_part, (*x.shape[:-1], *self.action_part.shape))
        return np.concatenate([repeated, action_part], axis=-1)


class TableFeatures(StateActionFeatures):
    """φ(s,a) read from a table, for `Discrete` observations: obs is a state index.

    Args:
      table: φ for every state and action, shape [S, A, d] (or [A, d] when every state
        looks the same, as in the short corridor).

    Examples:
      >>> features = TableFeatures(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
      >>> features(0).shape
      (2, 3)
    """

    def __init__(self, table: np.ndarray):
        table = as_float_array("table", table)
        if table.ndim == 2:
            table = table[None]
            self.same_for_every_state = True
        elif table.ndim == 3:
            self.same_for_every_state = False
        else:
            raise ShapeError(f"`table` must have shape [S, A, d] or [A, d]; got {table.shape}")
        self.table = table
        self.n_states, self.n_actions, self.n_features = table.shape
        self.observation_shape = ()

    def __call__(self, obs: Any) -> np.ndarray:
        states = state_indices(obs, None if self.same_for_every_state else self.n_states)
        if self.same_for_every_state:
            # a read-only view: the features are the same for every state
            return np.broadcast_to(self.table[0], (*states.shape, *self.table.shape[1:]))
        return self.table[states]


class Constant(StateFeatures):
    """x(s) = (1,): one feature that is 1 everywhere, so v̂(s, w) = w is a learned constant.

    The baseline of Sutton & Barto's Figure 13.2 on the short corridor.

    Args:
      observation_shape: shape of one observation (() for Discrete spaces).

    Examples:
      >>> Constant()(np.array([0, 2]))
      array([[1.],
             [1.]])
    """

    def __init__(self, observation_shape: tuple[int, ...] = ()):
        self.observation_shape = tuple(observation_shape)
        self.n_features = 1

    def __call__(self, obs: Any) -> np.ndarray:
        obs = np.asarray(obs)
        return np.ones((*self.batch_shape(obs), 1))


class OneHot(StateFeatures):
    """Tabular features: x(s) = onehot(s) for a `Discrete(n)` observation space.

    Args:
      n_states: number of states n >= 1 (or pass a `gymnasium.spaces.Discrete` to
        `OneHot.from_space`).

    Examples:
      >>> OneHot(3)(np.array([2, 0]))
      array([[0., 0., 1.],
             [1., 0., 0.]])
    """

    sparse = True
    n_active = 1
    """Active features per observation (m of `active`)."""

    def __init__(self, n_states: int, *, start: int = 0):
        self.n_states = check_positive_int("n_states", n_states)
        self.start = int(start)
        self.n_features = self.n_states
        self.observation_shape = ()

    @classmethod
    def from_space(cls, space: Any) -> OneHot:
        from gymnasium import spaces

        if not isinstance(space, spaces.Discrete):
            raise TypeError(f"`space` must be a gymnasium.spaces.Discrete; got {space!r}")
        return cls(int(space.n), start=int(space.start))

    def __call__(self, obs: Any) -> np.ndarray:
        states = state_indices(np.asarray(obs) - self.start, self.n_states)
        return np.eye(self.n_states)[states]

    def active(self, obs: Any) -> np.ndarray:
        return state_indices(np.asarray(obs) - self.start, self.n_states)[..., None]


def state_indices(obs: Any, n_states: int | None) -> np.ndarray:
    """Integer state indices from `obs` (integral floats too, as vector envs store them)."""
    states = np.asarray(obs)
    if states.dtype.kind not in "iu":
        if states.dtype.kind == "f" and np.all(states == np.round(states)):
            states = states.astype(np.int64)
        else:
            raise TypeError(f"`obs` must hold integer state indices; got dtype {states.dtype}")
    if n_states is not None and states.size and (states.min() < 0 or states.max() >= n_states):
        bad = states[(states < 0) | (states >= n_states)].flat[0]
        raise ValueError(f"`obs` must be a state index in [0, {n_states}); got {bad}")
    return states


class RawState(StateFeatures):
    """x(s) = s: the observation itself, unscaled, for Box observations of shape [k].

    For linear-Gaussian control (LQR), where the optimal mean is linear in the raw state.

    Args:
      n_dims: k >= 1.

    Examples:
      >>> RawState(2)(np.array([0.5, -3.0]))
      array([ 0.5, -3. ])
    """

    def __init__(self, n_dims: int):
        self.n_features = check_positive_int("n_dims", n_dims)
        self.observation_shape = (self.n_features,)

    def __call__(self, obs: Any) -> np.ndarray:
        obs = as_float_array("obs", obs)
        self.batch_shape(obs)
        return obs
