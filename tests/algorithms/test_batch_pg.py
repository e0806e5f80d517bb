import gymnasium as gym
import numpy as np
import pytest

from gradlogpi.algorithms import estimators
from gradlogpi.algorithms.on_policy.batch_pg import (
    BatchPolicyGradientConfig,
    batch_policy_gradient,
    pad_episodes,
)
from gradlogpi.features import RawState
from gradlogpi.policies import MatrixSoftmaxPolicy
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy
from gradlogpi.rollouts.vector import EpisodeSeeds, collect_episodes, make_vector_env


def cartpole_policy():
    return MatrixSoftmaxPolicy(RawState(4), 2)


def test_sync_async_and_one_env_give_the_same_episodes():
    policy = cartpole_policy().init(np.random.default_rng(0), scale=0.3)
    collected = {}
    for mode, num_envs in (("sync", 4), ("async", 4), ("sync", 1)):
        envs = make_vector_env("CartPole-v1", num_envs, mode)
        try:
            # with one env, env 0 collects all 8; compare env 0's first two episodes
            episodes = collect_episodes(
                envs, policy, 8 if num_envs == 4 else 2, EpisodeSeeds(7), 0, 500
            )
        finally:
            envs.close()
        collected[(mode, num_envs)] = episodes
    sync, asynchronous, single = (
        collected[("sync", 4)],
        collected[("async", 4)],
        collected[("sync", 1)],
    )
    for first, second in zip(sync, asynchronous, strict=True):
        np.testing.assert_array_equal(first.observations, second.observations)
        np.testing.assert_array_equal(first.actions, second.actions)
    for first, second in zip(sync[:2], single, strict=True):
        np.testing.assert_array_equal(first.observations, second.observations)


def test_batch_pg_learns_cartpole_a_little():
    config = BatchPolicyGradientConfig(
        n_updates=30, episodes_per_update=16, alpha_theta=0.1, num_envs=4, normalize_advantages=True
    )
    result = batch_policy_gradient("CartPole-v1", cartpole_policy(), config, seed=0)
    first, last = result.returns[0, :32].mean(), result.returns[0, -32:].mean()
    # a zero policy averages about 22; learning shows up as several times that
    assert first < 40
    assert last > 3 * first, (first, last)


def test_same_seed_same_parameters():
    config = BatchPolicyGradientConfig(n_updates=3, episodes_per_update=8, num_envs=4)
    first = batch_policy_gradient("CartPole-v1", cartpole_policy(), config, seed=3)
    second = batch_policy_gradient("CartPole-v1", cartpole_policy(), config, seed=3)
    np.testing.assert_array_equal(first.policy.get_flat(), second.policy.get_flat())
    np.testing.assert_array_equal(first.returns, second.returns)


def gradient_samples(baseline, estimator, n_batches=60):
    """Repeated batch gradient estimates at one fixed θ on the LQR task."""
    policy = LinearGaussianPolicy(
        RawState(1), 1, log_std0=np.log(0.5), learn_std=False, theta0=[-0.2, 0.0]
    )
    config = BatchPolicyGradientConfig(
        gamma=0.9, estimator=estimator, baseline=baseline, num_envs=8
    )
    envs = make_vector_env("gradlogpi/LQR-v0", 8)
    estimates = []
    try:
        for update in range(n_batches):
            batch = pad_episodes(collect_episodes(envs, policy, 16, EpisodeSeeds(11), update, 50))
            scores = policy.score(batch.observations, batch.actions) * batch.mask[..., None]
            if baseline == "optimal":
                optimal = {
                    "reinforce": estimators.reinforce_optimal_baseline_gradient,
                    "gpomdp": estimators.gpomdp_optimal_baseline_gradient,
                }[estimator]
                estimates.append(optimal(scores, batch.rewards, config.gamma, batch.mask))
            else:
                weights = {
                    "reinforce": estimators.reinforce_weights,
                    "gpomdp": estimators.gpomdp_weights,
                }[estimator](batch.rewards, config.gamma, batch.mask)
                estimates.append((weights[..., None] * scores).sum(axis=1).mean(axis=0))
    finally:
        envs.close()
    return np.array(estimates)


def test_gpomdp_and_optimal_baselines_reduce_variance_not_the_mean():
    plain = gradient_samples("none", "reinforce")
    gpomdp = gradient_samples("none", "gpomdp")
    optimal = gradient_samples("optimal", "gpomdp")
    # same expectation (unbiased estimators of one gradient), within 4 standard errors
    for other in (gpomdp, optimal):
        difference = plain[:, 0].mean() - other[:, 0].mean()
        error = np.hypot(plain[:, 0].std(ddof=1), other[:, 0].std(ddof=1)) / np.sqrt(len(plain))
        assert abs(difference) < 4 * error
    # and smaller spread, in that order
    assert gpomdp[:, 0].var() < plain[:, 0].var()
    assert optimal[:, 0].var() < gpomdp[:, 0].var()


def test_the_optimal_gpomdp_baseline_is_unbiased_where_episodes_end_early():
    """CartPole pays 1 a step, so all of the gradient is in when episodes end. Averaged only
    over the episodes still running (as before 2026-12-04), the step-t baseline is 1 and
    the estimate exactly 0; over every episode of the horizon it agrees with plain G(PO)MDP
    in expectation (paired, batch by batch, within 4 standard errors), with less spread."""
    policy = cartpole_policy().init(np.random.default_rng(1), scale=0.5)
    envs = make_vector_env("CartPole-v1", 8)
    plain, optimal = [], []
    try:
        for update in range(40):
            batch = pad_episodes(collect_episodes(envs, policy, 16, EpisodeSeeds(5), update, 500))
            scores = policy.score(batch.observations, batch.actions) * batch.mask[..., None]
            weights = estimators.gpomdp_weights(batch.rewards, 0.99, batch.mask)
            plain.append((weights[..., None] * scores).sum(axis=1).mean(axis=0))
            optimal.append(
                estimators.gpomdp_optimal_baseline_gradient(
                    scores, batch.rewards, 0.99, batch.mask, batch.absorbed()
                )
            )
    finally:
        envs.close()
    plain, optimal = np.array(plain), np.array(optimal)
    error = plain.std(axis=0, ddof=1) / np.sqrt(len(plain))
    assert (np.abs(plain.mean(axis=0)) > 4 * error).any()  # a gradient to find
    difference = plain - optimal
    bound = 4 * difference.std(axis=0, ddof=1) / np.sqrt(len(difference))
    assert (np.abs(difference.mean(axis=0)) < bound).all()
    assert optimal.var(axis=0).sum() < plain.var(axis=0).sum()


def two_action_episodes(rng, n_episodes, horizon=8):
    """Episodes of a fixed two-action policy that ends an episode with probability 0.5
    after action 1, paying 1 + (t mod 3) a step: scores [N, T, 2], rewards, mask, ends."""
    probabilities = np.exp([0.3, -0.2]) / np.exp([0.3, -0.2]).sum()
    scores = np.zeros((n_episodes, horizon, 2))
    rewards = np.zeros((n_episodes, horizon))
    mask = np.zeros((n_episodes, horizon), dtype=bool)
    terminated = np.zeros(n_episodes, dtype=bool)
    for i in range(n_episodes):
        for t in range(horizon):
            action = int(rng.random() < probabilities[1])
            scores[i, t] = np.eye(2)[action] - probabilities
            rewards[i, t], mask[i, t] = 1 + t % 3, True
            if action == 1 and rng.random() < 0.5:
                terminated[i] = True
                break
    return scores, rewards, mask, terminated


def test_the_optimal_baselines_are_unbiased_with_four_episodes_a_batch():
    """Each episode's baseline comes from the other episodes: with 4 episodes a batch its
    own return would pull the estimate towards 0 (by about a quarter here)."""
    rng = np.random.default_rng(0)
    plain, gpomdp, reinforce = [], [], []
    for _ in range(3000):
        scores, rewards, mask, terminated = two_action_episodes(rng, 4)
        absorbed = ~mask & terminated[:, None]
        weights = estimators.gpomdp_weights(rewards, 0.99, mask)
        plain.append((weights[..., None] * scores).sum(axis=1).mean(axis=0))
        gpomdp.append(
            estimators.gpomdp_optimal_baseline_gradient(scores, rewards, 0.99, mask, absorbed)
        )
        reinforce.append(
            estimators.reinforce_optimal_baseline_gradient(scores, rewards, 0.99, mask)
        )
    plain = np.array(plain)
    for estimate in (np.array(gpomdp), np.array(reinforce)):
        difference = plain[:, 0] - estimate[:, 0]
        bound = 4 * difference.std(ddof=1) / np.sqrt(len(difference))
        assert abs(difference.mean()) < bound, (difference.mean(), bound)


def test_the_optimal_baseline_needs_whole_episodes():
    with pytest.raises(ValueError, match="`baseline` 'optimal' needs whole episodes"):
        BatchPolicyGradientConfig(collection="steps", baseline="optimal")


def test_normalized_constant_batch_gives_zero_update():
    weights = estimators.gpomdp_weights(np.zeros((3, 4)), 0.9, np.ones((3, 4), bool))
    from gradlogpi.core import normalized

    np.testing.assert_array_equal(normalized(weights), np.zeros((3, 4)))


def test_natural_gradient_is_invariant_to_feature_scale_where_vanilla_breaks():
    """Short corridor with features ×1 and ×20: the natural step learns the same policy on both;
    the plain gradient's step size that works for ×1 makes the ×20 policy collapse."""
    from gradlogpi.envs import theta_for_p_right
    from gradlogpi.features import TableFeatures
    from gradlogpi.policies import LinearSoftmaxPolicy

    def policy(scale):
        table = scale * np.array([[0.0, 1.0], [1.0, 0.0]])
        return LinearSoftmaxPolicy(TableFeatures(table), theta_for_p_right(0.05) / scale)

    def learned_p_right(scale, update, **extra):
        config = BatchPolicyGradientConfig(
            n_updates=10, episodes_per_update=16, gamma=1.0, update=update, num_envs=4, **extra
        )
        result = batch_policy_gradient("gradlogpi/ShortCorridor-v0", policy(scale), config, seed=0)
        return result.policy.probabilities(0)[1]

    natural_1, natural_20 = (
        learned_p_right(1, "natural", max_kl=0.05),
        learned_p_right(20, "natural", max_kl=0.05),
    )
    # equal up to rounding in F⁻¹g, which a sampled action can amplify a little
    assert natural_1 == pytest.approx(natural_20, abs=5e-3)
    assert 0.3 < natural_1 < 0.8  # from 0.05 to near p* = 0.586 in 10 updates
    vanilla_1 = learned_p_right(1, "vanilla", alpha_theta=2**-6)
    vanilla_20 = learned_p_right(20, "vanilla", alpha_theta=2**-6)
    assert 0.3 < vanilla_1 < 0.8
    assert vanilla_20 < 0.01 or vanilla_20 > 0.99  # collapsed onto one action


@pytest.mark.slow
def test_lqr_gain_within_five_percent_of_riccati():
    import gymnasium as gym

    import gradlogpi.envs  # noqa: F401

    gain = gym.make("gradlogpi/LQR-v0").unwrapped.optimal_gain(0.9)[0, 0]
    errors = []
    for seed in range(4):
        policy = LinearGaussianPolicy(RawState(1), 1, log_std0=np.log(0.5), learn_std=False)
        config = BatchPolicyGradientConfig(
            n_updates=50,
            episodes_per_update=128,
            num_envs=16,
            gamma=0.9,
            update="natural",
            baseline="optimal",
            schedule="linear",
            max_kl=0.05,
        )
        result = batch_policy_gradient("gradlogpi/LQR-v0", policy, config, seed=seed)
        errors.append(abs(-result.policy.get_flat()[0] - gain) / gain)
    assert np.median(errors) < 0.05, errors
    assert sum(e < 0.05 for e in errors) >= 3, errors


@pytest.mark.parametrize("baseline", ["optimal", "value"])
def test_neural_policy_with_baselines_and_natural_free_update(baseline):
    pytest.importorskip("torch")
    from gradlogpi.features import Polynomial
    from gradlogpi.policies import LinearValue
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

    policy = NeuralSoftmaxPolicy(4, 2, (8,), seed=0, lr=0.05)
    before = policy.get_flat()
    value = (
        LinearValue(Polynomial([-2.4, -3, -0.21, -3.5], [2.4, 3, 0.21, 3.5], 1))
        if baseline == "value"
        else None
    )
    config = BatchPolicyGradientConfig(
        n_updates=2, episodes_per_update=8, num_envs=4, baseline=baseline, entropy_coefficient=0.01
    )
    result = batch_policy_gradient("CartPole-v1", policy, config, value=value, seed=0)
    after = result.policy.get_flat()
    assert np.all(np.isfinite(after)) and not np.allclose(after, before)
    np.testing.assert_array_equal(policy.get_flat(), before)  # the caller's policy is not modified


def test_envpool_is_a_vectorization_mode_for_step_collection():
    """With EnvPool installed it learns; without it the error names the extra to install."""
    from gradlogpi.errors import ConfigError

    config = BatchPolicyGradientConfig(
        n_updates=30, num_envs=4, alpha_theta=0.05, collection="steps", steps_per_env=32,
        vectorization_mode="envpool",
    )  # fmt: skip
    policy = MatrixSoftmaxPolicy(RawState(4), 2)
    try:
        import envpool  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"gradlogpi\[envpool\]"):
            batch_policy_gradient("CartPole-v1", policy, config, seed=0)
        return
    first = batch_policy_gradient("CartPole-v1", policy, config, seed=0)
    again = batch_policy_gradient("CartPole-v1", policy, config, seed=0)
    np.testing.assert_array_equal(first.returns, again.returns)  # seeded when made
    assert first.returns.size > 0 and np.isfinite(first.parameters).all()


def test_envpool_needs_step_collection():
    with pytest.raises(ValueError, match="needs collection='steps'"):
        BatchPolicyGradientConfig(vectorization_mode="envpool", collection="episodes")


def test_envs_that_have_their_share_keep_stepping_within_the_cap():
    """Episode collection: an env done with its share runs ignored episodes while the others
    finish; each of them starts over at step 0 (it once ran past the noise block's end)."""
    config = BatchPolicyGradientConfig(
        n_updates=10, episodes_per_update=16, num_envs=8, max_episode_steps=20
    )
    result = batch_policy_gradient(
        "CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=1
    )
    assert result.lengths.size == 160 and result.lengths.max() <= 20


def test_sync_collection_steps_only_the_envs_whose_episodes_are_wanted():
    """One episode per env: each sub-env steps exactly its episode's length (a vector env
    would step them all until the longest ended), and the episodes are the async env's."""
    policy = cartpole_policy().init(np.random.default_rng(1), scale=0.3)
    envs = make_vector_env("CartPole-v1", 4, "sync")
    counts = [0] * 4
    for k, env in enumerate(envs.envs):

        def counted(action, env_step=env.step, k=k):
            counts[k] += 1
            return env_step(action)

        env.step = counted
    episodes = collect_episodes(envs, policy, 4, EpisodeSeeds(3), 0, 500)
    envs.close()
    assert counts == [episode.length for episode in episodes]
    assert len(set(counts)) > 1  # lengths differ: a vector env would have stepped max(counts) each
    reference = make_vector_env("CartPole-v1", 4, "async")
    expected = collect_episodes(reference, policy, 4, EpisodeSeeds(3), 0, 500)
    reference.close()
    for first, second in zip(episodes, expected, strict=True):
        np.testing.assert_array_equal(first.actions, second.actions)
        np.testing.assert_array_equal(first.rewards, second.rewards)


def test_a_nan_reward_in_episode_collection_names_env_episode_update_and_step():
    import re

    from gradlogpi.errors import NonFiniteError
    from tests.reliability.test_guarantees import NaNRewardEnv  # reward NaN at step 3

    envs = gym.vector.SyncVectorEnv([NaNRewardEnv, NaNRewardEnv])
    message = "non-finite reward from environment Broken: env 0, episode 0 of update 5, step 3"
    with pytest.raises(NonFiniteError, match=re.escape(message)):
        collect_episodes(
            envs, MatrixSoftmaxPolicy(RawState(2), 2), 2, EpisodeSeeds(0), 5, 10, "Broken"
        )


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("baseline", ["none", "value"])
def test_a_network_steps_up_the_same_estimate_in_one_call(backend, baseline):
    """The vanilla step of a network policy (one `maximize_minibatches` call) equals the
    optimizer's step along `gradient_estimate`'s ĝ (+ β ∇H)."""
    from gradlogpi.algorithms.on_policy.batch_pg import (
        ascend,
        gradient_estimate,
        pad_fragments,
        step_network,
    )
    from gradlogpi.features import Polynomial
    from gradlogpi.policies import LinearValue
    from gradlogpi.rollouts.vector import StepCollector

    pytest.importorskip(backend)
    if backend == "torch":
        from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

        made = [NeuralSoftmaxPolicy(4, 2, (8,), seed=3, lr=0.05) for _ in range(2)]
    else:
        from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy
        from gradlogpi.policies.networks import MLP

        made = [
            JaxSoftmaxPolicy(4, 2, MLP((8,)), seed=3, lr=0.05, dtype="float64") for _ in range(2)
        ]
    value = None
    if baseline == "value":
        value = LinearValue(Polynomial([-2.4, -3, -0.21, -3.5], [2.4, 3, 0.21, 3.5], 1))
        value.set_flat(np.linspace(-1, 1, value.get_flat().size))
    config = BatchPolicyGradientConfig(
        num_envs=4, steps_per_env=16, baseline=baseline, entropy_coefficient=0.01
    )
    envs = make_vector_env("CartPole-v1", 4, autoreset=True, seed=0)
    batch, _ = StepCollector(envs, 0, 16, "CartPole-v1").collect(made[0], 0)
    padded = pad_fragments(batch, value, config.gamma)
    initial = made[0].get_flat()
    step_network(made[0], padded, config, value, 0.7)
    ascend(made[1], gradient_estimate(made[1], padded, config, value), 0.7, config)
    np.testing.assert_allclose(made[0].get_flat(), made[1].get_flat(), atol=1e-12)
    assert not np.allclose(made[0].get_flat(), initial)  # a step was taken
