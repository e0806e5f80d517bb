"""Feature kinds by name: what `features.kind` may be and how each kind is built.

The config schema, `gradlogpi train --help`, `gradlogpi algorithms` and the builder read
this table. A new kind is one builder `(features config, env) -> features` and one
`register(FeatureKind(...))` line below; nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gradlogpi import features
from gradlogpi.errors import ConfigError
from gradlogpi.rollouts.episodes import env_name
from gradlogpi.runs.choices import listed, one_of

Built = features.StateFeatures | features.StateActionFeatures
"""What a builder returns: x(s), or φ(s, a) for a kind with `state_action`."""


@dataclass(frozen=True)
class FeatureKind:
    """One registered feature kind.

    Attributes:
      name: the name configs and the CLI use (`features.kind`).
      summary: one line for listings.
      build: `(spec, env) -> features` with `spec` the `FeaturesConfig` (its settings:
        degree, order, bounds, ...) and `env` a Gymnasium env whose observation space
        passed the check of `observations`.
      observations: the observation spaces it reads (checked before `build`); () for any,
        or where `only_for` names the environment.
      only_for: the one environment it describes, which its builder checks; such a kind is
        not suggested for other environments.
      bounded: it scales observations to the unit cube, so every dimension needs finite
        bounds (`features.bounds` or the space's); an unbounded one is refused with the
        `--set features.bounds=...` to give.
      count: how many features it has on `dimensions` observation dimensions, where that
        can grow too large to allocate (checked against `MAX_FEATURES` before `build`);
        None: no check.
      state_action: it gives φ(s, a) directly instead of x(s) (a `StateActionFeatures`);
        only a policy kind with `state_action` takes it.
    """

    name: str
    summary: str
    build: Callable[[Any, gym.Env], Built]
    observations: tuple[type[spaces.Space[Any]], ...] = ()
    only_for: str | None = None
    bounded: bool = False
    count: Callable[[Any, int], int] | None = None
    state_action: bool = False


FEATURE_KINDS: dict[str, FeatureKind] = {}


def register(kind: FeatureKind) -> FeatureKind:
    """Add `kind` to the registry (names are unique)."""
    if kind.name in FEATURE_KINDS:
        raise ValueError(f"`name` {kind.name!r} is already registered")
    FEATURE_KINDS[kind.name] = kind
    return kind


def get(name: str) -> FeatureKind:
    """The registered feature kind called `name`; ValueError listing the names otherwise
    (and the closest name, where `name` looks like a misspelling of it)."""
    try:
        return FEATURE_KINDS[name]
    except KeyError:
        raise ValueError(
            f"`features.kind` = {name!r}: {one_of(name, list(FEATURE_KINDS))}"
        ) from None


def space_names(types: tuple[type[spaces.Space[Any]], ...]) -> str:
    """'Box', 'Discrete or Box'; 'any' for ()."""
    return " or ".join(kind.__name__ for kind in types) or "any"


def build(spec: Any, env: gym.Env) -> Built:
    """The features of `spec` (a `FeaturesConfig` whose `kind` is set) for `env`.

    Raises:
      ConfigError: if the kind does not take the env's observation space, would have more
        than `MAX_FEATURES` features, or its builder refuses the settings (the message
        names the key and, for unbounded dimensions, the bounds to give).
    """
    kind = get(spec.kind)
    space = env.observation_space
    if kind.observations and not isinstance(space, kind.observations):
        others = [
            other.name
            for other in FEATURE_KINDS.values()
            if isinstance(space, other.observations) and other.only_for is None
        ]
        use = f": use {listed(others, quote=False)}" if others else ""
        raise ConfigError(
            f"`features.kind` = {kind.name!r} needs a {space_names(kind.observations)} "
            f"observation space; {env_name(env)} has {space}{use}"
        )
    if kind.count is not None:
        check_feature_count(spec, int(np.prod(space.shape or ())))
    try:
        return kind.build(spec, env)
    except ConfigError:
        raise
    except ValueError as error:
        message = str(error)
        if kind.bounded and "unbounded" in message and isinstance(space, spaces.Box):
            message = message.split("; pass")[0] + (
                "; give every dimension finite bounds, e.g. "
                f"--set features.bounds='{bounds_example(space)}' (±3 where the space is unbounded)"
            )
        raise ConfigError(f"`features`: {message}") from None


MAX_FEATURES = 10_000_000
"""The most state features a config may ask for (θ alone would take 80 MB per action)."""


def feature_count(spec: Any, dimensions: int) -> int:
    """How many features x(s) the config's features would have on `dimensions` inputs
    (`dimensions` where the kind does not say)."""
    count = get(spec.kind).count
    return dimensions if count is None else count(spec, dimensions)


def check_feature_count(spec: Any, dimensions: int) -> None:
    """Refuse features too many to allocate, with the computed size and the limit."""
    count = feature_count(spec, dimensions)
    if count > MAX_FEATURES:
        raise ConfigError(
            f"`features.kind` = {spec.kind!r} would have {count:,} features on {dimensions} "
            f"observation dimensions; the limit is {MAX_FEATURES:,} (lower the order, degree, "
            "centres, tiles or table_size, or hash tiles with a smaller features.table_size)"
        )


def bounds_example(space: spaces.Box) -> str:
    """`features.bounds` in TOML from the space, ±3 where a dimension is unbounded."""
    low = np.where(np.isfinite(space.low), space.low, -3.0)
    high = np.where(np.isfinite(space.high), space.high, 3.0)
    return "[" + ",".join(f"[{lo:.4g},{hi:.4g}]" for lo, hi in zip(low, high, strict=True)) + "]"


def given_bounds(spec: Any) -> np.ndarray | None:
    """`features.bounds` as an array [k, 2], or None (the space's own bounds)."""
    return None if spec.bounds is None else np.array(spec.bounds, dtype=np.float64)


# The builders: (spec, env) -> features, one per kind.


def raw(spec: Any, env: gym.Env) -> features.RawState:
    return features.RawState(env.observation_space.shape[0])  # type: ignore[index]


def onehot(spec: Any, env: gym.Env) -> features.OneHot:
    return features.OneHot.from_space(env.observation_space)


def polynomial(spec: Any, env: gym.Env) -> features.Polynomial:
    return features.Polynomial.from_space(
        env.observation_space,
        spec.degree,
        bounds=given_bounds(spec),
        interactions=spec.interactions,
    )


def fourier(spec: Any, env: gym.Env) -> features.Fourier:
    return features.Fourier.from_space(env.observation_space, spec.order, bounds=given_bounds(spec))


def rbf(spec: Any, env: gym.Env) -> features.RBF:
    return features.RBF.from_space(
        env.observation_space, spec.centres_per_dim, spec.width, bounds=given_bounds(spec)
    )


def tiles(spec: Any, env: gym.Env) -> features.TileCoder:
    return features.TileCoder.from_space(
        env.observation_space,
        spec.n_tilings,
        spec.tiles_per_dim,
        bounds=given_bounds(spec),
        table_size=spec.table_size,
    )


def tile_count(spec: Any, dimensions: int) -> int:
    # a hashed table has `table_size` features however few tiles hash into it
    if spec.table_size is not None:
        return int(spec.table_size)
    return int(spec.n_tilings * (spec.tiles_per_dim + 1) ** dimensions)


def constant(spec: Any, env: gym.Env) -> features.Constant:
    return features.Constant(tuple(env.observation_space.shape or ()))


def border(spec: Any, env: gym.Env) -> features.StateFeatures:
    from gradlogpi.envs import BorderFeatures, GridWorldEnv

    grid = env.unwrapped
    if not isinstance(grid, GridWorldEnv):
        raise ConfigError(
            f"`features.kind` = 'border' describes the cells of gradlogpi/GridWorld-v0; "
            f"{env_name(env)} is not a grid world"
        )
    return BorderFeatures(grid.n_rows, grid.n_cols, position=spec.position)


def corridor(spec: Any, env: gym.Env) -> features.StateActionFeatures:
    from gradlogpi.envs import ShortCorridorEnv, short_corridor_features

    if not isinstance(env.unwrapped, ShortCorridorEnv):
        raise ConfigError(
            f"`features.kind` = 'corridor' is the short corridor's φ(s, a); {env_name(env)} is "
            "not gradlogpi/ShortCorridor-v0"
        )
    return short_corridor_features()


register(FeatureKind("raw", "x(s) = s, the observation itself, unscaled", raw, (spaces.Box,)))
register(
    FeatureKind(
        "onehot", "x(s) = onehot(s), tabular features of a state index", onehot, (spaces.Discrete,)
    )
)
register(
    FeatureKind(
        "polynomial",
        "polynomials of the scaled observation up to `degree` (S&B §9.5.1)",
        polynomial,
        (spaces.Box,),
        bounded=True,
        count=lambda spec, dimensions: math.comb(dimensions + spec.degree, spec.degree),
    )
)
register(
    FeatureKind(
        "fourier",
        "Fourier cosine basis of order `order` (S&B §9.5.2)",
        fourier,
        (spaces.Box,),
        bounded=True,
        count=lambda spec, dimensions: (spec.order + 1) ** dimensions,
    )
)
register(
    FeatureKind(
        "rbf",
        "Gaussian radial basis functions, `centres_per_dim` per dimension (S&B §9.5.5)",
        rbf,
        (spaces.Box,),
        bounded=True,
        count=lambda spec, dimensions: spec.centres_per_dim**dimensions,
    )
)
register(
    FeatureKind(
        "tiles",
        "tile coding: `n_tilings` offset grids of `tiles_per_dim` tiles a dimension (S&B §9.5.4)",
        tiles,
        (spaces.Box,),
        bounded=True,
        count=tile_count,
    )
)
register(FeatureKind("constant", "x(s) = (1,) in every state: a learned constant", constant))
register(
    FeatureKind(
        "border",
        "the grid world's border flags of the cell, + onehot(cell) with `position`",
        border,
        only_for="gradlogpi/GridWorld-v0",
    )
)
register(
    FeatureKind(
        "corridor",
        "the short corridor's φ(s, right) = (1, 0), φ(s, left) = (0, 1) (Example 13.1)",
        corridor,
        only_for="gradlogpi/ShortCorridor-v0",
        state_action=True,
    )
)
