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
    torch = pytest.importorskip("torch")
    assert torch
    from gradlogpi.policies.torch_policies import NeuralGaussianPolicy

    with pytest.raises(ValueError, match=r"gSDE is built on the JAX backend"):
        NeuralGaussianPolicy(3, 1, head=GaussianHead(gsde=GSDE()))
