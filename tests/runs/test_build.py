"""Environments made from a config: what an environment's constructor refuses is a ConfigError."""

import re

import pytest

from gradlogpi.errors import ConfigError
from gradlogpi.rollouts.episodes import make_env
from gradlogpi.rollouts.vector import make_vector_env
from gradlogpi.runs.build import make_config_env
from gradlogpi.runs.config import load_config


def test_env_kwargs_the_constructor_does_not_accept_are_a_named_config_error():
    config = load_config(None, {"env": "CartPole-v1", "env_kwargs": {"bogus": 1}})
    message = (
        "`env_kwargs` = {'bogus': 1} for `env` = 'CartPole-v1': the environment could not be "
        "made with them; Gymnasium or the environment's constructor said TypeError: "
        "CartPoleEnv.__init__() got an unexpected keyword argument 'bogus'"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config_env(config)


def test_a_constructor_that_fails_on_the_value_given_is_a_named_config_error():
    config = load_config(None, {"env": "FrozenLake-v1", "env_kwargs": {"map_name": "9x9"}})
    message = (
        "`env_kwargs` = {'map_name': '9x9'} for `env` = 'FrozenLake-v1': the environment could "
        "not be made with them; Gymnasium or the environment's constructor said KeyError: '9x9'"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config_env(config)


def test_a_step_cap_of_the_wrong_kind_names_the_env():
    config = load_config(None, {"env": "CartPole-v1"})
    with pytest.raises(ConfigError, match=re.escape("`env` = 'CartPole-v1': the environment")):
        make_config_env(config, max_episode_steps="long")


def test_make_env_of_an_unknown_id_is_a_named_config_error():
    message = (
        "`env` = 'NoSuchEnv-v0': the environment could not be made; Gymnasium or the "
        "environment's constructor said NameNotFound: Environment `NoSuchEnv` doesn't exist."
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_env("NoSuchEnv-v0")


def test_make_vector_env_of_an_unknown_id_is_a_named_config_error():
    with pytest.raises(ConfigError, match=re.escape("`env` = 'NoSuchEnv-v0': the environment")):
        make_vector_env("NoSuchEnv-v0", 2)


def test_a_vector_entry_point_the_env_lacks_is_a_named_config_error():
    with pytest.raises(ConfigError, match=re.escape("`env` = 'gradlogpi/ShortCorridor-v0'")):
        make_vector_env("gradlogpi/ShortCorridor-v0", 2, "vector_entry_point", autoreset=True)
