"""Environment snapshots: a restored environment continues bit-exactly, or the restore refuses.

The key check, for every supported environment: A steps on from a snapshot; B, made fresh
and reset with another seed, restores it and takes the same actions; both give identical
(obs, reward, terminated, truncated) arrays, through episode ends and resets.
"""

import io
import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi.envs import snapshots
from gradlogpi.envs.acrobot import AcrobotVectorEnv
from gradlogpi.envs.snapshots import (
    env_snapshot,
    register_snapshot,
    restore_env,
    restore_vector_env,
    vector_env_snapshot,
)
from gradlogpi.errors import CheckpointError

SINGLE = [
    ("CartPole-v1", {}),
    ("Acrobot-v1", {}),
    ("MountainCar-v0", {}),
    ("MountainCarContinuous-v0", {}),
    ("Pendulum-v1", {"max_episode_steps": 15}),  # truncates inside the steps compared
    ("FrozenLake-v1", {}),
    ("CliffWalkingSlippery-v1", {}),
    ("Taxi-v4", {"is_rainy": True, "fickle_passenger": True}),
    ("Blackjack-v1", {}),
    ("gradlogpi/ShortCorridor-v0", {}),
    ("gradlogpi/GridWorld-v0", {"n_rows": 2, "n_cols": 3}),
    ("gradlogpi/LQR-v0", {"max_episode_steps": 12}),
]
MUJOCO = [("Ant-v5", {}), ("Humanoid-v5", {}), ("Reacher-v5", {}), ("Hopper-v4", {})]


def actions_of(space, n, seed):
    space.seed(seed)
    return [space.sample() for _ in range(n)]


def single_steps(env, actions):
    """(obs, reward, terminated, truncated) of each action, resetting (unseeded) after an end."""
    trace = []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        trace.append((obs, reward, terminated, truncated))
        if terminated or truncated:
            trace.append(env.reset()[:1])
    return trace


def vector_steps(envs, actions):
    return [envs.step(action)[:4] for action in actions]


def assert_same(trace_a, trace_b):
    assert len(trace_a) == len(trace_b)
    for step_a, step_b in zip(trace_a, trace_b, strict=True):
        for a, b in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), strict=True)


def through_npz(snapshot):
    buffer = io.BytesIO()
    np.savez(buffer, **snapshot)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return dict(loaded)


def check_single_resume(env_id, kwargs, *, k=7, m=40, save=lambda s: s, until_end=False):
    env_a = gym.make(env_id, **kwargs)
    env_a.reset(seed=1)
    for action in actions_of(env_a.action_space, 200, seed=2):
        k -= 1
        terminated, truncated = env_a.step(action)[2:4]
        if (terminated or truncated) if until_end else k == 0:
            break
    assert not until_end or terminated or truncated
    snapshot = save(env_snapshot(env_a))
    actions = actions_of(env_a.action_space, m, seed=3)
    expected = single_steps(env_a, actions)

    env_b = gym.make(env_id, **kwargs)
    env_b.reset(seed=99)
    restore_env(env_b, snapshot)
    assert_same(single_steps(env_b, actions), expected)


@pytest.mark.parametrize(("env_id", "kwargs"), SINGLE, ids=[e for e, _ in SINGLE])
def test_a_restored_env_continues_bit_exactly(env_id, kwargs):
    check_single_resume(env_id, kwargs)


@pytest.mark.parametrize(("env_id", "kwargs"), SINGLE[:3], ids=[e for e, _ in SINGLE[:3]])
def test_a_snapshot_taken_on_the_step_an_episode_ends_continues_with_its_reset(env_id, kwargs):
    kwargs = {**kwargs, "max_episode_steps": 9}  # Acrobot and MountainCar end by truncation
    check_single_resume(env_id, kwargs, until_end=True)


@pytest.mark.parametrize(("env_id", "kwargs"), MUJOCO, ids=[e for e, _ in MUJOCO])
def test_a_restored_mujoco_env_continues_bit_exactly(env_id, kwargs):
    pytest.importorskip("mujoco")
    pytest.importorskip("gymnasium.envs.mujoco.mujoco_env")
    check_single_resume(env_id, kwargs, m=15)


def make_sync(n=3, env_id="CartPole-v1", mode=AutoresetMode.NEXT_STEP, **kwargs):
    return gym.make_vec(
        env_id, n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **kwargs
    )


def make_native(n=4, max_episode_steps=None):
    kwargs = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    return gym.make_vec("CartPole-v1", n, vectorization_mode="vector_entry_point", **kwargs)


VECTORS = {
    "sync-cartpole": make_sync,
    "sync-frozenlake": lambda: make_sync(env_id="FrozenLake-v1"),
    "sync-same-step": lambda: make_sync(mode=AutoresetMode.SAME_STEP),
    "sync-shortcorridor": lambda: make_sync(2, "gradlogpi/ShortCorridor-v0"),
    "native-cartpole": make_native,
    "native-cartpole-truncating": lambda: make_native(3, max_episode_steps=6),
    "native-acrobot-truncating": lambda: AcrobotVectorEnv(3, max_episode_steps=6),
}


def check_vector_resume(make, *, k=5, m=80, save=lambda s: s, until_end=False, options=None):
    envs_a = make()
    envs_a.reset(seed=1, options=options)
    for action in actions_of(envs_a.action_space, 200, seed=2):
        k -= 1
        terminated, truncated = envs_a.step(action)[2:4]
        if np.any(terminated | truncated) if until_end else k == 0:
            break
    snapshot = save(vector_env_snapshot(envs_a))
    actions = actions_of(envs_a.action_space, m, seed=3)
    expected = vector_steps(envs_a, actions)
    # the steps compared must cross episode ends and (NEXT_STEP) the autoresets after them
    assert sum(np.sum(t | u) for _, _, t, u in expected) >= 2

    envs_b = make()
    envs_b.reset(seed=99)
    restore_vector_env(envs_b, snapshot)
    assert_same(vector_steps(envs_b, actions), expected)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_a_restored_vector_env_continues_bit_exactly(name):
    check_vector_resume(VECTORS[name])


def test_a_restored_native_vector_env_keeps_its_reset_bounds():
    # the native CartPole draws its autoreset states from the bounds its last reset was given
    check_vector_resume(make_native, options={"low": -0.2, "high": 0.2})


@pytest.mark.parametrize("name", ["sync-cartpole", "native-cartpole"])
def test_a_vector_snapshot_taken_on_the_step_an_episode_ends_continues_with_its_autoreset(name):
    check_vector_resume(VECTORS[name], until_end=True)


def test_a_restored_sync_env_with_autoreset_disabled_resets_by_mask_as_the_original():
    envs_a = make_sync(mode=AutoresetMode.DISABLED)
    envs_a.reset(seed=1)
    for action in actions_of(envs_a.action_space, 200, seed=2):
        done = np.logical_or(*envs_a.step(action)[2:4])
        if done.any():
            break
    snapshot = vector_env_snapshot(envs_a)
    envs_b = make_sync(mode=AutoresetMode.DISABLED)
    envs_b.reset(seed=99)
    restore_vector_env(envs_b, snapshot)
    # the envs the mask skips return their last observations, which the snapshot holds
    obs_a = envs_a.reset(options={"reset_mask": done.copy()})[0]
    obs_b = envs_b.reset(options={"reset_mask": done.copy()})[0]
    np.testing.assert_array_equal(obs_a, obs_b, strict=True)
    actions = actions_of(envs_a.action_space, 3, seed=3)
    assert_same(vector_steps(envs_b, actions), vector_steps(envs_a, actions))


@pytest.mark.parametrize(("env_id", "kwargs"), [SINGLE[0], SINGLE[4], SINGLE[8], SINGLE[10]])
def test_a_single_env_snapshot_survives_npz_without_pickle(env_id, kwargs):
    check_single_resume(env_id, kwargs, save=through_npz)


@pytest.mark.parametrize("name", ["sync-cartpole", "native-cartpole", "native-acrobot-truncating"])
def test_a_vector_snapshot_survives_npz_without_pickle(name):
    check_vector_resume(VECTORS[name], save=through_npz)


def test_keys_are_plain_identifiers_and_values_plain_arrays():
    envs = make_sync(2)
    envs.reset(seed=0)
    snapshot = vector_env_snapshot(envs)
    for key, value in snapshot.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key), key
        assert type(value) is np.ndarray and value.dtype != object, key
    assert {"num_envs", "layers", "autoreset_envs", "env1_state", "env0_np_random_state"} <= set(
        snapshot
    )
    assert {"time_limit_elapsed_steps", "order_enforcing_has_reset"} <= set(
        env_snapshot(envs.envs[0])
    )


def same_values(a, b):
    """Equal as values (an int and an np.int64 alike, an array's dtype exactly); None when `a`
    is an object compared by identity only (a collaborator made by the constructor, such as
    a dynamics model or a space)."""
    if isinstance(a, np.random.Generator):
        return isinstance(b, np.random.Generator) and (
            a.bit_generator.state == b.bit_generator.state
        )
    if a is None or b is None:
        return a is b
    if isinstance(a, list) and any(isinstance(x, np.random.Generator) for x in a):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) is not False for k in a)
    if isinstance(a, np.ndarray | np.generic | int | float | str | list | tuple):
        x, y = np.asarray(a), np.asarray(b)
        dtypes_match = (
            x.dtype == y.dtype if isinstance(a, np.ndarray) else x.dtype.kind == y.dtype.kind
        )
        return x.shape == y.shape and dtypes_match and np.array_equal(x, y)
    return None


NOT_STATE = {"env", "envs", "env_fns", "_previous_data", "action_space", "observation_space"}
"""The layers and the functions that made them, and PassiveEnvChecker's last output (kept
only to warn on reuse)."""


def assert_same_attributes(a, b):
    for layer_a, layer_b in zip(snapshots._layers(a), snapshots._layers(b), strict=True):
        for name, value in vars(layer_a).items():
            if name not in NOT_STATE:
                assert same_values(value, vars(layer_b).get(name)) is not False, (
                    f"{type(layer_a).__name__}.{name}: {value!r} != {vars(layer_b).get(name)!r}"
                )
    for env_a, env_b in zip(getattr(a, "envs", []), getattr(b, "envs", []), strict=True):
        assert_same_attributes(env_a, env_b)


@pytest.mark.parametrize(
    "make",
    [lambda e=e, k=k: gym.make(e, **k) for e, k in SINGLE]
    + [lambda: gym.make("Taxi-v4", fickle_passenger=True, fickle_probability=0.5)]
    + list(VECTORS.values()),
    ids=[e for e, _ in SINGLE] + ["Taxi-v4-fickle"] + list(VECTORS),
)
def test_a_restored_env_equals_the_original_attribute_for_attribute(make):
    # catches state a layer gained (e.g. in a new Gymnasium) that no registration lists
    env_a, env_b = make(), make()
    vector = isinstance(env_a, gym.vector.VectorEnv)
    env_a.reset(seed=1)
    for action in actions_of(env_a.action_space, 6, seed=2):
        ended = env_a.step(action)[2:4]
        if not vector and (ended[0] or ended[1]):
            env_a.reset()
    env_b.reset(seed=0)  # e.g. a fickle Taxi passenger: A (seed 1) not, B (seed 0) fickle
    if vector:
        restore_vector_env(env_b, vector_env_snapshot(env_a))
    else:
        restore_env(env_b, env_snapshot(env_a))
    assert_same_attributes(env_a, env_b)


def test_a_snapshot_does_not_change_as_the_env_steps_on():
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    snapshot = env_snapshot(env)
    frozen = {key: value.copy() for key, value in snapshot.items()}
    env.step(0)
    for key, value in frozen.items():
        np.testing.assert_array_equal(snapshot[key], value, strict=True)


def test_random_generators_round_trip_exactly_mid_word_and_unseeded():
    env = gym.make("FrozenLake-v1")
    env.reset()  # unseeded: np_random_seed is a 128-bit entropy
    env.unwrapped.np_random.integers(0, 10, dtype=np.uint32)  # leaves half a word buffered
    assert env.unwrapped.np_random.bit_generator.state["has_uint32"] == 1
    copy = gym.make("FrozenLake-v1")
    copy.reset(seed=5)
    restore_env(copy, through_npz(env_snapshot(env)))
    assert copy.unwrapped.np_random_seed == env.unwrapped.np_random_seed
    assert (
        copy.unwrapped.np_random.bit_generator.state == env.unwrapped.np_random.bit_generator.state
    )
    draws = [e.unwrapped.np_random.integers(0, 2**32, 5, dtype=np.uint32) for e in (env, copy)]
    np.testing.assert_array_equal(*draws)


def test_pcg64dxsm_round_trips_and_other_bit_generators_give_none():
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.np_random = np.random.Generator(np.random.PCG64DXSM(7))
    copy = gym.make("Pendulum-v1")
    copy.reset(seed=1)
    restore_env(copy, env_snapshot(env))
    assert type(copy.unwrapped.np_random.bit_generator) is np.random.PCG64DXSM
    assert copy.unwrapped.np_random.random() == env.unwrapped.np_random.random()
    env.unwrapped.np_random = np.random.Generator(np.random.MT19937(7))
    assert env_snapshot(env) is None


class OpaqueEnv(gym.Env):
    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 0.0, False, False, {}


class CountingEnv(OpaqueEnv):
    def reset(self, *, seed=None, options=None):
        self.count = 0
        return super().reset(seed=seed)

    def step(self, action):
        self.count += 1
        return self.count % 2, float(self.np_random.random()), False, False, {}


def test_unknown_classes_give_none_never_a_guess():
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    class MyCartPole(CartPoleEnv):  # a registered parent says nothing of a subclass's state
        pass

    assert env_snapshot(OpaqueEnv()) is None
    assert env_snapshot(MyCartPole()) is None
    assert env_snapshot(gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1"))) is None
    wrapped = gym.wrappers.vector.RecordEpisodeStatistics(make_sync(2))
    assert vector_env_snapshot(wrapped) is None
    assert vector_env_snapshot(gym.make("CartPole-v1")) is None  # not a vector env


def test_async_vector_envs_give_none():
    envs = gym.make_vec(
        "CartPole-v1", 2, vectorization_mode="async", vector_kwargs={"context": "forkserver"}
    )
    try:
        envs.reset(seed=0)
        assert vector_env_snapshot(envs) is None
    finally:
        envs.close()


def test_env_snapshot_refuses_a_vector_env():
    with pytest.raises(TypeError, match="use vector_env_snapshot"):
        env_snapshot(make_native(2))


def test_one_registration_makes_a_new_env_resumable(monkeypatch):
    monkeypatch.setattr(snapshots, "_LAYOUTS", dict(snapshots._LAYOUTS))
    register_snapshot(CountingEnv, count="int")
    env_a, env_b = CountingEnv(), CountingEnv()
    env_a.reset(seed=0)
    env_a.step(0)
    env_b.reset(seed=1)
    restore_env(env_b, env_snapshot(env_a))
    assert_same(single_steps(env_b, [0] * 3), single_steps(env_a, [0] * 3))


def test_register_snapshot_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match=re.escape("`count` kind must be one of")):
        register_snapshot(CountingEnv, count="integer")


def cartpole_snapshot():
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.step(1)
    return env_snapshot(env)


def fresh_cartpole():
    env = gym.make("CartPole-v1")
    env.reset(seed=4)
    return env


def test_restoring_into_another_env_names_both_layer_lists():
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    with pytest.raises(
        CheckpointError, match=r"must be \[.*PendulumEnv'\] .*got \[.*CartPoleEnv'\]"
    ):
        restore_env(env, cartpole_snapshot())


def test_restoring_into_another_wrapper_chain_is_refused():
    env = gym.make("CartPole-v1", disable_env_checker=True)  # no PassiveEnvChecker
    env.reset(seed=0)
    with pytest.raises(CheckpointError, match="layers"):
        restore_env(env, cartpole_snapshot())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"state": np.zeros(3)},
            "`state` must have shape (4,) (that of CartPoleEnv.state); got (3,)",
        ),
        (
            {"time_limit_elapsed_steps": np.asarray(1.5)},
            "`time_limit_elapsed_steps` must have dtype kind in 'iu' and 0 axes; "
            "got dtype float64, shape ()",
        ),
        ({"np_random_state": np.zeros(4, np.uint64)}, "`np_random_state` must have shape (6,)"),
        ({"np_random_bit_generator": np.asarray("MT19937")}, "got 'MT19937'"),
        ({"extra": np.zeros(1)}, "keys the environment does not use: ['extra']"),
        ({"state": None}, "lacks `state`"),
    ],
)
def test_a_wrong_snapshot_is_refused_and_leaves_the_env_unchanged(change, message):
    snapshot = {**cartpole_snapshot(), **change}
    snapshot = {key: value for key, value in snapshot.items() if value is not None}
    env = fresh_cartpole()
    before = env_snapshot(env)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        restore_env(env, snapshot)
    after = env_snapshot(env)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], strict=True)


def test_restoring_into_another_number_of_sub_envs_is_refused():
    envs = make_sync(3)
    envs.reset(seed=0)
    other = make_sync(4)
    other.reset(seed=0)
    message = (
        "environment snapshot holds 3 sub-environments (`num_envs`); the vector environment has 4"
    )
    with pytest.raises(CheckpointError, match=re.escape(message)):
        restore_vector_env(other, vector_env_snapshot(envs))
    native = make_native(3)
    native.reset(seed=0)
    with pytest.raises(CheckpointError, match="layers"):
        restore_vector_env(native, vector_env_snapshot(envs))


def test_restoring_into_another_autoreset_mode_is_refused():
    envs = make_sync(2)
    envs.reset(seed=0)
    other = make_sync(2, mode=AutoresetMode.SAME_STEP)
    other.reset(seed=0)
    with pytest.raises(CheckpointError, match="`autoreset_mode` must be 'SameStep'"):
        restore_vector_env(other, vector_env_snapshot(envs))
