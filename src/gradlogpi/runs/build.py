"""Turning a `TrainConfig` into environments, features, policies and value functions."""

from __future__ import annotations

import math
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gradlogpi import policies
from gradlogpi.errors import ConfigError
from gradlogpi.rollouts.episodes import env_name
from gradlogpi.runs.config import FeaturesConfig, TrainConfig


def make_config_env(config: TrainConfig, **extra: Any) -> gym.Env:
    import importlib

    import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
    from gradlogpi.rollouts.episodes import checked_env_id

    if config.env_module is not None:
        try:  # named in the config: importing it runs its code, on purpose
            importlib.import_module(config.env_module)
        except ImportError as error:
            raise ConfigError(f"`env_module` = {config.env_module!r}: {error}") from None
    try:
        return gym.make(checked_env_id(config.env), **config.env_kwargs, **extra)
    except gym.error.Error as error:
        raise ConfigError(f"`env` = {config.env!r}: {error}") from None


def default_features(env: gym.Env) -> str:
    """The features kind that fits `env`: the shipped tasks' book features, else by the space."""
    from gradlogpi.envs import GridWorldEnv, ShortCorridorEnv

    if isinstance(env.unwrapped, ShortCorridorEnv):
        return "corridor"  # Example 13.1: every state looks the same, φ(s, a) = onehot(a)
    if isinstance(env.unwrapped, GridWorldEnv):
        return "border"  # the seed's border features
    return "onehot" if isinstance(env.observation_space, spaces.Discrete) else "raw"


def default_policy(env: gym.Env, features_kind: str) -> str:
    """The policy kind that fits `env`'s action space and the features."""
    if isinstance(env.action_space, spaces.Box):
        return "linear_gaussian"
    return "linear_softmax" if features_kind == "corridor" else "matrix_softmax"


def with_env_defaults(config: TrainConfig, env: gym.Env) -> TrainConfig:
    """The config with `features.kind` and `policy.kind` chosen for `env` where not given."""
    features_kind = config.features.kind or default_features(env)
    policy_kind = config.policy.kind or default_policy(env, features_kind)
    if config.policy.kind is None and config.algorithm_spec().policies == ("torch",):
        # an algorithm that learns only neural policies gets one by default
        policy_kind = (
            "neural_gaussian" if isinstance(env.action_space, spaces.Box) else "neural_softmax"
        )
    if (features_kind, policy_kind) == (config.features.kind, config.policy.kind):
        return config
    return config.model_copy(
        update={
            "features": config.features.model_copy(update={"kind": features_kind}),
            "policy": config.policy.model_copy(update={"kind": policy_kind}),
        }
    )


def build_state_features(spec: FeaturesConfig, env: gym.Env) -> Any:
    """x(s) for the environment's observation space."""
    from gradlogpi import features

    if spec.kind is None:
        spec = spec.model_copy(update={"kind": default_features(env)})
    space = env.observation_space
    name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    if spec.kind == "onehot":
        if not isinstance(space, spaces.Discrete):
            raise ConfigError(
                f"`features.kind` = 'onehot' needs a Discrete observation space (states "
                f"0 … n−1); {name} has {space}: use raw, polynomial, fourier, rbf or tiles"
            )
        return features.OneHot.from_space(space)
    if spec.kind == "constant":
        return features.Constant(tuple(space.shape or ()))
    if spec.kind == "border":
        from gradlogpi.envs import BorderFeatures, GridWorldEnv

        grid = env.unwrapped
        if not isinstance(grid, GridWorldEnv):
            raise ConfigError(
                f"`features.kind` = 'border' describes the cells of gradlogpi/GridWorld-v0; "
                f"{name} is not a grid world"
            )
        return BorderFeatures(grid.n_rows, grid.n_cols, position=spec.position)
    if spec.kind == "corridor":
        from gradlogpi.envs import ShortCorridorEnv

        if not isinstance(env.unwrapped, ShortCorridorEnv):
            raise ConfigError(
                f"`features.kind` = 'corridor' is the short corridor's φ(s, a); {name} is not "
                "gradlogpi/ShortCorridor-v0"
            )
        raise ConfigError(
            "`features.kind` = 'corridor' gives φ(s,a) directly: use it with policy.kind = 'linear_softmax'"
        )
    if not isinstance(space, spaces.Box):
        raise ConfigError(
            f"`features.kind` = {spec.kind!r} needs a Box observation space; {env_name(env)} has {space}"
        )
    if spec.kind == "raw":
        return features.RawState(space.shape[0])
    check_feature_count(spec, int(np.prod(space.shape)))
    bounds = None if spec.bounds is None else np.array(spec.bounds, dtype=np.float64)
    try:
        if spec.kind == "polynomial":
            return features.Polynomial.from_space(
                space, spec.degree, bounds=bounds, interactions=spec.interactions
            )
        if spec.kind == "fourier":
            return features.Fourier.from_space(space, spec.order, bounds=bounds)
        if spec.kind == "rbf":
            return features.RBF.from_space(space, spec.centres_per_dim, spec.width, bounds=bounds)
        return features.TileCoder.from_space(
            space, spec.n_tilings, spec.tiles_per_dim, bounds=bounds, table_size=spec.table_size
        )
    except ValueError as error:
        message = str(error)
        if "unbounded" in message:
            message = message.split("; pass")[0] + (
                "; give every dimension finite bounds, e.g. "
                f"--set features.bounds='{_bounds_example(space)}' (±3 where the space is unbounded)"
            )
        raise ConfigError(f"`features`: {message}") from None


MAX_FEATURES = 10_000_000
"""The most state features a config may ask for (θ alone would take 80 MB per action)."""


def feature_count(spec: FeaturesConfig, dimensions: int) -> int:
    """How many features x(s) the config's features would have on `dimensions` inputs."""
    if spec.kind == "polynomial":
        return math.comb(dimensions + spec.degree, spec.degree)
    if spec.kind == "fourier":
        return (spec.order + 1) ** dimensions
    if spec.kind == "rbf":
        return spec.centres_per_dim**dimensions
    if spec.kind == "tiles":
        per_tiling = (spec.tiles_per_dim + 1) ** dimensions
        total = spec.n_tilings * per_tiling
        return total if spec.table_size is None else min(total, spec.table_size)
    return dimensions


def check_feature_count(spec: FeaturesConfig, dimensions: int) -> None:
    """Refuse features too many to allocate, with the computed size and the limit."""
    count = feature_count(spec, dimensions)
    if count > MAX_FEATURES:
        raise ConfigError(
            f"`features.kind` = {spec.kind!r} would have {count:,} features on {dimensions} "
            f"observation dimensions; the limit is {MAX_FEATURES:,} (lower the order, degree, "
            "centres or tiles, or hash tiles with features.table_size)"
        )


def _bounds_example(space: spaces.Box) -> str:
    """`features.bounds` in TOML from the space, ±3 where a dimension is unbounded."""
    low = np.where(np.isfinite(space.low), space.low, -3.0)
    high = np.where(np.isfinite(space.high), space.high, 3.0)
    return "[" + ",".join(f"[{lo:.4g},{hi:.4g}]" for lo, hi in zip(low, high, strict=True)) + "]"


def build_policy(config: TrainConfig, env: gym.Env) -> policies.Policy:
    """The configured policy for `env`, with θ0 from `init_scale` / `p_right0`."""
    from gradlogpi import features

    config = with_env_defaults(config, env)
    spec, action_space = config.policy, env.action_space
    if spec.kind in ("neural_softmax", "neural_gaussian"):
        from gradlogpi.policies.torch_policies import NeuralGaussianPolicy, NeuralSoftmaxPolicy

        if not isinstance(env.observation_space, spaces.Box):
            raise ConfigError(
                f"`policy.kind` = {spec.kind!r} needs Box observations; got {env.observation_space}"
            )
        k = env.observation_space.shape[0]
        if spec.kind == "neural_softmax":
            return NeuralSoftmaxPolicy(
                k,
                int(cast(spaces.Discrete, action_space).n),
                spec.hidden,
                spec.activation,
                seed=config.seed,
                lr=spec.lr,
            )
        return NeuralGaussianPolicy(
            k,
            cast(spaces.Box, action_space).shape[0],
            spec.hidden,
            spec.activation,
            seed=config.seed,
            lr=spec.lr,
            log_std0=spec.log_std0,
        )
    if spec.kind == "linear_gaussian":
        if not isinstance(action_space, spaces.Box):
            raise ConfigError(
                f"`policy.kind` = 'linear_gaussian' needs a Box action space; got {action_space}"
            )
        policy: policies.ArrayPolicy = policies.LinearGaussianPolicy(
            build_state_features(config.features, env),
            action_space.shape[0],
            log_std0=spec.log_std0,
            learn_std=spec.learn_std,
            state_dependent_std=spec.state_dependent_std,
        )
    else:
        if not isinstance(action_space, spaces.Discrete):
            raise ConfigError(
                f"`policy.kind` = {spec.kind!r} needs a Discrete action space; got {action_space}"
            )
        n_actions = int(action_space.n)
        if spec.kind == "linear_softmax":
            if config.features.kind == "corridor":
                from gradlogpi.envs import (
                    ShortCorridorEnv,
                    short_corridor_features,
                    theta_for_p_right,
                )

                if not isinstance(env.unwrapped, ShortCorridorEnv):
                    raise ConfigError(
                        "`features.kind` = 'corridor' is the short corridor's φ(s, a); "
                        f"{config.env} is not gradlogpi/ShortCorridor-v0"
                    )

                theta0 = theta_for_p_right(spec.p_right0) if spec.p_right0 is not None else None
                return policies.LinearSoftmaxPolicy(short_corridor_features(), theta0)
            x = build_state_features(config.features, env)
            composed = (
                features.ActionBlock(x, n_actions)
                if config.features.action_block
                else features.Stacked(x, n_actions, action_encoding="onehot")
            )
            policy = policies.LinearSoftmaxPolicy(composed)
        else:
            policy = policies.MatrixSoftmaxPolicy(
                build_state_features(config.features, env), n_actions
            )
    if spec.init_scale > 0:
        rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(1)[0])
        policy.set_flat(
            policy.get_flat() + spec.init_scale * rng.standard_normal(policy.n_parameters)
        )
    return policy


def build_value(config: TrainConfig, env: gym.Env) -> policies.ValueFunction | None:
    """The critic where the algorithm uses one: a `LinearValue` over `value_features`
    (default: constant) or, with `value.kind` = 'neural', a `NeuralValue`."""
    from gradlogpi.policies import LinearValue

    if not config.algorithm_spec().needs_value(config.algorithm_config()):
        return None
    if config.value.kind == "neural":
        from gradlogpi.policies.torch_policies import NeuralValue, Regression

        if not isinstance(env.observation_space, spaces.Box):
            raise ConfigError(
                f"`value.kind` = 'neural' needs Box observations; got {env.observation_space}"
            )
        spec_value = config.value
        return NeuralValue(  # type: ignore[return-value]
            int(np.prod(env.observation_space.shape)),
            spec_value.hidden,
            spec_value.activation,
            seed=config.seed + 1,  # not the policy's initial weights
            lr=spec_value.lr,
            regression=Regression(spec_value.epochs, spec_value.minibatches, spec_value.clip_range),
        )
    spec = config.value_features or FeaturesConfig(kind="constant")
    return LinearValue(build_state_features(spec, env))
