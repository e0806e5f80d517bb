"""PPO-clip: the closed-form surrogate gradient against finite differences, and learning."""

import numpy as np
import pytest

from gradlogpi.algorithms.on_policy.ppo import (
    PPOConfig,
    clipped_surrogate,
    clipped_surrogate_weights,
    ppo,
)
from gradlogpi.features import RawState
from gradlogpi.policies import LinearGaussianPolicy, LinearValue, MatrixSoftmaxPolicy


def test_the_clip_zeroes_exactly_the_terms_it_holds_constant():
    ratios = np.array([1.5, 1.5, 0.5, 0.5, 1.05])
    advantages = np.array([1.0, -1.0, 1.0, -1.0, 2.0])
    weights = clipped_surrogate_weights(ratios, advantages, 0.2)
    # A > 0 and ρ > 1.2: clipped; A < 0 and ρ > 1.2: follows ρ; likewise below 0.8
    np.testing.assert_array_equal(weights, [0.0, -1.5, 0.5, 0.0, 2.1])


def surrogate_at(policy, theta, observations, actions, old_log_probs, advantages, clip_range):
    policy.set_flat(theta)
    ratios = np.exp(policy.log_prob(observations, actions) - old_log_probs)
    return clipped_surrogate(ratios, advantages, clip_range)


@pytest.mark.parametrize("kind", ["softmax", "gaussian"])
def test_the_surrogate_gradient_equals_central_differences(rng, kind):
    if kind == "softmax":
        policy = MatrixSoftmaxPolicy(RawState(3), 4).init(rng, scale=0.5)
    else:
        policy = LinearGaussianPolicy(RawState(3), 2)
        policy.set_flat(0.3 * rng.normal(size=policy.n_parameters))
    observations = rng.normal(size=(64, 3))
    actions = policy.sample(observations, rng)
    old_log_probs = policy.log_prob(observations, actions)
    advantages = rng.normal(size=64)
    theta = policy.get_flat() + 0.3 * rng.normal(size=policy.n_parameters)  # some ratios clip
    policy.set_flat(theta)
    ratios = np.exp(policy.log_prob(observations, actions) - old_log_probs)
    assert ((ratios > 1.2) | (ratios < 0.8)).any()  # the clip is active somewhere
    weights = clipped_surrogate_weights(ratios, advantages, 0.2) / ratios.size
    analytic = policy.weighted_score_sum(observations, actions, weights)
    numeric = np.zeros_like(theta)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = 1e-6
        up = surrogate_at(
            policy, theta + step, observations, actions, old_log_probs, advantages, 0.2
        )
        down = surrogate_at(
            policy, theta - step, observations, actions, old_log_probs, advantages, 0.2
        )
        numeric[j] = (up - down) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_ppo_learns_cartpole_and_refuses_what_it_cannot_do():
    config = PPOConfig(n_updates=15, num_envs=4, steps_per_env=256, alpha_theta=1.0, epochs=10)
    result = ppo(
        "CartPole-v1",
        MatrixSoftmaxPolicy(RawState(4), 2),
        config,
        value=LinearValue(RawState(4)),
        seed=1,
    )
    first, last = result.returns[0, :20].mean(), result.returns[0, -10:].mean()
    assert last > 2 * first  # a random policy lasts about 20 steps
    assert result.parameters.shape == (1, 10) and result.value_parameters.shape == (1, 4)
    with pytest.raises(ValueError, match="`value` must be a critic"):
        ppo("CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config)
    with pytest.raises(ValueError, match=r"`clip_range` must be in \(0, 1\)"):
        PPOConfig(clip_range=1.5)


def test_the_neural_step_ascends_the_same_clipped_surrogate_gradient(rng):
    """Autodiff of min(ρA, clip(ρ)A) is 1[not clipped] ρ A ∇ln π: the closed-form weights."""
    torch = pytest.importorskip("torch")
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

    policy = NeuralSoftmaxPolicy(4, 3, (16,), seed=0)
    observations = rng.normal(size=(64, 4))
    actions = policy.sample(observations, rng)
    old_log_probs = policy.log_prob(observations, actions)
    policy.set_flat(policy.get_flat() + 0.3 * rng.normal(size=policy.n_parameters))
    advantages = rng.normal(size=64)
    ratios = np.exp(policy.log_prob(observations, actions) - old_log_probs)
    assert ((ratios > 1.2) | (ratios < 0.8)).any()
    torch_ratios = torch.exp(
        policy.torch_log_prob(observations, actions) - torch.from_numpy(old_log_probs)
    )
    advantage = torch.from_numpy(advantages)
    objective = torch.minimum(
        torch_ratios * advantage, torch.clamp(torch_ratios, 0.8, 1.2) * advantage
    ).mean()
    weights = clipped_surrogate_weights(ratios, advantages, 0.2) / 64
    np.testing.assert_allclose(
        policy.gradient_of(objective),
        policy.weighted_score_sum(observations, actions, weights),
        rtol=1e-10,
        atol=1e-12,
    )


def test_ppo_learns_cartpole_with_a_neural_policy_and_a_neural_critic():
    pytest.importorskip("torch")
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy, NeuralValue, Regression

    policy = NeuralSoftmaxPolicy(4, 2, (64, 64), seed=0, lr=0.001)
    config = PPOConfig(
        n_updates=60, num_envs=8, steps_per_env=32, minibatches=1, epochs=20,
        gamma=0.98, gae_lambda=0.8,
    )  # fmt: skip
    critic = NeuralValue(4, (64, 64), regression=Regression(20, 1))
    result = ppo("CartPole-v1", policy, config, value=critic, seed=3)
    assert not np.array_equal(result.parameters[0], policy.get_flat())  # it learned a copy
    first, last = result.returns[0, :20].mean(), result.returns[0, -10:].mean()
    assert last > 3 * first  # 15k steps: a random policy lasts about 20
