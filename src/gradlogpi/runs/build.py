"""Turning a `TrainConfig` into environments, features, policies and value functions."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gradlogpi import features, policies
from gradlogpi.errors import ConfigError, GradlogpiError
from gradlogpi.policies.networks import MLP, AdamSettings, Regression
from gradlogpi.runs import feature_kinds, own_networks, policy_kinds
from gradlogpi.runs.config import FeaturesConfig, TrainConfig


def make_config_env(config: TrainConfig, **extra: Any) -> gym.Env:
    import importlib

    import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
    from gradlogpi.rollouts.episodes import checked_env_id, env_construction_error

    if config.env_module is not None:
        try:  # named in the config: importing it runs its code, on purpose
            importlib.import_module(config.env_module)
        except ImportError as error:
            raise ConfigError(f"`env_module` = {config.env_module!r}: {error}") from None
    env_id = checked_env_id(config.env)
    try:
        env = gym.make(env_id, **config.env_kwargs, **extra)
    except gym.error.Error as error:
        raise ConfigError(f"`env` = {config.env!r}: {error}") from None
    except GradlogpiError:
        raise
    except Exception as error:  # the environment's own constructor, on the user's input
        raise env_construction_error(config.env, config.env_kwargs, error) from None
    mode = config.env_kwargs.get("render_mode")
    declared = list(env.metadata.get("render_modes", []))
    if mode is not None and mode not in declared:  # Gymnasium only warns, then never draws
        env.close()
        raise ConfigError(
            f"`env_kwargs.render_mode` = {mode!r}: {config.env!r} declares the render modes "
            f"{declared}"
        )
    return env


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
    # features that give φ(s, a) themselves (the corridor's) need a policy that takes them
    return "linear_softmax" if feature_kinds.get(features_kind).state_action else "matrix_softmax"


def with_env_defaults(config: TrainConfig, env: gym.Env) -> TrainConfig:
    """The config with `features.kind` and `policy.kind` chosen for `env` where not given
    (and a neural Gaussian's `policy.log_std`)."""
    features_kind = config.features.kind or default_features(env)
    policy_kind = config.policy.kind or default_policy(env, features_kind)
    if config.policy.kind is None and config.algorithm_spec().policies == ("torch",):
        # an algorithm that learns only neural policies gets one by default
        policy_kind = (
            "neural_gaussian" if isinstance(env.action_space, spaces.Box) else "neural_softmax"
        )
    log_std = config.policy.log_std
    if policy_kind == "neural_gaussian" and log_std is None:
        log_std = "free"  # written out, so a run directory says which form it trained
    chosen = (features_kind, policy_kind, log_std)
    if chosen == (config.features.kind, config.policy.kind, config.policy.log_std):
        return config
    return config.model_copy(
        update={
            "features": config.features.model_copy(update={"kind": features_kind}),
            "policy": config.policy.model_copy(update={"kind": policy_kind, "log_std": log_std}),
        }
    )


def build_state_features(spec: FeaturesConfig, env: gym.Env) -> features.StateFeatures:
    """x(s) for the environment's observation space (the kind `default_features` where not
    given); dispatched through `runs.feature_kinds`."""
    if spec.kind is None:
        spec = spec.model_copy(update={"kind": default_features(env)})
    return policy_kinds.state_features(spec, env)


def build_policy(config: TrainConfig, env: gym.Env) -> policies.Policy:
    """The configured policy for `env`, with θ0 from `init_scale` / `p_right0`; dispatched
    through `runs.policy_kinds`."""
    return policy_kinds.build(with_env_defaults(config, env), env)


def build_value(config: TrainConfig, env: gym.Env) -> policies.ValueFunction | None:
    """The critic where the algorithm uses one: a `LinearValue` over `value_features`
    (default: constant) or, with `value.kind` = 'neural', a `NeuralValue`."""
    from gradlogpi.policies import LinearValue

    if not config.algorithm_spec().needs_value(config.algorithm_config()):
        return None
    if config.value.kind == "neural":
        if not isinstance(env.observation_space, spaces.Box):
            raise ConfigError(
                f"`value.kind` = 'neural' needs Box observations; got {env.observation_space}"
            )
        spec_value = config.value
        observation_dim = int(np.prod(env.observation_space.shape))
        regression = Regression(
            spec_value.epochs,
            spec_value.minibatches,
            spec_value.clip_range,
            spec_value.weight_decay,
        )
        seed = config.seed + 1  # not the policy's initial weights
        if spec_value.network is not None:
            dtype = policy_kinds.training_dtype(config.policy)
            return own_networks.value_function(config, env, regression, seed, dtype)
        if config.policy.backend == "jax":  # the critic trains where the policy does
            from gradlogpi.policies.jax_policies import JaxValue

            network = MLP(
                tuple(spec_value.hidden), spec_value.activation, spec_value.initialization
            )
            return JaxValue(  # type: ignore[return-value]
                observation_dim,
                network,
                seed=seed,
                lr=AdamSettings(spec_value.lr, spec_value.adam_epsilon),
                regression=regression,
                dtype=policy_kinds.training_dtype(config.policy),
            )
        from gradlogpi.policies.torch_policies import NeuralValue

        return NeuralValue(  # type: ignore[return-value]
            observation_dim,
            spec_value.hidden,
            spec_value.activation,
            seed=seed,
            lr=AdamSettings(spec_value.lr, spec_value.adam_epsilon),
            regression=regression,
            initialization=spec_value.initialization,
        )
    if config.value.network is not None:
        raise ConfigError(
            "`value.network` is your own network for a neural critic; it needs `value.kind` = "
            "'neural'; got 'linear'"
        )
    spec = config.value_features or FeaturesConfig(kind="constant")
    return LinearValue(build_state_features(spec, env))
