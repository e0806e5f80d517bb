"""The step loop's actors act exactly as the policies' batched `sample_from_noise`."""

import gymnasium as gym
import numpy as np
import pytest

from gradlogpi.features import ActionBlock, Fourier, RawState, TileCoder
from gradlogpi.policies import LinearGaussianPolicy, LinearSoftmaxPolicy, MatrixSoftmaxPolicy

CARTPOLE_BOUNDS = [(-2.4, 2.4), (-3, 3), (-0.21, 0.21), (-3.5, 3.5)]


def observations(rng, n=300):
    # float32 like Gymnasium's Box observations, some outside the tile coder's bounds
    return (rng.standard_normal((n, 4)) * [2.0, 3.0, 0.2, 3.0]).astype(np.float32)


def state_features(kind):
    space = gym.make("CartPole-v1").observation_space
    if kind == "raw":
        return RawState(4)
    if kind == "fourier":
        return Fourier.from_space(space, 2, bounds=CARTPOLE_BOUNDS)
    return TileCoder.from_space(
        space, 8, 4, bounds=CARTPOLE_BOUNDS, table_size=None if kind == "tiles" else 512
    )


def act_all(policy, obs, noise):
    actor = policy.actor()
    prepared = actor.prepare(noise)
    return np.array([actor.act(o, prepared[i]) for i, o in enumerate(obs)])


@pytest.mark.parametrize("n_actions", [2, 3])
@pytest.mark.parametrize("kind", ["raw", "fourier", "tiles", "hashed tiles"])
@pytest.mark.parametrize("form", ["matrix", "linear"])
def test_softmax_actor_takes_the_batched_samples_action(rng, n_actions, kind, form):
    features = state_features(kind)
    if form == "matrix":
        policy = MatrixSoftmaxPolicy(features, n_actions)
    else:
        policy = LinearSoftmaxPolicy(ActionBlock(features, n_actions))
    policy.theta = rng.standard_normal(policy.n_parameters)
    obs = observations(rng)
    noise = policy.transform_noise(rng.random((len(obs), n_actions)))
    actions = act_all(policy, obs, noise)
    np.testing.assert_array_equal(actions, policy.sample_from_noise(obs, noise))
    # both actions happen: the comparison is not trivially between constants
    assert len(np.unique(actions)) == n_actions
    # NumPy integers: the form Gymnasium's Discrete.contains checks fastest
    assert all(isinstance(a, np.integer) for a in actions)


@pytest.mark.parametrize("learn_std", [True, False])
def test_gaussian_actor_matches_sample_from_noise(rng, learn_std):
    policy = LinearGaussianPolicy(RawState(4), 2, learn_std=learn_std, log_std0=-0.5)
    policy.theta = rng.standard_normal(policy.n_parameters)
    obs = observations(rng, 50)
    noise = policy.transform_noise(rng.random((len(obs), 4)))
    np.testing.assert_allclose(
        act_all(policy, obs, noise), policy.sample_from_noise(obs, noise), rtol=1e-12
    )


@pytest.mark.parametrize("table_size", [None, 512])
def test_tile_coder_active_function_is_active_for_one_observation(rng, table_size):
    coder = state_features("tiles" if table_size is None else "hashed tiles")
    obs = observations(rng, 2000)
    obs[:5] = np.array(CARTPOLE_BOUNDS, dtype=np.float32)[:, 1]  # exactly on the upper bounds
    obs[5:10] = np.array(CARTPOLE_BOUNDS, dtype=np.float32)[:, 0]
    lean = coder.active_function()
    np.testing.assert_array_equal(np.array([lean(o) for o in obs]), coder.active(obs))


@pytest.mark.parametrize("n_actions", [2, 3])
@pytest.mark.parametrize("kind", ["raw", "fourier", "tiles"])
def test_batch_actor_takes_the_batched_samples_actions(rng, n_actions, kind):
    policy = MatrixSoftmaxPolicy(state_features(kind), n_actions)
    policy.theta = rng.standard_normal(policy.n_parameters)
    obs = observations(rng, 64).reshape(4, 16, 4)  # 4 steps of 16 sub-environments
    noise = policy.transform_noise(rng.random((4, 16, n_actions)))
    actor = policy.batch_actor()
    prepared = actor.prepare(noise)
    actions = np.stack([actor.act(obs[n], prepared[n]) for n in range(4)])
    np.testing.assert_array_equal(actions, policy.sample_from_noise(obs, noise))
    assert actions.dtype == np.int64 and len(np.unique(actions)) == n_actions


def neural_softmax(kind, n_actions):
    """A softmax policy on a network: the built-in MLP (either backend) or a user's own
    network over 1×2×2 image observations."""
    if kind == "torch mlp":
        pytest.importorskip("torch")
        from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

        return NeuralSoftmaxPolicy(4, n_actions, (16, 16), seed=0), (4,)
    if kind == "jax mlp":
        pytest.importorskip("jax")
        from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy
        from gradlogpi.policies.networks import MLP

        return JaxSoftmaxPolicy(4, n_actions, MLP((16, 16)), seed=0), (4,)
    if kind == "torch module":
        pytest.importorskip("torch")
        from gradlogpi.policies.torch_module import TorchModuleSoftmaxPolicy
        from tests.policies.test_torch_module import image_module

        return TorchModuleSoftmaxPolicy(image_module(n_actions, 0), (1, 2, 2), n_actions), (1, 2, 2)
    pytest.importorskip("jax")
    from gradlogpi.policies.jax_function import JaxFunctionSoftmaxPolicy
    from tests.policies.test_jax_function import convolution_apply, convolution_parameters

    parameters = convolution_parameters(n_actions, 0)
    return JaxFunctionSoftmaxPolicy(convolution_apply, parameters, (1, 2, 2), n_actions), (1, 2, 2)


@pytest.mark.parametrize("n_actions", [2, 3])
@pytest.mark.parametrize("kind", ["torch mlp", "jax mlp", "torch module", "jax function"])
def test_a_network_batch_actor_takes_the_batched_samples_actions(rng, n_actions, kind):
    policy, shape = neural_softmax(kind, n_actions)
    obs = observations(rng, 64).reshape(4, 16, *shape)  # 4 steps of 16 sub-environments
    noise = policy.transform_noise(rng.random((4, 16, n_actions)))
    actor = policy.batch_actor()
    prepared = actor.prepare(noise)
    actions = np.stack([actor.act(obs[n], prepared[n]) for n in range(4)])
    np.testing.assert_array_equal(actions, policy.sample_from_noise(obs, noise))
    assert len(np.unique(actions)) == n_actions
