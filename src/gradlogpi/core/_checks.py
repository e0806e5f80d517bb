"""Argument checks shared by the public functions, with one message format.

Messages read: "`name` must be <expected>; got <received>".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlogpi.errors import ShapeError


def as_float_array(name: str, value: Any) -> np.ndarray:
    """`value` as a float64 array; TypeError naming `name` if it is not numeric."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{name}` must be a numeric array; got {type(value).__name__}") from error
    return array


def as_action_array(name: str, value: Any, n_actions: int) -> np.ndarray:
    """`value` as an int64 array of actions in [0, n_actions)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iub":
        if (
            array.dtype.kind == "f"
            and np.all(np.isfinite(array))
            and np.all(array == np.round(array))
        ):
            array = array.astype(np.int64)
        else:
            raise TypeError(f"`{name}` must hold integer actions; got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= n_actions):
        bad = array[(array < 0) | (array >= n_actions)].flat[0]
        raise ValueError(f"`{name}` must be in [0, {n_actions}) (n_actions={n_actions}); got {bad}")
    return array


def check_min_ndim(name: str, array: np.ndarray, ndim: int, layout: str) -> None:
    if array.ndim < ndim:
        raise ShapeError(f"`{name}` must have shape {layout}; got {array.shape}")


def check_dim(name: str, array: np.ndarray, axis: int, size: int, layout: str, why: str) -> None:
    """Require array.shape[axis] == size."""
    if not -array.ndim <= axis < array.ndim:
        raise ShapeError(f"`{name}` must have shape {layout}; got {array.shape}")
    if array.shape[axis] != size:
        raise ShapeError(f"`{name}` must have shape {layout} with {why}; got {array.shape}")


def check_batch_shape(
    name: str, shape: tuple[int, ...], expected: tuple[int, ...], why: str
) -> None:
    if tuple(shape) != tuple(expected):
        raise ShapeError(f"`{name}` must have shape {expected} ({why}); got {tuple(shape)}")


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0)."""
    number = _finite_float(name, value)
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be a finite number {bound}; got {value!r}")
    return number


def check_in_range(name: str, value: Any, low: float, high: float) -> float:
    """A finite float in the closed interval [low, high]."""
    number = _finite_float(name, value)
    if not low <= number <= high:
        raise ValueError(f"`{name}` must be in [{low}, {high}]; got {value!r}")
    return number


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"`{name}` must be an int {bound}; got {value!r}")
    return int(value)


def _finite_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be a number; got bool {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{name}` must be a number; got {type(value).__name__} {value!r}"
        ) from error
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be a finite number; got {value!r}")
    return number


def check_actions(
    name: str, a: Any, batch_shape: tuple[int, ...], n_actions: int, source: str
) -> np.ndarray:
    """Integer actions in [0, n_actions) whose shape is the batch shape of `source`."""
    actions = as_action_array(name, a, n_actions)
    check_batch_shape(name, actions.shape, batch_shape, f"the batch shape of `{source}`")
    return actions
