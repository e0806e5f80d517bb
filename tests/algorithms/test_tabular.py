"""The compiled tabular path of REINFORCE gives the NumPy path's runs (to rounding)."""

import numpy as np
import pytest

pytest.importorskip("numba")

from gradlogpi.algorithms import (
    ActorCriticConfig,
    ReinforceBaselineConfig,
    ReinforceConfig,
    actor_critic,
    reinforce,
    reinforce_baseline,
)
from gradlogpi.algorithms.compiled.tabular import tabulate
from gradlogpi.envs import BorderFeatures
from gradlogpi.experiments.sutton_barto import corridor_policy
from gradlogpi.features import Constant, OneHot, RawState
from gradlogpi.policies import LinearGaussianPolicy, LinearValue, MatrixSoftmaxPolicy
from gradlogpi.rollouts.episodes import Runs, make_env, policy_streams

CORRIDOR, GRID = "gradlogpi/ShortCorridor-v0", "gradlogpi/GridWorld-v0"


def both_paths(monkeypatch, env, policy, config, callback=None, **kwargs):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "1")
    numpy_result = reinforce(env, policy, config, **kwargs)
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")
    compiled = reinforce(env, policy, config, callback=callback, **kwargs)
    return numpy_result, compiled


def assert_same_runs(numpy_result, compiled):
    np.testing.assert_array_equal(compiled.returns, numpy_result.returns)
    np.testing.assert_array_equal(compiled.lengths, numpy_result.lengths)
    np.testing.assert_array_equal(compiled.truncated, numpy_result.truncated)
    np.testing.assert_array_equal(compiled.diverged_at, numpy_result.diverged_at)
    # NumPy's vectorised exp differs from the compiled one in the last bit now and then
    np.testing.assert_allclose(compiled.policy.theta, numpy_result.policy.theta, atol=1e-10)


@pytest.mark.parametrize("per_episode", [False, True])
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"batch_update": True},
        {"discount_weighting": False, "gamma": 0.9},
        {"schedule": "linear"},
        {"max_episode_steps": 30},
    ],
)
def test_corridor_runs_match_the_numpy_path(monkeypatch, settings, per_episode):
    config = ReinforceConfig(n_episodes=40, alpha_theta=2**-11, **settings)
    callback = (lambda end: None) if per_episode else None
    numpy_result, compiled = both_paths(
        monkeypatch, CORRIDOR, corridor_policy(), config, callback, seed=3, runs=6
    )
    assert_same_runs(numpy_result, compiled)
    assert compiled.lengths.sum() > 6 * 40  # episodes longer than one step: a real test


def test_grid_world_matrix_policy_matches_the_numpy_path(monkeypatch):
    policy = MatrixSoftmaxPolicy(BorderFeatures(4, 4, position=True), 4)
    config = ReinforceConfig(n_episodes=15, alpha_theta=0.01, gamma=0.95)
    numpy_result, compiled = both_paths(monkeypatch, GRID, policy, config, seed=0, runs=3)
    assert_same_runs(numpy_result, compiled)


def test_divergence_is_caught_and_undone_as_on_the_numpy_path(monkeypatch):
    config = ReinforceConfig(n_episodes=4, alpha_theta=1e306, max_episode_steps=50)
    numpy_result, compiled = both_paths(
        monkeypatch, CORRIDOR, corridor_policy(), config, seed=0, runs=3
    )
    assert (compiled.diverged_at >= 0).all()
    assert_same_runs(numpy_result, compiled)


def test_resuming_a_compiled_run_continues_it_exactly(monkeypatch):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")
    config = ReinforceConfig(n_episodes=30, alpha_theta=2**-11)
    snapshots = {}

    def keep(end):  # compiled runs report in chunks: keep the first report's state
        if "state" not in snapshots and end.episode < config.n_episodes - 1:
            snapshots["state"] = end.snapshot()

    whole = reinforce(CORRIDOR, corridor_policy(), config, seed=4, runs=4, callback=keep)
    resumed = reinforce(
        CORRIDOR, corridor_policy(), config, seed=4, runs=4, resume=snapshots["state"]
    )
    np.testing.assert_array_equal(resumed.returns, whole.returns)
    np.testing.assert_array_equal(resumed.policy.theta, whole.policy.theta)


def test_run_k_alone_is_bitwise_run_k_among_others(monkeypatch):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")
    config = ReinforceConfig(n_episodes=50, alpha_theta=2**-10)
    batch = reinforce(CORRIDOR, corridor_policy(), config, seed=5, runs=8)
    alone = reinforce(CORRIDOR, corridor_policy(), config, seed=5, runs=range(6, 7))
    np.testing.assert_array_equal(alone.returns[0], batch.returns[6])
    np.testing.assert_array_equal(alone.policy.theta[0], batch.policy.theta[6])


def test_the_compiled_path_applies_only_to_tabular_tasks(monkeypatch):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")

    def task_for(env_id, policy):
        env = make_env(env_id)
        runs = Runs(env, policy_streams(0, [0], policy), None)
        return tabulate(runs.model, policy)

    assert task_for(CORRIDOR, corridor_policy()) is not None
    assert task_for("CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2)) is None  # no model
    assert task_for("gradlogpi/LQR-v0", LinearGaussianPolicy(RawState(1), 1)) is None
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "1")
    assert task_for(CORRIDOR, corridor_policy()) is None


@pytest.mark.parametrize("per_episode", [False, True])
@pytest.mark.parametrize("settings", [{}, {"batch_update": True}, {"schedule": "inverse_sqrt"}])
def test_reinforce_with_baseline_matches_the_numpy_path(monkeypatch, settings, per_episode):
    config = ReinforceBaselineConfig(n_episodes=40, **settings)
    callback = (lambda end: None) if per_episode else None
    runs = {}
    for jit in ("1", "0"):
        monkeypatch.setenv("GRADLOGPI_NO_JIT", jit)
        runs[jit] = reinforce_baseline(
            CORRIDOR,
            corridor_policy(),
            config,
            value=LinearValue(Constant()),
            seed=2,
            runs=5,
            callback=callback if jit == "0" else None,
        )
    assert_same_runs(runs["1"], runs["0"])
    np.testing.assert_allclose(runs["0"].value.w, runs["1"].value.w, atol=1e-10)
    assert np.abs(runs["0"].value.w).max() > 1  # the baseline learned something


def test_grid_world_baseline_over_one_hot_states_matches_the_numpy_path(monkeypatch):
    policy = MatrixSoftmaxPolicy(BorderFeatures(4, 4, position=True), 4)
    config = ReinforceBaselineConfig(n_episodes=10, alpha_theta=0.01, alpha_w=0.05, gamma=0.9)
    runs = {}
    for jit in ("1", "0"):
        monkeypatch.setenv("GRADLOGPI_NO_JIT", jit)
        runs[jit] = reinforce_baseline(
            GRID, policy, config, value=LinearValue(OneHot(16)), seed=0, runs=2
        )
    assert_same_runs(runs["1"], runs["0"])
    np.testing.assert_allclose(runs["0"].value.w, runs["1"].value.w, atol=1e-10)


def actor_critic_both(monkeypatch, env, policy, value, config, per_episode, **kwargs):
    results = {}
    for jit in ("1", "0"):
        monkeypatch.setenv("GRADLOGPI_NO_JIT", jit)
        callback = (lambda end: None) if per_episode and jit == "0" else None
        results[jit] = actor_critic(env, policy, config, value=value, callback=callback, **kwargs)
    assert_same_runs(results["1"], results["0"])
    np.testing.assert_allclose(results["0"].value.w, results["1"].value.w, atol=1e-10)
    return results["0"]


@pytest.mark.parametrize("per_episode", [False, True])
@pytest.mark.parametrize("traces", [0.0, 0.6])
def test_actor_critic_matches_the_numpy_path(monkeypatch, traces, per_episode):
    config = ActorCriticConfig(n_episodes=40, lambda_theta=traces, lambda_w=traces)
    compiled = actor_critic_both(
        monkeypatch,
        CORRIDOR,
        corridor_policy(),
        LinearValue(Constant()),
        config,
        per_episode,
        seed=7,
        runs=5,
    )
    assert np.abs(compiled.value.w).max() > 1


def test_actor_critic_on_the_grid_world_matches_the_numpy_path(monkeypatch):
    policy = MatrixSoftmaxPolicy(BorderFeatures(4, 4, position=True), 4)
    config = ActorCriticConfig(n_episodes=15, alpha_theta=0.05, alpha_w=0.1, gamma=0.95)
    actor_critic_both(
        monkeypatch, GRID, policy, LinearValue(OneHot(16)), config, False, seed=0, runs=3
    )


@pytest.mark.parametrize("per_episode", [False, True])
def test_actor_critic_divergence_is_dated_as_on_the_numpy_path(monkeypatch, per_episode):
    # the critic's huge step overflows w, at a different update in each run and for some
    # after the first round, so diverged_at tests the lockstep update count (one per step
    # of the longest episode of each round)
    config = ActorCriticConfig(n_episodes=12, alpha_w=1e306, max_episode_steps=30)
    compiled = actor_critic_both(
        monkeypatch,
        CORRIDOR,
        corridor_policy(),
        LinearValue(Constant()),
        config,
        per_episode,
        seed=1,
        runs=4,
    )
    assert (compiled.diverged_at >= 0).all() and compiled.diverged_at.max() > 30


def test_resuming_compiled_actor_critic_continues_it_exactly(monkeypatch):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")
    config = ActorCriticConfig(n_episodes=25, lambda_theta=0.5, lambda_w=0.5)
    snapshots = {}

    def keep(end):  # compiled runs report in chunks: keep the first report's state
        if "state" not in snapshots and end.episode < config.n_episodes - 1:
            snapshots["state"] = end.snapshot()

    def learn(**kwargs):
        return actor_critic(
            CORRIDOR,
            corridor_policy(),
            config,
            value=LinearValue(Constant()),
            seed=3,
            runs=3,
            **kwargs,
        )

    whole = learn(callback=keep)
    resumed = learn(resume=snapshots["state"])
    np.testing.assert_array_equal(resumed.returns, whole.returns)
    np.testing.assert_array_equal(resumed.policy.theta, whole.policy.theta)
    np.testing.assert_array_equal(resumed.value.w, whole.value.w)
