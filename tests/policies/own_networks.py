"""What the tests of a user's own network (PyTorch module, JAX function) share: CartPole
seen as a 1-channel 2×2 image, and the checks every such policy must pass."""

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms import PPOConfig, ppo


def cartpole_as_image() -> gym.Env:
    return gym.wrappers.ReshapeObservation(
        gym.make("CartPole-v1", disable_env_checker=True), (1, 2, 2)
    )


IMAGE_CARTPOLE = "test/CartPoleImage-v0"
gym.register(IMAGE_CARTPOLE, entry_point=cartpole_as_image, disable_env_checker=True)


def assert_logits_take_any_leading_axes(policy, rng):
    """Observations with two leading axes reach the network as one batch."""
    many = rng.normal(size=(2, 3, 1, 2, 2))
    flat = policy.logits(many.reshape(6, 1, 2, 2))
    np.testing.assert_allclose(policy.logits(many), flat.reshape(2, 3, -1), rtol=1e-12)


def assert_ppo_trains_on_images_and_resumes_exactly(models):
    """PPO learns the (policy, critic) `models()` makes on image CartPole, and a run
    resumed from its update-1 snapshot ends where the uninterrupted run ends. Whole
    episodes per update: none is in flight across the snapshot, so the resumed run is
    exact although this wrapped env's state cannot be saved."""
    config = PPOConfig(
        n_updates=4, num_envs=2, collection="episodes", episodes_per_update=4, minibatches=2
    )
    snapshots = {}

    def keep(end):
        if end.episode == 1:
            snapshots["state"] = end.snapshot()

    policy, value = models()
    start = policy.get_flat()
    whole = ppo(IMAGE_CARTPOLE, policy, config, value=value, seed=6, callback=keep)
    assert not np.allclose(whole.parameters[0], start)  # it learned
    policy, value = models()
    resumed = ppo(IMAGE_CARTPOLE, policy, config, value=value, seed=6, resume=snapshots["state"])
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    np.testing.assert_array_equal(resumed.value_parameters, whole.value_parameters)
    np.testing.assert_array_equal(resumed.returns, whole.returns)


def assert_same_as_the_built_in(pair, built_in_pair, rng, score_rtol):
    """A (policy, critic) on one's own network equal to the built-in MLP's `built_in_pair`
    gives its log-probabilities, scores and values to rounding, and PPO on CartPole the
    same episodes and parameters (acting through the network, not a NumPy copy)."""
    (policy, value), (built_in, built_in_value) = pair, built_in_pair
    obs, a = rng.normal(size=(2, 5, 4)), rng.integers(2, size=(2, 5))
    np.testing.assert_allclose(policy.log_prob(obs, a), built_in.log_prob(obs, a), rtol=1e-12)
    np.testing.assert_allclose(policy.score(obs, a), built_in.score(obs, a), rtol=score_rtol)
    np.testing.assert_allclose(value.value(obs), built_in_value.value(obs), rtol=1e-12)
    config = PPOConfig(n_updates=3, num_envs=2, steps_per_env=32, epochs=2, minibatches=2)
    expected = ppo("CartPole-v1", built_in, config, value=built_in_value, seed=5)
    result = ppo("CartPole-v1", policy, config, value=value, seed=5)
    np.testing.assert_array_equal(result.lengths, expected.lengths)
    np.testing.assert_allclose(result.parameters, expected.parameters, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        result.value_parameters, expected.value_parameters, rtol=1e-9, atol=1e-12
    )
