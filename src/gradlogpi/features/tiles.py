"""Tile coding in the style of Sutton's tiles3: several offset tilings, sparse output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradlogpi.core._checks import check_positive_int
from gradlogpi.features.box import BoxFeatures, box_bounds

_MULTIPLIER_1 = np.uint64(0xBF58476D1CE4E5B9)
_MULTIPLIER_2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LARGEST_SLOT_TABLE = 2**22  # hashed slots of every tile precomputed up to this many tiles


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed bijection of uint64 that spreads every input bit.

    Deterministic across processes and platforms (unlike Python's `hash`).
    """
    z = values.astype(np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MULTIPLIER_1
    z = (z ^ (z >> np.uint64(27))) * _MULTIPLIER_2
    return z ^ (z >> np.uint64(31))


class TileCoder(BoxFeatures):
    """Binary features from `n_tilings` grids, each offset by a different fraction of a tile.

    Tiling t is displaced by t·(1, 3, 5, …)/n_tilings of a tile width in dimensions
    (0, 1, 2, …) — the asymmetric offsets Sutton & Barto recommend (2018, section 9.5.4)
    and tiles3 uses. Every observation activates exactly one tile per tiling, so x(s) has
    n_tilings ones; `active` returns their indices and policies use them sparsely.

    Integer dimensions (`integer_dims`) are not tiled: their value is a coordinate of its
    own, as tiles3's integer arguments (an action, a discrete mode).

    Without `table_size` every tile has its own index: n_tilings · Π_j (tiles_j + 1)
    features (one extra tile per dimension holds the offset edge). With `table_size`,
    tile coordinates are hashed into a table of that size; `collisions` counts the look-ups
    that landed on a slot first taken by a different tile.

    Observations outside [low, high] are clipped to the bounds.

    Args:
      low: lower observation bounds, shape [k].
      high: upper observation bounds, shape [k].
      n_tilings: number of tilings >= 1 (a power of two >= 4k is the book's advice).
      tiles_per_dim: tiles across [low, high] per float dimension, an int >= 1 or one per
        dimension.
      table_size: size of the hashed index table; None for no hashing.
      integer_dims: dimensions holding integers in [low, high], used as exact coordinates.

    Examples:
      >>> coder = TileCoder([0.0], [1.0], n_tilings=2, tiles_per_dim=2)
      >>> coder.active(np.array([[0.3], [0.8]]))
      array([[0, 4],
             [1, 5]])
    """

    sparse = True

    def __init__(
        self,
        low: Any,
        high: Any,
        n_tilings: int = 8,
        tiles_per_dim: Any = 8,
        *,
        table_size: int | None = None,
        integer_dims: tuple[int, ...] = (),
    ):
        super().__init__(low, high)
        k = self.low.size
        self.n_tilings = check_positive_int("n_tilings", n_tilings)
        self.n_active = self.n_tilings
        tiles = np.broadcast_to(np.asarray(tiles_per_dim), (k,)).astype(np.int64)
        if np.any(tiles < 1) or not np.all(np.asarray(tiles_per_dim) == np.round(tiles_per_dim)):
            raise ValueError(f"`tiles_per_dim` must hold ints >= 1; got {tiles_per_dim!r}")
        self.integer_dims = tuple(int(j) for j in integer_dims)
        for j in self.integer_dims:
            if not 0 <= j < k:
                raise ValueError(f"`integer_dims` must be dimensions in [0, {k}); got {j}")
        self.is_integer = np.zeros(k, dtype=bool)
        self.is_integer[list(self.integer_dims)] = True
        self.tiles_per_dim = tiles
        integer_counts = (self.high - self.low + 1).astype(np.int64)
        self.grid_shape = np.where(self.is_integer, integer_counts, tiles + 1)
        # tiling t, dimension j: displacement t·(2j + 1)/n_tilings of a tile, wrapped into [0, 1)
        displacement = np.arange(self.n_tilings)[:, None] * (2 * np.arange(k) + 1)[None, :]
        self.offsets = np.where(
            self.is_integer, 0.0, (displacement % self.n_tilings) / self.n_tilings
        )
        self.tiles_per_tiling = int(np.prod(self.grid_shape))
        # coordinate = floor(obs · scale + shift), clipped to the grid: for a float dimension
        # (obs − low)/(high − low) · tiles + offset, for an integer one obs − low (rounded)
        self._scale = np.where(self.is_integer, 1.0, tiles / (self.high - self.low))
        self._lift = np.zeros((self.n_tilings, k))
        self._lift[:, 0] = np.arange(self.n_tilings) * self.grid_shape[0]
        self._shift = (
            np.where(self.is_integer, 0.5, self.offsets) - self.low * self._scale + self._lift
        )
        self._upper = self._lift + (self.grid_shape - 1)
        self._strides = np.array(
            [int(np.prod(self.grid_shape[j + 1 :])) for j in range(k)], dtype=np.float64
        )
        if table_size is None:
            self.table_size = None
            self.n_features = self.n_tilings * self.tiles_per_tiling
        else:
            self.table_size = check_positive_int("table_size", table_size)
            self.n_features = self.table_size
            self._owner = np.zeros(self.table_size, dtype=np.uint64)
        self._slot_table: np.ndarray | None = None  # slot of every tile, made on first use
        self._recent: list[tuple[np.ndarray, np.ndarray]] = []  # (observations, indices)
        self.collisions = 0

    @classmethod
    def from_space(
        cls,
        space: Any,
        n_tilings: int = 8,
        tiles_per_dim: Any = 8,
        *,
        bounds: Any = None,
        table_size: int | None = None,
    ) -> TileCoder:
        low, high = box_bounds(space, bounds)
        return cls(low, high, n_tilings, tiles_per_dim, table_size=table_size)

    def coordinates(self, obs: Any) -> np.ndarray:
        """Tile coordinates in every tiling, int64, shape [..., n_tilings, k]."""
        return (self._lifted_coordinates(self.checked(obs)) - self._lift).astype(np.int64)

    def active(self, obs: Any) -> np.ndarray:
        """Index of the active tile in each tiling, int64, shape [..., n_tilings].

        The last two answers are kept: an algorithm that asks about the same observations
        several times (actor-critic: the action and v̂(S), then v̂(S'), both updates, and S'
        again as the next S) computes each once.
        """
        obs = self.checked(obs)
        for seen, indices in self._recent:
            if seen.shape == obs.shape and np.array_equal(seen, obs):
                return indices
        flat = self._lifted_coordinates(obs).dot(self._strides).astype(np.int64)
        indices = flat if self.table_size is None else self._hashed(flat)
        indices.flags.writeable = False  # shared with later callers that ask the same
        self._recent = [(obs.copy(), indices), *self._recent[:1]]
        return indices

    def _lifted_coordinates(self, obs: np.ndarray) -> np.ndarray:
        """Coordinates [..., n_tilings, k] with tiling t's first one raised by t · grid_shape[0].

        Raised that way, coordinates · strides is the flat index of the tile, its tiling's
        block included. `active` and `active_function` both go through here, so the step
        loop and the learning update see the same tiles to the last bit.
        """
        coordinates = np.floor(obs[..., None, :] * self._scale + self._shift)
        return np.minimum(np.maximum(coordinates, self._lift), self._upper, out=coordinates)

    def step_arithmetic(self) -> tuple[np.ndarray, ...] | None:
        """(scale [k], shift, lift, upper [n_tilings, k], strides [k], table) of `active_function`.

        For compiled step loops that compute the tiles themselves, with the same arithmetic:
        tile t of one observation s is table[Σ_i clip(⌊s_i scale_i + shift_ti⌋, lift_ti,
        upper_ti) · strides_i]. None where the hashed table is too large to precompute.
        """
        table = np.arange(self.n_features) if self.table_size is None else self._all_slots()
        if table is None:
            return None
        return self._scale, self._shift, self._lift, self._upper, self._strides, table

    def active_function(self) -> Callable[[np.ndarray], np.ndarray]:
        """`active` for one observation [k] → [n_tilings], with its set-up done once.

        Meant for the step loop: the same indices from the same arithmetic as `active`,
        without its input checks and collision statistics (`active` keeps those when the
        episode's steps are learned from). A non-finite observation gives some in-range
        index; the environment checks report it when its episode ends.
        """
        scale, shift, lift, upper, strides = (
            self._scale,
            self._shift,
            self._lift,
            self._upper,
            self._strides,
        )
        if self.table_size is None:
            table = np.arange(self.n_features)
        else:
            slots = self._all_slots()
            if slots is None:
                return self.active
            table = slots

        def active(obs: np.ndarray) -> np.ndarray:
            coordinates = np.floor(obs * scale + shift)
            # two ufunc calls: np.clip's Python wrapper costs more than the clipping
            np.minimum(np.maximum(coordinates, lift, out=coordinates), upper, out=coordinates)
            return table.take(coordinates.dot(strides).astype(np.intp), mode="clip")

        return active

    def _slots(self, flat: np.ndarray) -> np.ndarray:
        """Slots of the hashed table for flat tile indices (no statistics kept)."""
        size = np.uint64(self.table_size or 0)
        return np.asarray(mix64(flat.astype(np.uint64)) % size).astype(np.int64)

    def _all_slots(self) -> np.ndarray | None:
        """The slot of every tile (made on first use), or None where there are too many."""
        n_tiles = self.n_tilings * self.tiles_per_tiling
        if self._slot_table is None and n_tiles <= _LARGEST_SLOT_TABLE:
            self._slot_table = self._slots(np.arange(n_tiles))
        return self._slot_table

    def _hashed(self, flat: np.ndarray) -> np.ndarray:
        table = self._all_slots()
        slots = self._slots(flat) if table is None else table[flat]
        owners = flat.astype(np.uint64) + np.uint64(1)  # a tile's flat index names it; 0 is free
        taken = self._owner[slots] != 0
        if not taken.all():
            # first come, first owner, in order (rare once the tiles in use have been seen)
            for slot, owner in zip(slots[~taken].tolist(), owners[~taken].tolist(), strict=True):
                if self._owner[slot] == 0:
                    self._owner[slot] = owner
        self.collisions += int(np.count_nonzero(self._owner[slots] != owners))
        return slots

    @property
    def table_fill(self) -> int:
        """Slots of the hashed table in use (0 without hashing)."""
        return 0 if self.table_size is None else int(np.count_nonzero(self._owner))

    def __call__(self, obs: Any) -> np.ndarray:
        indices = self.active(obs)
        dense = np.zeros((*indices.shape[:-1], self.n_features))
        rows = np.arange(int(np.prod(indices.shape[:-1], dtype=np.int64)))[:, None]
        np.add.at(dense.reshape(-1, self.n_features), (rows, indices.reshape(rows.size, -1)), 1.0)
        return dense
