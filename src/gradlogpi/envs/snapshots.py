"""Snapshots of Gymnasium environments: the arrays that decide what an environment does next.

Gymnasium has no state API, so this module gives one. A snapshot is a flat dict of NumPy
arrays (no object arrays, so it goes into an `.npz` read with `allow_pickle=False`) that
holds, for every layer of a `gym.make` chain, the attributes its `step` and `reset` read:
`TimeLimit`'s elapsed steps, `OrderEnforcing`'s has-reset flag, the environment's own state
and its `np_random`. Restoring it into an environment made the same way makes that
environment continue bit-exactly where the snapshot was taken.

Only classes registered with `register_snapshot` are snapshotted, each by its exact class:
a subclass may add state, so it is never assumed to have its parent's. For anything else
`env_snapshot` and `vector_env_snapshot` return None, and a caller restarts its episodes.

Keys. An attribute's key is its name without leading underscores (`state`,
`steps_beyond_terminated`); a wrapper's keys start with its class name in snake case
(`time_limit_elapsed_steps`; a second `TimeLimit` in the chain gives `time_limit2_…`). A random generator `np_random` becomes `np_random_bit_generator` (its
name, e.g. "PCG64") and `np_random_state` (uint64 words); an attribute that is None is
stored as `<key>_none`. `layers` names every class of the chain, outermost first. A vector
snapshot adds `num_envs`, and a `SyncVectorEnv`'s sub-environment k has its own snapshot
under the prefix `env<k>_`.
"""

from __future__ import annotations

import functools
import importlib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control import (
    acrobot,
    cartpole,
    continuous_mountain_car,
    mountain_car,
    pendulum,
)
from gymnasium.envs.toy_text import blackjack, cliffwalking, frozen_lake, taxi
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv, VectorWrapper
from gymnasium.wrappers import (
    Autoreset,
    ClipAction,
    FlattenObservation,
    OrderEnforcing,
    PassiveEnvChecker,
    RescaleAction,
    TimeLimit,
)

from gradlogpi.envs.acrobot import AcrobotVectorEnv
from gradlogpi.envs.cartpole import CompiledCartPoleVectorEnv
from gradlogpi.envs.grid_world import GridWorldEnv
from gradlogpi.envs.lqr import LQREnv
from gradlogpi.envs.short_corridor import ShortCorridorEnv
from gradlogpi.errors import CheckpointError

__all__ = [
    "env_snapshot",
    "register_snapshot",
    "restore_env",
    "restore_vector_env",
    "vector_env_snapshot",
]

Restore = Callable[[], None]
"""One deferred assignment: a restore checks the whole snapshot before it changes anything."""

KINDS = ("int", "bigint", "float", "bool", "str", "scalar", "array", "ints", "rng")
"""Field kinds `register_snapshot` accepts; a trailing "?" means the value may be None."""

_BIT_GENERATORS = ("PCG64", "PCG64DXSM")  # same state layout: two 128-bit ints, two small ints
_MASK64 = (1 << 64) - 1


class _Unsupported(Exception):
    """This environment cannot be snapshotted; `env_snapshot` turns it into None."""


# ---------------------------------------------------------------------------------------
# Fields: how one attribute becomes arrays and back


@dataclass(frozen=True)
class _Field:
    attribute: str
    kind: str
    optional: bool

    @property
    def key(self) -> str:
        return self.attribute.lstrip("_")


def _words(value: int, n_words: int) -> list[int]:
    """Unsigned 64-bit words of a non-negative int, most significant first."""
    return [(value >> (64 * i)) & _MASK64 for i in reversed(range(n_words))]


def _from_words(words: np.ndarray) -> int:
    value = 0
    for word in words:
        value = (value << 64) | int(word)
    return value


def _generator_arrays(generator: Any) -> tuple[np.ndarray, np.ndarray]:
    """(name, state) of a PCG64 or PCG64DXSM generator: uint64 [state hi, lo, inc hi, lo,
    has_uint32, uinteger], which is exactly its `bit_generator.state`."""
    if not isinstance(generator, np.random.Generator):
        raise _Unsupported(f"its random generator is a {type(generator).__name__}, not a Generator")
    state = generator.bit_generator.state
    if state["bit_generator"] not in _BIT_GENERATORS:
        raise _Unsupported(
            f"its random generator is {state['bit_generator']}; snapshots encode "
            f"{' and '.join(_BIT_GENERATORS)} only"
        )
    words = [
        *_words(state["state"]["state"], 2),
        *_words(state["state"]["inc"], 2),
        state["has_uint32"],
        state["uinteger"],
    ]
    return np.asarray(state["bit_generator"]), np.array(words, dtype=np.uint64)


def _generator_state(name: str, words: np.ndarray) -> dict[str, Any]:
    """The `bit_generator.state` dict that `_generator_arrays` encoded."""
    return {
        "bit_generator": name,
        "state": {"state": _from_words(words[0:2]), "inc": _from_words(words[2:4])},
        "has_uint32": int(words[4]),
        "uinteger": int(words[5]),
    }


def _scalar_array(value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "biuf":
        raise TypeError(f"expected a number; got {value!r}")
    return array


def _int_list_array(value: Any) -> np.ndarray:
    return np.array([operator.index(x) for x in value], dtype=np.int64).reshape(-1)


def _numeric_array(value: Any) -> np.ndarray:
    array = np.array(value)  # a copy: the snapshot must not change when the env steps on
    if array.dtype.kind not in "biufc":
        raise TypeError(f"expected a numeric array; got dtype {array.dtype}")
    return array


class _Codec(NamedTuple):
    to_array: Callable[[Any], np.ndarray]
    from_array: Callable[[np.ndarray], Any]
    dtype_kinds: str  # what a snapshot may hold, as `dtype.kind` letters
    ndim: int | None  # None: any


_CODECS = {
    "int": _Codec(lambda v: np.asarray(operator.index(v), dtype=np.int64), int, "iu", 0),
    # decimal text: Gymnasium's np_random_seed is a 128-bit SeedSequence entropy when unseeded
    "bigint": _Codec(lambda v: np.asarray(str(operator.index(v))), lambda a: int(str(a)), "U", 0),
    "float": _Codec(lambda v: np.asarray(float(v), dtype=np.float64), float, "f", 0),
    "bool": _Codec(lambda v: np.asarray(bool(v)), bool, "b", 0),
    "str": _Codec(lambda v: np.asarray(str(v)), str, "U", 0),
    # a NumPy scalar (np.int64 state, np.float32 torque) comes back with its own dtype
    "scalar": _Codec(_scalar_array, lambda a: a[()], "biuf", 0),
    "array": _Codec(_numeric_array, np.array, "biufc", None),
    "ints": _Codec(_int_list_array, lambda a: [int(x) for x in a], "iu", 1),
}


def _encode_field(field: _Field, value: Any) -> dict[str, np.ndarray]:
    if value is None:
        if not field.optional:
            raise TypeError(f"`{field.attribute}` is None, which its kind {field.kind!r} forbids")
        return {f"{field.key}_none": np.asarray(True)}
    if field.kind == "rng":
        name, words = _generator_arrays(value)
        return {f"{field.key}_bit_generator": name, f"{field.key}_state": words}
    return {field.key: _CODECS[field.kind].to_array(value)}


# ---------------------------------------------------------------------------------------
# Reading a snapshot: every key taken once, every mismatch a CheckpointError


class _Reader:
    """A view of a snapshot under a key prefix that records the keys it hands out."""

    def __init__(
        self, snapshot: Mapping[str, Any], prefix: str = "", taken: set[str] | None = None
    ):
        self.snapshot, self.prefix = snapshot, prefix
        self.taken = set() if taken is None else taken

    def scoped(self, prefix: str) -> _Reader:
        return _Reader(self.snapshot, self.prefix + prefix, self.taken)

    def has(self, key: str) -> bool:
        return self.prefix + key in self.snapshot

    def take(self, key: str, dtype_kinds: str, ndim: int | None = None) -> np.ndarray:
        """The array under `key`, checked to have a dtype of `dtype_kinds` and `ndim` axes."""
        name = self.prefix + key
        if name not in self.snapshot:
            raise CheckpointError(
                f"environment snapshot lacks `{name}`, which the environment needs"
            )
        self.taken.add(name)
        array = np.asarray(self.snapshot[name])
        if array.dtype.kind not in dtype_kinds or (ndim is not None and array.ndim != ndim):
            axes = "any number of" if ndim is None else str(ndim)
            raise CheckpointError(
                f"environment snapshot `{name}` must have dtype kind in {dtype_kinds!r} and "
                f"{axes} axes; got dtype {array.dtype}, shape {array.shape}"
            )
        return array

    def check_all_taken(self) -> None:
        extra = sorted(set(self.snapshot) - self.taken)
        if extra:
            raise CheckpointError(
                f"environment snapshot has keys the environment does not use: {extra}"
            )


def _decode_field(layer: Any, field: _Field, reader: _Reader) -> Restore:
    if field.optional and reader.has(f"{field.key}_none"):
        if not reader.take(f"{field.key}_none", "b", 0):
            raise CheckpointError(
                f"environment snapshot `{reader.prefix}{field.key}_none` must be True"
            )
        return functools.partial(setattr, layer, field.attribute, None)
    if field.kind == "rng":
        return _decode_generator(layer, field, reader)
    _, from_array, dtype_kinds, ndim = _CODECS[field.kind]
    array = reader.take(field.key, dtype_kinds, ndim)
    current = getattr(layer, field.attribute, None)
    if isinstance(current, np.ndarray) and field.kind == "array" and current.shape != array.shape:
        raise CheckpointError(
            f"environment snapshot `{reader.prefix}{field.key}` must have shape {current.shape} "
            f"(that of {type(layer).__name__}.{field.attribute}); got {array.shape}"
        )
    try:
        value = from_array(array)
    except ValueError as error:  # e.g. a "bigint" that is not decimal text
        raise CheckpointError(
            f"environment snapshot `{reader.prefix}{field.key}` is not a {field.kind}: {error}"
        ) from error
    return functools.partial(setattr, layer, field.attribute, value)


def _decode_generator(layer: Any, field: _Field, reader: _Reader) -> Restore:
    name = str(reader.take(f"{field.key}_bit_generator", "U", 0))
    if name not in _BIT_GENERATORS:
        raise CheckpointError(
            f"environment snapshot `{reader.prefix}{field.key}_bit_generator` must be one of "
            f"{_BIT_GENERATORS}; got {name!r}"
        )
    words = reader.take(f"{field.key}_state", "u", 1)
    if words.shape != (6,):
        raise CheckpointError(
            f"environment snapshot `{reader.prefix}{field.key}_state` must have shape (6,); "
            f"got {words.shape}"
        )
    state = _generator_state(name, words)

    def restore() -> None:
        current = getattr(layer, field.attribute, None)
        # in place where possible: whoever holds the generator sees the restored stream
        if (
            isinstance(current, np.random.Generator)
            and type(current.bit_generator).__name__ == name
        ):
            current.bit_generator.state = state
        else:
            generator = np.random.Generator(getattr(np.random, name)())
            generator.bit_generator.state = state
            setattr(layer, field.attribute, generator)

    return restore


# ---------------------------------------------------------------------------------------
# Layouts: what one registered class holds


class _Extra(Protocol):
    """State that is not a plain attribute (sub-environments, MuJoCo's physics)."""

    def encode(self, layer: Any) -> dict[str, np.ndarray]: ...

    def decode(self, layer: Any, reader: _Reader) -> list[Restore]: ...


@dataclass(frozen=True)
class _Layout:
    fields: tuple[_Field, ...]
    vector: bool
    extra: _Extra | None = None

    def encode(self, layer: Any) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for field in self.fields:
            try:
                arrays.update(_encode_field(field, getattr(layer, field.attribute, None)))
            except TypeError as error:
                name = f"{type(layer).__qualname__}.{field.attribute}"
                raise TypeError(f"cannot snapshot {name}: {error}") from error
        if self.extra is not None:
            arrays.update(self.extra.encode(layer))
        return arrays

    def decode(self, layer: Any, reader: _Reader) -> list[Restore]:
        restores = [_decode_field(layer, field, reader) for field in self.fields]
        if self.extra is not None:
            restores += self.extra.decode(layer, reader)
        return restores


_LAYOUTS: dict[type, _Layout] = {}

# every unwrapped gym.Env draws its randomness from `np_random` (`_np_random` behind the property)
_ENV_FIELDS = {"_np_random": "rng?", "_np_random_seed": "bigint?"}


def _parse_fields(fields: Mapping[str, str]) -> tuple[_Field, ...]:
    parsed = []
    for attribute, kind in fields.items():
        if kind.removesuffix("?") not in KINDS:
            raise ValueError(
                f"`{attribute}` kind must be one of {KINDS}, optionally + '?'; got {kind!r}"
            )
        parsed.append(_Field(attribute, kind.removesuffix("?"), kind.endswith("?")))
    return tuple(parsed)


def register_snapshot(env_class: type, /, **fields: str) -> None:
    """Declare which attributes of `env_class` decide what it does next.

    One call is all a new environment kind needs, e.g.
    `register_snapshot(MyEnv, state="array?", steps="int")`. An unwrapped `gym.Env`
    subclass also gets its random generator (`_np_random`) and seed without listing them.
    Only `env_class` itself is registered, not its subclasses, which may hold more state.
    Registering a class again replaces its fields.

    Kinds (a trailing "?" allows None): "int", "float", "bool", "str" (Python values);
    "bigint" (an int of any size, stored as decimal text); "scalar" (a NumPy scalar, dtype
    kept); "array" (a numeric array, dtype kept; a tuple comes back as an array); "ints"
    (a list of ints); "rng" (a `numpy.random.Generator` on PCG64 or PCG64DXSM).

    Args:
      env_class: a `gym.Env`, `gym.Wrapper`, `VectorEnv` or `VectorWrapper` subclass.
      **fields: attribute name → kind.

    Raises:
      ValueError: if a kind is not one of `KINDS` (optionally with "?").
    """
    _register(env_class, fields)


def _register(env_class: type, fields: Mapping[str, str], extra: _Extra | None = None) -> None:
    vector = issubclass(env_class, VectorEnv | VectorWrapper)
    if issubclass(env_class, gym.Env) and not issubclass(env_class, gym.Wrapper):
        fields = {**_ENV_FIELDS, **fields}
    _LAYOUTS[env_class] = _Layout(_parse_fields(fields), vector, extra)


# ---------------------------------------------------------------------------------------
# Chains: a wrapper stack, outermost first


def _layers(env: Any) -> list[Any]:
    layers = [env]
    while isinstance(layers[-1], gym.Wrapper | VectorWrapper):
        layers.append(layers[-1].env)
    return layers


def _prefixes(layers: list[Any]) -> list[str]:
    """Key prefix of each layer: the wrapper's class in snake case (numbered from its second
    occurrence), none for the innermost environment."""
    seen: dict[str, int] = {}
    prefixes = []
    for layer in layers[:-1]:
        name = _snake(type(layer).__name__)
        seen[name] = seen.get(name, 0) + 1
        prefixes.append(f"{name}{seen[name] if seen[name] > 1 else ''}_")
    return [*prefixes, ""]


_SNAPSHOT_AS: dict[type, type] = {}
"""Classes whose snapshots are named as another class with the same state and the same
steps (a compiled twin): a snapshot of either restores into either."""


def _qualified_names(layers: list[Any]) -> np.ndarray:
    classes = [_SNAPSHOT_AS.get(type(x), type(x)) for x in layers]
    return np.array([f"{c.__module__}.{c.__qualname__}" for c in classes])


def _layout_of(env_class: type) -> _Layout | None:
    """The class's registered layout; MuJoCo's tasks are registered when first asked for
    (importing MuJoCo and its tasks would slow every start-up)."""
    layout = _LAYOUTS.get(env_class)
    if layout is None and env_class.__module__.startswith("gymnasium.envs.mujoco"):
        _register_mujoco()
        layout = _LAYOUTS.get(env_class)
    return layout


def _chain_snapshot(env: Any, vector: bool) -> dict[str, np.ndarray]:
    layers = _layers(env)
    snapshot = {"layers": _qualified_names(layers)}
    for layer, prefix in zip(layers, _prefixes(layers), strict=True):
        layout = _layout_of(type(layer))
        if layout is None or layout.vector != vector:
            raise _Unsupported(f"{type(layer).__qualname__} has no registered snapshot layout")
        snapshot.update({prefix + key: array for key, array in layout.encode(layer).items()})
    return snapshot


def _chain_restores(env: Any, reader: _Reader) -> list[Restore]:
    layers = _layers(env)
    expected = _qualified_names(layers)
    received = reader.take("layers", "U", 1)
    if received.shape != expected.shape or np.any(received != expected):
        raise CheckpointError(
            f"environment snapshot `{reader.prefix}layers` must be {expected.tolist()} "
            f"(the environment's wrappers and class); got {received.tolist()}"
        )
    restores: list[Restore] = []
    for layer, prefix in zip(layers, _prefixes(layers), strict=True):
        layout = _layout_of(type(layer))
        if layout is None:
            raise CheckpointError(
                f"cannot restore {type(layer).__qualname__}: it has no registered snapshot layout"
            )
        restores += layout.decode(layer, reader.scoped(prefix))
    return restores


# ---------------------------------------------------------------------------------------
# Public functions


def env_snapshot(env: gym.Env[Any, Any]) -> dict[str, np.ndarray] | None:
    """Every array that decides what `env` does next, through its whole wrapper chain.

    Args:
      env: a Gymnasium environment, e.g. from `gym.make`, every layer of which is
        registered (`register_snapshot`).

    Returns:
      A flat dict of NumPy arrays (keys in the module docstring), copies that later steps
      do not change; or None if a layer is not registered or its random generator is
      not PCG64/PCG64DXSM (the caller then restarts its episodes).

    Raises:
      TypeError: if `env` is a vector environment (use `vector_env_snapshot`).

    Examples:
      >>> import gymnasium as gym
      >>> env = gym.make("CartPole-v1")
      >>> _ = env.reset(seed=0)
      >>> sorted(env_snapshot(env))[:4]
      ['layers', 'np_random_bit_generator', 'np_random_seed', 'np_random_state']
    """
    if isinstance(env, VectorEnv):
        raise TypeError("`env` is a vector environment; use vector_env_snapshot")
    try:
        return _chain_snapshot(env, vector=False)
    except _Unsupported:
        return None


def restore_env(env: gym.Env[Any, Any], snapshot: Mapping[str, np.ndarray]) -> None:
    """Put `env` in the state `snapshot` holds; it then continues bit-exactly.

    `env` must be made as the snapshotted one was (same id, arguments and wrappers). It
    need not be reset, but a resuming process usually has, with any seed.

    Args:
      env: the environment to overwrite.
      snapshot: `env_snapshot`'s arrays, e.g. read back from an `.npz`.

    Raises:
      CheckpointError: if the snapshot is of another environment (other classes, keys,
        shapes or dtypes); `env` is then unchanged.
    """
    reader = _Reader(snapshot)
    restores = _chain_restores(env, reader)
    reader.check_all_taken()
    for restore in restores:
        restore()


def vector_env_snapshot(envs: Any) -> dict[str, np.ndarray] | None:
    """Every array that decides what a vector environment does next.

    Supported: `SyncVectorEnv` whose sub-environments `env_snapshot` supports and whose
    observations batch into one array, and Gymnasium's native `CartPoleVectorEnv`. None
    for everything else: `AsyncVectorEnv` (its workers keep their autoreset flags in local
    variables that no command reaches), EnvPool, and unregistered vector wrappers.

    Args:
      envs: a Gymnasium vector environment.

    Returns:
      A flat dict of NumPy arrays with `num_envs` and, for a `SyncVectorEnv`, each
      sub-environment's snapshot under the prefix `env<k>_`; or None.
    """
    try:
        snapshot = _chain_snapshot(envs, vector=True)
    except _Unsupported:
        return None
    return {"num_envs": np.asarray(envs.num_envs, dtype=np.int64), **snapshot}


def restore_vector_env(envs: Any, snapshot: Mapping[str, np.ndarray]) -> None:
    """Put a vector environment in the state `snapshot` holds; it continues bit-exactly.

    Args:
      envs: a vector environment made as the snapshotted one was.
      snapshot: `vector_env_snapshot`'s arrays.

    Raises:
      CheckpointError: if the snapshot is of another vector environment (other classes,
        number of sub-environments, autoreset mode, keys, shapes or dtypes); `envs` is
        then unchanged.
    """
    reader = _Reader(snapshot)
    num_envs = int(reader.take("num_envs", "iu", 0))
    if num_envs != envs.num_envs:
        raise CheckpointError(
            f"environment snapshot holds {num_envs} sub-environments (`num_envs`); "
            f"the vector environment has {envs.num_envs}"
        )
    restores = _chain_restores(envs, reader)
    reader.check_all_taken()
    for restore in restores:
        restore()


# ---------------------------------------------------------------------------------------
# Layouts that are more than attributes


class _SyncVectorExtra:
    """A `SyncVectorEnv`'s sub-environments, its autoreset mode (checked, not set) and its
    last observations (a reset with `reset_mask` returns them for the envs it skips)."""

    def encode(self, envs: SyncVectorEnv[Any, Any]) -> dict[str, np.ndarray]:
        observations = envs._observations
        if not isinstance(observations, np.ndarray):
            raise _Unsupported("its observations do not batch into one array")
        arrays = {
            "autoreset_mode": np.asarray(AutoresetMode(envs.autoreset_mode).value),
            "observations": observations.copy(),
        }
        for k, env in enumerate(envs.envs):
            sub = _chain_snapshot(env, vector=False)
            arrays.update({f"env{k}_{key}": array for key, array in sub.items()})
        return arrays

    def decode(self, envs: SyncVectorEnv[Any, Any], reader: _Reader) -> list[Restore]:
        mode = str(reader.take("autoreset_mode", "U", 0))
        if mode != AutoresetMode(envs.autoreset_mode).value:
            raise CheckpointError(
                f"environment snapshot `autoreset_mode` must be "
                f"{AutoresetMode(envs.autoreset_mode).value!r} (the vector environment's); "
                f"got {mode!r}"
            )
        current = envs._observations
        observations = reader.take("observations", "biufc")
        if not isinstance(current, np.ndarray) or current.shape != observations.shape:
            raise CheckpointError(
                f"environment snapshot `observations` must have shape {np.shape(current)}; "
                f"got {observations.shape}"
            )
        restores: list[Restore] = [
            functools.partial(_set_observations, envs, observations.astype(current.dtype))
        ]
        for k, env in enumerate(envs.envs):
            restores += _chain_restores(env, reader.scoped(f"env{k}_"))
        return restores


def _set_observations(envs: SyncVectorEnv[Any, Any], observations: np.ndarray) -> None:
    envs._observations = observations.copy()
    envs._env_obs = list(observations.copy())


class _MujocoExtra:
    """MuJoCo's integration state (`mjSTATE_INTEGRATION`: time, qpos, qvel, act, controls,
    applied forces, warm start, …), and the body positions `xpos` and `xipos`.

    After `mj_step` the positions lag the state by one substep, and Ant (`xpos`) and
    Humanoid (`xipos`) read them before stepping; recomputing them would shift the first
    reward after a restore, so they are restored as they were.
    """

    def __init__(self, mujoco: Any):
        self.mujoco = mujoco
        self.signature = mujoco.mjtState.mjSTATE_INTEGRATION

    def encode(self, env: Any) -> dict[str, np.ndarray]:
        state = np.empty(self.mujoco.mj_stateSize(env.model, self.signature))
        self.mujoco.mj_getState(env.model, env.data, state, self.signature)
        return {"mujoco_state": state, "xpos": env.data.xpos.copy(), "xipos": env.data.xipos.copy()}

    def decode(self, env: Any, reader: _Reader) -> list[Restore]:
        expected = {
            "mujoco_state": (self.mujoco.mj_stateSize(env.model, self.signature),),
            "xpos": env.data.xpos.shape,
            "xipos": env.data.xipos.shape,
        }
        arrays = {key: reader.take(key, "f") for key in expected}
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise CheckpointError(
                    f"environment snapshot `{reader.prefix}{key}` must have shape {shape}; "
                    f"got {arrays[key].shape}"
                )
        return [functools.partial(self.restore, env, arrays)]

    def restore(self, env: Any, arrays: dict[str, np.ndarray]) -> None:
        mujoco, state = self.mujoco, arrays["mujoco_state"]
        mujoco.mj_setState(env.model, env.data, state, self.signature)
        # derived quantities (what rendering and sensors read) from the restored state; this
        # leaves the integration state as it is
        mujoco.mj_forward(env.model, env.data)
        env.data.xpos[:] = arrays["xpos"]
        env.data.xipos[:] = arrays["xipos"]


_MUJOCO_TASKS = (
    "ant", "half_cheetah", "hopper", "humanoid", "humanoidstandup", "inverted_double_pendulum",
    "inverted_pendulum", "pusher", "reacher", "swimmer", "walker2d",
)  # fmt: skip
_MUJOCO_FIELDS = {
    # drawn at reset and written into qpos, kept so a restored env matches the original whole
    "ReacherEnv": {"goal": "array?"},
    "PusherEnv": {"goal_pos": "array?", "cylinder_pos": "array?"},
}


@functools.cache
def _register_mujoco() -> None:
    """The MuJoCo tasks Gymnasium ships (v4 and v5), where `mujoco` is installed; once."""
    try:
        import mujoco
        from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
    except ImportError:  # optional: MuJoCo is not a dependency of gradlogpi
        return
    extra = _MujocoExtra(mujoco)
    for task in _MUJOCO_TASKS:
        for version in ("v4", "v5"):
            module = importlib.import_module(f"gymnasium.envs.mujoco.{task}_{version}")
            for env_class in vars(module).values():
                if (
                    isinstance(env_class, type)
                    and issubclass(env_class, MujocoEnv)
                    and env_class.__module__ == module.__name__
                ):
                    _register(env_class, _MUJOCO_FIELDS.get(env_class.__name__, {}), extra)


def _snake(name: str) -> str:
    """TimeLimit -> time_limit."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------------------------------
# What gradlogpi knows, read from each class's `step` and `reset`

# wrappers gym.make adds
register_snapshot(TimeLimit, _elapsed_steps="int?")
register_snapshot(OrderEnforcing, _has_reset="bool")
# its flags only decide which checks run (they warn, never change a result); restored so that
# a restored env warns as the original would. `_previous_data` (last obs, for a warning) is not.
register_snapshot(
    PassiveEnvChecker,
    checked_reset="bool",
    checked_step="bool",
    checked_render="bool",
    checked_data_reuse="bool",
)
register_snapshot(Autoreset, autoreset="bool")
# stateless transformations
register_snapshot(ClipAction)
register_snapshot(RescaleAction)
register_snapshot(FlattenObservation)

# classic control
register_snapshot(cartpole.CartPoleEnv, state="array?", steps_beyond_terminated="int?")
register_snapshot(acrobot.AcrobotEnv, state="array?")
register_snapshot(mountain_car.MountainCarEnv, state="array?")
register_snapshot(continuous_mountain_car.Continuous_MountainCarEnv, state="array?")
register_snapshot(pendulum.PendulumEnv, state="array?", last_u="scalar?")

# toy text
register_snapshot(frozen_lake.FrozenLakeEnv, s="scalar?", lastaction="int?")
register_snapshot(cliffwalking.CliffWalkingEnv, s="scalar?", lastaction="int?")
register_snapshot(
    taxi.TaxiEnv, s="scalar?", lastaction="int?", fickle_step="bool", taxi_orientation="int"
)
register_snapshot(
    blackjack.BlackjackEnv,
    dealer="ints?",
    player="ints?",
    dealer_top_card_suit="str?",
    dealer_top_card_value_str="str?",
)

# gradlogpi's own
register_snapshot(ShortCorridorEnv, state="scalar?")
register_snapshot(GridWorldEnv, state="scalar?")
register_snapshot(LQREnv, state="array?")

# vector environments
_register(
    SyncVectorEnv,
    # only `_autoreset_envs` decides the next step; the step's outputs come along so that a
    # restored vector env equals the original attribute for attribute
    {
        "_autoreset_envs": "array",
        "_rewards": "array",
        "_terminations": "array",
        "_truncations": "array",
    },
    _SyncVectorExtra(),
)
register_snapshot(
    AcrobotVectorEnv,
    state="array?",
    steps="array",
    autoreset="array",
    generator_states="array",  # each sub-environment's generator, for its resets
)
_CARTPOLE_VECTOR_FIELDS = {
    "state": "array?",
    "steps": "array",
    "prev_done": "array",
    "low": "float",  # the reset bounds: step draws the autoreset states from them
    "high": "float",
    "steps_beyond_terminated": "int?",
    "_np_random": "rng?",
    "_np_random_seed": "bigint?",
}
register_snapshot(cartpole.CartPoleVectorEnv, **_CARTPOLE_VECTOR_FIELDS)
register_snapshot(CompiledCartPoleVectorEnv, **_CARTPOLE_VECTOR_FIELDS)
_SNAPSHOT_AS[CompiledCartPoleVectorEnv] = cartpole.CartPoleVectorEnv
