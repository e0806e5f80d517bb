"""`gradlogpi check`: the gradient check of a configured policy on states the env visits."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.check import GradientCheck, compare_scores
from gradlogpi.policies import DiscretePolicy
from gradlogpi.runs.build import build_policy, make_config_env
from gradlogpi.runs.config import TrainConfig


def sample_states(env: Any, n_states: int, rng: np.random.Generator) -> np.ndarray:
    """States visited by uniformly random actions, shape [n_states, *obs_shape]."""
    states: list[Any] = []
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    env.action_space.seed(int(rng.integers(2**31)))
    while len(states) < n_states:
        states.append(np.asarray(obs))
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return np.stack(states)


def check_configured_policy(
    config: TrainConfig, n_states: int, seed: int, scale: float
) -> GradientCheck:
    rng = np.random.default_rng(seed)
    env = make_config_env(config)
    policy = build_policy(config, env)
    policy.set_flat(policy.get_flat() + scale * rng.standard_normal(policy.n_parameters))
    states = sample_states(env, n_states, rng)
    if isinstance(policy, DiscretePolicy):
        actions = rng.integers(policy.n_actions, size=n_states)
    else:
        actions = policy.sample(states, rng)  # type: ignore[attr-defined]
    return compare_scores(policy, states, actions, epsilon=1e-6, rng=rng)
