"""Optional numba kernels: their lazy import and the guard that keeps forked children off
numba's thread pool.

numba is a dependency, but every kernel module behind it (:mod:`qdiff.sim.tape_kernels`,
:mod:`qdiff.sim.pauli_kernels`) is imported through :func:`kernels`, which returns ``None`` when
numba is missing; callers then use their torch path.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from types import ModuleType

THREADED_MIN_ROWS = 8
"""Rows from which a kernel spreads them over threads (one state at a time would pay the thread
pool's start for nothing)."""


@cache
def kernels(name: str) -> ModuleType | None:
    """The kernel module ``qdiff.sim.<name>``, or ``None`` without numba."""
    try:
        return importlib.import_module(f"qdiff.sim.{name}")
    except ImportError:
        return None


def threaded(rows: int) -> bool:
    """Whether ``rows`` independent rows should run on numba's threads in this process."""
    return rows >= THREADED_MIN_ROWS and owns_thread_pool()


_POOL_OWNER: list[int] = []
"""The process whose calls started numba's thread pool. A child forked after that (a
``multiprocessing`` worker on Linux) must not start it again: GNU OpenMP, numba's usual layer
there, aborts such a child ("fork() called from a process already using GNU OpenMP"). The
child runs its rows in one thread instead."""


def owns_thread_pool() -> bool:
    """Whether this process is the one that may use numba's thread pool (see ``_POOL_OWNER``)."""
    pid = os.getpid()
    if not _POOL_OWNER:
        _POOL_OWNER.append(pid)
    return _POOL_OWNER[0] == pid
