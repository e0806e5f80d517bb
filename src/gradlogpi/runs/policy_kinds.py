"""Policy kinds by name: what `policy.kind` may be and how each kind is built.

The config schema (which also reads `family` to match a kind with an algorithm),
`gradlogpi train --help`, `gradlogpi algorithms` and the builder read this table. A new
kind is one builder `(config, env) -> policy` and one `register(PolicyKind(...))` line
below; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gradlogpi import features, policies
from gradlogpi.errors import ConfigError
from gradlogpi.policies.networks import (
    BOUNDED_LOG_STD,
    GSDE,
    MLP,
    AdamSettings,
    GaussianHead,
    squash_box,
)
from gradlogpi.runs import feature_kinds, own_networks
from gradlogpi.runs.choices import listed, one_of
from gradlogpi.runs.feature_kinds import space_names


@dataclass(frozen=True)
class PolicyKind:
    """One registered policy kind.

    Attributes:
      name: the name configs and the CLI use (`policy.kind`).
      summary: one line for listings.
      family: 'array' (θ a NumPy array, closed-form scores) or 'torch' (a neural network
        trained by autodiff); an algorithm's `policies` names the families it learns.
      action_spaces: the action spaces it takes (checked before `build`).
      build: `(config, env) -> policy` with `config` the whole `TrainConfig` (its
        `policy.kind` and `features.kind` set, see `runs.build.with_env_defaults`) and
        `env` a Gymnasium env whose spaces passed the checks.
      observations: the observation spaces it reads itself (checked before `build`); ()
        where it reads them through `features` (any space a feature kind takes).
      state_action: it also takes a feature kind's φ(s, a) directly (`corridor`), not only
        state features x(s).
    """

    name: str
    summary: str
    family: Literal["array", "torch"]
    action_spaces: tuple[type[spaces.Space[Any]], ...]
    build: Callable[[Any, gym.Env], policies.Policy]
    observations: tuple[type[spaces.Space[Any]], ...] = ()
    state_action: bool = False


POLICY_KINDS: dict[str, PolicyKind] = {}


def register(kind: PolicyKind) -> PolicyKind:
    """Add `kind` to the registry (names are unique)."""
    if kind.name in POLICY_KINDS:
        raise ValueError(f"`name` {kind.name!r} is already registered")
    POLICY_KINDS[kind.name] = kind
    return kind


def get(name: str) -> PolicyKind:
    """The registered policy kind called `name`; ValueError listing the names otherwise
    (and the closest name, where `name` looks like a misspelling of it)."""
    try:
        return POLICY_KINDS[name]
    except KeyError:
        raise ValueError(f"`policy.kind` = {name!r}: {one_of(name, list(POLICY_KINDS))}") from None


def build(config: Any, env: gym.Env) -> policies.Policy:
    """The policy of `config` (a `TrainConfig` whose `policy.kind` and `features.kind` are
    set) for `env`.

    Raises:
      ConfigError: if the kind does not take the env's action or observation space, or
        its features or settings are refused (the message names the key).
    """
    kind = get(config.policy.kind)
    if config.policy.squash and kind.name != "neural_gaussian":
        raise ConfigError(
            f"`policy.squash` = true squashes a neural Gaussian into the action box; "
            f"`policy.kind` = {kind.name!r} has no such option"
        )
    if config.policy.gsde is not None and kind.name != "neural_gaussian":
        raise ConfigError(
            f"`policy.gsde` is state-dependent exploration for a neural Gaussian; "
            f"`policy.kind` = {kind.name!r} has no such option"
        )
    if config.policy.network is not None and kind.name not in ("neural_softmax", "neural_gaussian"):
        raise ConfigError(
            f"`policy.network` is your own network for a neural policy; `policy.kind` = "
            f"{kind.name!r} has no network (neural_softmax and neural_gaussian have)"
        )
    if config.policy.network is not None and config.policy.gsde is not None:
        raise ConfigError(
            "`policy.gsde` builds σ(s) on the built-in MLP's last hidden layer; with "
            "`policy.network` a Gaussian explores with a state-independent σ: remove one"
        )
    if config.policy.log_std is not None and kind.name != "neural_gaussian":
        raise ConfigError(
            f"`policy.log_std` chooses how a neural Gaussian holds log σ; "
            f"`policy.kind` = {kind.name!r} has no such option"
        )
    if not isinstance(env.action_space, kind.action_spaces):
        raise ConfigError(
            f"`policy.kind` = {kind.name!r} needs a {space_names(kind.action_spaces)} action "
            f"space; got {env.action_space}"
        )
    if kind.observations and not isinstance(env.observation_space, kind.observations):
        raise ConfigError(
            f"`policy.kind` = {kind.name!r} needs {space_names(kind.observations)} "
            f"observations; got {env.observation_space}"
        )
    try:
        return kind.build(config, env)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:  # the policy's own check of a `policy.*` value
        raise ConfigError(f"`policy` ({kind.name}): {error}") from None


def state_features(spec: Any, env: gym.Env) -> features.StateFeatures:
    """x(s) of `spec` (a `FeaturesConfig` whose `kind` is set) for `env`; ConfigError for
    a kind that gives φ(s, a) instead, naming the policy kinds that take it."""
    built = feature_kinds.build(spec, env)
    if not isinstance(built, features.StateFeatures):
        takers = [kind.name for kind in POLICY_KINDS.values() if kind.state_action]
        raise ConfigError(
            f"`features.kind` = {spec.kind!r} gives φ(s,a) directly: use it with policy.kind "
            f"= {listed(takers)}"
        )
    return built


def with_init_scale(policy: policies.ArrayPolicy, config: Any) -> policies.ArrayPolicy:
    """The policy with θ0 + N(0, `policy.init_scale`²) noise (from the config's seed)."""
    scale = config.policy.init_scale
    if scale > 0:
        rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(1)[0])
        policy.set_flat(policy.get_flat() + scale * rng.standard_normal(policy.n_parameters))
    return policy


# The builders: (config, env) -> policy, one per kind.


def linear_softmax(config: Any, env: gym.Env) -> policies.Policy:
    n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    built = feature_kinds.build(config.features, env)
    if isinstance(built, features.StateActionFeatures):  # φ(s, a) as given: the corridor's
        from gradlogpi.envs import theta_for_p_right

        p_right0 = config.policy.p_right0
        theta0 = theta_for_p_right(p_right0) if p_right0 is not None else None
        return policies.LinearSoftmaxPolicy(built, theta0)
    composed = (
        features.ActionBlock(built, n_actions)
        if config.features.action_block
        else features.Stacked(built, n_actions, action_encoding="onehot")
    )
    return with_init_scale(policies.LinearSoftmaxPolicy(composed), config)


def matrix_softmax(config: Any, env: gym.Env) -> policies.Policy:
    x = state_features(config.features, env)
    n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    return with_init_scale(policies.MatrixSoftmaxPolicy(x, n_actions), config)


def linear_gaussian(config: Any, env: gym.Env) -> policies.Policy:
    spec = config.policy
    policy = policies.LinearGaussianPolicy(
        state_features(config.features, env),
        env.action_space.shape[0],  # type: ignore[index]
        log_std0=spec.log_std0,
        learn_std=spec.learn_std,
        state_dependent_std=spec.state_dependent_std,
    )
    return with_init_scale(policy, config)


def training_dtype(spec: Any) -> str:
    """`policy.dtype` for the chosen backend: jax float32 by default; torch float64 only."""
    if spec.backend == "torch":
        if spec.dtype == "float32":
            raise ConfigError(
                "`policy.dtype` = 'float32' needs `policy.backend` = 'jax'; the torch "
                "backend trains in float64"
            )
        return "float64"
    return spec.dtype or "float32"


def neural_softmax(config: Any, env: gym.Env) -> policies.Policy:
    spec = config.policy
    if spec.network is not None:
        return own_networks.softmax_policy(config, env, training_dtype(spec))
    observation_dim = env.observation_space.shape[0]  # type: ignore[index]
    n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    if spec.backend == "jax":
        from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy

        return JaxSoftmaxPolicy(
            observation_dim,
            n_actions,
            network_of(spec),
            seed=config.seed,
            lr=AdamSettings(spec.lr, spec.adam_epsilon),
            dtype=training_dtype(spec),
        )
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

    training_dtype(spec)
    return NeuralSoftmaxPolicy(
        observation_dim,
        n_actions,
        spec.hidden,
        spec.activation,
        seed=config.seed,
        lr=AdamSettings(spec.lr, spec.adam_epsilon),
        initialization=spec.initialization,
    )


def neural_gaussian(config: Any, env: gym.Env) -> policies.Policy:
    spec = config.policy
    box = env.action_space
    action_dim = box.shape[0]  # type: ignore[index]
    gsde = None
    if spec.gsde is not None:
        gsde = GSDE(spec.gsde.sample_every, spec.gsde.learn_features)
    bounds = BOUNDED_LOG_STD if spec.log_std == "bounded" else None
    head = GaussianHead(spec.log_std0, gsde=gsde, log_std_bounds=bounds)
    if spec.squash:
        try:
            squash_box(box.low, box.high, action_dim)  # type: ignore[attr-defined]
        except ValueError as error:
            raise ConfigError(
                f"`policy.squash` = true: {error} ({env.spec.id if env.spec else env})"
            ) from None
        head = head._replace(squash_bounds=(box.low, box.high))  # type: ignore[attr-defined]
    if spec.network is not None:
        return own_networks.gaussian_policy(config, env, head, training_dtype(spec))
    observation_dim = env.observation_space.shape[0]  # type: ignore[index]
    if spec.backend == "jax":
        from gradlogpi.policies.jax_policies import JaxGaussianPolicy

        return JaxGaussianPolicy(
            observation_dim,
            action_dim,
            network_of(spec),
            seed=config.seed,
            lr=AdamSettings(spec.lr, spec.adam_epsilon),
            head=head,
            dtype=training_dtype(spec),
        )
    from gradlogpi.policies.torch_policies import NeuralGaussianPolicy

    training_dtype(spec)
    return NeuralGaussianPolicy(
        observation_dim,
        action_dim,
        spec.hidden,
        spec.activation,
        seed=config.seed,
        lr=AdamSettings(spec.lr, spec.adam_epsilon),
        head=head,
        initialization=spec.initialization,
    )


def network_of(spec: Any) -> MLP:
    """The `MLP` of a `policy` config table."""
    return MLP(tuple(spec.hidden), spec.activation, spec.initialization)


register(
    PolicyKind(
        "linear_softmax",
        "softmax over linear preferences θᵀφ(s,a), φ = onehot(a) ⊗ [x(s), 1] (S&B eqs. 13.2-13.3)",
        "array",
        (spaces.Discrete,),
        linear_softmax,
        state_action=True,
    )
)
register(
    PolicyKind(
        "matrix_softmax",
        "softmax over logits W x(s) + b: the linear softmax written as a weight matrix",
        "array",
        (spaces.Discrete,),
        matrix_softmax,
    )
)
register(
    PolicyKind(
        "linear_gaussian",
        "Gaussian with mean linear in x(s), σ learned (or state-dependent) (S&B §13.7)",
        "array",
        (spaces.Box,),
        linear_gaussian,
    )
)
register(
    PolicyKind(
        "neural_softmax",
        "softmax over the logits of an MLP of the observation (extra gradlogpi[torch] or [jax])",
        "torch",
        (spaces.Discrete,),
        neural_softmax,
        observations=(spaces.Box,),
    )
)
register(
    PolicyKind(
        "neural_gaussian",
        "Gaussian with an MLP mean and a learned log standard deviation (extra gradlogpi[torch] or [jax])",
        "torch",
        (spaces.Box,),
        neural_gaussian,
        observations=(spaces.Box,),
    )
)
