"""Named arrays nested by prefix: how a state made of parts (a collector's splitter, its
environments, each Ray worker) travels as one flat dict of arrays into a checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

Value = TypeVar("Value")


def with_prefix(arrays: Mapping[str, Value], prefix: str) -> dict[str, Value]:
    """`arrays` with every name prefixed: {"mean": x} → {"normalizer_mean": x}."""
    return {prefix + name: value for name, value in arrays.items()}


def under_prefix(arrays: Mapping[str, Value], prefix: str) -> dict[str, Value]:
    """The entries whose names start with `prefix`, the prefix removed (`with_prefix`'s
    inverse)."""
    return {
        name.removeprefix(prefix): value
        for name, value in arrays.items()
        if name.startswith(prefix)
    }
