"""The native Acrobot vector env: bit for bit Gymnasium's sync vector env of Acrobot-v1."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from gradlogpi.envs.acrobot import AcrobotVectorEnv, squared
from gradlogpi.features import RawState
from gradlogpi.policies import MatrixSoftmaxPolicy
from gradlogpi.rollouts.vector import StepCollector, make_vector_env


def sync_acrobots(n, **kwargs):
    return gym.make_vec("Acrobot-v1", n, vectorization_mode="sync", **kwargs)


def swinging_actions(observations, t, rng):
    """Random torques, every third step pushed along θ̇2: episodes end by termination too."""
    if t % 3:
        return rng.integers(0, 3, len(observations))
    return np.where(observations[:, 5] > 0, 2, 0)


def assert_same_steps(a, b):
    for x, y in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(x, y, strict=True)


@pytest.mark.parametrize("seed", [[11, 12, 13, 14, 15, 16], 7])
def test_the_native_acrobot_steps_as_the_sync_vector_env_bit_for_bit(seed):
    # a cap of 200 steps: some episodes are truncated, others end by termination
    sync, native = sync_acrobots(6, max_episode_steps=200), AcrobotVectorEnv(6, 200)
    observations = sync.reset(seed=seed)[0]
    np.testing.assert_array_equal(native.reset(seed=seed)[0], observations, strict=True)
    rng = np.random.default_rng(0)
    terminated = truncated = 0
    for t in range(600):
        actions = swinging_actions(observations, t, rng)
        expected = sync.step(actions)
        assert_same_steps(native.step(actions), expected)
        observations = expected[0]
        terminated += int(expected[2].sum())
        truncated += int(expected[3].sum())
    assert terminated > 0 and truncated > 0  # both kinds of end, and the autoresets after them


def test_squares_are_the_c_librarys_pow_as_on_numpy_scalars():
    x = np.random.default_rng(1).normal(0.0, 5.0, 20_000)
    np.testing.assert_array_equal(squared(x), [value**2 for value in x], strict=True)


def test_the_native_acrobot_keeps_a_shorter_step_cap():
    native = AcrobotVectorEnv(2, max_episode_steps=3)
    native.reset(seed=0)
    flags = [native.step(np.ones(2, dtype=np.int64))[3].tolist() for _ in range(4)]
    assert flags == [[False, False], [False, False], [True, True], [False, False]]


def test_the_native_acrobot_refuses_a_wrong_number_of_seeds():
    with pytest.raises(ValueError, match=r"`seed` must be an int or 3 seeds"):
        AcrobotVectorEnv(3).reset(seed=[1, 2])


def test_vector_entry_point_gives_the_native_acrobot_without_changing_gymnasiums_registry():
    envs = make_vector_env("Acrobot-v1", 4, "vector_entry_point", autoreset=True)
    assert isinstance(envs, AcrobotVectorEnv)
    assert envs.max_episode_steps == 500  # the registered cap
    assert gym.spec("Acrobot-v1").vector_entry_point is None
    assert isinstance(gym.make_vec("Acrobot-v1", 2), gym.vector.SyncVectorEnv)


def test_step_collection_gives_the_same_batches_on_the_native_and_the_sync_acrobot():
    policy = MatrixSoftmaxPolicy(RawState(6), 3).init(np.random.default_rng(0), scale=0.5)
    batches = {}
    for mode in ("sync", "vector_entry_point"):
        collector = StepCollector(
            make_vector_env("Acrobot-v1", 3, mode, autoreset=True), 4, 300, "Acrobot-v1"
        )
        try:
            batches[mode] = [collector.collect(policy, u) for u in range(3)]
        finally:
            collector.close()
    for (sync, sync_finished), (native, native_finished) in zip(
        batches["sync"], batches["vector_entry_point"], strict=True
    ):
        for field in dataclasses.fields(sync):
            np.testing.assert_array_equal(
                getattr(native, field.name), getattr(sync, field.name), strict=True
            )
        np.testing.assert_array_equal(native_finished.returns, sync_finished.returns)
    assert sum(len(finished.returns) for _, finished in batches["sync"]) > 0
