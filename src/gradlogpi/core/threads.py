"""BLAS threads for the small matrices of this library.

A policy's forward pass multiplies a few states by 4×64 and 64×64 matrices. OpenBLAS
splits even these over all cores, and on a busy machine the threads' synchronisation
costs far more than the product: 256×64 @ 64×64 with tanh took 949 µs with OpenBLAS's
default threads and 116 µs with one, measured on the 2-core development machine under
load. Training therefore runs with one BLAS thread, the way PyTorch's networks here run
with one intra-op thread; the user's own threads settings outside training are untouched.

Worker processes start from a fresh process, not by forking one whose threads are
running (`worker_start_method`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, NumPy's BLAS uses one thread (restored on exit)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def worker_start_method() -> str:
    """How gradlogpi starts worker processes (async vector envs, sweep workers): from a
    fresh server process ("forkserver"; "spawn" where there is none), never by forking
    this process, whose JAX or PyTorch threads a forked child would inherit locked (a
    deadlock)."""
    import multiprocessing

    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
