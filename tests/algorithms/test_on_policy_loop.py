"""The one on-policy loop: every collector feeds every improver; resume with and without
environment snapshots; A2C learns."""

import numpy as np
import pytest

from gradlogpi.algorithms.on_policy import A2CConfig, PPOConfig, a2c, ppo
from gradlogpi.features import RawState
from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy
from gradlogpi.rollouts.collectors import Collector, EpisodeCollector
from gradlogpi.rollouts.vector import StepCollector, make_vector_env


def models():
    policy = MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(0), scale=0.1)
    return policy, LinearValue(RawState(4))


def test_every_collector_follows_the_one_protocol():
    config = PPOConfig(num_envs=2, collection="episodes")
    collectors = [
        StepCollector(make_vector_env("CartPole-v1", 2, autoreset=True), 0, 4, "CartPole-v1"),
        EpisodeCollector("CartPole-v1", config, models()[0], 0),
    ]
    for collector in collectors:
        assert isinstance(collector, Collector)
        batch, finished = collector.collect(models()[0], 0)
        assert batch.step_counted.sum() == batch.lengths.sum()
        assert finished.lengths.sum() <= batch.lengths.sum()  # straddling episodes are not yet done
        assert not collector.restarted
        collector.close()


def test_ppo_learns_from_whole_episodes_too():
    """collection='episodes': the same improver on a batch of whole, separately seeded episodes."""
    config = PPOConfig(
        n_updates=12, collection="episodes", episodes_per_update=16, num_envs=4, alpha_theta=1.0
    )
    policy, value = models()
    result = ppo("CartPole-v1", policy, config, value=value, seed=2)
    assert result.returns.shape == (1, 12 * 16)  # every update: exactly its 16 episodes
    assert result.returns[0, -32:].mean() > 2 * result.returns[0, :32].mean()


def test_a2c_learns_cartpole_with_a_linear_policy():
    """Longer rollouts than SB3's 5 steps: a linear critic of the raw state (no bias term)
    bootstrapped after 5 steps gives advantages biased enough to collapse the policy."""
    config = A2CConfig(
        n_updates=60, num_envs=8, steps_per_env=64, alpha_theta=0.5, normalize_advantages=True
    )
    policy, value = models()
    result = a2c("CartPole-v1", policy, config, value=value, seed=1)
    first, last = result.returns[0, :30].mean(), result.returns[0, -30:].mean()
    assert last > 1.8 * first  # a random policy lasts about 20 steps


def test_without_environment_snapshots_the_episodes_in_flight_restart_and_it_says_so():
    """An async vector env cannot be snapshotted: resuming restarts its sub-envs' episodes,
    warns in one line, and learning goes on from the saved θ and statistics."""
    config = PPOConfig(n_updates=4, num_envs=2, steps_per_env=40, vectorization_mode="async")
    snapshots = {}

    def keep(end):
        if end.episode == 1:
            snapshots["state"] = end.snapshot()

    policy, value = models()
    whole = ppo("CartPole-v1", policy, config, value=value, seed=3, callback=keep)
    assert not any(name.startswith("collector_env_") for name in snapshots["state"]["arrays"])
    with pytest.warns(
        UserWarning, match=r"cannot be snapshotted: the episodes in flight at update 2 restart"
    ):
        resumed = ppo("CartPole-v1", policy, config, value=value, seed=3, resume=snapshots["state"])
    saved = snapshots["state"]["tracker"]["returns"].shape[1]
    np.testing.assert_array_equal(resumed.returns[0, :saved], whole.returns[0, :saved])
    assert np.isfinite(resumed.parameters).all() and resumed.returns.shape[1] > saved


def test_normalised_runs_report_raw_returns_act_on_their_statistics_and_resume_exactly():
    config = PPOConfig(
        n_updates=5,
        num_envs=3,
        steps_per_env=48,
        normalize_observations=True,
        normalize_rewards=True,
        alpha_theta=0.5,
    )
    snapshots, seen = {}, []

    def keep(end):
        seen.append(end.policy)
        if end.episode == 2:
            snapshots["state"] = end.snapshot()

    policy, value = models()
    whole = ppo("CartPole-v1", policy, config, value=value, seed=4, callback=keep)
    np.testing.assert_array_equal(whole.returns, whole.lengths)  # CartPole pays 1 a step, unscaled
    arrays = snapshots["state"]["arrays"]
    assert {"collector_normalizer_mean", "collector_scaler_returns"} <= set(arrays)
    # outside the loop the policy acts on the statistics of its update, frozen
    frozen = seen[2].normalizer.get_state()
    np.testing.assert_array_equal(frozen["mean"], arrays["collector_normalizer_mean"])
    assert not np.array_equal(
        seen[2].normalizer.get_state()["mean"], seen[4].normalizer.get_state()["mean"]
    )
    final = whole.policy_of_run(0)
    x = np.array([[0.1, 0.5, -0.05, 0.3]])
    np.testing.assert_array_equal(
        final.probabilities(x),
        whole.policy.probabilities(whole.extra["observation_normalizers"][0].normalize(x)),
    )
    resumed = ppo("CartPole-v1", policy, config, value=value, seed=4, resume=snapshots["state"])
    np.testing.assert_array_equal(resumed.returns, whole.returns)
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    np.testing.assert_array_equal(resumed.value_parameters, whole.value_parameters)


def test_normalisation_needs_step_collection():
    with pytest.raises(
        ValueError, match="`normalize_observations` and `normalize_rewards` need collection='steps'"
    ):
        PPOConfig(collection="episodes", normalize_observations=True)
