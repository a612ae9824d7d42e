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
  ``g``; its permutation in ``idata``.

The kernels walk *groups* of steps (:class:`qdiff.sim.tape.Tape`): a run of one-qubit steps on one
qubit is one pass over amplitude pairs with the product of its 2 x 2 operators (:func:`_pairs`,
and in the sweep :func:`_cross_pairs` plus a walk of the 2 x 2 cross matrix back through the run);
consecutive fixed monomials are one permutation of the whole state (:func:`_permute`); any other
step goes through :func:`_step` (two qubits: :func:`_quads`; more, or a Pauli rotation: the
generic :func:`_apply`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

FIXED_DENSE, FIXED_DIAGONAL, FIXED_MONOMIAL, ROT_DENSE, ROT_DIAGONAL, ROT_PAULI = range(6)
GROUP_STEP, GROUP_RUN, GROUP_PERMUTATION = range(3)


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
    for a rotating step, ``gen`` with ``-i G``. A two-qubit step of any kind but a Pauli rotation
    comes out as a matrix (:func:`_quads` then needs one loop); a wider step fills ``op`` only for
    dense kinds, or the first row with the diagonal of a diagonal kind; a Pauli rotation (always
    handled by :func:`_apply`) fills nothing. For a diagonal or monomial kind, ``col[i]`` is the
    column of row ``i``'s one nonzero, and the result is ``True``. (One-qubit steps always run in
    groups, whose operators :func:`_one_qubit` builds as scalars.)"""
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
    return kind == FIXED_DIAGONAL or kind == ROT_DIAGONAL or kind == FIXED_MONOMIAL


@njit(cache=True, fastmath=True)
def _pairs(psi, stride, op):  # type: ignore[no-untyped-def]
    """A one-qubit operator ``op`` (2 x 2) on ``psi`` in place, one pass over the amplitude pairs."""
    N = psi.shape[0]
    m00, m01, m10, m11 = op[0, 0], op[0, 1], op[1, 0], op[1, 1]
    for start in range(0, N, 2 * stride):
        for i in range(start, start + stride):
            a, b = psi[i], psi[i + stride]
            psi[i] = m00 * a + m01 * b
            psi[i + stride] = m10 * a + m11 * b


@njit(cache=True, fastmath=True)
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


@njit(cache=True, fastmath=True)
def _step(psi, lam, s, kind, qubits, q0, k, cstart, istart, cdata, idata, theta, inverse, want, op, gen, v, off,
          col):  # type: ignore[no-untyped-def]
    """Apply step ``s`` (or its inverse) to ``psi`` in place, and to ``lam`` when it has rows,
    after accumulating ``Re <lam| -i G |psi>`` of a rotating step (``want``); returns that sum."""
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
def _run_factors(s0, s1, kind, cstart, istart, cdata, idata, slot, angles_row, ops, gens, col, prod):  # type: ignore[no-untyped-def]
    """The 2 x 2 operators of a run's steps ``s0 .. s1-1`` into ``ops[p]`` (and ``-i G`` into
    ``gens[p]``, zero for a fixed step), their product (the run's operator, the last step
    leftmost) into ``prod``. One-qubit operators are built as scalars (:func:`_one_qubit`)."""
    a, b, c, d = 1.0 + 0j, 0j, 0j, 1.0 + 0j
    for p in range(s1 - s0):
        s = s0 + p
        theta = angles_row[slot[s]] if slot[s] >= 0 else 0.0
        u00, u01, u10, u11, g00, g01, g10, g11 = _one_qubit(s, kind[s], cstart, istart, cdata, idata, theta)
        ops[p, 0, 0], ops[p, 0, 1], ops[p, 1, 0], ops[p, 1, 1] = u00, u01, u10, u11
        gens[p, 0, 0], gens[p, 0, 1], gens[p, 1, 0], gens[p, 1, 1] = g00, g01, g10, g11
        a, b, c, d = u00 * a + u01 * c, u00 * b + u01 * d, u10 * a + u11 * c, u10 * b + u11 * d
    prod[0, 0], prod[0, 1], prod[1, 0], prod[1, 1] = a, b, c, d


@njit(cache=True, fastmath=True)
def _one_qubit(s, kind, cstart, istart, cdata, idata, theta):  # type: ignore[no-untyped-def]
    """A one-qubit step's operator and ``-i G`` (zero when fixed) as eight scalars, row-major."""
    c0 = cstart[s]
    zero = 0j
    if kind == FIXED_DENSE:
        return cdata[c0], cdata[c0 + 1], cdata[c0 + 2], cdata[c0 + 3], zero, zero, zero, zero
    if kind == FIXED_DIAGONAL:
        return cdata[c0], zero, zero, cdata[c0 + 1], zero, zero, zero, zero
    if kind == FIXED_MONOMIAL:  # new[perm[j]] = phase[j] old[j]
        if idata[istart[s]] == 0:
            return cdata[c0], zero, zero, cdata[c0 + 1], zero, zero, zero, zero
        return zero, cdata[c0 + 1], cdata[c0], zero, zero, zero, zero, zero
    if kind == ROT_DIAGONAL:
        x0, x1 = theta * cdata[c0].real, theta * cdata[c0 + 1].real
        return (complex(np.cos(x0), -np.sin(x0)), zero, zero, complex(np.cos(x1), -np.sin(x1)),
                complex(0.0, -cdata[c0].real), zero, zero, complex(0.0, -cdata[c0 + 1].real))
    # ROT_DENSE: sum_e exp(-i theta lambda_e) P_e
    x0, x1 = theta * cdata[c0 + 8].real, theta * cdata[c0 + 9].real
    z0, z1 = complex(np.cos(x0), -np.sin(x0)), complex(np.cos(x1), -np.sin(x1))
    return (z0 * cdata[c0] + z1 * cdata[c0 + 4], z0 * cdata[c0 + 1] + z1 * cdata[c0 + 5],
            z0 * cdata[c0 + 2] + z1 * cdata[c0 + 6], z0 * cdata[c0 + 3] + z1 * cdata[c0 + 7],
            cdata[c0 + 10], cdata[c0 + 11], cdata[c0 + 12], cdata[c0 + 13])


@njit(cache=True, fastmath=True)
def _permute(x, scratch, perm, phases, inverse):  # type: ignore[no-untyped-def]
    """A monomial on the whole state, in place: ``new[perm[i]] = phases[i] old[i]`` (or its inverse)."""
    for i in range(x.shape[0]):  # a loop, not scratch[:] = x: its broadcast checks took 4-5 s to compile
        scratch[i] = x[i]
    if inverse:
        for i in range(x.shape[0]):
            x[i] = np.conj(phases[i]) * scratch[perm[i]]
    else:
        for i in range(x.shape[0]):
            x[perm[i]] = phases[i] * scratch[i]


@njit(cache=True, fastmath=True)
def _run_row(x, a, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata, idata, dmax, lmax):  # type: ignore[no-untyped-def]
    """Apply every group of steps to the state ``x`` ``(2**n,)`` in place, angles ``a`` ``(S,)``."""
    N = x.shape[0]
    op = np.zeros((dmax, dmax), dtype=x.dtype)
    gen = np.zeros((dmax, dmax), dtype=x.dtype)
    ops = np.zeros((lmax, 2, 2), dtype=x.dtype)
    gens = np.zeros((lmax, 2, 2), dtype=x.dtype)
    v = np.zeros(dmax, dtype=x.dtype)
    off = np.zeros(dmax, dtype=np.int64)
    col = np.zeros(dmax, dtype=np.int64)
    scratch = np.zeros(N, dtype=x.dtype)
    none = np.zeros(0, dtype=x.dtype)
    prod = np.zeros((2, 2), dtype=x.dtype)
    for g in range(gkind.shape[0]):
        s0, s1 = gstart[g], gstart[g + 1]
        if gkind[g] == GROUP_RUN:
            _run_factors(s0, s1, kind, cstart, istart, cdata, idata, slot, a, ops, gens, col, prod)
            _pairs(x, 1 << qubits[qstart[s0]], prod)
        elif gkind[g] == GROUP_PERMUTATION:
            _permute(x, scratch, idata[gi[g]:gi[g] + N], cdata[gc[g]:gc[g] + N], False)
        else:
            theta = a[slot[s0]] if slot[s0] >= 0 else 0.0
            no = none.shape[0] > 0  # False, as a run-time bool: literal flags compiled _step twice (~5 s)
            _step(x, none, s0, kind[s0], qubits, qstart[s0], qstart[s0 + 1] - qstart[s0], cstart, istart,
                  cdata, idata, theta, no, no, op, gen, v, off, col)


@njit(cache=True, fastmath=True)
def _sweep_row(p, q, a, grad, gkind, gstart, gi, gc, kind, qstart, qubits, cstart, istart, slot, cdata, idata,  # type: ignore[no-untyped-def]
               dmax, lmax):
    """The adjoint sweep of one row, in place: the final state ``p`` and its cotangent ``q`` walk
    back through the groups; ``grad`` ``(S,)`` receives ``Re <q_out| -i G |p_out>`` of every
    rotating step at its slot. A run records the 2 x 2 cross matrix ``Y = sum q p^H`` after it and
    walks it back through its steps (``Y <- U^H Y U``), each step's term being ``Re sum conj(Y) (-i G)``."""
    N = p.shape[0]
    op = np.zeros((dmax, dmax), dtype=p.dtype)
    gen = np.zeros((dmax, dmax), dtype=p.dtype)
    ops = np.zeros((lmax, 2, 2), dtype=p.dtype)
    gens = np.zeros((lmax, 2, 2), dtype=p.dtype)
    y = np.zeros((2, 2), dtype=p.dtype)
    prod = np.zeros((2, 2), dtype=p.dtype)
    inv = np.zeros((2, 2), dtype=p.dtype)
    v = np.zeros(dmax, dtype=p.dtype)
    off = np.zeros(dmax, dtype=np.int64)
    col = np.zeros(dmax, dtype=np.int64)
    scratch = np.zeros(N, dtype=p.dtype)
    for g in range(gkind.shape[0] - 1, -1, -1):
        s0, s1 = gstart[g], gstart[g + 1]
        if gkind[g] == GROUP_RUN:
            _run_factors(s0, s1, kind, cstart, istart, cdata, idata, slot, a, ops, gens, col, prod)
            inv[0, 0], inv[0, 1] = np.conj(prod[0, 0]), np.conj(prod[1, 0])
            inv[1, 0], inv[1, 1] = np.conj(prod[0, 1]), np.conj(prod[1, 1])
            _cross_pairs(p, q, 1 << qubits[qstart[s0]], inv, y)
            for j in range(s1 - s0 - 1, -1, -1):
                if slot[s0 + j] >= 0:
                    t = 0.0
                    for r in range(2):
                        for c in range(2):
                            t += (np.conj(y[r, c]) * gens[j, r, c]).real
                    grad[slot[s0 + j]] += t
                if j:
                    _conjugate_by(y, ops[j])
        elif gkind[g] == GROUP_PERMUTATION:
            perm, phases = idata[gi[g]:gi[g] + N], cdata[gc[g]:gc[g] + N]
            _permute(p, scratch, perm, phases, True)
            _permute(q, scratch, perm, phases, True)
        else:
            rotating = slot[s0] >= 0
            theta = a[slot[s0]] if rotating else 0.0
            t = _step(p, q, s0, kind[s0], qubits, qstart[s0], qstart[s0 + 1] - qstart[s0], cstart,
                      istart, cdata, idata, theta, N > 0, rotating, op, gen, v, off, col)
            if rotating:
                grad[slot[s0]] += t


@njit(cache=True, fastmath=True)
def run(state, angles, *tape):  # type: ignore[no-untyped-def]
    """Apply every group of steps to each row of ``state`` ``(B, 2**n)`` in place."""
    shared = angles.shape[0] == 1
    for r in range(state.shape[0]):
        _run_row(state[r], angles[0 if shared else r], *tape)


@njit(cache=True, fastmath=True, parallel=True)
def run_rows(state, angles, *tape):  # type: ignore[no-untyped-def]
    """As :func:`run` with per-row angles, the rows spread over threads."""
    for r in prange(state.shape[0]):
        _run_row(state[r], angles[r], *tape)


@njit(cache=True, fastmath=True)
def sweep(psi, lam, angles, grad, *tape):  # type: ignore[no-untyped-def]
    """The adjoint sweep of every row, in place (:func:`_sweep_row`); ``grad`` ``(Ba, S)`` sums
    the rows when the angles are shared (``Ba == 1``)."""
    shared = angles.shape[0] == 1
    for r in range(psi.shape[0]):
        a = 0 if shared else r
        _sweep_row(psi[r], lam[r], angles[a], grad[a], *tape)


@njit(cache=True, fastmath=True, parallel=True)
def sweep_rows(psi, lam, angles, grad, *tape):  # type: ignore[no-untyped-def]
    """As :func:`sweep` with per-row angles, the rows spread over threads."""
    for r in prange(psi.shape[0]):
        _sweep_row(psi[r], lam[r], angles[r], grad[r], *tape)


@njit(cache=True, fastmath=True)
def _conjugate_by(y, u):  # type: ignore[no-untyped-def]
    """``y <- u^H y u`` for 2 x 2 matrices."""
    t00 = y[0, 0] * u[0, 0] + y[0, 1] * u[1, 0]
    t01 = y[0, 0] * u[0, 1] + y[0, 1] * u[1, 1]
    t10 = y[1, 0] * u[0, 0] + y[1, 1] * u[1, 0]
    t11 = y[1, 0] * u[0, 1] + y[1, 1] * u[1, 1]
    a, b, c, d = np.conj(u[0, 0]), np.conj(u[1, 0]), np.conj(u[0, 1]), np.conj(u[1, 1])
    y[0, 0], y[0, 1] = a * t00 + b * t10, a * t01 + b * t11
    y[1, 0], y[1, 1] = c * t00 + d * t10, c * t01 + d * t11


@njit(cache=True, fastmath=True)
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
