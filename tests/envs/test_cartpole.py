"""The compiled CartPole vector env: bit for bit Gymnasium's CartPoleVectorEnv."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from gradlogpi.algorithms import ReinforceConfig, reinforce
from gradlogpi.envs.snapshots import restore_vector_env, vector_env_snapshot
from gradlogpi.features import RawState
from gradlogpi.policies import MatrixSoftmaxPolicy
from gradlogpi.rollouts import vector

pytest.importorskip("numba")

from gradlogpi.envs.cartpole import FEW_CARTS, CompiledCartPoleVectorEnv, cartpole_model


def assert_same_steps(a, b):
    for x, y in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(x, y, strict=True)
        np.testing.assert_array_equal(np.signbit(x), np.signbit(y))  # −0.0 rewards too


def leaning_actions(observations, t, rng):
    """Random pushes, every fourth step along the pole's lean: long and short episodes."""
    if t % 4:
        return rng.integers(0, 2, len(observations))
    return (observations[:, 2] > 0).astype(np.int64)


@pytest.mark.parametrize("sutton_barto_reward", [False, True])
@pytest.mark.parametrize("num_envs", [1, FEW_CARTS, 40])  # Python floats; the compiled kernel
def test_the_compiled_cartpole_steps_as_gymnasiums_bit_for_bit(sutton_barto_reward, num_envs):
    # a cap of 60 steps: some episodes are truncated, others end by termination
    kwargs = {
        "num_envs": num_envs,
        "max_episode_steps": 60,
        "sutton_barto_reward": sutton_barto_reward,
    }
    gymnasiums, compiled = CartPoleVectorEnv(**kwargs), CompiledCartPoleVectorEnv(**kwargs)
    observations = gymnasiums.reset(seed=5)[0]
    np.testing.assert_array_equal(compiled.reset(seed=5)[0], observations, strict=True)
    rng = np.random.default_rng(0)
    terminated = truncated = 0
    for t in range(1500):
        actions = leaning_actions(observations, t, rng)
        expected = gymnasiums.step(actions)
        assert_same_steps(compiled.step(actions), expected)
        observations = expected[0]
        terminated += int(expected[2].sum())
        truncated += int(expected[3].sum())
    np.testing.assert_array_equal(compiled.state, gymnasiums.state, strict=True)
    np.testing.assert_array_equal(compiled.steps, gymnasiums.steps, strict=True)
    assert terminated > 0 and truncated > 0  # both kinds of end, and the autoresets after them


@pytest.mark.parametrize(
    "actions",
    [np.array([0, 2, 1]), np.array([0, 1]), [[0], [1], [1]], np.array([0, 1, 2], np.int8)],
)
def test_the_compiled_cartpole_refuses_actions_that_are_not_0_or_1_per_env(actions):
    envs = CompiledCartPoleVectorEnv(num_envs=3)
    envs.reset(seed=0)
    state = envs.state.copy()
    with pytest.raises(ValueError, match=r"`action` must"):
        envs.step(actions)
    np.testing.assert_array_equal(envs.state, state)  # nothing stepped


@pytest.mark.parametrize("num_envs", [2, FEW_CARTS, FEW_CARTS + 1])
@pytest.mark.parametrize("change", ["infinite angle", "zero mass", "zero length"])
def test_states_and_constants_that_overflow_step_as_gymnasiums_do(num_envs, change):
    # inf and NaN where Gymnasium's arrays give them, not math.cos's or x / 0's errors
    gymnasiums = CartPoleVectorEnv(num_envs=num_envs)
    compiled = CompiledCartPoleVectorEnv(num_envs=num_envs)
    for env in (gymnasiums, compiled):
        env.reset(seed=3)
        if change == "infinite angle":
            env.state[2, 0] = np.inf
        else:
            setattr(env, "total_mass" if change == "zero mass" else "length", 0.0)
    pushes = np.arange(num_envs) % 2
    with np.errstate(all="ignore"):
        for step in range(3):  # then the ended carts reset
            expected, stepped = gymnasiums.step(pushes), compiled.step(pushes)
            for x, y in zip(stepped[:4], expected[:4], strict=True):
                np.testing.assert_array_equal(x, y, strict=True)
            np.testing.assert_array_equal(compiled.state, gymnasiums.state)
            if step == 0:
                assert not np.isfinite(compiled.state).all()  # the case did reach inf or NaN


def test_a_few_carts_step_without_importing_numba():
    # the zoo's 8-env CartPole PPO: importing Numba would cost more than it saves
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from gradlogpi.rollouts.vector import make_vector_env\n"
        "envs = make_vector_env('CartPole-v1', 8, 'vector_entry_point', autoreset=True)\n"
        "envs.reset(seed=0)\n"
        "for _ in range(600): envs.step(np.ones(8, dtype=np.int64))\n"
        "print(type(envs).__name__, 'numba' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["CompiledCartPoleVectorEnv", "False"]


def test_the_compiled_kernel_refuses_actions_that_are_not_0_or_1_too():
    envs = CompiledCartPoleVectorEnv(num_envs=FEW_CARTS + 1)  # past Python floats
    envs.reset(seed=0)
    state = envs.state.copy()
    with pytest.raises(ValueError, match=r"`action` must hold only 0 and 1"):
        envs.step(np.r_[np.zeros(FEW_CARTS, dtype=np.int64), 2])
    np.testing.assert_array_equal(envs.state, state)


@pytest.mark.parametrize("num_envs", [3, FEW_CARTS + 1])
def test_the_compiled_cartpole_takes_what_gymnasiums_takes_and_reads_constants_each_step(
    num_envs,
):
    gymnasiums = CartPoleVectorEnv(num_envs=num_envs)
    compiled = CompiledCartPoleVectorEnv(num_envs=num_envs)
    gymnasiums.reset(seed=1)
    compiled.reset(seed=1)
    for env in (gymnasiums, compiled):
        env.force_mag = 30.0  # changed after it was made, as domain randomisation does
    pushes = np.arange(num_envs) % 2
    for actions in (pushes.astype(bool), pushes.astype(np.uint8)):
        assert_same_steps(compiled.step(actions), gymnasiums.step(actions))


def test_the_compiled_cartpole_refuses_a_state_of_another_shape():
    envs = CompiledCartPoleVectorEnv(num_envs=3)
    envs.reset(seed=0)
    envs.state = np.zeros((4, 2))  # e.g. restored from two envs' snapshot
    with pytest.raises(ValueError, match=r"the state must be \[4, 3\]"):
        envs.step(np.zeros(3, dtype=np.int64))


def test_the_compiled_cartpole_must_be_reset_before_it_steps():
    with pytest.raises(gym.error.ResetNeeded):
        CompiledCartPoleVectorEnv(num_envs=2).step(np.zeros(2, dtype=np.int64))


def test_vector_entry_point_compiles_cartpole_without_changing_gymnasiums_registry(monkeypatch):
    envs = vector.make_vector_env("CartPole-v1", 4, "vector_entry_point", autoreset=True)
    assert type(envs) is CompiledCartPoleVectorEnv
    assert envs.max_episode_steps == 500  # the registered cap
    assert gym.spec("CartPole-v1").vector_entry_point.endswith(":CartPoleVectorEnv")
    assert type(gym.make_vec("CartPole-v1", 2, vectorization_mode="vector_entry_point")) is (
        CartPoleVectorEnv
    )
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "1")  # the compiled paths switched off
    envs = vector.make_vector_env("CartPole-v1", 4, "vector_entry_point", autoreset=True)
    assert type(envs) is CartPoleVectorEnv


@pytest.mark.parametrize(
    ("saved_by", "restored_into"),
    [
        (CartPoleVectorEnv, CompiledCartPoleVectorEnv),
        (CompiledCartPoleVectorEnv, CartPoleVectorEnv),
    ],
)
def test_a_snapshot_of_either_cartpole_resumes_in_the_other(saved_by, restored_into):
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 2, (200, 5))
    saved = saved_by(num_envs=5, max_episode_steps=30)
    saved.reset(seed=2)
    for a in actions[:77]:
        saved.step(a)
    # read-only arrays, as a snapshot loaded from a file gives them
    snapshot = {key: value.copy() for key, value in vector_env_snapshot(saved).items()}
    for value in snapshot.values():
        value.flags.writeable = False
    restored = restored_into(num_envs=5, max_episode_steps=30)
    restored.reset(seed=99)
    restore_vector_env(restored, snapshot)
    for a in actions[77:]:
        assert_same_steps(restored.step(a), saved.step(a))


def test_many_reinforce_runs_learn_the_same_on_the_compiled_and_gymnasiums_cartpole(monkeypatch):
    def lengths():
        config = ReinforceConfig(n_episodes=20, alpha_theta=1e-3, runs_in_vector_env=True)
        policy = MatrixSoftmaxPolicy(RawState(4), 2)
        result = reinforce("CartPole-v1", policy, config, seed=3, runs=6)
        return result.lengths, result.parameters

    compiled_lengths, compiled_theta = lengths()
    monkeypatch.setattr(vector, "COMPILED_TWINS", {})
    gymnasium_lengths, gymnasium_theta = lengths()
    np.testing.assert_array_equal(compiled_lengths, gymnasium_lengths)
    np.testing.assert_array_equal(compiled_theta, gymnasium_theta)
    assert np.abs(compiled_theta).max() > 0  # the runs learned


@pytest.mark.parametrize("sutton_barto_reward", [False, True])
def test_the_cartpole_model_plays_as_gymnasiums_cartpole_bit_for_bit(sutton_barto_reward):
    env = gym.make("CartPole-v1", sutton_barto_reward=sutton_barto_reward)
    model = cartpole_model(env)
    seeds = [11, 12, 13, 14, 15]
    states = model.reset([np.random.default_rng(seed) for seed in seeds])
    expected = np.stack([env.reset(seed=seed)[0] for seed in seeds])
    np.testing.assert_array_equal(model.observe(states), expected, strict=True)
    rng = np.random.default_rng(0)
    ended = 0
    for k, seed in enumerate(seeds):  # each seed's episode on the env against row k
        observation = env.reset(seed=seed)[0]
        state = states[k : k + 1]
        for t in range(500):
            action = leaning_actions(observation[None], t, rng)
            observation, reward, terminated, _, _ = env.step(int(action[0]))
            state, rewards, flags = model.step(state, action)
            np.testing.assert_array_equal(model.observe(state)[0], observation, strict=True)
            assert (rewards[0], bool(flags[0])) == (reward, terminated)
            if terminated:
                ended += 1
                break
    assert ended > 0


def test_only_gymnasiums_plain_cartpole_steps_as_arrays():
    assert cartpole_model(gym.make("CartPole-v1")) is not None
    assert cartpole_model(gym.make("CartPole-v1", render_mode="rgb_array")) is None
    assert cartpole_model(gym.wrappers.ClipReward(gym.make("CartPole-v1"), 0, 0.5)) is None
    assert cartpole_model(gym.make("Acrobot-v1")) is None


def test_the_cartpole_model_refuses_actions_that_are_not_0_or_1():
    model = cartpole_model(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=r"`actions` must be 2 actions of 0 or 1"):
        model.step(np.zeros((2, 4)), np.array([0, 2]))


@pytest.mark.parametrize("kind", ["linear", "neural"])
def test_evaluations_on_cartpole_arrays_are_the_episodes_of_its_copies(kind, monkeypatch):
    from gradlogpi.rollouts import episodes

    if kind == "linear":
        policy = MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(0), scale=0.5)
    else:
        pytest.importorskip("jax")
        from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy
        from gradlogpi.policies.networks import MLP

        policy = JaxSoftmaxPolicy(4, 2, MLP((16,)), seed=1)
    on_arrays = episodes.evaluate_policy("CartPole-v1", policy, 12, seed=4)
    monkeypatch.setattr(episodes, "cartpole_model", lambda env: None)
    on_copies = episodes.evaluate_policy("CartPole-v1", policy, 12, seed=4)
    for a, b in zip(on_arrays, on_copies, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)
    assert len(set(on_arrays[0].tolist())) > 1  # episodes of different lengths
