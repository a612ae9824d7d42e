"""Numba kernels that run a whole :class:`~qdiff.sim.tape.Tape` in one call: the forward pass and
the adjoint sweep of a small state, with no per-gate Python or torch dispatch.

Imported only through :mod:`qdiff.sim.tape` (numba is optional: without it the torch plan runs).
Every function takes numpy arrays; ``state`` is ``(B, 2**n)`` complex128, ``angles`` ``(Ba, S)``
float64 with ``Ba`` 1 (shared) or ``B`` (per row) (:mod:`qdiff.sim.tape` converts other dtypes). A step ``s`` acts on the ascending
qubits ``qubits[qstart[s]:qstart[s + 1]]``; its local basis index ``j`` has bit ``i`` on the
``i``-th of them, and its group of ``d = 2**k`` amplitudes starting at ``base`` (the bits of the
step's qubits zero) is ``base + offset[j]``. Step kinds and their data (``cdata`` from
``cstart[s]``, ``idata`` from ``istart[s]``), see :func:`qdiff.sim.tape.lower`:

* ``FIXED_DENSE``: the ``d x d`` matrix, row-major;
* ``FIXED_DIAGONAL``: the ``d`` diagonal entries;
* ``FIXED_MONOMIAL``: phases ``d`` and permutation ``d`` (``new[perm[j]] = phase[j] old[j]``);
* ``ROT_DENSE`` (``exp(-i theta G)``): the eigenprojectors ``P_e`` ``d x d x d``, eigenvalues
  ``d`` (real parts), then ``-i G`` ``d x d``;
* ``ROT_DIAGONAL``: the generator's diagonal ``d`` (real parts);
* ``ROT_PAULI`` (``exp(-i theta g M)``, ``M`` a Hermitian monomial): ``M``'s phases ``d``, then
  ``g``; its permutation in ``idata``;
* ``ROT_PAULI_STRING`` (the same with ``M = c X^x Z^z``, a Pauli string up to the phase ``c``):
  ``c`` and ``g``; in ``idata`` the whole-state masks ``x``, ``z`` and the highest bit of ``x``
  (:func:`_pauli_string`: one vectorisable pass over amplitude pairs, no tables).

The kernels walk *groups* of steps (:class:`qdiff.sim.tape.Tape`): a run of one-qubit steps on one
qubit is one pass over amplitude pairs with the product of its 2 x 2 operators (:func:`_pairs`,
and in the sweep :func:`_cross_pairs` plus a walk of the 2 x 2 cross matrix back through the run);
consecutive fixed multi-qubit monomials are one permutation of the whole state (:func:`_permute`; CNOTs, SWAPs
and X, an affine map of the basis indices, from two small tables: :func:`_permute_affine`, and
on wide states :func:`_affine_in_place`, without scratch); any other
step goes through :func:`_step` (a diagonal on up to four qubits: :func:`_diagonal_pass`; another
two-qubit step: :func:`_quads`; more, or a Pauli rotation: the generic :func:`_apply`).

:func:`run_lanes` runs a batch's rows side by side in blocks (see the section "lanes" below).

One file on purpose: numba's on-disk cache checks only the timestamp of the file that defines a
cached function, so a kernel that called an edited function from another file would keep running
its stale compiled copy (numba's documented cache limitation).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

FIXED_DENSE, FIXED_DIAGONAL, FIXED_MONOMIAL, ROT_DENSE, ROT_DIAGONAL, ROT_PAULI, ROT_PAULI_STRING = range(7)
GROUP_STEP, GROUP_RUN, GROUP_PERMUTATION, GROUP_AFFINE = range(4)


@njit(cache=True, fastmath=True)
def _base(g, qubits, q0, k):  # type: ignore[no-untyped-def]
    """The ``g``-th group's first index: ``g`` with a zero bit inserted at each step qubit (ascending)."""
    b = g
    for i in range(k):
        q = qubits[q0 + i]
        b = ((b >> q) << (q + 1)) | (b & ((1 << q) - 1))
    return b


@njit(cache=True, fastmath=True)
def _offsets(qubits, q0, k, off):  # type: ignore[no-untyped-def]
    """``off[j]``: where local index ``j`` of a step on ``qubits[q0:q0 + k]`` sits in its group."""
    for j in range(1 << k):
        o = 0
        for i in range(k):
            if (j >> i) & 1:
                o |= 1 << qubits[q0 + i]
        off[j] = o


@njit(cache=True, fastmath=True)
def _operator(s, kind, k, cstart, istart, cdata, idata, theta, inverse, op, gen, col):  # type: ignore[no-untyped-def]
    """Fill ``op`` (``d x d``) with step ``s``'s operator at angle ``theta`` (or its inverse) and,
    for a rotating step filled as a matrix, ``gen`` with ``-i G``. A two-qubit dense or monomial
    step comes out as a matrix (:func:`_quads` then needs one loop); a wider step fills ``op`` only
    for dense kinds, or the first row with the diagonal of a diagonal kind (wider than
    :data:`DIAGONAL_PASS_MAX_QUBITS`: narrower diagonals, like Pauli strings, never get here); a
    general Pauli-type rotation (always handled by :func:`_apply`) fills nothing. For a two-qubit
    monomial, ``col[i]`` is the column of row ``i``'s one nonzero, and the result is ``True``.
    (One-qubit steps always run in groups, whose operators :func:`_step_operators` builds.)"""
    d = 1 << k
    c0, i0 = cstart[s], istart[s]
    dense_form = k <= 2
    if dense_form or kind == FIXED_DENSE or kind == ROT_DENSE:
        for i in range(d):
            for j in range(d):
                op[i, j] = 0j
                gen[i, j] = 0j
    sign = 1.0 if inverse else -1.0
    if kind == FIXED_DENSE:
        for i in range(d):
            for j in range(d):
                op[i, j] = np.conj(cdata[c0 + j * d + i]) if inverse else cdata[c0 + i * d + j]
    elif kind == FIXED_DIAGONAL or kind == ROT_DIAGONAL:  # wider than _diagonal_pass takes
        for i in range(d):
            if kind == ROT_DIAGONAL:
                x = sign * theta * cdata[c0 + i].real
                op[0, i] = complex(np.cos(x), np.sin(x))
            else:
                op[0, i] = np.conj(cdata[c0 + i]) if inverse else cdata[c0 + i]
    elif kind == ROT_DENSE:  # sum_e exp(-i theta lambda_e) P_e (inverse: exp(+i ...))
        for e in range(d):
            x = sign * theta * cdata[c0 + d * d * d + e].real
            z = complex(np.cos(x), np.sin(x))
            p0 = c0 + e * d * d
            for i in range(d):
                for j in range(d):
                    op[i, j] += z * cdata[p0 + i * d + j]
        g0 = c0 + d * d * d + d
        for i in range(d):
            for j in range(d):
                gen[i, j] = cdata[g0 + i * d + j]
    elif dense_form and kind == FIXED_MONOMIAL:  # as a matrix
        for j in range(d):
            p = idata[i0 + j]
            if inverse:  # old[j] = conj(phase[j]) new[perm[j]]
                op[j, p] = np.conj(cdata[c0 + j])
                col[j] = p
            else:
                op[p, j] = cdata[c0 + j]
                col[p] = j
    return dense_form and kind == FIXED_MONOMIAL


_ONE, _TWO = np.uint64(1), np.uint64(2)
"""Pair loops index with ``uint64``: numba then skips its negative-index wraparound check, the
branch that kept LLVM from vectorizing them (2-2.5x slower per pass on 256 amplitudes)."""


@njit(cache=True, fastmath=True)
def _pair(psi, i, k, m00, m01, m10, m11):  # type: ignore[no-untyped-def]
    """``(psi[i], psi[k]) <- m (psi[i], psi[k])``."""
    a, b = psi[i], psi[k]
    psi[i] = m00 * a + m01 * b
    psi[k] = m10 * a + m11 * b


@njit(cache=True, fastmath=True)
def _pairs(psi, q, m00, m01, m10, m11):  # type: ignore[no-untyped-def]
    """The one-qubit operator ``m`` on qubit ``q`` of ``psi``, in place, in one pass over the
    amplitude pairs (qubits 0 and 1 unrolled: their inner loops would run once or twice)."""
    h = np.uint64(psi.shape[0]) >> _ONE
    if q == 0:
        for b in range(h):
            i = np.uint64(b) << _ONE
            _pair(psi, i, i + _ONE, m00, m01, m10, m11)
    elif q == 1:
        for b in range(h >> _ONE):
            i = np.uint64(b) << _TWO
            _pair(psi, i, i + _TWO, m00, m01, m10, m11)
            _pair(psi, i + _ONE, i + np.uint64(3), m00, m01, m10, m11)
    elif q == 2:  # one loop over the pairs, the zero bit inserted (the blocked loop ran 1.4x slower)
        for k in range(h):
            i = np.uint64(k) + (np.uint64(k) & ~np.uint64(3))
            _pair(psi, i, i + np.uint64(4), m00, m01, m10, m11)
    else:
        _pairs_wide(psi, _ONE << np.uint64(q), m00, m01, m10, m11)


@njit(cache=True, fastmath=True)
def _pairs_wide(psi, stride, m00, m01, m10, m11):  # type: ignore[no-untyped-def]
    """:func:`_pairs` for a ``stride`` (``uint64``) of at least 8: contiguous inner loops."""
    for block in range(np.uint64(psi.shape[0]) // (_TWO * stride)):
        start = np.uint64(block) * _TWO * stride
        for j in range(stride):
            i = start + np.uint64(j)
            _pair(psi, i, i + stride, m00, m01, m10, m11)


@njit(cache=True, fastmath=True)
def _pairs_wide_share(psi, stride, m00, m01, m10, m11, j0, j1):  # type: ignore[no-untyped-def]
    """:func:`_pairs_wide` over ``j0 .. j1-1`` of each block's pairs only (a thread's share in
    :func:`run_wide`). Its own loop: with a range other than ``stride`` LLVM vectorized the pass
    2-2.5x worse (it no longer sees that the two halves of a pair cannot overlap)."""
    for block in range(np.uint64(psi.shape[0]) // (_TWO * stride)):
        start = np.uint64(block) * _TWO * stride + np.uint64(j0)
        for j in range(np.uint64(j1) - np.uint64(j0)):
            i = start + np.uint64(j)
            _pair(psi, i, i + stride, m00, m01, m10, m11)


@njit(cache=True, fastmath=True)
def _quads(psi, lam, lo, hi, op, gen, want, col, sparse):  # type: ignore[no-untyped-def]
    """As :func:`_pairs` for a two-qubit step on qubits ``lo < hi`` (``op`` 4 x 4; when ``sparse``,
    row ``r`` has its one nonzero in column ``col[r]``)."""
    return _quads_share(psi, lam, lo, hi, op, gen, want, col, sparse, 0, 1)


@njit(cache=True, fastmath=True)
def _quads_share(psi, lam, lo, hi, op, gen, want, col, sparse, share, shares):  # type: ignore[no-untyped-def]
    """:func:`_quads` on share ``share`` of ``shares`` of the quads (a wide state's pass cut over
    threads); returns that share of ``Re <lam| gen |psi>`` (``want``). The quad's work stays in
    this one loop with its scratch ``v``, ``w``, ``idx``: as a function of its own (even inlined)
    or with scalars instead of the scratch, the pass ran 4-6x slower."""
    s0, s1 = 1 << lo, 1 << hi
    back = lam.shape[0] > 0
    acc = 0.0
    v = np.empty(4, dtype=psi.dtype)
    w = np.empty(4, dtype=psi.dtype)
    idx = np.empty(4, dtype=np.int64)
    quads = psi.shape[0] >> 2
    for g in range(quads * share // shares, quads * (share + 1) // shares):
        i = ((g >> lo) << (lo + 1)) | (g & (s0 - 1))  # a zero bit inserted at lo, then at hi
        i = ((i >> hi) << (hi + 1)) | (i & (s1 - 1))
        idx[0], idx[1], idx[2], idx[3] = i, i + s0, i + s1, i + s0 + s1
        for r in range(4):
            v[r] = psi[idx[r]]
        if back:
            for r in range(4):
                w[r] = lam[idx[r]]
        if sparse:
            for r in range(4):
                c = col[r]
                psi[idx[r]] = op[r, c] * v[c]
                if back:
                    if want:
                        acc += (np.conj(w[r]) * gen[r, c] * v[c]).real
                    lam[idx[r]] = op[r, c] * w[c]
            continue
        for r in range(4):
            psi[idx[r]] = op[r, 0] * v[0] + op[r, 1] * v[1] + op[r, 2] * v[2] + op[r, 3] * v[3]
            if back:
                if want:
                    acc += (np.conj(w[r]) * (gen[r, 0] * v[0] + gen[r, 1] * v[1] + gen[r, 2] * v[2]
                                             + gen[r, 3] * v[3])).real
                lam[idx[r]] = op[r, 0] * w[0] + op[r, 1] * w[1] + op[r, 2] * w[2] + op[r, 3] * w[3]
    return acc


DIAGONAL_PASS_MAX_QUBITS = 4
"""Widest diagonal step applied in one pass by :func:`_diagonal_pass` (its ``2**k`` entries per
call); wider ones go through the generic :func:`_apply`."""


@njit(cache=True, fastmath=True, inline="always")
def _local_index(j, a, b, c, d, k):  # type: ignore[no-untyped-def]
    """The local basis index of amplitude ``j`` on the ``k`` qubits ``a < b < c < d`` (``uint64``;
    63, a bit no state has, for absent ones): fixed terms, no loop over the qubits (as a loop it
    made QAOA's tape 1.2-1.5x slower), two of them for two qubits (four: 1.4x slower there)."""
    if k == 2:
        return ((j >> a) & _ONE) | (((j >> b) & _ONE) << _ONE)
    return ((j >> a) & _ONE) | (((j >> b) & _ONE) << _ONE) | (((j >> c) & _ONE) << _TWO) | \
        (((j >> d) & _ONE) << np.uint64(3))


@njit(cache=True, fastmath=True, inline="always")
def _step_bits(qubits, q0, k):  # type: ignore[no-untyped-def]
    """A step's (up to four) qubits for :func:`_local_index`, absent ones as bit 63."""
    a = np.uint64(qubits[q0])
    b = np.uint64(qubits[q0 + 1]) if k > 1 else np.uint64(63)
    c = np.uint64(qubits[q0 + 2]) if k > 2 else np.uint64(63)
    d = np.uint64(qubits[q0 + 3]) if k > 3 else np.uint64(63)
    return a, b, c, d


@njit(cache=True, fastmath=True)
def _diagonal_pass(psi, lam, qubits, q0, k, rotating, cdata, c0, theta, inverse, want, j0, j1):  # type: ignore[no-untyped-def]
    """A diagonal step on ``2 <= k <=`` :data:`DIAGONAL_PASS_MAX_QUBITS` ascending qubits
    ``qubits[q0:q0 + k]`` (``rzz``, ``cz``, ``cp``, ``crz``, Z-string rotations, fixed diagonals)
    on ``psi`` in place, and on ``lam`` when it has rows, its ``2**k`` entries at ``cdata[c0:]``
    (a rotation's generator diagonal, or the fixed entries), over the amplitudes ``j0 .. j1-1``;
    first, when ``want``, returns their share of ``Re <lam| -i G |psi>``. One pass multiplying each
    amplitude by its entry: the generic paths (gathers through index tables) took 6-7 ns an
    amplitude, QAOA's ``rzz`` ~90% of its time. With the lowest qubit at 2 or above, and ``j0``,
    ``j1`` on stretches of ``2**lo`` amplitudes (a whole state, or a wide state's share), each
    stretch is one entry times a contiguous run."""
    sign = 1.0 if inverse else -1.0
    d = np.empty(1 << k, dtype=psi.dtype)
    for r in range(1 << k):
        if rotating:
            x = sign * theta * cdata[c0 + r].real
            d[r] = complex(np.cos(x), np.sin(x))
        else:
            d[r] = np.conj(cdata[c0 + r]) if inverse else cdata[c0 + r]
    back = lam.shape[0] > 0
    acc = 0.0
    qa, qb, qc, qd = _step_bits(qubits, q0, k)
    L = qa
    if qa >= 2 and ((np.uint64(j0) | np.uint64(j1)) & ((_ONE << L) - _ONE)) == 0:  # stretches share an entry
        for stretch in range(np.uint64(j0) >> L, np.uint64(j1) >> L):
            start = np.uint64(stretch) << L
            r = np.int64(_local_index(start, qa, qb, qc, qd, k))  # int64: with uint64, c0 + r is a float
            z = d[r]
            if back:
                g = cdata[c0 + r].real
                for i in range(_ONE << L):
                    j = start + np.uint64(i)
                    if want:
                        acc += g * (np.conj(lam[j]) * psi[j]).imag  # Re(conj(l) (-i g) p)
                    psi[j] = z * psi[j]
                    lam[j] = z * lam[j]
            else:
                for i in range(_ONE << L):
                    j = start + np.uint64(i)
                    psi[j] = z * psi[j]
        return acc
    first = np.uint64(j0)
    for t in range(np.uint64(j1) - first):  # each amplitude's entry from its bits
        j = first + np.uint64(t)
        r = _local_index(j, qa, qb, qc, qd, k)
        if back:
            if want:
                acc += cdata[c0 + np.int64(r)].real * (np.conj(lam[j]) * psi[j]).imag
            lam[j] = d[r] * lam[j]
        psi[j] = d[r] * psi[j]
    return acc


@njit(cache=True, fastmath=True)
def _streamed_step(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want, share,
                   shares):  # type: ignore[no-untyped-def]
    """Share ``share`` of ``shares`` of a step that streams (a Pauli string, or a diagonal of
    :func:`_diagonal_pass`): its part of the pass over ``psi`` (and ``lam``) and of the generator term."""
    c0 = cstart[s]
    if kind == ROT_PAULI_STRING:
        i0 = istart[s]
        h = psi.shape[0] >> 1
        return _pauli_string(psi, lam, idata[i0], idata[i0 + 1], idata[i0 + 2], cdata[c0], cdata[c0 + 1].real * theta,
                             cdata[c0 + 1].real, inverse, want, h * share // shares, h * (share + 1) // shares)
    N = psi.shape[0]
    return _diagonal_pass(psi, lam, qubits, q0, k, kind == ROT_DIAGONAL, cdata, c0, theta, inverse, want,
                          N * share // shares, N * (share + 1) // shares)


@njit(cache=True, fastmath=True)
def _step(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want, op, gen, v, off,
          col):  # type: ignore[no-untyped-def]
    """Apply step ``s`` (or its inverse) to ``psi`` in place, and to ``lam`` when it has rows,
    after accumulating ``Re <lam| -i G |psi>`` of a rotating step (``want``); returns that sum."""
    if kind == ROT_PAULI_STRING or k <= DIAGONAL_PASS_MAX_QUBITS and (kind == ROT_DIAGONAL or kind == FIXED_DIAGONAL):
        return _streamed_step(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want,
                              0, 1)
    sparse = _operator(s, kind, k, cstart, istart, cdata, idata, theta, inverse, op, gen, col)
    if k == 2 and kind != ROT_PAULI:
        return _quads(psi, lam, qubits[q0], qubits[q0 + 1], op, gen, want, col, sparse)
    acc = 0.0
    if lam.shape[0] > 0 and want:
        acc = _generator_inner(lam, psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, off)
    _apply(psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, op, v, off)
    if lam.shape[0] > 0:
        _apply(lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, op, v, off)
    return acc


@njit(cache=True, fastmath=True)
def _parity(v):  # type: ignore[no-untyped-def]
    """``popcount(v) mod 2`` of a ``uint64``, by folding."""
    for shift in (32, 16, 8, 4, 2, 1):
        v ^= v >> np.uint64(shift)
    return v & _ONE


@njit(cache=True, fastmath=True)
def _pauli_string(psi, lam, xmask, zmask, high, c, x, g, inverse, want, t0, t1):  # type: ignore[no-untyped-def]
    """``exp(-i x M)`` (or its inverse) on ``psi`` in place, and on ``lam`` when it has rows, for
    ``M |j> = c (-1)**|j & z| |j ^ x>``; first, when ``want``, ``Re <lam| -i g M |psi>``, returned.
    One pass over the pairs ``(i, i ^ x)``, ``i`` running over the indices whose bit ``high`` (the
    highest of ``x``) is zero: pairs ``t0 .. t1-1`` of them."""
    a = np.cos(x)
    b = complex(0.0, np.sin(x) if inverse else -np.sin(x))
    X, Z = np.uint64(xmask), np.uint64(zmask)
    h = np.uint64(high)
    low = (_ONE << h) - _ONE
    back = lam.shape[0] > 0
    flip = -1.0 if _parity(X & Z) else 1.0  # parity(k & z) = parity(i & z) ^ parity(x & z)
    acc = 0j
    first = np.uint64(t0)
    for t in range(np.uint64(t1) - first):  # counted from zero (see _pairs_wide_share)
        u = first + np.uint64(t)
        i = ((u >> h) << (h + _ONE)) | (u & low)
        k = i ^ X
        ci = c if _parity(i & Z) == 0 else -c  # M |i> = ci |k>
        ck = flip * ci
        pi, pk = psi[i], psi[k]
        if back:
            li, lk = lam[i], lam[k]
            if want:
                acc += np.conj(li) * ck * pk + np.conj(lk) * ci * pi
            lam[i] = a * li + b * ck * lk
            lam[k] = a * lk + b * ci * li
        psi[i] = a * pi + b * ck * pk
        psi[k] = a * pk + b * ci * pi
    return (acc * complex(0.0, -g)).real


@njit(cache=True, fastmath=True)
def _apply(psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, op, v, off):  # type: ignore[no-untyped-def]
    """Apply step ``s`` (or its inverse) to the 1-D state ``psi`` in place, a group of ``2**k``
    amplitudes at a time (the generic path, used from three qubits on); ``op`` as
    :func:`_operator` filled it."""
    N = psi.shape[0]
    d = 1 << k
    _offsets(qubits, q0, k, off)
    c0, i0 = cstart[s], istart[s]
    a = b = 0j
    if kind == ROT_PAULI:
        x = theta * cdata[c0 + d].real
        a = complex(np.cos(x), 0.0)
        b = complex(0.0, np.sin(x) if inverse else -np.sin(x))
    for g in range(N >> k):
        base = _base(g, qubits, q0, k)
        for j in range(d):
            v[j] = psi[base + off[j]]
        if kind == FIXED_DENSE or kind == ROT_DENSE:
            for i in range(d):
                acc = 0j
                for j in range(d):
                    acc += op[i, j] * v[j]
                psi[base + off[i]] = acc
        elif kind == FIXED_DIAGONAL or kind == ROT_DIAGONAL:
            for j in range(d):
                psi[base + off[j]] = op[0, j] * v[j]
        elif kind == FIXED_MONOMIAL:
            for j in range(d):
                p = idata[i0 + j]
                if inverse:  # old[j] = conj(phase[j]) new[perm[j]]
                    psi[base + off[j]] = np.conj(cdata[c0 + j]) * v[p]
                else:
                    psi[base + off[p]] = cdata[c0 + j] * v[j]
        else:  # ROT_PAULI: a v + b M v
            for j in range(d):
                psi[base + off[j]] = a * v[j]
            for j in range(d):
                p = idata[i0 + j]
                psi[base + off[p]] += b * cdata[c0 + j] * v[j]


@njit(cache=True, fastmath=True)
def _generator_inner(lam, psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, off):  # type: ignore[no-untyped-def]
    """``Re <lam| -i G |psi>`` on step ``s``'s qubits (a rotating step, ``G`` its generator)."""
    N = psi.shape[0]
    d = 1 << k
    _offsets(qubits, q0, k, off)
    c0, i0 = cstart[s], istart[s]
    acc = 0j
    for g in range(N >> k):
        base = _base(g, qubits, q0, k)
        if kind == ROT_DENSE:
            a0 = c0 + d * d * d + d  # -i G, row-major
            for i in range(d):
                li = np.conj(lam[base + off[i]])
                for j in range(d):
                    acc += li * cdata[a0 + i * d + j] * psi[base + off[j]]
        elif kind == ROT_DIAGONAL:
            for j in range(d):
                acc += np.conj(lam[base + off[j]]) * complex(0.0, -cdata[c0 + j].real) * psi[base + off[j]]
        else:  # ROT_PAULI: -i g M
            for j in range(d):
                p = idata[i0 + j]
                acc += np.conj(lam[base + off[p]]) * cdata[c0 + j] * psi[base + off[j]]
    if kind == ROT_PAULI:
        acc *= complex(0.0, -cdata[c0 + d].real)
    return acc.real


@njit(cache=True, fastmath=True)
def _step_operators(a, kind, qstart, cstart, istart, cdata, idata, slot, ops):  # type: ignore[no-untyped-def]
    """``ops[s]``: the 2 x 2 operator of every one-qubit step ``s`` at the angles ``a`` (rows
    ``(m00, m01, m10, m11)``), built in one loop before the passes: inside the group walk the
    same operators and run products took 2.3x as long (8-qubit rows; register pressure)."""
    for s in range(kind.shape[0]):
        if qstart[s + 1] - qstart[s] == 1:
            theta = a[slot[s]] if slot[s] >= 0 else 0.0
            ops[s, 0], ops[s, 1], ops[s, 2], ops[s, 3] = _one_qubit(s, kind[s], cstart, istart, cdata, idata, theta)


@njit(cache=True, fastmath=True, inline="always")
def _run_product(ops, s0, s1):  # type: ignore[no-untyped-def]
    """The product of the operators ``ops[s0 .. s1-1]`` of a run (the last leftmost) as four scalars."""
    a, b, c, d = ops[s0, 0], ops[s0, 1], ops[s0, 2], ops[s0, 3]
    for s in range(s0 + 1, s1):
        u00, u01, u10, u11 = ops[s, 0], ops[s, 1], ops[s, 2], ops[s, 3]
        a, b, c, d = u00 * a + u01 * c, u00 * b + u01 * d, u10 * a + u11 * c, u10 * b + u11 * d
    return a, b, c, d


@njit(cache=True, fastmath=True, inline="always")
def _one_qubit(s, kind, cstart, istart, cdata, idata, theta):  # type: ignore[no-untyped-def]
    """A one-qubit step's operator as four scalars, row-major."""
    z0 = z1 = 1.0 + 0j
    if kind == ROT_DIAGONAL or kind == ROT_DENSE:
        l0, l1 = _one_qubit_eigenvalues(s, kind, cstart, cdata)
        z0, z1 = _phases(theta, l0, l1)
    return _one_qubit_at(s, kind, cstart, istart, cdata, idata, z0, z1)


@njit(cache=True, fastmath=True, inline="always")
def _one_qubit_eigenvalues(s, kind, cstart, cdata):  # type: ignore[no-untyped-def]
    """A rotating one-qubit step's two generator eigenvalues ``l0, l1``."""
    c0 = cstart[s] + (0 if kind == ROT_DIAGONAL else 8)
    return cdata[c0].real, cdata[c0 + 1].real


@njit(cache=True, fastmath=True, inline="always")
def _one_qubit_at(s, kind, cstart, istart, cdata, idata, z0, z1):  # type: ignore[no-untyped-def]
    """A one-qubit step's operator as four scalars, row-major, given a rotating step's phases
    ``z0, z1 = exp(-i theta l0), exp(-i theta l1)`` (unused by fixed steps)."""
    c0 = cstart[s]
    zero = 0j
    if kind == FIXED_DENSE:
        return cdata[c0], cdata[c0 + 1], cdata[c0 + 2], cdata[c0 + 3]
    if kind == FIXED_DIAGONAL:
        return cdata[c0], zero, zero, cdata[c0 + 1]
    if kind == FIXED_MONOMIAL:  # new[perm[j]] = phase[j] old[j]
        if idata[istart[s]] == 0:
            return cdata[c0], zero, zero, cdata[c0 + 1]
        return zero, cdata[c0 + 1], cdata[c0], zero
    if kind == ROT_DIAGONAL:
        return z0, zero, zero, z1
    # ROT_DENSE: sum_e exp(-i theta lambda_e) P_e
    return (z0 * cdata[c0] + z1 * cdata[c0 + 4], z0 * cdata[c0 + 1] + z1 * cdata[c0 + 5],
            z0 * cdata[c0 + 2] + z1 * cdata[c0 + 6], z0 * cdata[c0 + 3] + z1 * cdata[c0 + 7])


@njit(cache=True, fastmath=True, inline="always")
def _one_qubit_generator(s, kind, cstart, cdata):  # type: ignore[no-untyped-def]
    """A rotating one-qubit step's ``-i G`` as four scalars, row-major."""
    c0 = cstart[s]
    if kind == ROT_DIAGONAL:
        return complex(0.0, -cdata[c0].real), 0j, 0j, complex(0.0, -cdata[c0 + 1].real)
    return cdata[c0 + 10], cdata[c0 + 11], cdata[c0 + 12], cdata[c0 + 13]  # ROT_DENSE


@njit(cache=True, fastmath=True, inline="always")
def _phases(theta, l0, l1):  # type: ignore[no-untyped-def]
    """``exp(-i theta l0), exp(-i theta l1)`` with one cosine and sine where the eigenvalues are
    opposite (every Pauli rotation) or one is zero (a phase gate): trigonometry was half the
    forward pass of an 8-qubit circuit."""
    z0 = complex(np.cos(theta * l0), -np.sin(theta * l0)) if l0 != 0.0 else 1.0 + 0j
    if l1 == -l0:
        return z0, np.conj(z0)
    if l1 == 0.0:
        return z0, 1.0 + 0j
    return z0, complex(np.cos(theta * l1), -np.sin(theta * l1))


@njit(cache=True, fastmath=True)
def _copy(x, scratch, i0, i1):  # type: ignore[no-untyped-def]
    """``scratch[i0:i1] = x[i0:i1]`` (a loop: the slice assignment's broadcast checks took 4-5 s
    to compile)."""
    for i in range(np.uint64(i1) - np.uint64(i0)):
        j = np.uint64(i0) + np.uint64(i)
        scratch[j] = x[j]


@njit(cache=True, fastmath=True)
def _permute(x, scratch, idata, i0, cdata, c0, inverse):  # type: ignore[no-untyped-def]
    """A monomial on the whole state, in place: ``new[perm[i]] = phases[i] old[i]`` (or its
    inverse), ``perm`` at ``idata[i0:]``, ``phases`` at ``cdata[c0:]``, or all ones when ``c0`` is
    negative (a CNOT chain: no multiplies). Offsets, not slices: a slice is an array object,
    counted in and out of memory management at each call."""
    _copy(x, scratch, 0, x.shape[0])
    if c0 < 0 and inverse:
        for i in range(x.shape[0]):
            x[i] = scratch[np.uint64(idata[i0 + i])]
    elif c0 < 0:
        for i in range(x.shape[0]):
            x[np.uint64(idata[i0 + i])] = scratch[i]
    elif inverse:
        for i in range(x.shape[0]):
            x[i] = np.conj(cdata[c0 + i]) * scratch[np.uint64(idata[i0 + i])]
    else:
        for i in range(x.shape[0]):
            x[np.uint64(idata[i0 + i])] = cdata[c0 + i] * scratch[i]


@njit(cache=True, fastmath=True)
def _permute_affine(x, scratch, idata, i0, inverse):  # type: ignore[no-untyped-def]
    """A phase-free affine permutation of the whole state (CNOTs, SWAPs, X), in place through
    ``scratch``: ``new[A j ^ b] = old[j]`` (or its inverse). ``A j ^ b = top[j >> h] ^
    low[j & (2**h - 1)]``: the two tables follow ``h`` at ``idata[i0:]`` (``2**h`` and
    ``2**(n - h)`` entries, about ``2**(n/2)`` each, where a table of the whole map holds ``2**n``:
    8 MiB a group at n = 20)."""
    _copy(x, scratch, 0, x.shape[0])
    _affine_share(x, scratch, idata, i0, inverse, 0, x.shape[0] >> idata[i0])


@njit(cache=True, fastmath=True)
def _affine_share(x, scratch, idata, i0, inverse, u0, u1):  # type: ignore[no-untyped-def]
    """:func:`_permute_affine` after the copy, over the indices ``j`` whose top bits ``j >> h``
    run over ``u0 .. u1-1`` only."""
    h = np.uint64(idata[i0])
    L = _ONE << h
    low = np.uint64(i0) + _ONE
    top = low + L
    for t in range(np.uint64(u1) - np.uint64(u0)):
        u = np.uint64(u0) + np.uint64(t)
        image = np.uint64(idata[top + u])
        base = u << h
        if inverse:
            for l in range(L):
                x[base + np.uint64(l)] = scratch[image ^ np.uint64(idata[low + np.uint64(l)])]
        else:
            for l in range(L):
                x[image ^ np.uint64(idata[low + np.uint64(l)])] = scratch[base + np.uint64(l)]


@njit(cache=True, fastmath=True)
def _permutes(gkind):  # type: ignore[no-untyped-def]
    """Whether any group is a whole-state permutation (the rows then need a state of scratch)."""
    for g in range(gkind.shape[0]):
        if gkind[g] == GROUP_PERMUTATION or gkind[g] == GROUP_AFFINE:
            return True
    return False


@njit(cache=True, fastmath=True)
def _workspace(state, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata, idata, dmax,  # type: ignore[no-untyped-def]
               mmax):
    """The scratch arrays of a row of ``state`` ``(B, 2**n)``, made once per call or block of rows
    and reused row after row (eight allocations a row cost ~0.7 us, 4-5% of an 8-qubit row):
    ``(op, gen, v, off, col, scratch, ops, y, none)``: a step's matrix (or a wide diagonal's first
    row) and generator, a vector and two index vectors of :func:`_step`, a state of scratch for
    whole-state permutations (empty without them), the one-qubit operators ``(S, 4)``, a run's
    2 x 2 cross matrix, and an empty state (the forward's missing cotangent)."""
    dtype = state.dtype
    return (np.zeros((mmax, dmax), dtype=dtype), np.zeros((mmax, mmax), dtype=dtype), np.zeros(dmax, dtype=dtype),
            np.zeros(dmax, dtype=np.int64), np.zeros(dmax, dtype=np.int64),
            np.zeros(state.shape[1] if _permutes(gkind) else 0, dtype=dtype),
            np.empty((kind.shape[0], 4), dtype=dtype), np.zeros(4, dtype=dtype), np.zeros(0, dtype=dtype))


@njit(cache=True, fastmath=True)
def _run_row(x, a, work, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata, idata,  # type: ignore[no-untyped-def]
             dmax, mmax):
    """Apply every group of steps to the state ``x`` ``(2**n,)`` in place, angles ``a`` ``(S,)``,
    scratch arrays ``work`` (:func:`_workspace`)."""
    op, gen, v, off, col, scratch, ops, _, none = work
    no = none.shape[0] > 0  # False, as a run-time bool: literal flags compiled _step twice (~5 s)
    _step_operators(a, kind, qstart, cstart, istart, cdata, idata, slot, ops)
    for g in range(gkind.shape[0]):
        s0, s1 = gstart[g], gstart[g + 1]
        if gkind[g] == GROUP_RUN:
            m00, m01, m10, m11 = _run_product(ops, s0, s1)
            _pairs(x, qubits[qstart[s0]], m00, m01, m10, m11)
        elif gkind[g] == GROUP_PERMUTATION:
            _permute(x, scratch, idata, gi[g], cdata, gc[g], False)
        elif gkind[g] == GROUP_AFFINE:
            _permute_affine(x, scratch, idata, gi[g], False)
        else:
            theta = a[slot[s0]] if slot[s0] >= 0 else 0.0
            _step(x, none, s0, kind[s0], qubits, qstart[s0], qstart[s0 + 1] - qstart[s0], cstart, istart,
                  cdata, idata, theta, no, no, op, gen, v, off, col)


@njit(cache=True, fastmath=True)
def _sweep_row(p, q, a, grad, work, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata,  # type: ignore[no-untyped-def]
               idata, dmax, mmax):
    """The adjoint sweep of one row, in place: the final state ``p`` and its cotangent ``q`` walk
    back through the groups; ``grad`` ``(S,)`` receives ``Re <q_out| -i G |p_out>`` of every
    rotating step at its slot. A run records the 2 x 2 cross matrix ``Y = sum q p^H`` after it and
    walks it back through its steps (``Y <- U^H Y U``), each step's term being ``Re sum conj(Y) (-i G)``.
    Scratch arrays: ``work`` (:func:`_workspace`)."""
    N = p.shape[0]
    op, gen, v, off, col, scratch, ops, y, _ = work
    _step_operators(a, kind, qstart, cstart, istart, cdata, idata, slot, ops)
    for g in range(gkind.shape[0] - 1, -1, -1):
        s0, s1 = gstart[g], gstart[g + 1]
        if gkind[g] == GROUP_RUN:
            m00, m01, m10, m11 = _run_product(ops, s0, s1)
            _cross_pairs(p, q, qubits[qstart[s0]], np.conj(m00), np.conj(m10), np.conj(m01), np.conj(m11), y)
            _run_gradient(y, ops, s0, s1, kind, cstart, cdata, slot, grad)
        elif gkind[g] == GROUP_PERMUTATION:
            _permute(p, scratch, idata, gi[g], cdata, gc[g], True)
            _permute(q, scratch, idata, gi[g], cdata, gc[g], True)
        elif gkind[g] == GROUP_AFFINE:
            _permute_affine(p, scratch, idata, gi[g], True)
            _permute_affine(q, scratch, idata, gi[g], True)
        else:
            rotating = slot[s0] >= 0
            theta = a[slot[s0]] if rotating else 0.0
            t = _step(p, q, s0, kind[s0], qubits, qstart[s0], qstart[s0 + 1] - qstart[s0], cstart,
                      istart, cdata, idata, theta, N > 0, rotating, op, gen, v, off, col)
            if rotating:
                grad[slot[s0]] += t


@njit(cache=True, fastmath=True)
def _run_gradient(y, ops, s0, s1, kind, cstart, cdata, slot, grad):  # type: ignore[no-untyped-def]
    """The gradient of each rotating step of a run (steps ``s0 .. s1-1``, operators in ``ops``)
    from the cross matrix ``y`` after the run, walked back through it (``y`` is overwritten):
    ``Re sum conj(y) (-i G)`` of each step, then ``y <- U^H y U``."""
    for s in range(s1 - 1, s0 - 1, -1):
        if slot[s] >= 0:
            g0, g1, g2, g3 = _one_qubit_generator(s, kind[s], cstart, cdata)
            grad[slot[s]] += (np.conj(y[0]) * g0 + np.conj(y[1]) * g1 + np.conj(y[2]) * g2 + np.conj(y[3]) * g3).real
        if s > s0:
            _conjugate_by(y, ops, s)


@njit(cache=True, fastmath=True)
def _initial_row(initial, r):  # type: ignore[no-untyped-def]
    """Row ``r``'s initial state in ``initial`` ``(Bi, 2**n)``: ``Bi`` 1 (every row starts from
    it) or ``B``."""
    return initial[0 if initial.shape[0] == 1 else r]


@njit(cache=True, fastmath=True)
def run(state, initial, angles, *tape):  # type: ignore[no-untyped-def]
    """Each row of ``state`` ``(B, 2**n)`` becomes its initial state (``initial`` ``(Bi, 2**n)``,
    read only: ``Bi`` 1 shared by every row, or ``B``), then goes through every group of steps in
    place. The copy runs row by row in the kernel, so a batch that starts from one state needs
    neither a batch-sized initial tensor nor a working copy of one."""
    shared = angles.shape[0] == 1
    work = _workspace(state, *tape)
    for r in range(state.shape[0]):
        _copy(_initial_row(initial, r), state[r], 0, state.shape[1])
        _run_row(state[r], angles[0 if shared else r], work, *tape)


ROW_BLOCKS = 64
"""Blocks the rows of a threaded row kernel are cut into, each with its own :func:`_workspace` (a
fixed count: asking numba for its thread count made a function impossible to cache)."""


@njit(cache=True, fastmath=True, parallel=True)
def run_rows(state, initial, angles, *tape):  # type: ignore[no-untyped-def]
    """As :func:`run`, the rows spread over threads in up to :data:`ROW_BLOCKS` blocks."""
    shared = angles.shape[0] == 1
    B = state.shape[0]
    blocks = min(B, ROW_BLOCKS)
    for t in prange(blocks):
        work = _workspace(state, *tape)
        for r in range(np.int64(t) * B // blocks, (np.int64(t) + 1) * B // blocks):
            _copy(_initial_row(initial, r), state[r], 0, state.shape[1])
            _run_row(state[r], angles[0 if shared else r], work, *tape)


@njit(cache=True, fastmath=True)
def sweep(psi, lam, angles, grad, *tape):  # type: ignore[no-untyped-def]
    """The adjoint sweep of every row, in place (:func:`_sweep_row`); ``grad`` ``(Ba, S)`` sums
    the rows when the angles are shared (``Ba == 1``)."""
    shared = angles.shape[0] == 1
    work = _workspace(psi, *tape)
    for r in range(psi.shape[0]):
        a = 0 if shared else r
        _sweep_row(psi[r], lam[r], angles[a], grad[a], work, *tape)


@njit(cache=True, fastmath=True, parallel=True)
def sweep_rows(psi, lam, angles, grad, *tape):  # type: ignore[no-untyped-def]
    """As :func:`sweep`, the rows spread over threads in up to :data:`ROW_BLOCKS` blocks; with
    shared angles each block sums into its own gradient row, added up at the end."""
    shared = angles.shape[0] == 1
    B = psi.shape[0]
    blocks = min(B, ROW_BLOCKS)
    partial = np.zeros((blocks if shared else 0, grad.shape[1]))
    for t in prange(blocks):
        work = _workspace(psi, *tape)
        for r in range(np.int64(t) * B // blocks, (np.int64(t) + 1) * B // blocks):
            if shared:
                _sweep_row(psi[r], lam[r], angles[0], partial[t], work, *tape)
            else:
                _sweep_row(psi[r], lam[r], angles[r], grad[r], work, *tape)
    for t in range(partial.shape[0]):
        for s in range(grad.shape[1]):
            grad[0, s] += partial[t, s]


@njit(cache=True, fastmath=True)
def _conjugate_by(y, ops, j):  # type: ignore[no-untyped-def]
    """``y <- u^H y u`` for ``u = ops[j]``, 2 x 2 matrices stored as rows ``(m00, m01, m10, m11)``."""
    u0, u1, u2, u3 = ops[j, 0], ops[j, 1], ops[j, 2], ops[j, 3]
    t00 = y[0] * u0 + y[1] * u2
    t01 = y[0] * u1 + y[1] * u3
    t10 = y[2] * u0 + y[3] * u2
    t11 = y[2] * u1 + y[3] * u3
    a, b, c, d = np.conj(u0), np.conj(u2), np.conj(u1), np.conj(u3)
    y[0], y[1] = a * t00 + b * t10, a * t01 + b * t11
    y[2], y[3] = c * t00 + d * t10, c * t01 + d * t11


@njit(cache=True, fastmath=True)
def _cross_pair(psi, lam, i, k, m00, m01, m10, m11, y00, y01, y10, y11):  # type: ignore[no-untyped-def]
    """One pair of :func:`_cross_pairs`: its terms added to ``y``, then ``m`` applied to both states."""
    a, b = psi[i], psi[k]
    la, lb = lam[i], lam[k]
    ca, cb = np.conj(a), np.conj(b)
    psi[i] = m00 * a + m01 * b
    psi[k] = m10 * a + m11 * b
    lam[i] = m00 * la + m01 * lb
    lam[k] = m10 * la + m11 * lb
    return y00 + la * ca, y01 + la * cb, y10 + lb * ca, y11 + lb * cb


@njit(cache=True, fastmath=True)
def _cross_pairs(psi, lam, q, m00, m01, m10, m11, y):  # type: ignore[no-untyped-def]
    """``y = sum lam psi^H`` (rows ``(y00, y01, y10, y11)``) over the pairs of qubit ``q``, then
    the operator ``m`` applied to both (loops as :func:`_pairs`)."""
    h = np.uint64(psi.shape[0]) >> _ONE
    y00 = y01 = y10 = y11 = 0j
    if q == 0:
        for b in range(h):
            i = np.uint64(b) << _ONE
            y00, y01, y10, y11 = _cross_pair(psi, lam, i, i + _ONE, m00, m01, m10, m11, y00, y01, y10, y11)
    elif q == 1:
        for b in range(h >> _ONE):
            i = np.uint64(b) << _TWO
            y00, y01, y10, y11 = _cross_pair(psi, lam, i, i + _TWO, m00, m01, m10, m11, y00, y01, y10, y11)
            y00, y01, y10, y11 = _cross_pair(psi, lam, i + _ONE, i + np.uint64(3), m00, m01, m10, m11,
                                             y00, y01, y10, y11)
    else:
        y00, y01, y10, y11 = _cross_pairs_wide(psi, lam, _ONE << np.uint64(q), m00, m01, m10, m11)
    y[0], y[1], y[2], y[3] = y00, y01, y10, y11


@njit(cache=True, fastmath=True)
def _cross_pairs_wide(psi, lam, stride, m00, m01, m10, m11):  # type: ignore[no-untyped-def]
    """:func:`_cross_pairs` for a ``stride`` (``uint64``) of at least 4; returns ``y``'s entries."""
    y00 = y01 = y10 = y11 = 0j
    for block in range(np.uint64(psi.shape[0]) // (_TWO * stride)):
        start = np.uint64(block) * _TWO * stride
        for j in range(stride):
            i = start + np.uint64(j)
            y00, y01, y10, y11 = _cross_pair(psi, lam, i, i + stride, m00, m01, m10, m11, y00, y01, y10, y11)
    return y00, y01, y10, y11


@njit(cache=True, fastmath=True)
def _cross_pairs_wide_share(psi, lam, stride, m00, m01, m10, m11, j0, j1):  # type: ignore[no-untyped-def]
    """:func:`_cross_pairs_wide` over ``j0 .. j1-1`` of each block's pairs only (as
    :func:`_pairs_wide_share`); returns that share of ``y``'s entries."""
    y00 = y01 = y10 = y11 = 0j
    for block in range(np.uint64(psi.shape[0]) // (_TWO * stride)):
        start = np.uint64(block) * _TWO * stride + np.uint64(j0)
        for j in range(np.uint64(j1) - np.uint64(j0)):
            i = start + np.uint64(j)
            y00, y01, y10, y11 = _cross_pair(psi, lam, i, i + stride, m00, m01, m10, m11, y00, y01, y10, y11)
    return y00, y01, y10, y11


SHARES = 64
"""Pieces each pass over a wide state is cut into for the threads (:func:`run_wide`): a fixed
count (asking numba for its thread count makes a function impossible to cache)."""


@njit(cache=True, fastmath=True, inline="always")
def _dense_pair(kind, k):  # type: ignore[no-untyped-def]
    """Whether a step is a dense two-qubit operator (``cry``, ``crx``, ``ch``, a two-qubit
    ``unitary``): one pass over the quads of a wide state (:func:`_quads_share`)."""
    return k == 2 and (kind == ROT_DENSE or kind == FIXED_DENSE)


@njit(cache=True, fastmath=True)
def _streamed_piece(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want, piece,
                    size, bits, op, gen, col, sparse):  # type: ignore[no-untyped-def]
    """Piece ``piece`` (of :data:`SHARES`, ``size = 2**bits`` amplitudes each) of a step that
    streams: a diagonal below the pieces' top bit on its slice of the state (the stretched loops
    of :func:`_diagonal_pass`), a dense two-qubit step (its operator ``op``, generator ``gen``
    and ``col``, ``sparse`` from :func:`_operator`) as a share of its quads, any other as a
    share of the whole pass."""
    if _dense_pair(kind, k):
        return _quads_share(psi, lam, qubits[q0], qubits[q0 + 1], op, gen, want, col, sparse, piece, SHARES)
    if kind != ROT_PAULI_STRING and qubits[q0 + k - 1] < bits:
        lo, hi = piece * size, (piece + 1) * size
        return _diagonal_pass(psi[lo:hi], lam[lo:hi] if lam.shape[0] > 0 else lam, qubits, q0, k,
                              kind == ROT_DIAGONAL, cdata, cstart[s], theta, inverse, want, 0, size)
    return _streamed_step(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want, piece,
                          SHARES)


@njit(cache=True, fastmath=True)
def _pieces(N):  # type: ignore[no-untyped-def]
    """``(size, bits)`` of the :data:`SHARES` contiguous pieces of a ``N``-amplitude state."""
    size = N // SHARES
    bits = 0
    while (1 << bits) < size:
        bits += 1
    return size, bits


@njit(cache=True, fastmath=True, inline="always")
def _affine_image(j, idata, low, top, h, mask):  # type: ignore[no-untyped-def]
    """``A j ^ b`` from the two tables of :func:`_permute_affine` (``uint64`` throughout)."""
    return np.uint64(idata[top + (j >> h)]) ^ np.uint64(idata[low + (j & mask)])


@njit(cache=True, fastmath=True)
def _affine_in_place(x, y, visited, idata, i0):  # type: ignore[no-untyped-def]
    """The inverse of :func:`_permute_affine` on both ``x`` and ``y`` (the sweep's two states)
    without a state of scratch, for wide states: ``new[j] = old[A j ^ b]``, each cycle of the map
    followed once, moving one amplitude of each state at a time (``visited``,
    ``(2**n / 64 + 1,)`` ``uint64``, one bit an index, marks what has moved). The adjoint sweep of
    a wide state then holds three states (final, cotangent, its working copy) instead of four,
    at about twice the time of copy and scatter on one thread (the inverse of a CX chain at
    n = 20 on both states: 18.4 against 9.7 ms; each move waits for its memory access, so the two
    states share the walk: one state alone took 15 ms; following 16 cycles at once, 30 ms)."""
    h = np.uint64(idata[i0])
    mask = (_ONE << h) - _ONE
    low = np.uint64(i0) + _ONE
    top = low + (_ONE << h)
    for w in range(visited.shape[0]):
        visited[w] = 0
    six, word = np.uint64(6), np.uint64(63)
    for t in range(np.uint64(x.shape[0])):
        start = np.uint64(t)
        if (visited[start >> six] >> (start & word)) & _ONE:
            continue
        visited[start >> six] |= _ONE << (start & word)
        current = start
        image = _affine_image(current, idata, low, top, h, mask)
        first_x, first_y = x[start], y[start]
        while image != start:  # pull each amplitude from its image
            x[current] = x[image]
            y[current] = y[image]
            visited[image >> six] |= _ONE << (image & word)
            current = image
            image = _affine_image(current, idata, low, top, h, mask)
        x[current] = first_x
        y[current] = first_y


@njit(cache=True, fastmath=True, inline="always")
def _permute_affine_wide(x, scratch, idata, i0):  # type: ignore[no-untyped-def]
    """:func:`_permute_affine` (forward) with the copy and the scatter each cut over threads in
    :data:`SHARES` pieces (inlined into :func:`run_wide`, whose parallel loops they become)."""
    N = x.shape[0]
    for c in prange(SHARES):
        share = np.int64(c)
        _copy(x, scratch, N * share // SHARES, N * (share + 1) // SHARES)
    tops = N >> idata[i0]
    for c in prange(SHARES):
        share = np.int64(c)
        _affine_share(x, scratch, idata, i0, False, tops * share // SHARES, tops * (share + 1) // SHARES)


@njit(cache=True, fastmath=True, parallel=True)
def run_wide(state, initial, angles, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata,  # type: ignore[no-untyped-def]
             idata, dmax, mmax):
    """As :func:`run` for a tape that streams (:func:`qdiff.sim.tape.streams`: runs, dense
    two-qubit steps, diagonals on up to four qubits, Pauli strings and affine permutations only),
    rows one after the other, each pass (the initial state's copy included) spread over threads
    in :data:`SHARES` pieces: a few wide rows, which :func:`run_rows` would leave on one thread.
    Affine permutations copy the state
    to a scratch state and scatter it back (a row's forward holds three states at most: its
    initial, this working one and the scratch; the sweep, the adjoint's peak, follows the cycles in
    place instead)."""
    shared = angles.shape[0] == 1
    N = state.shape[1]
    none = np.zeros(0, dtype=state.dtype)
    no = none.shape[0] > 0
    size, segment_bits = _pieces(N)
    ops = np.empty((kind.shape[0], 4), dtype=state.dtype)
    op, gen, col = np.zeros((4, 4), dtype=state.dtype), np.zeros((4, 4), dtype=state.dtype), np.zeros(4, dtype=np.int64)
    scratch = np.empty(N if _permutes(gkind) else 0, dtype=state.dtype)
    for r in range(state.shape[0]):
        x, a = state[r], angles[0 if shared else r]
        start = _initial_row(initial, r)
        for c in prange(SHARES):
            share = np.int64(c)
            _copy(start, x, N * share // SHARES, N * (share + 1) // SHARES)
        _step_operators(a, kind, qstart, cstart, istart, cdata, idata, slot, ops)
        for g in range(gkind.shape[0]):
            s0, s1 = gstart[g], gstart[g + 1]
            if gkind[g] == GROUP_AFFINE:
                _permute_affine_wide(x, scratch, idata, gi[g])
            elif gkind[g] == GROUP_RUN:
                m00, m01, m10, m11 = _run_product(ops, s0, s1)
                q = qubits[qstart[s0]]
                if q < segment_bits:  # its pairs lie inside each piece: the one-thread loops on slices
                    for c in prange(SHARES):
                        _pairs(x[np.int64(c) * size:(np.int64(c) + 1) * size], q, m00, m01, m10, m11)
                else:  # each piece takes a share of every block's pairs
                    stride = np.int64(1) << q
                    for c in prange(SHARES):
                        share = np.int64(c)
                        _pairs_wide_share(x, np.uint64(stride), m00, m01, m10, m11, stride * share // SHARES,
                                          stride * (share + 1) // SHARES)
            else:
                theta = a[slot[s0]] if slot[s0] >= 0 else 0.0
                k = qstart[s0 + 1] - qstart[s0]
                sparse = _operator(s0, kind[s0], k, cstart, istart, cdata, idata, theta, no, op, gen, col) \
                    if _dense_pair(kind[s0], k) else False
                for c in prange(SHARES):
                    _streamed_piece(x, none, s0, kind[s0], qubits, qstart[s0], k, cstart, istart, cdata, idata, theta,
                                    no, no, np.int64(c), size, segment_bits, op, gen, col, sparse)


@njit(cache=True, fastmath=True, parallel=True)
def sweep_wide(psi, lam, angles, grad, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata,  # type: ignore[no-untyped-def]
               idata, dmax, mmax):
    """As :func:`sweep` for a tape that streams, each pass spread over threads (:func:`run_wide`);
    each piece's share of a cross matrix or generator term is added up after the pass. Affine
    permutations follow their cycles in place on one thread (:func:`_affine_in_place`): with a
    state of scratch the sweep would hold four states, not three."""
    shared = angles.shape[0] == 1
    h = psi.shape[1] >> 1
    size, segment_bits = _pieces(psi.shape[1])
    ops = np.empty((kind.shape[0], 4), dtype=psi.dtype)
    y = np.zeros(4, dtype=psi.dtype)
    ys = np.zeros((SHARES, 4), dtype=psi.dtype)
    terms = np.zeros(SHARES)
    op, gen, col = np.zeros((4, 4), dtype=psi.dtype), np.zeros((4, 4), dtype=psi.dtype), np.zeros(4, dtype=np.int64)
    visited = np.empty(psi.shape[1] // 64 + 1 if _permutes(gkind) else 0, dtype=np.uint64)
    for r in range(psi.shape[0]):
        p, q = psi[r], lam[r]
        a, gr = angles[0 if shared else r], grad[0 if shared else r]
        _step_operators(a, kind, qstart, cstart, istart, cdata, idata, slot, ops)
        for g in range(gkind.shape[0] - 1, -1, -1):
            s0, s1 = gstart[g], gstart[g + 1]
            if gkind[g] == GROUP_AFFINE:
                _affine_in_place(p, q, visited, idata, gi[g])
            elif gkind[g] == GROUP_RUN:
                m00, m01, m10, m11 = _run_product(ops, s0, s1)
                b = qubits[qstart[s0]]
                u00, u01, u10, u11 = np.conj(m00), np.conj(m10), np.conj(m01), np.conj(m11)
                if b < segment_bits:
                    for c in prange(SHARES):
                        lo, hi = np.int64(c) * size, (np.int64(c) + 1) * size
                        _cross_pairs(p[lo:hi], q[lo:hi], b, u00, u01, u10, u11, ys[np.int64(c)])
                else:
                    stride = np.int64(1) << b
                    for c in prange(SHARES):
                        share = np.int64(c)
                        ys[share, 0], ys[share, 1], ys[share, 2], ys[share, 3] = _cross_pairs_wide_share(
                            p, q, np.uint64(stride), u00, u01, u10, u11, stride * share // SHARES,
                            stride * (share + 1) // SHARES)
                for e in range(4):
                    y[e] = ys[:, e].sum()
                _run_gradient(y, ops, s0, s1, kind, cstart, cdata, slot, gr)
            else:
                rotating = slot[s0] >= 0
                theta = a[slot[s0]] if rotating else 0.0
                k = qstart[s0 + 1] - qstart[s0]
                sparse = _operator(s0, kind[s0], k, cstart, istart, cdata, idata, theta, h > 0, op, gen, col) \
                    if _dense_pair(kind[s0], k) else False
                for c in prange(SHARES):
                    terms[np.int64(c)] = _streamed_piece(p, q, s0, kind[s0], qubits, qstart[s0], k, cstart, istart,
                                                         cdata, idata, theta, h > 0, rotating, np.int64(c), size,
                                                         segment_bits, op, gen, col, sparse)
                if rotating:
                    gr[slot[s0]] += terms.sum()


# ------------------------------------------------------------------------------------------ lanes
#
# A batch of rows run side by side: a block of ``L`` rows lives as two real arrays (real and
# imaginary parts), amplitude-major, ``re[i * L + l]`` amplitude ``i`` of the block's row ``l``.
# Every pass then has an inner loop over the lanes that LLVM's loop vectorizer turns into SIMD
# whatever the qubit (a row's passes on qubits 0-2 have inner loops of one to four pairs, and
# complex128 pairs do not vectorize). ``L`` is a run-time value on purpose: with a constant
# trip count LLVM unrolls the loop fully before the loop vectorizer, and numba turns the
# vectorizer that would pack unrolled code (SLP) off.

LANES = 64
"""Rows a lane block holds at most (:func:`run_lanes`). A pair of an 8-qubit block's pass takes,
per row, 0.9-1.4 ns with 32 lanes (the row kernel's 1.4-2.9 ns); blocks of 8 or 16 lanes ran 2.5-4.6
ns (LLVM's vector loop takes 16 lanes at a time: 8 fall to its scalar tail). 1024 rows, n = 8: 64
lanes 2.75 ms, 128 2.9, 32 3.2, the row kernel 3.85; n = 10: 64 lanes 12.6-13.2 ms, 128 17.1, the
row kernel 15.1 (a 128-lane block outgrows the cache)."""

LANE_MIN = 32
"""Fewest rows a block takes (:func:`qdiff.sim.tape.lane_blocks`)."""


@njit(cache=True, fastmath=True, inline="always")
def _lane_pair(re, im, out_re, out_im, p0, p1, o0, o1, m, real, L):  # type: ignore[no-untyped-def]
    """One pair of every lane: amplitudes at ``p0, p1`` of ``re, im`` through each lane's ``2 x 2``
    ``m`` into ``o0, o1`` of ``out_re, out_im`` (the same arrays and offsets in place). ``m``
    ``(8 L,)``: the real and imaginary parts of ``m00, m01, m10, m11`` (row-major), each ``L``
    long (lane ``l`` at ``c L + l``); ``real``: the operator is real (``ry``, ``h``, ``x`` runs),
    one real ``2 x 2`` on the real and the imaginary parts, half the arithmetic (the imaginary
    parts in ``m`` are not read). Inlined into each pass, so that LLVM sees its arrays there."""
    Lu = np.uint64(L)
    if real:
        for lane in range(L):
            t = np.uint64(lane)
            a0r, a0i, a1r, a1i = re[p0 + t], im[p0 + t], re[p1 + t], im[p1 + t]
            m00, m01, m10, m11 = m[t], m[_TWO * Lu + t], m[np.uint64(4) * Lu + t], m[np.uint64(6) * Lu + t]
            out_re[o0 + t] = m00 * a0r + m01 * a1r
            out_im[o0 + t] = m00 * a0i + m01 * a1i
            out_re[o1 + t] = m10 * a0r + m11 * a1r
            out_im[o1 + t] = m10 * a0i + m11 * a1i
    else:
        for lane in range(L):
            t = np.uint64(lane)
            a0r, a0i, a1r, a1i = re[p0 + t], im[p0 + t], re[p1 + t], im[p1 + t]
            m00r, m00i, m01r, m01i = m[t], m[Lu + t], m[_TWO * Lu + t], m[np.uint64(3) * Lu + t]
            m10r, m10i = m[np.uint64(4) * Lu + t], m[np.uint64(5) * Lu + t]
            m11r, m11i = m[np.uint64(6) * Lu + t], m[np.uint64(7) * Lu + t]
            out_re[o0 + t] = m00r * a0r - m00i * a0i + m01r * a1r - m01i * a1i
            out_im[o0 + t] = m00r * a0i + m00i * a0r + m01r * a1i + m01i * a1r
            out_re[o1 + t] = m10r * a0r - m10i * a0i + m11r * a1r - m11i * a1i
            out_im[o1 + t] = m10r * a0i + m10i * a0r + m11r * a1i + m11i * a1r


@njit(cache=True, fastmath=True, inline="always")
def _lane_phase(re, im, p, z, L):  # type: ignore[no-untyped-def]
    """Amplitude ``p / L`` of every lane times the phase ``z``, in place."""
    zr, zi = z.real, z.imag
    for lane in range(L):
        t = np.uint64(p) + np.uint64(lane)
        x, y = re[t], im[t]
        re[t] = zr * x - zi * y
        im[t] = zr * y + zi * x


@njit(cache=True, fastmath=True)
def _lane_pairs(re, im, q, m, real, L):  # type: ignore[no-untyped-def]
    """A one-qubit operator per lane (:func:`_lane_pair`) on qubit ``q`` of a block of ``L``
    lanes, in place."""
    Lu = np.uint64(L)
    stride = _ONE << np.uint64(q)
    pairs = np.uint64(re.shape[0]) // (_TWO * Lu)
    for b in range(pairs // stride):
        start = np.uint64(b) * _TWO * stride
        for j in range(stride):
            p0 = (start + np.uint64(j)) * Lu
            p1 = p0 + stride * Lu
            _lane_pair(re, im, re, im, p0, p1, p0, p1, m, real, L)


@njit(cache=True, fastmath=True)
def _lane_pairs_moved(re, im, out_re, out_im, q, m, real, affine, idata, i0, cdata, c0, L):  # type: ignore[no-untyped-def]
    """A run's pass (:func:`_lane_pairs`) and the whole-state permutation after it
    (:func:`_lane_permute`: its map at ``idata[i0:]``, affine or a table, and its phases at
    ``cdata[c0:]`` unless ``c0`` is negative) in one pass: each pair is read from ``re, im`` and
    written, times its phases, to its images in ``out_re, out_im`` (the caller swaps the two). A
    CNOT or CZ chain after a layer of runs then costs no pass of its own. (Every pass out of place
    through this one function, images the identity where nothing follows, ran 10-40% slower: HEA
    complex128 3.9-4.5 against 4.3-4.9 us a row, twice the block in cache.)"""
    Lu = np.uint64(L)
    stride = _ONE << np.uint64(q)
    pairs = np.uint64(re.shape[0]) // (_TWO * Lu)
    h = np.uint64(idata[i0]) if affine else _ONE
    low = np.uint64(i0) + _ONE
    top = low + (_ONE << h)
    mask = (_ONE << h) - _ONE
    for b in range(pairs // stride):
        start = np.uint64(b) * _TWO * stride
        for j in range(stride):
            j0 = start + np.uint64(j)
            j1 = j0 + stride
            if affine:
                d0, d1 = _affine_image(j0, idata, low, top, h, mask), _affine_image(j1, idata, low, top, h, mask)
            else:
                d0, d1 = np.uint64(idata[np.uint64(i0) + j0]), np.uint64(idata[np.uint64(i0) + j1])
            p0, p1, o0, o1 = j0 * Lu, j1 * Lu, d0 * Lu, d1 * Lu
            _lane_pair(re, im, out_re, out_im, p0, p1, o0, o1, m, real, L)
            if c0 >= 0:  # phases: new[image] = phase * (m a), on the lanes just written (in L1)
                _lane_phase(out_re, out_im, o0, cdata[np.uint64(c0) + j0], L)
                _lane_phase(out_re, out_im, o1, cdata[np.uint64(c0) + j1], L)


@njit(cache=True, fastmath=True)
def _lane_permute(re, im, out_re, out_im, affine, idata, i0, cdata, c0, L):  # type: ignore[no-untyped-def]
    """A whole-state monomial on every lane, from ``re, im`` into ``out_re, out_im`` (the caller
    swaps the two: no copy of the block, which took half of the pass): ``out[perm[j]] =
    phases[j] in[j]`` with the map from the two affine tables at ``idata[i0:]`` (``affine``,
    :func:`_permute_affine`, no phases) or the table at ``idata[i0:]`` and phases at
    ``cdata[c0:]`` (all ones when ``c0`` is negative)."""
    Lu = np.uint64(L)
    size = np.uint64(re.shape[0])
    h = np.uint64(idata[i0]) if affine else _ONE
    low = np.uint64(i0) + _ONE
    top = low + (_ONE << h)
    mask = (_ONE << h) - _ONE
    for jj in range(size // Lu):
        j = np.uint64(jj)
        image = _affine_image(j, idata, low, top, h, mask) if affine else np.uint64(idata[np.uint64(i0) + j])
        src, dst = j * Lu, image * Lu
        if c0 < 0:
            for lane in range(L):
                t = np.uint64(lane)
                out_re[dst + t] = re[src + t]
                out_im[dst + t] = im[src + t]
        else:
            z = cdata[np.uint64(c0) + j]
            zr, zi = z.real, z.imag
            for lane in range(L):
                t = np.uint64(lane)
                out_re[dst + t] = zr * re[src + t] - zi * im[src + t]
                out_im[dst + t] = zr * im[src + t] + zi * re[src + t]


@njit(cache=True, fastmath=True)
def _lanes_load(re, im, initial, r0, L):  # type: ignore[no-untyped-def]
    """The block's lanes become rows ``r0 .. r0+L-1`` of ``initial`` ``(Bi, 2**n)`` (``Bi`` 1: all
    of them row 0)."""
    Lu = np.uint64(L)
    for i in range(initial.shape[1]):
        k = np.uint64(i) * Lu
        if initial.shape[0] == 1:
            z = initial[0, i]
            for lane in range(L):
                re[k + np.uint64(lane)] = z.real
                im[k + np.uint64(lane)] = z.imag
        else:
            for lane in range(L):
                z = initial[r0 + lane, i]
                re[k + np.uint64(lane)] = z.real
                im[k + np.uint64(lane)] = z.imag


STORE_TILE = 32
"""Amplitudes :func:`_lanes_store` writes a lane at a time: a tile's lines of the block stay in
the L1 cache while each lane's row takes its share (lane by lane over whole rows, n = 8: 266
against 145 ns a row; n = 10 1.93 against 0.93 us)."""


@njit(cache=True, fastmath=True)
def _lanes_store(state, re, im, r0, L):  # type: ignore[no-untyped-def]
    """Rows ``r0 .. r0+L-1`` of ``state`` become the block's lanes, :data:`STORE_TILE` amplitudes
    at a time."""
    N = state.shape[1]
    Lu = np.uint64(L)
    for i0 in range(0, N, STORE_TILE):
        i1 = min(i0 + STORE_TILE, N)
        for lane in range(L):
            r = r0 + lane
            for i in range(i0, i1):
                k = np.uint64(i) * Lu + np.uint64(lane)
                state[r, i] = complex(re[k], im[k])


@njit(cache=True, fastmath=True)
def _lane_run_operator(m, s0, s1, cos, sin, trig, r0, L, kind, cstart, istart, cdata, idata, real):  # type: ignore[no-untyped-def]
    """``m`` ``(8 L,)`` (:func:`_lane_pairs`) becomes each lane's product of the one-qubit steps
    ``s0 .. s1-1`` (a run). A step's operator is ``z0 P0 + z1 P1`` with ``z_e = exp(-i theta l_e)``
    read as ``cos[trig[s, e], r] - i sign sin[trig[s, e], r]`` (``trig[s]``: two columns and
    the sign of the second, :attr:`qdiff.sim.tape.Tape.lane_trig`); a fixed step has ``P0`` its
    matrix, ``P1`` zero and both columns the table's last (angle zero). The lane loops have no
    branches, so they vectorize like the passes. ``real``: the run is real at every angle
    (:attr:`qdiff.sim.tape.Tape.lane_real`), and its imaginary parts, rounding residue of the
    projectors, are set to zero: multiplied into zero imaginary parts of float32 lanes they
    decayed into denormals, 10x slower arithmetic."""
    Lu = np.uint64(L)
    for lane in range(L):
        t = np.uint64(lane)
        m[t], m[Lu + t], m[_TWO * Lu + t], m[np.uint64(3) * Lu + t] = 1.0, 0.0, 0.0, 0.0
        m[np.uint64(4) * Lu + t], m[np.uint64(5) * Lu + t], m[np.uint64(6) * Lu + t], m[np.uint64(7) * Lu + t] = 0.0, 0.0, 1.0, 0.0
    for s in range(s0, s1):
        c0 = cstart[s]
        zero = 0j
        if kind[s] == ROT_DENSE:
            p00, p01, p02, p03 = cdata[c0], cdata[c0 + 1], cdata[c0 + 2], cdata[c0 + 3]
            p10, p11, p12, p13 = cdata[c0 + 4], cdata[c0 + 5], cdata[c0 + 6], cdata[c0 + 7]
        elif kind[s] == ROT_DIAGONAL:
            p00, p01, p02, p03 = 1.0 + 0j, zero, zero, zero
            p10, p11, p12, p13 = zero, zero, zero, 1.0 + 0j
        else:
            p00, p01, p02, p03 = _one_qubit_at(s, kind[s], cstart, istart, cdata, idata, zero, zero)
            p10 = p11 = p12 = p13 = zero
        k0, k1, sign = np.uint64(trig[s, 0]), np.uint64(trig[s, 1]), float(trig[s, 2])
        for lane in range(L):
            t = np.uint64(lane)
            r = np.uint64(r0) + t
            z0 = complex(cos[k0, r], -sin[k0, r])
            z1 = complex(cos[k1, r], -sign * sin[k1, r])
            u0, u1, u2, u3 = z0 * p00 + z1 * p10, z0 * p01 + z1 * p11, z0 * p02 + z1 * p12, z0 * p03 + z1 * p13
            a = complex(m[t], m[Lu + t])
            b = complex(m[_TWO * Lu + t], m[np.uint64(3) * Lu + t])
            c = complex(m[np.uint64(4) * Lu + t], m[np.uint64(5) * Lu + t])
            d = complex(m[np.uint64(6) * Lu + t], m[np.uint64(7) * Lu + t])
            n00, n01, n10, n11 = u0 * a + u1 * c, u0 * b + u1 * d, u2 * a + u3 * c, u2 * b + u3 * d
            m[t], m[Lu + t], m[_TWO * Lu + t], m[np.uint64(3) * Lu + t] = n00.real, n00.imag, n01.real, n01.imag
            m[np.uint64(4) * Lu + t], m[np.uint64(5) * Lu + t] = n10.real, n10.imag
            m[np.uint64(6) * Lu + t], m[np.uint64(7) * Lu + t] = n11.real, n11.imag
    if real:
        for lane in range(L):
            t = np.uint64(lane)
            m[Lu + t], m[np.uint64(3) * Lu + t], m[np.uint64(5) * Lu + t], m[np.uint64(7) * Lu + t] = 0.0, 0.0, 0.0, 0.0


@njit(cache=True, fastmath=True)
def _lane_diagonal(re, im, zr, zi, qubits, q0, k, L):  # type: ignore[no-untyped-def]
    """A diagonal step on ``2 <= k <=`` :data:`DIAGONAL_PASS_MAX_QUBITS` ascending qubits
    ``qubits[q0:q0 + k]`` for every lane, in place: amplitude ``i`` of lane ``l`` times its entry
    ``z[j(i), l]`` (``zr, zi`` ``(2**k L,)``, :func:`_lane_diagonal_entries`)."""
    Lu = np.uint64(L)
    qa, qb, qc, qd = _step_bits(qubits, q0, k)
    for ii in range(np.uint64(re.shape[0]) // Lu):
        i = np.uint64(ii)
        p = i * Lu
        e = _local_index(i, qa, qb, qc, qd, k) * Lu
        for lane in range(L):
            t = np.uint64(lane)
            a, b, c, d = re[p + t], im[p + t], zr[e + t], zi[e + t]
            re[p + t] = a * c - b * d
            im[p + t] = a * d + b * c


@njit(cache=True, fastmath=True)
def _lane_diagonal_entries(zr, zi, s, kind, k, cstart, cdata, slot, angles, r0, L):  # type: ignore[no-untyped-def]
    """Each lane's ``2**k`` diagonal entries of step ``s`` into ``zr, zi`` (entry ``j`` of lane ``l``
    at ``j L + l``): a fixed diagonal's own, or ``exp(-i theta lambda_j)`` of a rotation at the
    lane's angle (numba's scalar trigonometry: a few calls a lane, where a run's took half a block)."""
    c0 = cstart[s]
    shared = angles.shape[0] == 1
    for j in range(1 << k):
        for lane in range(L):
            if kind[s] == ROT_DIAGONAL:
                x = -angles[0 if shared else r0 + lane, slot[s]] * cdata[c0 + j].real
                zr[j * L + lane], zi[j * L + lane] = np.cos(x), np.sin(x)
            else:
                zr[j * L + lane], zi[j * L + lane] = cdata[c0 + j].real, cdata[c0 + j].imag


@njit(cache=True, fastmath=True, inline="always")
def _lane_diagonal_step(kind, k):  # type: ignore[no-untyped-def]
    """Whether a step of ``kind`` on ``k`` qubits (a group of its own) runs as a lane diagonal."""
    return (kind == ROT_DIAGONAL or kind == FIXED_DIAGONAL) and 2 <= k <= DIAGONAL_PASS_MAX_QUBITS


@njit(cache=True, fastmath=True)
def _lane_workspace(state, L, permutes):  # type: ignore[no-untyped-def]
    """A block's arrays for rows of ``state`` ``(B, 2**n)``: ``(re, im, scratch re, scratch im, m,
    zr, zi, v)``: the block's state ``(2**n L,)`` twice (a permutation, or a run's pass with the
    permutation after it, writes into the second, which then becomes the block's; empty without
    whole-state permutations), a run's operator
    per lane ``(8 L,)``, a diagonal's entries per lane ``(2**4 L,)`` twice, and each qubit's
    one-qubit state per lane ``(4 n L,)`` (:func:`_lanes_product`), in ``state``'s real dtype (a
    complex64 batch computes in float32: its passes take 8 lanes an instruction, 0.48-0.70
    against 0.88-1.2 ns a pair and row)."""
    N, real = state.shape[1], state.real.dtype
    n = 0
    while (1 << n) < N:
        n += 1
    P = N * L if permutes else 0
    D = (1 << DIAGONAL_PASS_MAX_QUBITS) * L
    return (np.empty(N * L, dtype=real), np.empty(N * L, dtype=real), np.empty(P, dtype=real),
            np.empty(P, dtype=real), np.empty(8 * L, dtype=real), np.empty(D, dtype=real), np.empty(D, dtype=real),
            np.empty(4 * n * L, dtype=real))


@njit(cache=True, fastmath=True)
def _basis_start(initial):  # type: ignore[no-untyped-def]
    """``(b, z)`` when ``initial`` is one row (every row's start) with a single nonzero amplitude
    ``z`` at ``b`` (a basis state, as :func:`qdiff.execute.prepare` lays out ``|0...0>``), else
    ``(-1, 0)``."""
    b = -1
    if initial.shape[0] == 1:
        for i in range(initial.shape[1]):
            if initial[0, i] != 0:
                if b >= 0:
                    return -1, 0j
                b = i
    return b, (complex(initial[0, b]) if b >= 0 else 0j)


@njit(cache=True, fastmath=True)
def _lanes_product(re, im, v, m, b, z, cos, sin, trig, real, r0, L, gkind, gstart, kind, qstart, qubits,  # type: ignore[no-untyped-def]
                   cstart, istart, cdata, idata):
    """Every lane starts from ``z |b>`` and goes through the tape's leading one-qubit runs, up to
    the first that is not one or meets a qubit again; returns how many groups that is. The state
    stays a product ``z (x)_q v_q`` through them (``v_q`` a run's operator on ``|b_q>``, or
    ``|b_q>``), built in one doubling pass per qubit: an 8-qubit layer of runs then costs about a
    quarter of its passes, and the basis state needs no load. A real run's ``v_q`` is real
    (``real``: :func:`_lane_run_operator` drops the rounding residue of its imaginary parts, which
    multiplied down to float32 denormals: 2x slower complex64 ``ry`` layers)."""
    Lu = np.uint64(L)
    n = v.shape[0] // (4 * L)
    for q in range(n):  # v[(4 q + c) L + lane]: v_q's re 0, im 0, re 1, im 1
        bit = float((b >> q) & 1)
        for lane in range(L):
            v[(4 * q) * L + lane], v[(4 * q + 1) * L + lane] = 1.0 - bit, 0.0
            v[(4 * q + 2) * L + lane], v[(4 * q + 3) * L + lane] = bit, 0.0
    used = 0
    g = 0
    while g < gkind.shape[0] and gkind[g] == GROUP_RUN and not (used >> qubits[qstart[gstart[g]]]) & 1:
        q = qubits[qstart[gstart[g]]]
        used |= 1 << q
        _lane_run_operator(m, gstart[g], gstart[g + 1], cos, sin, trig, r0, L, kind, cstart, istart, cdata, idata,
                           real[g])
        top, bottom = 2 * ((b >> q) & 1), 2 * (2 + ((b >> q) & 1))  # entries (0, b_q) and (1, b_q) of m
        for lane in range(L):
            v[(4 * q) * L + lane], v[(4 * q + 1) * L + lane] = m[top * L + lane], m[(top + 1) * L + lane]
            v[(4 * q + 2) * L + lane], v[(4 * q + 3) * L + lane] = m[bottom * L + lane], m[(bottom + 1) * L + lane]
        g += 1
    for lane in range(L):
        re[lane], im[lane] = z.real, z.imag
    for q in range(n):
        half = np.uint64(1) << np.uint64(q)
        c0 = np.uint64(4 * q) * Lu
        for i in range(half):
            p0 = np.uint64(i) * Lu
            p1 = p0 + half * Lu
            for lane in range(L):
                t = np.uint64(lane)
                ar, ai = re[p0 + t], im[p0 + t]
                v0r, v0i, v1r, v1i = v[c0 + t], v[c0 + Lu + t], v[c0 + _TWO * Lu + t], v[c0 + np.uint64(3) * Lu + t]
                re[p1 + t] = ar * v1r - ai * v1i
                im[p1 + t] = ar * v1i + ai * v1r
                re[p0 + t] = ar * v0r - ai * v0i
                im[p0 + t] = ar * v0i + ai * v0r
    return g


@njit(cache=True, fastmath=True)
def _run_block(state, initial, angles, cos, sin, trig, real, r0, L, lanes, gkind, gstart, gi, gc, kind, qstart,  # type: ignore[no-untyped-def]
               qubits, cstart, istart, slot, cdata, idata, dmax, mmax):
    """Rows ``r0 .. r0+L-1`` of ``state`` become their initial states (from one basis state: a
    product through the leading runs, :func:`_lanes_product`) and go through every group of steps
    side by side (lanes), a run and a whole-state permutation after it in one pass
    (:func:`_lane_pairs_moved`); ``cos, sin`` ``(C, B)`` and ``trig``: :func:`_lane_run_operator`;
    ``real`` ``(groups,)``: the runs whose operator is real at every angle
    (:func:`_lane_pair`, :attr:`qdiff.sim.tape.Tape.lane_real`); ``lanes``:
    :func:`_lane_workspace`. Every group must be one the lanes run together (one-qubit
    runs, whole-state permutations, :func:`_lane_diagonal_step`; see
    :attr:`qdiff.sim.tape.Tape.side_by_side`): running another kind of step one lane at a time
    was slower than the row kernel (QAOA's ``rzz`` before its lane pass: 4x)."""
    re, im, sre, sim, m, zr, zi, v = lanes
    b, z = _basis_start(initial)
    first = 0
    if b >= 0:
        first = _lanes_product(re, im, v, m, b, z, cos, sin, trig, real, r0, L, gkind, gstart, kind, qstart, qubits,
                               cstart, istart, cdata, idata)
    else:
        _lanes_load(re, im, initial, r0, L)
    g = first
    while g < gkind.shape[0]:
        s0, s1 = gstart[g], gstart[g + 1]
        k = qstart[s0 + 1] - qstart[s0]
        if gkind[g] == GROUP_RUN:
            _lane_run_operator(m, s0, s1, cos, sin, trig, r0, L, kind, cstart, istart, cdata, idata, real[g])
            if g + 1 < gkind.shape[0] and (gkind[g + 1] == GROUP_AFFINE or gkind[g + 1] == GROUP_PERMUTATION):
                _lane_pairs_moved(re, im, sre, sim, qubits[qstart[s0]], m, real[g], gkind[g + 1] == GROUP_AFFINE, idata,
                                  gi[g + 1], cdata, gc[g + 1], L)  # the permutation rides along
                re, im, sre, sim = sre, sim, re, im
                g += 1
            else:
                _lane_pairs(re, im, qubits[qstart[s0]], m, real[g], L)
        elif gkind[g] == GROUP_PERMUTATION or gkind[g] == GROUP_AFFINE:
            _lane_permute(re, im, sre, sim, gkind[g] == GROUP_AFFINE, idata, gi[g], cdata, gc[g], L)
            re, im, sre, sim = sre, sim, re, im
        elif _lane_diagonal_step(kind[s0], k):
            _lane_diagonal_entries(zr, zi, s0, kind, k, cstart, cdata, slot, angles, r0, L)
            _lane_diagonal(re, im, zr, zi, qubits, qstart[s0], k, L)
        else:
            raise ValueError("a step the lanes do not run side by side: check Tape.side_by_side first")
        g += 1
    _lanes_store(state, re, im, r0, L)


@njit(cache=True, fastmath=True, parallel=True)
def run_lanes(state, initial, angles, cos, sin, trig, real, blocks, *tape):  # type: ignore[no-untyped-def]
    """As :func:`run`, the rows in ``blocks`` blocks run side by side (:func:`_run_block`; ``cos,
    sin, trig``: :func:`_lane_run_operator`; ``real``: :attr:`qdiff.sim.tape.Tape.lane_real`),
    the blocks spread over threads, for a tape whose every group runs side by side
    (:attr:`qdiff.sim.tape.Tape.side_by_side`). ``state``: complex128, or complex64 (the lanes then
    compute in float32)."""
    B = state.shape[0]
    permutes = _permutes(tape[0])
    for t in prange(blocks):
        r0 = np.int64(t) * B // blocks
        L = (np.int64(t) + 1) * B // blocks - r0
        lanes = _lane_workspace(state, L, permutes)
        _run_block(state, initial, angles, cos, sin, trig, real, r0, L, lanes, *tape)
