"""Running observation normalisation and reward scaling: the statistics, the formulas, state."""

import numpy as np
import pytest

from gradlogpi.features.normalization import ObservationNormalizer, RewardScaler


def test_the_running_statistics_are_those_of_every_observation_seen(rng):
    normalizer = ObservationNormalizer((3,), clip=5.0)
    batches = [rng.normal(2.0, 3.0, size=(n, 3)) for n in (1, 7, 40)]
    for batch in batches:
        normalizer.update(batch)
    seen = np.concatenate(batches)
    state = normalizer.get_state()
    # Gymnasium's RunningMeanStd starts from count 1e-4 at mean 0, var 1: negligible here
    np.testing.assert_allclose(state["mean"], seen.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(state["var"], seen.var(axis=0), rtol=1e-5)
    x = rng.normal(size=(4, 3)) * 100
    expected = np.clip((x - state["mean"]) / np.sqrt(state["var"] + 1e-8), -5.0, 5.0)
    np.testing.assert_array_equal(normalizer.normalize(x), expected)
    assert (np.abs(normalizer.normalize(x)) <= 5.0).all()


def test_a_frozen_copy_and_a_restored_state_normalise_exactly_alike(rng):
    normalizer = ObservationNormalizer((2,))
    normalizer.update(rng.normal(size=(10, 2)))
    frozen, restored = normalizer.frozen(), ObservationNormalizer((2,))
    restored.set_state({k: np.array(v) for k, v in normalizer.get_state().items()})
    normalizer.update(rng.normal(size=(10, 2)) + 5)  # the original moves on
    x = rng.normal(size=(3, 2))
    np.testing.assert_array_equal(frozen.normalize(x), restored.normalize(x))
    assert not np.array_equal(frozen.normalize(x), normalizer.normalize(x))
    with pytest.raises(ValueError, match=r"`state` must hold mean and var of shape \(2,\)"):
        restored.set_state({"mean": np.zeros(3), "var": np.ones(3), "count": np.array(1.0)})


def test_rewards_are_scaled_by_the_spread_of_the_discounted_return():
    scaler = RewardScaler(num_envs=2, gamma=0.5, clip=10.0)
    real = np.array([True, True])
    returns = []
    for step in range(6):
        ended = np.array([step == 2, False])
        scaled = scaler.scale(np.array([1.0, 2.0]), ended, real)
        returns.append(scaler.returns.copy())
    # env 0's return restarted after step 2: 1, 1.5, 1.75 | 1, 1.5, 1.75
    np.testing.assert_allclose(scaler.returns, [1.75 * (1 - 0), 2 * (1 - 0.5**6) / 0.5])
    std = np.sqrt(scaler.get_state()["var"] + 1e-8)
    np.testing.assert_allclose(scaled, np.array([1.0, 2.0]) / std)
    before = scaler.get_state()
    scaler.scale(np.array([3.0, 3.0]), np.array([False, False]), np.array([False, False]))
    after = scaler.get_state()  # a reset-only step changes nothing
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
