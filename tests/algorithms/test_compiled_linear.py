"""The compiled per-step kernels for linear softmax policies give the NumPy path's runs.

REINFORCE's per-step (and summed) updates and actor-critic's step on a Gymnasium env
(CartPole) are compiled with Numba when it is installed; with GRADLOGPI_NO_JIT=1 the
NumPy path runs. Both must learn the same runs: the same episodes (returns bit-equal,
since a different rounding of θ would have to flip a sampled action to show) and the
same parameters to rounding.
"""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("numba")

from gradlogpi.algorithms import ActorCriticConfig, ReinforceConfig, actor_critic, reinforce
from gradlogpi.algorithms.compiled import linear
from gradlogpi.features import Polynomial, RawState, TileCoder
from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy

CARTPOLE = "CartPole-v1"


def tiles():
    space = gym.make(CARTPOLE).observation_space
    bounds = [(-2.4, 2.4), (-3, 3), (-0.21, 0.21), (-3.5, 3.5)]
    return TileCoder.from_space(space, 4, 4, bounds=bounds, table_size=512)


FEATURES = {
    "raw": lambda: RawState(4),
    "polynomial": lambda: Polynomial([-2.4, -3, -0.21, -3.5], [2.4, 3, 0.21, 3.5], 2),
    "tiles": tiles,
}


def both_paths(monkeypatch, learn):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "1")
    numpy_result = learn()
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")
    return numpy_result, learn()


def assert_same_runs(numpy_result, compiled_result):
    np.testing.assert_array_equal(compiled_result.returns, numpy_result.returns)
    np.testing.assert_allclose(
        compiled_result.parameters, numpy_result.parameters, rtol=1e-9, atol=1e-12
    )
    assert np.abs(numpy_result.parameters).max() > 0.01  # it learned something


@pytest.mark.parametrize("features", sorted(FEATURES))
@pytest.mark.parametrize("batch_update", [False, True])
def test_reinforce_on_cartpole_is_the_numpy_path(monkeypatch, features, batch_update):
    config = ReinforceConfig(n_episodes=25, alpha_theta=0.01, gamma=0.99, batch_update=batch_update)

    def learn():
        policy = MatrixSoftmaxPolicy(FEATURES[features](), 2)
        return reinforce(CARTPOLE, policy, config, seed=3)

    assert_same_runs(*both_paths(monkeypatch, learn))


@pytest.mark.parametrize("features", sorted(FEATURES))
@pytest.mark.parametrize("trace_decay", [0.0, 0.8])
def test_actor_critic_on_cartpole_is_the_numpy_path(monkeypatch, features, trace_decay):
    config = ActorCriticConfig(
        n_episodes=25,
        alpha_theta=0.05,
        alpha_w=0.05,
        gamma=0.99,
        lambda_theta=trace_decay,
        lambda_w=trace_decay,
    )

    def learn():
        built = FEATURES[features]()
        policy, value = MatrixSoftmaxPolicy(built, 2), LinearValue(built)
        return actor_critic(CARTPOLE, policy, config, value=value, seed=4)

    numpy_result, compiled_result = both_paths(monkeypatch, learn)
    assert_same_runs(numpy_result, compiled_result)
    np.testing.assert_allclose(
        compiled_result.value_parameters, numpy_result.value_parameters, rtol=1e-9, atol=1e-12
    )


def test_actor_critic_with_different_critic_features_is_the_numpy_path(monkeypatch):
    config = ActorCriticConfig(n_episodes=20, alpha_theta=0.05, alpha_w=0.02, gamma=0.99)

    def learn():
        policy, value = MatrixSoftmaxPolicy(RawState(4), 2), LinearValue(tiles())
        return actor_critic(CARTPOLE, policy, config, value=value, seed=5)

    assert_same_runs(*both_paths(monkeypatch, learn))


def test_a_diverging_actor_critic_run_keeps_finite_parameters_and_stops_learning():
    config = ActorCriticConfig(n_episodes=15, alpha_theta=1e200, alpha_w=1e200, gamma=0.99)
    result = actor_critic(
        CARTPOLE,
        MatrixSoftmaxPolicy(RawState(4), 2),
        config,
        value=LinearValue(RawState(4)),
        seed=0,
    )
    assert np.isfinite(result.parameters).all() and np.isfinite(result.value_parameters).all()
    assert result.diverged_at[0] >= 0
    assert (result.lengths > 0).all()


def episodes(seed=0, n_runs=3, n_steps=7):
    """Random episodes of R runs of CartPole-shaped data, the last run cut short."""
    from gradlogpi.rollouts.episodes import EpisodeBatch

    rng = np.random.default_rng(seed)
    lengths = np.full(n_runs, n_steps)
    lengths[-1] = n_steps - 3
    return EpisodeBatch(
        rng.standard_normal((n_runs, n_steps + 1, 4)),
        rng.integers(2, size=(n_runs, n_steps)),
        rng.standard_normal((n_runs, n_steps)),
        lengths,
        np.ones(n_runs, dtype=bool),
        np.zeros(n_runs, dtype=bool),
    )


@pytest.mark.parametrize("batch_update", [False, True])
def test_the_uncompiled_kernel_equals_the_compiled_one(monkeypatch, batch_update):
    batch, alpha = episodes(), np.array([0.3, 0.2, 0.1])
    config = ReinforceConfig(gamma=0.9, batch_update=batch_update)
    start = np.random.default_rng(1).standard_normal((3, 10))
    compiled, plain = MatrixSoftmaxPolicy(RawState(4), 2), MatrixSoftmaxPolicy(RawState(4), 2)
    compiled.theta, plain.theta = start.copy(), start.copy()
    linear.reinforce_episodes(compiled, batch, alpha, config)
    with monkeypatch.context() as patch:  # plain Python throughout, as without Numba
        monkeypatch.setenv("GRADLOGPI_NO_JIT", "1")
        for name in linear._HELPERS:
            patch.setattr(linear, name, getattr(linear, f"{name}_python"))
        linear.reinforce_episodes(plain, batch, alpha, config)
    np.testing.assert_allclose(plain.theta, compiled.theta, rtol=1e-12)
    assert not np.allclose(compiled.theta, start)


def test_the_kernel_is_the_numpy_inner_loop():
    """`reinforce_episodes` = `learn_from_episode` (G_t, α γ^t G_t, the updates) to rounding;
    per-step updates move θ between steps, so they differ from the summed ones."""
    from gradlogpi.algorithms.book.reinforce import learn_from_episode

    batch, alpha = episodes(2), np.array([0.5, 0.4, 0.3])
    results = {}
    for batch_update in (False, True):
        config = ReinforceConfig(gamma=0.95, batch_update=batch_update)
        compiled, numpy = MatrixSoftmaxPolicy(RawState(4), 2), MatrixSoftmaxPolicy(RawState(4), 2)
        compiled.theta, numpy.theta = np.zeros((3, 10)), np.zeros((3, 10))
        linear.reinforce_episodes(compiled, batch, alpha, config)
        learn_from_episode(numpy, batch, alpha, config)
        np.testing.assert_allclose(compiled.theta, numpy.theta, rtol=1e-10, atol=1e-14)
        results[batch_update] = compiled.theta
    assert not np.allclose(results[False], results[True])


@pytest.mark.parametrize("table_size", [None, 512])
def test_compiled_tiles_are_the_tile_coders_tiles(table_size):
    """The step loop's compiled tiles equal `TileCoder.active_function`, clipped edges included."""
    space = gym.make(CARTPOLE).observation_space
    bounds = [(-2.4, 2.4), (-3, 3), (-0.21, 0.21), (-3.5, 3.5)]
    coder = TileCoder.from_space(space, 8, 4, bounds=bounds, table_size=table_size)
    compiled, reference = linear.one_state_inputs(coder), coder.active_function()
    rng = np.random.default_rng(0)
    observations = (rng.standard_normal((3000, 4)) * [2.0, 3.0, 0.3, 3.0]).astype(np.float32)
    for obs in observations:  # about a third fall outside the bounds and are clipped
        indices, values = compiled(obs)
        np.testing.assert_array_equal(indices, reference(obs))
        np.testing.assert_array_equal(values, np.ones(8))


@pytest.mark.parametrize("algorithm", ["reinforce", "actor_critic"])
def test_a_compiled_run_resumed_from_a_snapshot_is_the_uninterrupted_run(algorithm):
    from gradlogpi.algorithms import StopTraining

    def learn(**kwargs):
        policy = MatrixSoftmaxPolicy(RawState(4), 2)
        if algorithm == "reinforce":
            config = ReinforceConfig(n_episodes=30, alpha_theta=0.01, gamma=0.99)
            return reinforce(CARTPOLE, policy, config, seed=7, **kwargs)
        config = ActorCriticConfig(
            n_episodes=30, alpha_theta=0.02, alpha_w=0.02, gamma=0.99, lambda_theta=0.5,
            lambda_w=0.5,
        )  # fmt: skip
        return actor_critic(
            CARTPOLE, policy, config, value=LinearValue(RawState(4)), seed=7, **kwargs
        )

    snapshots = []

    def stop_at_episode_11(end):
        if end.episode == 11:
            snapshots.append(end.snapshot())
            raise StopTraining

    uninterrupted = learn()
    learn(callback=stop_at_episode_11)
    resumed = learn(resume=snapshots[0])
    np.testing.assert_array_equal(resumed.returns, uninterrupted.returns)
    np.testing.assert_array_equal(resumed.parameters, uninterrupted.parameters)


def test_a_diverging_reinforce_run_on_one_env_keeps_finite_parameters_and_stops_learning():
    # one env, θ over the raw observation: the compiled generation and update (the guard
    # is inside the update's call)
    config = ReinforceConfig(n_episodes=10, alpha_theta=1e308, gamma=0.99)
    result = reinforce(CARTPOLE, MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0)
    assert result.diverged_at[0] == 0
    np.testing.assert_array_equal(result.parameters, np.zeros((1, 10)))  # never moved
    assert (result.lengths > 0).all()


class NaNObservationEnv(gym.Env):
    """A two-feature env whose observation after step 4 of episode 1 is NaN."""

    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.episode = 0, getattr(self, "episode", -1) + 1
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if (self.episode, self.t) == (1, 4) else 0.5, dtype=np.float32)
        return obs, 1.0, False, False, {}


@pytest.mark.parametrize("jit", ["0", "1"])
@pytest.mark.parametrize("algorithm", ["reinforce", "actor_critic"])
def test_a_nan_observation_is_named_on_both_paths(monkeypatch, jit, algorithm):
    import re

    from gradlogpi.errors import NonFiniteError

    monkeypatch.setenv("GRADLOGPI_NO_JIT", jit)
    gym.register(
        "test/NaNObservation-v0", entry_point=NaNObservationEnv, max_episode_steps=6,
        disable_env_checker=True,
    )  # fmt: skip
    message = (
        "non-finite observation from environment test/NaNObservation-v0: run 0, episode 1, step 4"
    )
    with pytest.raises(NonFiniteError, match=re.escape(message)):
        reinforce(
            "test/NaNObservation-v0",
            MatrixSoftmaxPolicy(RawState(2), 2),
            ReinforceConfig(n_episodes=3),
        )


def test_one_env_steps_below_gym_makes_checks_only_when_they_are_all_it_has():
    from gymnasium.wrappers import ClipReward, TimeLimit

    from gradlogpi.rollouts.episodes import unwrapped_step

    made = gym.make(CARTPOLE)  # TimeLimit(OrderEnforcing(PassiveEnvChecker(CartPole)))
    assert unwrapped_step(made, 500).__self__ is made.unwrapped
    assert unwrapped_step(made, 501) == made.step  # its cap is shorter than the loop's
    clipped = ClipReward(gym.make(CARTPOLE), -0.5, 0.5)
    assert unwrapped_step(clipped, 500) == clipped.step
    assert unwrapped_step(TimeLimit(made.unwrapped, 50), 20).__self__ is made.unwrapped


def test_a_run_below_the_checks_is_the_run_through_them(monkeypatch):
    """The same seed through gym.make's chain and through a chain ending in a do-nothing
    wrapper (which keeps every step going through it): the same episodes, the same θ."""
    from gymnasium.wrappers import TransformObservation

    def learn(wrap):
        env = gym.make(CARTPOLE)
        if wrap:
            env = TransformObservation(env, lambda obs: obs, env.observation_space)
        config = ReinforceConfig(n_episodes=20, alpha_theta=0.01, gamma=0.99)
        return reinforce(env, MatrixSoftmaxPolicy(RawState(4), 2), config, seed=5)

    lean, through = learn(False), learn(True)
    np.testing.assert_array_equal(lean.returns, through.returns)
    np.testing.assert_array_equal(lean.parameters, through.parameters)
