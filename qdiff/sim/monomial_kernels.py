"""Numba kernel for a permutation-with-phases operator on a large row-major state: chunk gathers.

Imported only through :func:`qdiff.sim.jit.kernels` (numba is optional: without it
:mod:`qdiff.sim.monomial` gathers with torch). The state ``(B, N)`` is cut into chunks of
``L = 2**low`` amplitudes; chunk ``c`` starts at ``start = c L``, and its *row* ``r`` is the
pattern of the operator's target qubits at or above ``low`` in ``start`` (bit ``t`` of ``r`` is
bit ``high[t]`` of ``start``). Each amplitude of the chunk reads one amplitude of the window that
starts where those bits are zero::

    out[b, start + i] = phases[r, i] * state[b, (start & ~mask) + table[r, i]]

with ``table`` ``(R, L)`` ``int64`` and ``phases`` ``(R, L)`` of the state's dtype (or ``(1, 1)``
when ``phased`` is false: no multiply). These are :meth:`qdiff.sim.monomial.MonomialPlan.gather_data`'s
index and phases. torch's ``gather`` did the same at about 1 ns an amplitude on two threads
(1.8-2.4x a clone of a 20-qubit state); this loop is 1.2-1.5x, and multiplies the phases in the
same pass instead of a second one.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=True, inline="always")
def _chunk(state, out, table, phases, high, low, phased, t):  # type: ignore[no-untyped-def]
    """Chunk ``t`` of all ``B x N / L`` chunks (row-major over the batch)."""
    chunks = state.shape[1] >> low
    b = t // chunks
    start = np.uint64(t - b * chunks) << np.uint64(low)
    r = 0
    mask = np.uint64(0)
    for k in range(high.shape[0]):
        bit = np.uint64(1) << np.uint64(high[k])
        mask |= bit
        if start & bit:
            r |= 1 << k
    source = state[b][start & ~mask:]
    target = out[b][start:]
    row = table[r]
    if phased:
        phase = phases[r]
        for i in range(table.shape[1]):  # uint64 indices: no wraparound branch
            target[i] = phase[i] * source[np.uint64(row[i])]
    else:
        for i in range(table.shape[1]):
            target[i] = source[np.uint64(row[i])]


@njit(cache=True, fastmath=True)
def gather_chunks(state, out, table, phases, high, low, phased):  # type: ignore[no-untyped-def]
    """``out`` ``(B, N)`` <- the operator applied to ``state`` ``(B, N)``, one chunk after another."""
    for t in range(state.shape[0] * (state.shape[1] >> low)):
        _chunk(state, out, table, phases, high, low, phased, t)


@njit(cache=True, fastmath=True, parallel=True)
def gather_chunks_threads(state, out, table, phases, high, low, phased):  # type: ignore[no-untyped-def]
    """As :func:`gather_chunks`, the chunks spread over threads."""
    for t in prange(state.shape[0] * (state.shape[1] >> low)):
        _chunk(state, out, table, phases, high, low, phased, t)
