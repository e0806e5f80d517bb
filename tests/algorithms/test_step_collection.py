"""Step-based collection: every step a sub-environment takes is used, episodes stitched across updates."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from gradlogpi.algorithms.on_policy.batch_pg import (
    BatchPolicyGradientConfig,
    batch_policy_gradient,
    pad_episodes,
    pad_fragments,
    step_weights,
)
from gradlogpi.features import RawState
from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy
from gradlogpi.rollouts.vector import (
    Episode,
    FragmentBatch,
    Shaping,
    StepCollector,
    make_vector_env,
)


def policy():
    return MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(0), scale=0.3)


def collect(mode, updates=3, steps=40, num_envs=3, seed=5):
    collector = StepCollector(
        make_vector_env("CartPole-v1", num_envs, mode, autoreset=True), seed, steps, "CartPole-v1"
    )
    try:
        batches = [collector.collect(policy(), u) for u in range(updates)]
        return [(batch.fragments(), finished) for batch, finished in batches]
    finally:
        collector.close()


@pytest.mark.parametrize("mode", ["sync", "vector_entry_point"])
def test_fragments_cover_every_counted_step_and_stitch_into_episodes(mode):
    batches = collect(mode, updates=4, steps=60)
    carried = {}  # env → (return so far, steps so far) of the episode in progress
    for fragments, finished in batches:
        # with NEXT_STEP autoreset each ended episode costs one reset-only step, nothing else
        ended = sum(not f.cut for f in fragments)
        assert sum(f.length for f in fragments) + ended >= 3 * 60 - 3
        assert sum(f.length for f in fragments) <= 3 * 60
        returns = []
        for f in fragments:
            so_far, steps = carried.get(f.env, (0.0, 0))
            assert f.first_step == steps
            if f.cut:
                carried[f.env] = (so_far + f.rewards.sum(), steps + f.length)
                assert f.final_observation is not None
            else:
                returns.append(so_far + f.rewards.sum())
                carried[f.env] = (0.0, 0)
        np.testing.assert_allclose(finished.returns, returns)
        assert (finished.lengths == finished.returns).all()  # CartPole pays 1 a step
    assert sum(len(finished.returns) for _, finished in batches) > 5


def test_same_seed_same_fragments_with_sync_and_async():
    for (sync, _), (asynchronous, _) in zip(collect("sync"), collect("async"), strict=True):
        assert len(sync) == len(asynchronous)
        for a, b in zip(sync, asynchronous, strict=True):
            np.testing.assert_array_equal(a.observations, b.observations)
            np.testing.assert_array_equal(a.actions, b.actions)


def test_cut_fragments_are_bootstrapped_with_the_value_of_where_they_stopped():
    collector = StepCollector(make_vector_env("CartPole-v1", 3, autoreset=True), 5, 40, "CartPole")
    batch, _ = collector.collect(policy(), 0)
    fragments = batch.fragments()
    value = LinearValue(RawState(4))
    value.set_flat(np.array([1.0, 2.0, 3.0, 4.0]))
    padded = pad_fragments(batch, value, 0.9)
    plain = pad_episodes(fragments)
    np.testing.assert_array_equal(padded.observations, plain.observations)
    for i, fragment in enumerate(fragments):
        expected = fragment.rewards.copy()
        if fragment.cut:
            expected[-1] += 0.9 * float(value.value(fragment.final_observation))
        np.testing.assert_allclose(padded.rewards[i, : fragment.length], expected)
        assert (padded.rewards[i, fragment.length :] == 0).all()
    assert any(f.cut for f in fragments)
    assert any(not f.cut for f in fragments)


def test_episodes_cut_by_the_time_limit_are_bootstrapped_and_terminated_ones_are_not():
    value = LinearValue(RawState(4))
    value.set_flat(np.array([1.0, 2.0, 3.0, 4.0]))
    rng = np.random.default_rng(0)
    stops = rng.normal(size=(3, 4))
    episodes = [
        Episode(rng.normal(size=(n, 4)), np.zeros(n, dtype=np.int64), np.ones(n), ended, cut, stop)
        for n, ended, cut, stop in [(3, False, True, stops[0]), (5, True, False, stops[1]),
                                    (2, False, True, stops[2])]
    ]  # fmt: skip
    padded = pad_fragments(FragmentBatch.from_episodes(episodes), value, 0.9)
    for i, episode in enumerate(episodes):
        expected = np.ones(episode.length)
        if episode.truncated:
            expected[-1] += 0.9 * float(value.value(episode.final_observation))
        # one value for all stops is a matrix product: its rounding may differ in the last bit
        np.testing.assert_allclose(padded.rewards[i, : episode.length], expected, rtol=1e-13)
    assert padded.rewards[0, 2] != 1.0 and padded.rewards[1, 4] == 1.0


def test_a_fragment_the_time_limit_ended_is_bootstrapped_from_its_final_state():
    collector = StepCollector(
        make_vector_env("CartPole-v1", 2, max_episode_steps=6, autoreset=True), 5, 20, "CartPole"
    )
    batch, _ = collector.collect(policy(), 0)
    value = LinearValue(RawState(4))
    value.set_flat(np.array([1.0, 2.0, 3.0, 4.0]))
    padded = pad_fragments(batch, value, 0.9)
    plain = pad_fragments(batch, None, 0.9)
    truncated = np.flatnonzero(batch.truncated & ~batch.cut)
    assert truncated.size > 0
    for i in truncated:
        env, last = batch.envs[i], batch.time_of[batch.starts[i] + batch.lengths[i] - 1]
        if last + 1 == batch.step_observations.shape[0]:  # ended at the update's last step
            final_state = batch.last_observations[env]  # where the env stopped, not yet reset
        else:
            final_state = batch.step_observations[last + 1, env]  # NEXT_STEP: S_T, then reset
        bonus = padded.rewards[i, batch.lengths[i] - 1] - plain.rewards[i, batch.lengths[i] - 1]
        np.testing.assert_allclose(bonus, 0.9 * float(value.value(final_state)))


def test_a_truncated_episode_whose_final_state_is_unknown_is_not_bootstrapped():
    value = LinearValue(RawState(4))
    value.set_flat(np.array([1.0, 2.0, 3.0, 4.0]))
    episode = Episode(np.ones((3, 4)), np.zeros(3, dtype=np.int64), np.ones(3), False, True)
    padded = pad_fragments(FragmentBatch.from_episodes([episode]), value, 0.9)
    np.testing.assert_array_equal(padded.rewards[0, :3], np.ones(3))


def test_same_step_autoreset_keeps_no_final_state_so_truncated_fragments_are_not_bootstrapped():
    envs = gym.make_vec(
        "CartPole-v1",
        2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        max_episode_steps=6,
    )
    batch, _ = StepCollector(envs, 5, 20, "CartPole").collect(policy(), 0)
    value = LinearValue(RawState(4))
    value.set_flat(np.array([1.0, 2.0, 3.0, 4.0]))
    padded, plain = pad_fragments(batch, value, 0.9), pad_fragments(batch, None, 0.9)
    truncated = batch.truncated & ~batch.cut
    assert truncated.any() and batch.cut.any()
    changed = (padded.rewards != plain.rewards).any(axis=1)
    np.testing.assert_array_equal(changed, batch.cut)  # only the cut ones, whose S_T is known


def test_a_fragment_starting_at_step_t0_is_weighted_by_gamma_to_the_t0():
    fragments, _ = collect("sync", updates=2)[1]
    continued = [f for f in fragments if f.first_step > 0][:1]
    assert continued
    config = BatchPolicyGradientConfig(collection="steps", gamma=0.9)
    fresh = [dataclasses.replace(continued[0], first_step=0)]
    ratio = step_weights(pad_episodes(continued), config, None) / step_weights(
        pad_episodes(fresh), config, None
    )
    np.testing.assert_allclose(ratio, 0.9 ** continued[0].first_step)


def test_step_collection_learns_cartpole_and_uses_every_step():
    config = BatchPolicyGradientConfig(
        n_updates=25,
        num_envs=8,
        collection="steps",
        steps_per_env=64,
        alpha_theta=0.1,
        normalize_advantages=True,
    )
    result = batch_policy_gradient(
        "CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0
    )
    returns = result.returns[0]
    assert returns[:20].mean() < 40
    assert returns[-20:].mean() > 3 * returns[:20].mean(), (
        returns[:20].mean(),
        returns[-20:].mean(),
    )
    # finished episodes account for all steps but the episodes still running at the end
    assert returns.sum() > 0.8 * 25 * 8 * 64 - 8 * 500


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"estimator": "reinforce"}, "`estimator` must be 'gpomdp' with collection='steps'"),
        ({"update": "enac"}, "`update` 'enac' needs whole episodes"),
        (
            {"rollout_workers": 2, "num_envs": 4},
            "`collection` must be 'ray' to split step collection",
        ),
        (
            {"collection": "episodes", "vectorization_mode": "vector_entry_point"},
            "needs collection='steps'",
        ),
        ({"steps_per_env": 0}, "steps_per_env"),
    ],
)
def test_step_collection_settings_that_cannot_work_are_refused(changes, message):
    settings = {"collection": "steps", **changes}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BatchPolicyGradientConfig(**settings)


def test_a_step_collection_run_resumed_from_a_snapshot_is_the_uninterrupted_run():
    """The snapshot holds the sub-environments' states: the resumed run steps on from there."""
    config = BatchPolicyGradientConfig(
        n_updates=6, collection="steps", steps_per_env=30, num_envs=3, baseline="value"
    )
    snapshots = {}

    def keep(end):
        if end.episode == 2:
            snapshots["state"] = end.snapshot()

    value = LinearValue(RawState(4))
    whole = batch_policy_gradient(
        "CartPole-v1", policy(), config, value=value, seed=3, callback=keep
    )
    resumed = batch_policy_gradient(
        "CartPole-v1", policy(), config, value=value, seed=3, resume=snapshots["state"]
    )
    np.testing.assert_array_equal(resumed.returns, whole.returns)
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    np.testing.assert_array_equal(resumed.value_parameters, whole.value_parameters)


def test_non_finite_observation_is_named():
    class Broken(gym.Wrapper):
        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            return obs * np.nan, reward, terminated, truncated, info

    envs = gym.vector.SyncVectorEnv([lambda: Broken(gym.make("CartPole-v1"))])
    collector = StepCollector(envs, 0, 5, "Broken")
    from gradlogpi.errors import NonFiniteError

    with pytest.raises(
        NonFiniteError, match="non-finite observation from environment Broken: env 0"
    ):
        collector.collect(policy(), 0)


@pytest.mark.parametrize("clip", [True, False])
def test_box_actions_reach_the_env_clipped_and_the_batch_keeps_the_sample(clip):
    from gradlogpi.policies import LinearGaussianPolicy

    envs = make_vector_env("Pendulum-v1", 2, autoreset=True)
    sent = []
    step = envs.step

    def recording(actions):
        sent.append(np.array(actions))
        return step(actions)

    envs.step = recording
    policy = LinearGaussianPolicy(RawState(3), 1, log_std0=1.5)  # σ ≈ 4.5, bounds ±2
    collector = StepCollector(envs, 0, 20, "Pendulum-v1", shaping=Shaping(clip_actions=clip))
    batch, _ = collector.collect(policy, 0)
    collector.close()
    sampled, sent = batch.step_actions.reshape(-1), np.concatenate(sent).reshape(-1)
    assert np.abs(sampled).max() > 2.0  # the batch holds what the policy drew
    if clip:
        np.testing.assert_array_equal(sent, np.clip(sampled, -2.0, 2.0).astype(np.float32))
    else:
        np.testing.assert_array_equal(sent, sampled.astype(np.float32))
