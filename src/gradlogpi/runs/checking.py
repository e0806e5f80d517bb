"""`gradlogpi check`: the gradient check of a configured policy on states the env visits."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.check import GradientCheck, compare_scores
from gradlogpi.errors import ConfigError, NonFiniteError
from gradlogpi.policies import DiscretePolicy
from gradlogpi.runs.build import build_policy, make_config_env, with_env_defaults
from gradlogpi.runs.config import TrainConfig
from gradlogpi.runs.limits import check_fits, check_networks, observation_size

EPSILON = 1e-6
"""The central differences' step."""
RTOL = 1e-5
"""The relative tolerance `gradlogpi check` passes at (with an absolute 1e-7)."""


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
    """The analytic score of the configured policy against central differences, at
    θ = θ0 + `scale` · N(0, I) on `n_states` states that random actions visit.

    Raises:
      ConfigError: if `scale` is not a finite number >= 0, or the states and their scores
        would not fit in memory.
      NonFiniteError: if the scores at that θ are not finite (a scale so large that the
        policy's probabilities overflow): errors there would mean nothing.
    """
    if not (np.isfinite(scale) and scale >= 0):
        raise ConfigError(f"`scale` must be a finite number >= 0; got {scale}")
    rng = np.random.default_rng(seed)
    env = make_config_env(config)
    check_networks(with_env_defaults(config, env), env)
    policy = build_policy(config, env)
    row = observation_size(env.observation_space) + 3 * policy.n_parameters
    check_fits(
        "states",
        n_states,
        n_states * row * 8,
        f"{n_states:,} states with their analytic and finite-difference scores",
    )
    theta = policy.get_flat() + scale * rng.standard_normal(policy.n_parameters)
    step = (theta + EPSILON) - theta  # the finite-difference step as float64 resolves it
    if np.any(np.abs(step - EPSILON) > RTOL * EPSILON):
        raise ConfigError(
            f"`scale` = {scale}: θ reaches |θ| = {np.max(np.abs(theta)):.3g}, where float64 "
            f"cannot resolve the finite-difference step {EPSILON} to the check's tolerance "
            f"{RTOL}, so central differences there mean nothing; lower --scale"
        )
    policy.set_flat(theta)
    states = sample_states(env, n_states, rng)
    if isinstance(policy, DiscretePolicy):
        actions = rng.integers(policy.n_actions, size=n_states)
    else:
        actions = policy.sample(states, rng)  # type: ignore[attr-defined]
    with np.errstate(all="ignore"):  # a score that overflows is reported below, by name
        report = compare_scores(policy, states, actions, epsilon=EPSILON, rng=rng)
    if not (np.isfinite(report.max_abs_error) and np.isfinite(report.max_rel_error)):
        raise NonFiniteError(
            f"`scale` = {scale}: at θ drawn at this scale the scores are not finite (max abs "
            f"error {report.max_abs_error}), so the check means nothing there; lower --scale"
        )
    return report
