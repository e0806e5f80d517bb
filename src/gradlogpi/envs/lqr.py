"""A linear-quadratic regulator: a continuous task whose optimal linear gain is known."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def riccati_gain(
    a: np.ndarray,
    b: np.ndarray,
    q: np.ndarray,
    r: np.ndarray,
    gamma: float,
    iterations: int = 10_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal gain K (u = −K x) and cost matrix P of the discounted LQR.

    Iterates the discounted Riccati equation
    P ← Q + γ AᵀPA − γ² AᵀPB (R + γ BᵀPB)⁻¹ BᵀPA to its fixed point, then
    K = γ (R + γ BᵀPB)⁻¹ BᵀPA. Additive Gaussian action noise does not change K
    (certainty equivalence), so it is also the best mean gain of a Gaussian policy.
    """
    p = np.array(q, dtype=np.float64)
    for _ in range(iterations):
        gain = gamma * np.linalg.solve(r + gamma * b.T @ p @ b, b.T @ p @ a)
        updated = q + gamma * a.T @ p @ a - gamma * (a.T @ p @ b) @ gain
        if np.allclose(updated, p, rtol=1e-14, atol=1e-14):
            p = updated
            break
        p = updated
    gain = gamma * np.linalg.solve(r + gamma * b.T @ p @ b, b.T @ p @ a)
    return gain, p


class LQRModel:
    """Array dynamics x' = A x + B u, reward −(xᵀQx + uᵀRu)."""

    def __init__(
        self, a: np.ndarray, b: np.ndarray, q: np.ndarray, r: np.ndarray, initial_range: float
    ):
        self.a, self.b, self.q, self.r = a, b, q, r
        self.initial_range = initial_range
        self.observation_shape = (a.shape[0],)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        n = self.a.shape[0]
        return np.stack([rng.uniform(-self.initial_range, self.initial_range, n) for rng in rngs])

    def step(
        self, states: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        actions = np.asarray(actions, dtype=np.float64).reshape(states.shape[0], -1)
        cost = np.einsum("ri,ij,rj->r", states, self.q, states) + np.einsum(
            "ri,ij,rj->r", actions, self.r, actions
        )
        next_states = states @ self.a.T + actions @ self.b.T
        return next_states, -cost, np.zeros(states.shape[0], dtype=bool)

    def observe(self, states: np.ndarray) -> np.ndarray:
        return states


class LQREnv(gym.Env[np.ndarray, np.ndarray]):
    """
    ## Description
    A discrete-time linear-quadratic regulator: x' = A x + B u with cost xᵀQx + uᵀRu.
    The optimal policy is u = −K x with K from the discounted Riccati equation
    (`riccati_gain`); a linear Gaussian policy should learn a mean gain close to −K.

    ## Action Space
    `Box(-inf, inf, (m,))`: the control u (not clipped).

    ## Observation Space
    `Box(-inf, inf, (n,))`: the state x.

    ## Rewards
    −(xᵀQx + uᵀRu) each step.

    ## Starting State
    Each component uniform in [−initial_range, initial_range].

    ## Episode End
    Never terminates; registered with `max_episode_steps=50`. Learn with γ < 1 (the gain
    `riccati_gain` returns is for the discount you pass).

    ## Arguments
    `gym.make("gradlogpi/LQR-v0", a=[[1.0]], b=[[1.0]], q=[[1.0]], r=[[1.0]],
    initial_range=1.0)`; the defaults are a scalar system.

    ## Version History
    * v0: initial version.

    Examples:
      >>> env = gym.make("gradlogpi/LQR-v0")
      >>> obs, _ = env.reset(seed=0)
      >>> obs.shape
      (1,)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        a: Any = ((1.0,),),
        b: Any = ((1.0,),),
        q: Any = ((1.0,),),
        r: Any = ((1.0,),),
        initial_range: float = 1.0,
    ):
        a, b, q, r = (np.atleast_2d(np.asarray(m, dtype=np.float64)) for m in (a, b, q, r))
        n, m = b.shape
        for name, matrix, shape in (("a", a, (n, n)), ("q", q, (n, n)), ("r", r, (m, m))):
            if matrix.shape != shape:
                raise ValueError(
                    f"`{name}` must have shape {shape} (from b of shape {b.shape}); got {matrix.shape}"
                )
        if not initial_range > 0:
            raise ValueError(f"`initial_range` must be > 0; got {initial_range}")
        self.model = LQRModel(a, b, q, r, float(initial_range))
        self.observation_space = spaces.Box(-np.inf, np.inf, (n,), dtype=np.float64)
        self.action_space = spaces.Box(-np.inf, np.inf, (m,), dtype=np.float64)
        self.state: np.ndarray | None = None

    def batch_model(self) -> LQRModel:
        return self.model

    def optimal_gain(self, gamma: float) -> np.ndarray:
        """K of u = −K x for discount γ, shape [m, n]."""
        return riccati_gain(self.model.a, self.model.b, self.model.q, self.model.r, gamma)[0]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = self.model.reset([self.np_random])[0]
        return self.state.copy(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("Call reset before using step method.")
        action = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"`action` must be finite; got {action!r}")
        next_states, rewards, _ = self.model.step(self.state[None], action[None])
        self.state = next_states[0]
        return self.state.copy(), float(rewards[0]), False, False, {}
