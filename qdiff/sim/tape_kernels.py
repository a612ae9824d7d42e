"""Numba kernels that run a whole :class:`~qdiff.sim.tape.Tape` in one call: the forward pass and
the adjoint sweep of a small state, with no per-gate Python or torch dispatch.

Imported only through :mod:`qdiff.sim.tape` (numba is optional: without it the torch plan runs).
Every function takes numpy arrays; ``state`` is ``(B, 2**n)`` complex (64 or 128), ``angles``
``(Ba, S)`` real with ``Ba`` 1 (shared) or ``B`` (per row). A step ``s`` acts on the ascending
qubits ``qubits[qstart[s]:qstart[s + 1]]``; its local basis index ``j`` has bit ``i`` on the
``i``-th of them, and its group of ``d = 2**k`` amplitudes starting at ``base`` (the bits of the
step's qubits zero) is ``base + offset[j]``. Step kinds and their data (``cdata`` from
``cstart[s]``, ``idata`` from ``istart[s]``), see :func:`qdiff.sim.tape.lower`:

* ``FIXED_DENSE``: the ``d x d`` matrix, row-major;
* ``FIXED_DIAGONAL``: the ``d`` diagonal entries;
* ``FIXED_MONOMIAL``: phases ``d`` and permutation ``d`` (``new[perm[j]] = phase[j] old[j]``);
* ``ROT_DENSE`` (``exp(-i theta G)``): eigenvectors ``V`` ``d x d``, eigenvalues ``d`` (real
  parts), then ``-i G`` ``d x d``;
* ``ROT_DIAGONAL``: the generator's diagonal ``d`` (real parts);
* ``ROT_PAULI`` (``exp(-i theta g M)``, ``M`` a Hermitian monomial): ``M``'s phases ``d``, then
  ``g``; its permutation in ``idata``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FIXED_DENSE, FIXED_DIAGONAL, FIXED_MONOMIAL, ROT_DENSE, ROT_DIAGONAL, ROT_PAULI = range(6)
GROUP_STEP, GROUP_RUN, GROUP_PERMUTATION = range(3)


@njit(cache=True, inline="always")
def _base(g, qubits, q0, k):  # type: ignore[no-untyped-def]
    """The ``g``-th group's first index: ``g`` with a zero bit inserted at each step qubit (ascending)."""
    b = g
    for i in range(k):
        q = qubits[q0 + i]
        b = ((b >> q) << (q + 1)) | (b & ((1 << q) - 1))
    return b


@njit(cache=True)
def _operator(s, kind, k, cstart, istart, cdata, idata, theta, inverse, op, gen, col):  # type: ignore[no-untyped-def]
    """Fill ``op`` (``d x d``) with step ``s``'s operator at angle ``theta`` (or its inverse) and,
    for a rotating step, ``gen`` with ``-i G``. Every kind of one or two qubits comes out as a
    matrix (the kernels then need one loop each); a wider step fills ``op`` only for dense kinds,
    or the first row with the diagonal of a diagonal kind. For a diagonal or monomial kind,
    ``col[i]`` is the column of row ``i``'s one nonzero, and the result is ``True``."""
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
    elif kind == FIXED_DIAGONAL or kind == ROT_DIAGONAL:
        for i in range(d):
            if kind == ROT_DIAGONAL:
                x = sign * theta * cdata[c0 + i].real
                z = complex(np.cos(x), np.sin(x))
                gen[i, i] = complex(0.0, -cdata[c0 + i].real)
            else:
                z = np.conj(cdata[c0 + i]) if inverse else cdata[c0 + i]
            if dense_form:
                op[i, i] = z
                col[i] = i
            else:
                op[0, i] = z
    elif kind == ROT_DENSE:  # V diag(exp(-i theta lambda)) V^H (inverse: exp(+i ...))
        for e in range(d):
            x = sign * theta * cdata[c0 + d * d + e].real
            z = complex(np.cos(x), np.sin(x))
            for i in range(d):
                vz = cdata[c0 + i * d + e] * z
                for j in range(d):
                    op[i, j] += vz * np.conj(cdata[c0 + j * d + e])
        for i in range(d):
            for j in range(d):
                gen[i, j] = cdata[c0 + d * d + d + i * d + j]
    elif dense_form:  # monomial or Pauli rotation a I + b M, as a matrix
        a, b = 0j, 1.0 + 0j
        if kind == ROT_PAULI:
            x = theta * cdata[c0 + d].real
            a = complex(np.cos(x), 0.0)
            b = complex(0.0, np.sin(x) if inverse else -np.sin(x))
        for j in range(d):
            p = idata[i0 + j]
            if kind == ROT_PAULI:
                op[j, j] += a
                gen[p, j] = complex(0.0, -cdata[c0 + d].real) * cdata[c0 + j]
                op[p, j] += b * cdata[c0 + j]
            elif inverse:  # old[j] = conj(phase[j]) new[perm[j]]
                op[j, p] = np.conj(cdata[c0 + j])
                col[j] = p
            else:
                op[p, j] = cdata[c0 + j]
                col[p] = j
    return kind == FIXED_DIAGONAL or kind == ROT_DIAGONAL or kind == FIXED_MONOMIAL


@njit(cache=True)
def _pairs(psi, lam, stride, op, gen, want):  # type: ignore[no-untyped-def]
    """A one-qubit step (``op`` 2 x 2) on ``psi`` and, when ``lam`` has rows, the same on ``lam``
    after accumulating ``Re <lam| gen |psi>`` (``want``): one pass over the amplitude pairs."""
    N = psi.shape[0]
    m00, m01, m10, m11 = op[0, 0], op[0, 1], op[1, 0], op[1, 1]
    g00, g01, g10, g11 = gen[0, 0], gen[0, 1], gen[1, 0], gen[1, 1]
    back = lam.shape[0] > 0
    acc = 0.0
    for start in range(0, N, 2 * stride):
        for i in range(start, start + stride):
            a, b = psi[i], psi[i + stride]
            psi[i] = m00 * a + m01 * b
            psi[i + stride] = m10 * a + m11 * b
            if back:
                la, lb = lam[i], lam[i + stride]
                if want:
                    acc += (np.conj(la) * (g00 * a + g01 * b) + np.conj(lb) * (g10 * a + g11 * b)).real
                lam[i] = m00 * la + m01 * lb
                lam[i + stride] = m10 * la + m11 * lb
    return acc


@njit(cache=True)
def _quads(psi, lam, lo, hi, op, gen, want, col, sparse):  # type: ignore[no-untyped-def]
    """As :func:`_pairs` for a two-qubit step on qubits ``lo < hi`` (``op`` 4 x 4; when ``sparse``,
    row ``r`` has its one nonzero in column ``col[r]``)."""
    N = psi.shape[0]
    s0, s1 = 1 << lo, 1 << hi
    back = lam.shape[0] > 0
    acc = 0.0
    v = np.empty(4, dtype=psi.dtype)
    w = np.empty(4, dtype=psi.dtype)
    idx = np.empty(4, dtype=np.int64)
    for top in range(0, N, 2 * s1):
        for mid in range(top, top + s1, 2 * s0):
            for i in range(mid, mid + s0):
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


@njit(cache=True)
def _step(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want, op, gen, v, off,
          col):  # type: ignore[no-untyped-def]
    """Apply step ``s`` (or its inverse) to ``psi`` in place, and to ``lam`` when it has rows,
    after accumulating ``Re <lam| -i G |psi>`` of a rotating step (``want``); returns that sum."""
    sparse = _operator(s, kind, k, cstart, istart, cdata, idata, theta, inverse, op, gen, col)
    if k == 1:
        return _pairs(psi, lam, 1 << qubits[q0], op, gen, want)
    if k == 2:
        return _quads(psi, lam, qubits[q0], qubits[q0 + 1], op, gen, want, col, sparse)
    acc = 0.0
    if lam.shape[0] > 0 and want:
        acc = _generator_inner(lam, psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, off)
    _apply(psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, op, v, off)
    if lam.shape[0] > 0:
        _apply(lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, op, v, off)
    return acc


@njit(cache=True)
def _apply(psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, op, v, off):  # type: ignore[no-untyped-def]
    """Apply step ``s`` of three or more qubits (or its inverse) to the 1-D state ``psi`` in place,
    a group of ``2**k`` amplitudes at a time; ``op`` as :func:`_operator` filled it."""
    N = psi.shape[0]
    d = 1 << k
    for j in range(d):
        o = 0
        for i in range(k):
            if (j >> i) & 1:
                o |= 1 << qubits[q0 + i]
        off[j] = o
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


@njit(cache=True)
def _generator_inner(lam, psi, s, kind, qubits, q0, k, cstart, istart, cdata, idata, off):  # type: ignore[no-untyped-def]
    """``Re <lam| -i G |psi>`` on step ``s``'s qubits (a rotating step, ``G`` its generator)."""
    N = psi.shape[0]
    d = 1 << k
    for j in range(d):
        o = 0
        for i in range(k):
            if (j >> i) & 1:
                o |= 1 << qubits[q0 + i]
        off[j] = o
    c0, i0 = cstart[s], istart[s]
    acc = 0j
    for g in range(N >> k):
        base = _base(g, qubits, q0, k)
        if kind == ROT_DENSE:
            a0 = c0 + d * d + d  # -i G, row-major
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


@njit(cache=True)
def _run_factors(s0, s1, kind, cstart, istart, cdata, idata, slot, angles_row, ops, gens, col):  # type: ignore[no-untyped-def]
    """The 2 x 2 operators of a run's steps ``s0 .. s1-1`` into ``ops[p]`` (and ``-i G`` into
    ``gens[p]``); returns their product (the run's operator, the last step leftmost)."""
    prod = np.eye(2, dtype=ops.dtype)
    for p in range(s1 - s0):
        s = s0 + p
        theta = angles_row[slot[s]] if slot[s] >= 0 else 0.0
        _operator(s, kind[s], 1, cstart, istart, cdata, idata, theta, False, ops[p], gens[p], col)
        u = ops[p]
        a, b, c, d = prod[0, 0], prod[0, 1], prod[1, 0], prod[1, 1]
        prod[0, 0], prod[0, 1] = u[0, 0] * a + u[0, 1] * c, u[0, 0] * b + u[0, 1] * d
        prod[1, 0], prod[1, 1] = u[1, 0] * a + u[1, 1] * c, u[1, 0] * b + u[1, 1] * d
    return prod


@njit(cache=True)
def _permute(x, scratch, perm, phases, inverse):  # type: ignore[no-untyped-def]
    """A monomial on the whole state, in place: ``new[perm[i]] = phases[i] old[i]`` (or its inverse)."""
    scratch[:] = x
    if inverse:
        for i in range(x.shape[0]):
            x[i] = np.conj(phases[i]) * scratch[perm[i]]
    else:
        for i in range(x.shape[0]):
            x[perm[i]] = phases[i] * scratch[i]


@njit(cache=True)
def run(state, angles, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata, idata, dmax, lmax):  # type: ignore[no-untyped-def]
    """Apply every group of steps to each row of ``state`` in place."""
    B, N = state.shape
    Ba = angles.shape[0]
    op = np.zeros((dmax, dmax), dtype=state.dtype)
    gen = np.zeros((dmax, dmax), dtype=state.dtype)
    ops = np.zeros((lmax, 2, 2), dtype=state.dtype)
    gens = np.zeros((lmax, 2, 2), dtype=state.dtype)
    v = np.zeros(dmax, dtype=state.dtype)
    off = np.zeros(dmax, dtype=np.int64)
    col = np.zeros(dmax, dtype=np.int64)
    scratch = np.zeros(N, dtype=state.dtype)
    none = np.zeros(0, dtype=state.dtype)
    for r in range(B):
        ar = 0 if Ba == 1 else r
        for g in range(gkind.shape[0]):
            s0, s1 = gstart[g], gstart[g + 1]
            if gkind[g] == GROUP_RUN:
                prod = _run_factors(s0, s1, kind, cstart, istart, cdata, idata, slot, angles[ar], ops, gens, col)
                _pairs(state[r], none, 1 << qubits[qstart[s0]], prod, gen, False)
            elif gkind[g] == GROUP_PERMUTATION:
                _permute(state[r], scratch, idata[gi[g]:gi[g] + N], cdata[gc[g]:gc[g] + N], False)
            else:
                theta = angles[ar, slot[s0]] if slot[s0] >= 0 else 0.0
                _step(state[r], none, s0, kind[s0], qubits, qstart[s0], qstart[s0 + 1] - qstart[s0], cstart, istart,
                      cdata, idata, theta, False, False, op, gen, v, off, col)


@njit(cache=True)
def sweep(psi, lam, angles, grad, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata, idata, dmax, lmax):  # type: ignore[no-untyped-def]
    """The adjoint sweep, in place: ``psi`` (final states) and ``lam`` (their cotangents) walk back
    through the groups; ``grad`` ``(Ba, S)`` receives ``Re <lam_out| -i G |psi_out>`` of every
    rotating step at its slot (summed over rows when the angles are shared). A run records the
    2 x 2 cross matrix ``Y = sum lam psi^H`` after it and walks it back through its steps
    (``Y <- U^H Y U``), each step's term being ``Re sum conj(Y) (-i G)``."""
    B, N = psi.shape
    Ba = angles.shape[0]
    op = np.zeros((dmax, dmax), dtype=psi.dtype)
    gen = np.zeros((dmax, dmax), dtype=psi.dtype)
    ops = np.zeros((lmax, 2, 2), dtype=psi.dtype)
    gens = np.zeros((lmax, 2, 2), dtype=psi.dtype)
    y = np.zeros((2, 2), dtype=psi.dtype)
    v = np.zeros(dmax, dtype=psi.dtype)
    off = np.zeros(dmax, dtype=np.int64)
    col = np.zeros(dmax, dtype=np.int64)
    scratch = np.zeros(N, dtype=psi.dtype)
    for r in range(B):
        ar = 0 if Ba == 1 else r
        for g in range(gkind.shape[0] - 1, -1, -1):
            s0, s1 = gstart[g], gstart[g + 1]
            if gkind[g] == GROUP_RUN:
                prod = _run_factors(s0, s1, kind, cstart, istart, cdata, idata, slot, angles[ar], ops, gens, col)
                _cross_pairs(psi[r], lam[r], 1 << qubits[qstart[s0]], np.conj(prod.T), y)
                for p in range(s1 - s0 - 1, -1, -1):
                    if slot[s0 + p] >= 0:
                        t = 0.0
                        for a in range(2):
                            for b in range(2):
                                t += (np.conj(y[a, b]) * gens[p, a, b]).real
                        grad[ar, slot[s0 + p]] += t
                    if p:
                        _conjugate_by(y, ops[p])
            elif gkind[g] == GROUP_PERMUTATION:
                perm, phases = idata[gi[g]:gi[g] + N], cdata[gc[g]:gc[g] + N]
                _permute(psi[r], scratch, perm, phases, True)
                _permute(lam[r], scratch, perm, phases, True)
            else:
                rotating = slot[s0] >= 0
                theta = angles[ar, slot[s0]] if rotating else 0.0
                t = _step(psi[r], lam[r], s0, kind[s0], qubits, qstart[s0], qstart[s0 + 1] - qstart[s0], cstart,
                          istart, cdata, idata, theta, True, rotating, op, gen, v, off, col)
                if rotating:
                    grad[ar, slot[s0]] += t


@njit(cache=True)
def _conjugate_by(y, u):  # type: ignore[no-untyped-def]
    """``y <- u^H y u`` for 2 x 2 matrices."""
    t00 = y[0, 0] * u[0, 0] + y[0, 1] * u[1, 0]
    t01 = y[0, 0] * u[0, 1] + y[0, 1] * u[1, 1]
    t10 = y[1, 0] * u[0, 0] + y[1, 1] * u[1, 0]
    t11 = y[1, 0] * u[0, 1] + y[1, 1] * u[1, 1]
    a, b, c, d = np.conj(u[0, 0]), np.conj(u[1, 0]), np.conj(u[0, 1]), np.conj(u[1, 1])
    y[0, 0], y[0, 1] = a * t00 + b * t10, a * t01 + b * t11
    y[1, 0], y[1, 1] = c * t00 + d * t10, c * t01 + d * t11


@njit(cache=True)
def _cross_pairs(psi, lam, stride, op, y):  # type: ignore[no-untyped-def]
    """``y = sum lam psi^H`` over the pairs of a one-qubit step, then ``op`` applied to both."""
    N = psi.shape[0]
    m00, m01, m10, m11 = op[0, 0], op[0, 1], op[1, 0], op[1, 1]
    y00 = y01 = y10 = y11 = 0j
    for start in range(0, N, 2 * stride):
        for i in range(start, start + stride):
            a, b = psi[i], psi[i + stride]
            la, lb = lam[i], lam[i + stride]
            ca, cb = np.conj(a), np.conj(b)
            y00 += la * ca
            y01 += la * cb
            y10 += lb * ca
            y11 += lb * cb
            psi[i] = m00 * a + m01 * b
            psi[i + stride] = m10 * a + m11 * b
            lam[i] = m00 * la + m01 * lb
            lam[i + stride] = m10 * la + m11 * lb
    y[0, 0], y[0, 1], y[1, 0], y[1, 1] = y00, y01, y10, y11
