"""Many REINFORCE runs at once in CartPole's native vector env (`runs_in_vector_env`)."""

import numpy as np
import pytest

from gradlogpi.algorithms import ReinforceConfig, StopTraining, reinforce
from gradlogpi.errors import ConfigError
from gradlogpi.features import RawState
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy

CARTPOLE = "CartPole-v1"


def vector_config(**changes):
    settings = dict(n_episodes=60, alpha_theta=0.01, gamma=0.99, runs_in_vector_env=True)
    return ReinforceConfig(**{**settings, **changes})


def learn(runs=8, seed=0, **changes):
    policy = MatrixSoftmaxPolicy(RawState(4), 2)
    return reinforce(CARTPOLE, policy, vector_config(**changes), seed=seed, runs=runs)


@pytest.mark.parametrize("batch_update", [False, True])
def test_each_run_learns_from_its_own_episodes(batch_update):
    result = learn(runs=16, batch_update=batch_update, alpha_theta=1e-3, n_episodes=100)
    assert result.returns.shape == (16, 100)
    np.testing.assert_array_equal(result.returns, result.lengths)  # CartPole: +1 per step
    assert (result.lengths >= 1).all() and (result.lengths <= 500).all()
    np.testing.assert_array_equal(result.truncated, result.lengths == 500)
    assert (result.diverged_at < 0).all()
    # every run moved its own θ, and the runs do not share one
    assert len({tuple(np.round(theta, 12)) for theta in result.parameters}) == 16
    # learning: the last episodes are longer than the first ones over the 16 runs
    assert result.returns[:, -20:].mean() > 1.5 * result.returns[:, :20].mean()


def test_the_same_seed_gives_the_same_runs_and_another_seed_other_runs():
    first, again, other = learn(seed=1), learn(seed=1), learn(seed=2)
    np.testing.assert_array_equal(first.returns, again.returns)
    np.testing.assert_array_equal(first.parameters, again.parameters)
    assert not np.array_equal(first.returns, other.returns)


def test_run_k_depends_on_the_others_as_documented():
    """One env random stream for all runs: run 0 among 8 is not run 0 alone."""
    alone, among = learn(runs=1, seed=3), learn(runs=8, seed=3)
    assert not np.array_equal(alone.returns[0], among.returns[0])


def test_a_callback_sees_every_episode_once_and_can_stop():
    seen = []

    def watch(end):
        seen.append((end.episode, end.units))
        if end.episode >= 29:
            raise StopTraining

    result = reinforce(
        CARTPOLE, MatrixSoftmaxPolicy(RawState(4), 2), vector_config(), seed=0, runs=4,
        callback=watch,
    )  # fmt: skip
    episodes = [e for last, units in seen for e in range(last - units + 1, last + 1)]
    assert episodes == list(range(len(episodes)))
    assert result.returns.shape[1] == seen[-1][0] + 1 <= 60


def snapshot_at(episodes, config, seed=4, runs=8):
    """The uninterrupted run, and its snapshots after each of `episodes`."""
    snapshots = {}

    def keep(end):
        if end.episode in episodes:
            snapshots[end.episode] = end.snapshot()

    policy = MatrixSoftmaxPolicy(RawState(4), 2)
    return reinforce(CARTPOLE, policy, config, seed=seed, runs=runs, callback=keep), snapshots


def assert_same_runs(resumed, straight):
    for name in ("returns", "lengths", "truncated", "diverged_at", "parameters"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name), name)


@pytest.mark.parametrize("batch_update", [False, True])
def test_a_snapshot_taken_mid_run_resumes_bit_for_bit(batch_update):
    config = vector_config(batch_update=batch_update)
    straight, snapshots = snapshot_at({0, 17, 45}, config)
    assert sorted(snapshots) == [0, 17, 45]
    for snapshot in snapshots.values():
        # the snapshot holds the episodes in flight and the vector env's own state
        assert snapshot["arrays"]["episode_steps"].any()
        assert "env_state" in snapshot["arrays"] and "noise" in snapshot["extra"]
        policy = MatrixSoftmaxPolicy(RawState(4), 2)
        resumed = reinforce(CARTPOLE, policy, config, seed=4, runs=8, resume=snapshot)
        assert_same_runs(resumed, straight)


def test_without_an_env_snapshot_the_episodes_in_flight_restart(monkeypatch):
    from gradlogpi.algorithms.book import vector_runs

    monkeypatch.setattr(vector_runs, "vector_env_snapshot", lambda envs: None)
    config = vector_config()
    straight, snapshots = snapshot_at({20}, config)
    assert not any(name.startswith("env_") for name in snapshots[20]["arrays"])
    policy = MatrixSoftmaxPolicy(RawState(4), 2)
    with pytest.warns(UserWarning, match="the episodes in flight at episode 21 restart") as seen:
        resumed = reinforce(CARTPOLE, policy, config, seed=4, runs=8, resume=snapshots[20])
    assert len(seen) == 1 and "\n" not in str(seen[0].message)
    # the episodes learned from before the snapshot are kept; then the runs go on elsewhere
    np.testing.assert_array_equal(resumed.returns[:, :21], straight.returns[:, :21])
    assert (resumed.lengths >= 1).all() and resumed.returns.shape == straight.returns.shape
    assert not np.array_equal(resumed.returns, straight.returns)


def test_a_snapshot_of_another_kind_of_run_is_refused_by_name():
    plain = vector_config(runs_in_vector_env=False)
    _, snapshots = snapshot_at({2}, plain, runs=2)
    with pytest.raises(ValueError, match="`resume` must be a snapshot of a `runs_in_vector_env`"):
        reinforce(
            CARTPOLE, MatrixSoftmaxPolicy(RawState(4), 2), vector_config(), seed=4, runs=2,
            resume=snapshots[2],
        )  # fmt: skip


@pytest.mark.parametrize(
    "case, match",
    [
        ("corridor", "native vector implementation"),
        ("linear policy", "MatrixSoftmaxPolicy"),
    ],
)
def test_what_it_cannot_do_is_a_named_error(case, match):
    from gradlogpi.experiments.sutton_barto import ENV_ID, corridor_policy

    config = vector_config(n_episodes=3)
    with pytest.raises(ConfigError, match=match):
        if case == "corridor":
            reinforce(ENV_ID, corridor_policy(), config, seed=0, runs=2)
        else:
            from gradlogpi.features import ActionBlock

            policy = LinearSoftmaxPolicy(ActionBlock(RawState(4), 2))
            reinforce(CARTPOLE, policy, config, seed=0, runs=2)
