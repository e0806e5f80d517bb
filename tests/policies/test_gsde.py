"""gSDE (`GaussianHead(gsde=GSDE(...))`): a Gaussian whose σ(s) comes from the last hidden
layer, its exact score, its samples, the update's held features, and the step collector
holding each exploration matrix for `sample_every` steps."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("jax")

import jax

from gradlogpi.check import compare_scores
from gradlogpi.policies.actor import Actor
from gradlogpi.policies.jax_policies import JaxGaussianPolicy, log_prob
from gradlogpi.policies.networks import (
    GSDE,
    GSDE_VARIANCE_FLOOR,
    MLP,
    GaussianHead,
    numpy_mlp_function,
)
from gradlogpi.rollouts.vector import StepCollector


def gsde_policy(gsde=None, *, squash=None, action_dim=2, seed=3):
    head = GaussianHead(-0.5, squash, gsde or GSDE())
    return JaxGaussianPolicy(3, action_dim, MLP((6, 5)), seed=seed, head=head, dtype="float64")


def by_hand(policy, obs):
    """(f(s), μ(s), v(s)) from the policy's layers, without its own methods."""
    *hidden, (weight, bias) = policy._layers
    features = numpy_mlp_function(hidden, "tanh")(obs)
    std = np.exp(policy._log_std)  # [L, m]
    return features, features @ weight + bias, features**2 @ std**2 + GSDE_VARIANCE_FLOOR


@pytest.mark.parametrize("squash", [None, ([-2.0, -1.0], [2.0, 3.0])])
def test_scores_are_exact_and_the_density_is_the_state_dependent_gaussian(rng, squash):
    policy = gsde_policy(squash=squash)
    assert policy.parameters[-1].shape == (5, 2)  # σ per (feature, action dimension)
    obs = rng.normal(size=(4, 3))
    actions = policy.sample(obs, rng)
    check = compare_scores(policy, obs, actions)
    assert check.passed(rtol=1e-6, atol=1e-8), check
    _, mean, variance = by_hand(policy, obs)
    np.testing.assert_allclose(policy.log_std(obs), 0.5 * np.log(variance), rtol=1e-12)
    np.testing.assert_allclose(
        policy.log_prob(obs, actions),
        np.asarray(log_prob(policy.network, policy._float64(), obs, actions)),
        rtol=1e-12,
    )
    if squash is None:
        expected = -0.5 * ((actions - mean) ** 2 / variance + np.log(2 * np.pi * variance))
        np.testing.assert_allclose(policy.log_prob(obs, actions), expected.sum(-1), rtol=1e-12)
        entropy = 0.5 * np.log(2 * np.pi * np.e * variance).sum(-1)
        np.testing.assert_allclose(policy.entropy(obs), entropy, rtol=1e-12)
    one_dimensional = gsde_policy(action_dim=1)
    grid = np.linspace(-30.0, 30.0, 600_001)
    density = np.exp(one_dimensional.log_prob(np.tile(obs[:1], (grid.size, 1)), grid[:, None]))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)


def test_samples_from_exploration_matrices_follow_pi(rng):
    """a = μ(s) + f(s)ᵀ(σ ⊙ E) + 1e-3·e with E, e standard normal is N(μ(s), v(s)) exactly."""
    policy = gsde_policy()
    obs = np.tile(rng.normal(size=(1, 3)), (200_000, 1))
    assert policy.noise_size == 2 * (5 * 2 + 2)  # Box-Muller pairs for E [5, 2] and e [2]
    actions = policy.sample_from_uniforms(obs, rng.random((200_000, policy.noise_size)))
    _, mean, variance = by_hand(policy, obs[:1])
    standard_error = np.sqrt(variance / 200_000)
    assert np.all(np.abs(actions.mean(0) - mean[0]) < 5 * standard_error[0])
    np.testing.assert_allclose(actions.var(0), variance[0], rtol=0.02)


def test_where_every_feature_is_zero_the_floor_is_the_whole_variance(rng):
    """ReLU features all 0 (a bias far below 0): v(s) = 1e-6 exactly, and the samples
    carry the floor's own noise, 1e-3·e, so they still follow π(a|s)."""
    network = MLP((5,), activation="relu")
    policy = JaxGaussianPolicy(3, 1, network, seed=1, head=GaussianHead(gsde=GSDE()))
    theta = policy.get_flat()
    theta[policy.parameter_blocks()["layer0.bias"]] = -1e3
    policy.set_flat(theta)
    obs = np.tile(rng.normal(size=(1, 3)), (100_000, 1))
    np.testing.assert_allclose(policy.log_std(obs[:1]), 0.5 * np.log(GSDE_VARIANCE_FLOOR))
    actions = policy.sample_from_uniforms(obs, rng.random((100_000, policy.noise_size)))
    np.testing.assert_allclose(actions.var(), GSDE_VARIANCE_FLOOR, rtol=0.02)


@pytest.mark.parametrize("learn_features", [False, True])
def test_the_update_holds_the_features_in_the_variance_unless_told_to_learn_them(
    rng, learn_features
):
    """Training differentiates log π with f(s) in v(s) held (SB3's default): the body's
    gradient is then Σ (a − μ)/v ∂μ/∂θ only; with `learn_features` it is the exact score."""
    policy = gsde_policy(GSDE(learn_features=learn_features))
    obs = rng.normal(size=(8, 3))
    actions = policy.sample(obs, rng)
    parameters = policy._float64()

    def total(parameters, training):
        return log_prob(policy.network, parameters, obs, actions, training=training).sum()

    training = np.concatenate(
        [np.ravel(g) for g in jax.grad(total)(parameters, True)]  # θ's flat order
    )
    exact = policy.score(obs, actions).sum(0)
    body = policy.parameter_blocks()["layer0.weight"]
    if learn_features:
        np.testing.assert_allclose(training, exact, rtol=1e-10, atol=1e-12)
        return
    eta = policy.parameter_blocks()["eta"]
    np.testing.assert_allclose(training[eta], exact[eta], rtol=1e-10)  # σ is still learned
    # the mean's part alone, by central differences of μ(s) through the mirror
    _, mean, variance = by_hand(policy, obs)
    theta, step = policy.get_flat(), 1e-6
    for i in body[:6]:
        moved = theta.copy()
        moved[i] += step
        policy.set_flat(moved)
        up = by_hand(policy, obs)[1]
        moved[i] -= 2 * step
        policy.set_flat(moved)
        down = by_hand(policy, obs)[1]
        policy.set_flat(theta)
        mean_part = ((actions - mean) / variance * (up - down) / (2 * step)).sum()
        assert training[i] == pytest.approx(mean_part, rel=1e-6, abs=1e-9)
        assert abs(training[i] - exact[i]) > 1e-6  # and not the exact score's


class RecordingActor:
    """The policy, with the noise each step of collection acts with written down."""

    def __init__(self, policy):
        self.policy, self.noise = policy, []

    def __getattr__(self, name):
        return getattr(self.policy, name)

    def batch_actor(self):
        actor = self.policy.batch_actor()

        def act(obs, noise):
            self.noise.append(np.array(noise))
            return actor.act(obs, noise)

        return Actor(act, actor.prepare)


@pytest.mark.parametrize("sample_every", [0, 1, 4])
def test_the_step_collector_holds_each_draw_for_sample_every_steps(sample_every):
    envs = gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync")
    policy = RecordingActor(
        JaxGaussianPolicy(3, 1, MLP((4,)), seed=0, head=GaussianHead(gsde=GSDE(sample_every)))
    )
    collector = StepCollector(envs, 7, steps_per_env=8, env_name="Pendulum-v1")
    collector.step(policy, 0)
    collector.step(policy, 1)
    first, second = np.array(policy.noise[:8]), np.array(policy.noise[8:])
    period = sample_every or 8
    for n in range(8):
        np.testing.assert_array_equal(first[n], first[n // period * period])
        assert (n % period == 0) or np.array_equal(first[n], first[n - 1])
        if n % period == 0 and n > 0:
            assert not np.array_equal(first[n], first[n - 1])  # a new draw
    assert not np.array_equal(first[0], second[0])  # every update starts a new draw
    assert not np.array_equal(first[0][0], first[0][1])  # each env its own matrix
    envs.close()


def test_gsde_settings_are_checked_by_name():
    with pytest.raises(ValueError, match=r"`gsde.sample_every` must be an int >= 0; got -1"):
        gsde_policy(GSDE(-1))
    with pytest.raises(ValueError, match=r"`gsde.learn_features` must be a bool"):
        gsde_policy(GSDE(4, "yes"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`head.gsde` must be a GSDE or None; got bool"):
        JaxGaussianPolicy(3, 1, head=GaussianHead(gsde=True))  # type: ignore[arg-type]


@pytest.mark.parametrize("learn_features", [False, True])
def test_both_backends_take_the_same_steps_with_gsde(rng, learn_features):
    """The PyTorch policy states gSDE apart from the JAX one; from the same θ, samples and
    minibatches both end at the same θ, with and without the held features."""
    torch = pytest.importorskip("torch")
    assert torch
    from gradlogpi.algorithms.on_policy.ppo import ClippedSurrogate
    from gradlogpi.policies.contract import minibatch_plan
    from gradlogpi.policies.torch_policies import NeuralGaussianPolicy
    from tests.policies.test_jax_policies import torch_order

    head = GaussianHead(-0.3, gsde=GSDE(4, learn_features))
    jax_policy = JaxGaussianPolicy(4, 2, MLP((8, 6)), seed=5, lr=0.01, dtype="float64", head=head)
    torch_policy = NeuralGaussianPolicy(4, 2, (8, 6), seed=0, lr=0.01, head=head)
    torch_policy.set_flat(torch_order(jax_policy))
    obs = rng.normal(size=(32, 4))
    actions = jax_policy.sample(obs, rng)
    np.testing.assert_allclose(
        jax_policy.log_prob(obs, actions), torch_policy.log_prob(obs, actions), rtol=1e-12
    )
    np.testing.assert_allclose(
        torch_order_of_score(jax_policy, obs, actions), torch_policy.score(obs, actions), atol=1e-10
    )
    samples = {"observations": obs, "actions": actions, "advantages": rng.normal(size=32)}
    samples["old_log_probs"] = torch_policy.log_prob(obs, actions)
    settings = {"clip_range": 0.2, "entropy_coefficient": 0.01, "target_kl": 0.0}
    plan = minibatch_plan(32, 3, 2, np.random.default_rng(2))
    for policy in (jax_policy, torch_policy):
        policy.maximize_minibatches(ClippedSurrogate(True, True), samples, plan, settings)
    np.testing.assert_allclose(torch_order(jax_policy), torch_policy.get_flat(), atol=1e-9)


def torch_order_of_score(jax_network, obs, actions):
    """The JAX policy's per-sample scores in the PyTorch backend's flat order (as
    `test_jax_policies.torch_order` orders θ)."""
    scores = jax_network.score(obs, actions)
    pieces, start = [], 0
    for i, p in enumerate(jax_network.parameters):
        block = scores[:, start : start + p.size].reshape(len(obs), *p.shape)
        is_weight = i % 2 == 0 and i < 2 * len(jax_network._layers)
        pieces.append((np.swapaxes(block, 1, 2) if is_weight else block).reshape(len(obs), -1))
        start += p.size
    return np.concatenate(pieces, axis=1)


def test_episode_collection_says_it_does_not_hold_the_exploration_matrix():
    from gradlogpi.algorithms.on_policy import PPOConfig
    from gradlogpi.algorithms.on_policy.loop import make_collector

    policy = JaxGaussianPolicy(3, 1, MLP((4,)), seed=0, head=GaussianHead(gsde=GSDE()))
    config = PPOConfig(num_envs=2, collection="episodes")
    with pytest.warns(UserWarning, match=r"step-based collection only"):
        collector = make_collector("Pendulum-v1", config, policy, 0)
    collector.close()
