"""Numba kernel for ``O psi`` of small states, ``O`` a Pauli sum given as gathered groups.

Imported only through :func:`qdiff.sim.jit.kernels` (numba is optional: without it
:mod:`qdiff.sim.pauli` gathers with torch). ``state`` ``(B, N)`` and ``weights`` ``(G, N)`` share a
complex dtype; ``index`` ``(G, N)`` ``int64`` holds ``j ^ x_g``; the result is
``out[b, j] = sum_g weights[g, j] * state[b, index[g, j]]`` (see :func:`qdiff.sim.pauli._gathered`),
and ``values[b] = Re sum_j conj(state[b, j]) out[b, j]``, the expectation value, from the same pass;
or the values alone (:func:`expectation_values`), when no backward needs ``O psi``. Wider states,
whose ``(G, N)`` tables would be too large, go chunk by chunk (:func:`o_psi_wide`, below).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=True)
def _row(psi, index, weights, out):  # type: ignore[no-untyped-def]
    """``out <- O psi`` for one row; returns ``Re <psi|O psi>``."""
    for j in range(out.shape[0]):
        out[j] = 0
    for g in range(weights.shape[0]):
        for j in range(out.shape[0]):  # uint64: no wraparound branch, as in tape_kernels
            out[j] += weights[g, j] * psi[np.uint64(index[g, j])]
    value = 0.0
    for j in range(out.shape[0]):
        value += psi[j].real * out[j].real + psi[j].imag * out[j].imag
    return value


@njit(cache=True, fastmath=True)
def o_psi(state, index, weights, out, values):  # type: ignore[no-untyped-def]
    """``out`` ``(B, N)`` <- ``O state`` and ``values`` ``(B,)`` <- the expectation values, one row
    after another."""
    for b in range(state.shape[0]):
        values[b] = _row(state[b], index, weights, out[b])


@njit(cache=True, fastmath=True, parallel=True)
def o_psi_rows(state, index, weights, out, values):  # type: ignore[no-untyped-def]
    """As :func:`o_psi`, the rows spread over threads."""
    for b in prange(state.shape[0]):
        values[b] = _row(state[b], index, weights, out[b])


@njit(cache=True, fastmath=True)
def _row_value(psi, index, weights):  # type: ignore[no-untyped-def]
    """``Re <psi|O psi>`` for one row, ``O psi`` summed into the value as it is made (no store)."""
    value = 0.0
    for g in range(weights.shape[0]):
        for j in range(psi.shape[0]):
            z = weights[g, j] * psi[np.uint64(index[g, j])]
            value += psi[j].real * z.real + psi[j].imag * z.imag
    return value


@njit(cache=True, fastmath=True)
def expectation_values(state, index, weights, values):  # type: ignore[no-untyped-def]
    """``values`` ``(B,)`` <- the expectation values of :func:`o_psi` without ``O state``: half the
    time of 1024 rows at n = 8 (no row of ``O psi`` written)."""
    for b in range(state.shape[0]):
        values[b] = _row_value(state[b], index, weights)


@njit(cache=True, fastmath=True, parallel=True)
def expectation_values_rows(state, index, weights, values):  # type: ignore[no-untyped-def]
    """As :func:`expectation_values`, the rows spread over threads."""
    for b in prange(state.shape[0]):
        values[b] = _row_value(state[b], index, weights)


# ---------------------------------------------------------------------------------- wide states
# Wider states (no 2**n tables): ``O psi`` chunk by chunk of ``L = 2**low`` amplitudes. A term
# ``c X^x Z^z`` adds ``c (-1)**|s & z| psi[s]`` at ``j = s ^ x``; over the source chunk starting at
# ``s0`` the sign is that of the high bits ``s0 & z`` (one per chunk) times the low bits' sign,
# ``signs[t, l] = (-1)**|l & z|`` (a table per term). Each group's diagonal over the source chunk is
# then ``d[l] = sum_t c_t (+-1) signs[t, l]`` (vector adds), and ``out[(s0 ^ x) + (l ^ x_low)] +=
# d[l] psi[s0 + l]``.

PIECES = 64
"""Pieces the chunks of all rows are cut into for the threads (a fixed count: asking numba for its
thread count makes a function impossible to cache); each piece allocates its scratch once."""


@njit(cache=True, fastmath=True, inline="always")
def _parity(m):  # type: ignore[no-untyped-def]
    """``popcount(m) & 1`` of a ``uint64`` (folds: vectorisable, no popcount intrinsic needed).
    :mod:`qdiff.sim.tape_kernels` has its twin on purpose: numba's cache checks only the timestamp
    of the file that defines a cached function, so kernels call nothing from another file."""
    m ^= m >> np.uint64(32)
    m ^= m >> np.uint64(16)
    m ^= m >> np.uint64(8)
    m ^= m >> np.uint64(4)
    m ^= m >> np.uint64(2)
    m ^= m >> np.uint64(1)
    return m & np.uint64(1)


@njit(cache=True, fastmath=True)
def _wide_chunk(psi, start, flips, tstart, zmasks, coeffs, signs, d_re, d_im, acc):  # type: ignore[no-untyped-def]
    """``acc`` ``(L,)`` <- ``(O psi)`` on the chunk of row ``psi`` from ``start``; returns
    ``Re <psi|O psi>`` over the chunk. A group whose terms have no Z on the low bits (``X_i``,
    or ``Z`` only on high qubits) has one coefficient over the chunk, no diagonal."""
    L = acc.shape[0]
    lowmask = np.uint64(L - 1)
    for i in range(L):
        acc[i] = 0
    for g in range(flips.shape[0]):
        x = np.uint64(flips[g])
        s0 = (np.uint64(start) ^ x) & ~lowmask  # the source chunk
        xl = x & lowmask
        source = psi[s0:]
        varies = False
        scalar = 0j
        for t in range(tstart[g], tstart[g + 1]):
            c = coeffs[t]
            if _parity(s0 & np.uint64(zmasks[t])):
                c = -c
            if np.uint64(zmasks[t]) & lowmask:
                if not varies:
                    varies = True
                    for i in range(L):
                        d_re[i] = 0.0
                        d_im[i] = 0.0
                row = signs[t]
                for i in range(L):
                    d_re[i] += c.real * row[i]
                    d_im[i] += c.imag * row[i]
            else:
                scalar += c
        if varies:
            for i in range(L):
                d_re[i] += scalar.real
                d_im[i] += scalar.imag
            if xl == 0:
                for i in range(L):
                    acc[i] += complex(d_re[i], d_im[i]) * source[i]
            else:
                for i in range(L):  # uint64 indices: no wraparound branch
                    acc[np.uint64(i) ^ xl] += complex(d_re[i], d_im[i]) * source[np.uint64(i)]
        elif xl == 0:
            for i in range(L):
                acc[i] += scalar * source[i]
        else:
            for i in range(L):
                acc[np.uint64(i) ^ xl] += scalar * source[np.uint64(i)]
    value = 0.0
    here = psi[np.uint64(start):]
    for i in range(L):
        value += here[i].real * acc[i].real + here[i].imag * acc[i].imag
    return value


@njit(cache=True, fastmath=True, inline="always")
def _wide(state, out, partial, flips, tstart, zmasks, coeffs, signs, low, want_out):  # type: ignore[no-untyped-def]
    """The body of :func:`o_psi_wide` (inlined: its ``prange`` runs on threads in
    :func:`o_psi_wide_threads`, as a plain loop in :func:`o_psi_wide`)."""
    chunks = state.shape[1] >> low
    total = state.shape[0] * chunks
    L = 1 << low
    for p in prange(PIECES):
        d_re = np.empty(L)
        d_im = np.empty(L)
        acc = np.empty(L, dtype=np.complex128)
        for t in range(total * p // PIECES, total * (p + 1) // PIECES):
            b = t // chunks
            start = (t - b * chunks) << low
            partial[t] = _wide_chunk(state[b], start, flips, tstart, zmasks, coeffs, signs, d_re, d_im, acc)
            if want_out:
                row = out[b]
                for i in range(L):
                    row[start + i] = acc[i]


@njit(cache=True, fastmath=True)
def o_psi_wide(state, out, partial, flips, tstart, zmasks, coeffs, signs, low, want_out):  # type: ignore[no-untyped-def]
    """``partial`` ``(B * N / L,)`` <- each chunk's share of ``Re <psi|O psi>`` (summed per row by
    the caller) and, if ``want_out``, ``out`` ``(B, N)`` <- ``O state``; groups as flip masks
    ``flips`` ``(G,)`` with their terms ``tstart[g]:tstart[g + 1]`` of ``zmasks`` ``(T,)``,
    ``coeffs`` ``(T,)`` (``i**ny`` included) and ``signs`` ``(T, L)``. One thread."""
    _wide(state, out, partial, flips, tstart, zmasks, coeffs, signs, low, want_out)


@njit(cache=True, fastmath=True, parallel=True)
def o_psi_wide_threads(state, out, partial, flips, tstart, zmasks, coeffs, signs, low, want_out):  # type: ignore[no-untyped-def]
    """As :func:`o_psi_wide`, the chunks over threads."""
    _wide(state, out, partial, flips, tstart, zmasks, coeffs, signs, low, want_out)
