"""Whether gradlogpi's compiled paths (Numba, extra `gradlogpi[fast]`) are on."""

from __future__ import annotations

import functools
import importlib.util
import os


def available() -> bool:
    """Whether the compiled path is installed and not switched off (GRADLOGPI_NO_JIT=1)."""
    return os.environ.get("GRADLOGPI_NO_JIT", "") != "1" and _numba_installed()


@functools.cache
def _numba_installed() -> bool:
    # looking it up costs tens of µs, and the per-episode paths ask every episode
    return importlib.util.find_spec("numba") is not None
