"""Sizes against this machine's memory: hand values and the pinned messages."""

import re

import pytest

from gradlogpi.errors import ConfigError
from gradlogpi.runs import limits


@pytest.fixture
def one_gib(monkeypatch):
    """A machine with 1 GiB of memory, whatever this one has."""
    monkeypatch.setattr(limits, "physical_memory", lambda: 2**30)


def test_byte_counts_in_words():
    assert limits.in_bytes(512) == "512 B"
    assert limits.in_bytes(1536) == "1.50 KiB"
    assert limits.in_bytes(8 * 10**12) == "7.28 TiB"


def test_a_network_counts_weights_and_biases():
    assert limits.mlp_parameters([4, 64, 2]) == (4 + 1) * 64 + (64 + 1) * 2  # 450


def test_a_size_that_fits_passes_and_one_that_does_not_is_named(one_gib):
    limits.check_fits("runs", 10, 2**30, "ten runs")  # exactly the memory there is
    message = (
        "`runs` = 1,000 would need at least 2.00 GiB of memory for a thousand runs; this "
        "machine has 1.00 GiB (lower `runs`)"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        limits.check_fits("runs", 1000, 2**31, "a thousand runs")


def test_run_records_count_17_bytes_an_episode_and_a_kib_a_run(one_gib):
    episodes = (2**30 - 1024) // 17  # one run's records and streams fill the memory exactly
    limits.check_run_records("hyperparameters.n_episodes", episodes, 1, episodes)
    with pytest.raises(ConfigError, match="returns, lengths and time-limit flags of 1 run"):
        limits.check_run_records("hyperparameters.n_episodes", episodes + 1, 1, episodes + 1)
    with pytest.raises(ConfigError, match=re.escape("the random streams of 2,000,000 runs")):
        limits.check_run_records("runs", 2_000_000, 2_000_000, 0)


def test_seeds_stop_at_2_to_the_62():
    limits.check_seeds("--seeds", 2, first=2**62 - 1)
    message = "`--seeds` = 2: seeds 4611686018427387904 … 4611686018427387905 pass 2**62"
    with pytest.raises(ConfigError, match=re.escape(message)):
        limits.check_seeds("--seeds", 2, first=2**62)


def test_a_neural_policy_too_wide_is_refused_before_torch_allocates(one_gib):
    from gradlogpi.runs.build import make_config_env, with_env_defaults
    from gradlogpi.runs.config import load_config

    config = load_config(
        None, {"env": "CartPole-v1", "algorithm": "ppo", "policy.kind": "neural_softmax",
               "policy.hidden": [10**7]},
    )  # fmt: skip
    env = make_config_env(config)
    with pytest.raises(ConfigError, match=re.escape("`policy.hidden` = [10000000] would need")):
        limits.check_networks(with_env_defaults(config, env), env)
