import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi import features
from gradlogpi.errors import ConfigError
from gradlogpi.runs import feature_kinds
from gradlogpi.runs.build import build_policy, make_config_env
from gradlogpi.runs.choices import listed
from gradlogpi.runs.config import FeaturesConfig, load_config
from gradlogpi.runs.feature_kinds import FEATURE_KINDS, FeatureKind

CANDIDATES = ["MountainCar-v0", "gradlogpi/GridWorld-v0"]
"""Environments to build a kind on: a bounded Box (every Box kind builds without
`features.bounds`) and a Discrete one."""


def env_for(kind: FeatureKind) -> gym.Env:
    """An environment `kind` takes, read from its registry entry."""
    if kind.only_for is not None:
        return gym.make(kind.only_for)
    for env_id in CANDIDATES:
        env = gym.make(env_id)
        if not kind.observations or isinstance(env.observation_space, kind.observations):
            return env
    raise AssertionError(f"no candidate environment has observations {kind.observations}")


@pytest.mark.parametrize("name", list(FEATURE_KINDS))
def test_every_registered_kind_builds_on_an_env_it_takes(name):
    kind = FEATURE_KINDS[name]
    env = env_for(kind)
    built = feature_kinds.build(FeaturesConfig(kind=name), env)
    obs, _ = env.reset(seed=0)
    batch = np.stack([obs, env.observation_space.sample()])
    if kind.state_action:
        assert isinstance(built, features.StateActionFeatures)
        assert built.n_actions == env.action_space.n
        expected = (built.n_actions, built.n_features)
    else:
        assert isinstance(built, features.StateFeatures)
        expected = (built.n_features,)
    assert built(obs).shape == expected
    assert built(batch).shape == (2, *expected)
    assert np.all(np.isfinite(built(batch)))


def test_a_kind_refuses_an_observation_space_it_does_not_take_and_names_the_ones_that_do():
    env = gym.make("MountainCar-v0")
    takers = [
        kind.name
        for kind in FEATURE_KINDS.values()
        if spaces.Box in kind.observations and kind.only_for is None
    ]
    with pytest.raises(ConfigError) as error:
        feature_kinds.build(FeaturesConfig(kind="onehot"), env)
    assert "`features.kind` = 'onehot' needs a Discrete observation space" in str(error.value)
    assert str(error.value).endswith(f": use {listed(takers, quote=False)}")
    assert "raw, polynomial, fourier, rbf or tiles" in str(error.value)


def test_an_unknown_kind_lists_the_kinds_and_suggests_the_close_one():
    names = listed(list(FEATURE_KINDS))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"`features.kind` = 'fourer': expected one of {names}; did you mean 'fourier'?"
        ),
    ):
        feature_kinds.get("fourer")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"--set features.kind: `features.kind` = 'tile': expected one of {names}; "
            "did you mean 'tiles'?"
        ),
    ):
        load_config(None, {"features.kind": "tile"})
    with pytest.raises(ConfigError) as error:
        load_config(None, {"value_features.kind": "wavelets"})
    assert str(error.value).endswith(f"`value_features.kind` = 'wavelets': expected one of {names}")


class Halves(features.StateFeatures):
    """x(s) = s / 2."""

    def __init__(self, n_dims: int):
        self.n_features = n_dims
        self.observation_shape = (n_dims,)

    def __call__(self, obs):
        return np.asarray(obs, dtype=np.float64) / 2.0


def halves(spec, env):
    return Halves(env.observation_space.shape[0])


@pytest.fixture
def registered():
    """Register kinds for one test; remove them after it."""
    names = []

    def register(kind: FeatureKind) -> FeatureKind:
        names.append(kind.name)
        return feature_kinds.register(kind)

    yield register
    for name in names:
        del FEATURE_KINDS[name]


def test_a_kind_registered_once_is_configured_and_built_with_no_other_change(registered):
    registered(FeatureKind("halves", "x(s) = s / 2", halves, (spaces.Box,)))
    config = load_config(
        None, {"env": "CartPole-v1", "features.kind": "halves", "policy.kind": "matrix_softmax"}
    )
    env = make_config_env(config)
    policy = build_policy(config, env)
    assert isinstance(policy.state_features, Halves)
    obs, _ = env.reset(seed=0)
    assert np.allclose(policy.state_features(obs), obs / 2)
    assert "halves" in listed(list(FEATURE_KINDS))


def test_the_registry_refuses_a_name_twice(registered):
    registered(FeatureKind("halves", "x(s) = s / 2", halves))
    with pytest.raises(ValueError, match=re.escape("`name` 'halves' is already registered")):
        feature_kinds.register(FeatureKind("halves", "again", halves))


def test_count_refuses_too_many_features_before_the_builder_runs(registered):
    def never(spec, env):
        raise AssertionError("built a kind its count refuses")

    registered(
        FeatureKind("huge", "too many", never, (spaces.Box,), count=lambda spec, dims: 100**dims)
    )
    with pytest.raises(
        ConfigError,
        match=re.escape("`features.kind` = 'huge' would have 100,000,000 features on 4 obs"),
    ):
        feature_kinds.build(FeaturesConfig(kind="huge"), gym.make("CartPole-v1"))


def test_a_bounded_kind_names_the_bounds_to_give():
    with pytest.raises(ConfigError, match=re.escape("--set features.bounds='[[-4.8,4.8],[-3,3]")):
        feature_kinds.build(FeaturesConfig(kind="fourier"), gym.make("CartPole-v1"))
