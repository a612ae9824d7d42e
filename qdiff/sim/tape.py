"""A compiled program as flat arrays (a *tape*) that numba kernels run in one call each.

On a small state the torch plan's cost is dispatch, not arithmetic: an 8-qubit energy gradient
makes about 180 torch calls of a few microseconds each for a few hundred thousand flops. A tape
holds every step of a :class:`~qdiff.sim.program.Program` in a handful of numpy arrays, grouped
once (a run of one-qubit steps on one qubit: one 2 x 2 product; consecutive fixed multi-qubit
monomials: one permutation of the whole state, from two small tables for CNOT/SWAP/X networks;
anything else: a step of its own; on a few thousand amplitudes
each group is a cache-resident pass), and :mod:`qdiff.sim.tape_kernels` runs the forward pass, or
the whole adjoint sweep with every angle's gradient, in one call. A large batch of small states
runs its forward in blocks of rows side by side (:func:`lanes`), with the rotations' trigonometry
computed by torch for the whole batch (:func:`lane_trigonometry`).

numba is optional: :func:`tape_for` returns ``None`` when it is missing or the state does not
suit a tape (not on the CPU; wider than :data:`TAPE_MAX_QUBITS`, unless the program streams, see
:data:`TAPE_WIDE_MAX_QUBITS`), and the engines use the torch plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from qdiff.sim.jit import THREADED_MIN_ROWS, kernels, owns_thread_pool, threaded
from qdiff.sim.program import Program

TAPE_MAX_QUBITS = 14
"""Widest state the tape runs. Up to here the torch plan gained nothing from a second thread and
the tape, one thread per row, was about 2x faster (4-layer energy gradient: n = 12 2.1-2.9 against
4.4-6.0 ms, n = 14 5.5-6.8 against 9.7-16 ms; batches of 64 rows 4-5x; a 14-qubit Born step 11
against 18-22 ms); at n = 15 the plan starts to use its threads, at 16 the two were even on 2
cores."""

# No limit on the batch: energy gradients of the 4-layer hardware-efficient ansatz ran 2.4-7x
# faster on the tape than on the torch plan at every size measured (n = 8 x 1024 and 4096 rows,
# n = 10 x 256, n = 11 x 64, 256 and 1024; shared angles with 64-256 initial states too).

TAPE_WIDE_MAX_QUBITS = 22
"""Widest complex128 state the tape runs when every group of its program is one pass over the
state without a table of the whole state (:func:`streams`: one-qubit runs, diagonals on up to four
qubits, Pauli strings, CNOT/SWAP/X networks as two small tables; no other whole-state
permutation, whose index table would outgrow the state). One thread per row still beat the
torch plan on two: QAOA MaxCut (p = 4, 3-regular) energy + gradient n = 16 59-69 against 129-142
ms, n = 18 225-277 against 900-937, n = 20 1.34 against 4.38 s, n = 22 7.1 against 20.1 s; the
4-layer hardware-efficient (CX chain) energy + gradient 0.50-0.54x the plan's time at n = 18,
0.55-0.58x at n = 20 (the sweep follows its permutations' cycles in place: no state of scratch).
Measured no wider. A complex64 state runs its own complex64 kernels (compiled on first use, about
15 s), for gradients only (:func:`tape_for`): energy + gradient against the plan, QAOA p = 4
n = 16-22 0.46-0.25x the time (n = 20 0.35 against 1.29 s), hardware-efficient n = 18-22
0.73-0.78x, n = 16 even. Fewer rows than
:data:`~qdiff.sim.jit.THREADED_MIN_ROWS` cut each pass over threads instead (``run_wide``,
``sweep_wide``; on this machine's two cores QAOA n = 20 ran 1.6x faster, forward and sweep,
n = 16-18 even: those states stay in cache; more cores would otherwise idle where the plan
used them all)."""

LANE_MAX_QUBITS = 12
"""Widest complex128 state whose rows a forward runs side by side (:func:`lanes`). Public
``qdiff.state`` against the row kernel, 4-layer hardware-efficient circuit: 256 rows n = 10 0.67x
the time, n = 11 0.76x, n = 12 0.92x (1024 rows 0.91x), n = 13 0.95x, n = 14 1.10x; QAOA p = 2
(rzz lane passes), 256 rows: n = 10 0.52x, n = 11 0.59x, n = 12 0.84x (session 13; the limit was
10 before the product start and the permutations riding on the passes, when n = 11 took 1.18x)."""

LANE_MAX_QUBITS_COMPLEX64 = 14
"""Widest complex64 state whose rows a forward runs side by side, in float32 (half the block),
here every complex64 state the tape runs (:data:`TAPE_MAX_QUBITS`): public ``qdiff.state``
against the row kernel, hardware-efficient circuit: 1024 rows n = 12 0.44x, 128 rows n = 13
0.54x, n = 14 0.55x (256 rows 0.49x); QAOA p = 2, 256 rows: n = 13 0.45x, n = 14 0.49x."""

TAPE_MAX_STEP_QUBITS = 4
"""Widest dense step a tape holds (its ``d x d`` operator is applied entry by entry)."""


def _kernels():  # type: ignore[no-untyped-def]
    """:mod:`qdiff.sim.tape_kernels`, or ``None`` without numba."""
    return kernels("tape_kernels")


@dataclass(frozen=True, eq=False)
class Tape:
    """The steps of a program as arrays (layout: :mod:`qdiff.sim.tape_kernels`).

    Attributes:
        gkind, gstart, gi, gc: the groups the kernels run: ``GROUP_RUN`` (consecutive one-qubit
            steps on one qubit, applied as one 2 x 2 product), ``GROUP_AFFINE`` (consecutive fixed
            multi-qubit monomials that together map basis indices by ``j -> A j ^ b`` with no
            phases, CNOTs, SWAPs: :func:`_affine_tables` at ``idata[gi]``, ``gc`` -1),
            ``GROUP_PERMUTATION`` (other such runs of two or more, as one permutation of the whole
            state, its ``2**n`` indices at ``idata[gi]`` and phases at ``cdata[gc]``, ``gc`` -1 when
            they are all one) or ``GROUP_STEP`` (one step); group ``g`` holds steps
            ``gstart[g] .. gstart[g+1]-1``.
        kind, qstart, qubits, cstart, istart, slot: ``int64`` step tables (``slot`` -1 for fixed steps).
        cdata: every step's complex data in one array (complex128, as the kernels compute).
        idata: the permutations of monomial and Pauli steps.
        dmax: the largest ``2**k`` of a step (the kernels' vectors).
        mmax: the largest ``2**k`` of a step applied as a matrix (dense, or at most two qubits; a
            wide Pauli or diagonal step never is: sizing the ``dmax x dmax`` scratch matrices by a
            12-qubit Pauli rotation allocated 512 MiB per row).
        global_phase: ``exp(i phase)`` of the program.
    """

    gkind: np.ndarray
    gstart: np.ndarray
    gi: np.ndarray
    gc: np.ndarray
    kind: np.ndarray
    qstart: np.ndarray
    qubits: np.ndarray
    cstart: np.ndarray
    istart: np.ndarray
    slot: np.ndarray
    cdata: np.ndarray
    idata: np.ndarray
    dmax: int
    mmax: int
    global_phase: complex

    @cached_property
    def side_by_side(self) -> bool:
        """Whether every group is one the lane kernels run for all their rows at once: one-qubit
        runs, whole-state permutations, diagonal steps on 2 to
        :data:`~qdiff.sim.tape_kernels.DIAGONAL_PASS_MAX_QUBITS` qubits (``rzz``, ``cz``, ``cp``,
        ``crz``, Z strings). Tapes with any other kind of step keep the row kernel: run one lane
        at a time, as a row, such steps made QAOA slower than the row kernel before its ``rzz``
        steps had their lane pass (144 rows at n = 10: 10.7 against 2.6 ms)."""
        from qdiff.sim import tape_kernels as K

        for g in np.flatnonzero(self.gkind == K.GROUP_STEP):
            s = self.gstart[g]
            k = self.qstart[s + 1] - self.qstart[s]
            if self.kind[s] not in (K.ROT_DIAGONAL, K.FIXED_DIAGONAL) or not 2 <= k <= K.DIAGONAL_PASS_MAX_QUBITS:
                return False
        return True

    @cached_property
    def lane_trig(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(trig, slots, eigenvalues)``: where the lane kernels read each one-qubit step's phases
        ``z_e = exp(-i theta l_e)`` from the table of ``cos, sin`` that :func:`lane_trigonometry`
        computes, one column per ``(slot, eigenvalue)`` in ``slots, eigenvalues`` ``(C - 1,)`` and
        a last column of angle zero. ``trig`` ``(steps, 3)``: each step's columns for ``z0, z1``
        and the sign of the second's sine (-1 where ``l1 = -l0``, every Pauli rotation: one column
        serves both); a zero eigenvalue and fixed steps read the last column."""
        from qdiff.sim import tape_kernels as K

        slots: list[int] = []
        eigenvalues: list[float] = []

        def column(slot: int, eigenvalue: float) -> int:  # -1: the column of angle zero
            if eigenvalue == 0:
                return -1
            slots.append(slot)
            eigenvalues.append(eigenvalue)
            return len(slots) - 1

        rows = []
        for s in range(len(self.kind)):
            if self.slot[s] < 0 or self.qstart[s + 1] - self.qstart[s] != 1:
                rows.append((-1, -1, 1))
                continue
            c0 = self.cstart[s] + (0 if self.kind[s] == K.ROT_DIAGONAL else 8)
            l0, l1 = self.cdata[c0].real, self.cdata[c0 + 1].real
            k0 = column(int(self.slot[s]), l0)
            rows.append((k0, k0, -1) if l1 == -l0 else (k0, column(int(self.slot[s]), l1), 1))
        trig = np.array(rows, dtype=np.int64).reshape(-1, 3)
        trig[:, :2][trig[:, :2] < 0] = len(slots)  # the column of angle zero
        return trig, np.array(slots, dtype=np.int64), np.array(eigenvalues, dtype=np.float64)

    @cached_property
    def lane_real(self) -> np.ndarray:
        """``(groups,)`` ``int64``: 1 for a one-qubit run whose every step is real at every angle,
        which the lanes apply as a real ``2 x 2`` on the real and imaginary parts
        (:func:`~qdiff.sim.tape_kernels._lane_pair`): half the arithmetic of a complex
        one."""
        from qdiff.sim import tape_kernels as K

        real = np.zeros(len(self.gkind), dtype=np.int64)
        for g in np.flatnonzero(self.gkind == K.GROUP_RUN):
            real[g] = all(_real_one_qubit_step(self, s) for s in range(self.gstart[g], self.gstart[g + 1]))
        return real


def _real_one_qubit_step(tape: Tape, s: int, tolerance: float = 1e-12) -> bool:
    """Whether one-qubit step ``s``'s operator is real at every angle: a fixed one with real
    entries (``h``, ``x``, ``z``), or a rotation ``cos(theta l) (P0 + P1) - i sin(theta l)
    (P0 - P1)`` (eigenvalues ``l, -l``) with ``P0 + P1`` real and ``P0 - P1`` imaginary (``ry``).
    A rotation with a diagonal generator (``rz``, ``p``) never is."""
    from qdiff.sim import tape_kernels as K

    kind, c0 = tape.kind[s], tape.cstart[s]
    if kind == K.ROT_DENSE:
        p0, p1 = tape.cdata[c0:c0 + 4], tape.cdata[c0 + 4:c0 + 8]
        l0, l1 = tape.cdata[c0 + 8].real, tape.cdata[c0 + 9].real
        return bool(l1 == -l0 and np.all(np.abs((p0 + p1).imag) <= tolerance)
                    and np.all(np.abs((p0 - p1).real) <= tolerance))
    if kind == K.FIXED_DENSE:
        return bool(np.all(np.abs(tape.cdata[c0:c0 + 4].imag) <= tolerance))
    if kind in (K.FIXED_DIAGONAL, K.FIXED_MONOMIAL):
        return bool(np.all(np.abs(tape.cdata[c0:c0 + 2].imag) <= tolerance))
    return False


def lower(program: Program) -> Tape | None:
    """The tape of ``program``, or ``None`` when a dense step is wider than :data:`TAPE_MAX_STEP_QUBITS`."""
    from qdiff.sim import tape_kernels as K

    kinds, qstart, qubits, cstart, istart, slots = [], [0], [], [], [], []
    cdata: list[np.ndarray] = []
    idata: list[np.ndarray] = []
    csize = isize = 0
    dmax = mmax = 1
    for step in program.steps:
        d = 1 << len(step.qubits)
        if step.kind == "dense" and len(step.qubits) > TAPE_MAX_STEP_QUBITS:
            return None
        dmax = max(dmax, d)
        if step.kind == "dense" or len(step.qubits) <= 2:
            mmax = max(mmax, d)
        perm = None
        if step.slot is None:
            if step.kind == "dense":
                kind, data = K.FIXED_DENSE, np.asarray(step.fixed, dtype=complex).reshape(-1)
            elif step.kind == "diagonal":
                kind, data = K.FIXED_DIAGONAL, np.asarray(step.fixed, dtype=complex)
            else:
                kind, data = K.FIXED_MONOMIAL, np.asarray(step.monomial[1], dtype=complex)
                perm = step.monomial[0]
        elif step.kind == "diagonal":
            kind, data = K.ROT_DIAGONAL, np.asarray(step.diagonal, dtype=complex)
        elif step.kind == "pauli":
            phases = np.asarray(step.monomial[1], dtype=complex)
            g = float(abs(phases[0]))
            masks = _pauli_string_masks(step.monomial[0], phases / g, step.qubits)
            if masks is None:
                kind, data, perm = K.ROT_PAULI, np.concatenate([phases / g, [g]]), step.monomial[0]
            else:
                kind, data, perm = K.ROT_PAULI_STRING, np.array([phases[0] / g, g]), masks
        else:
            lam, vec = np.linalg.eigh(step.dense)
            projectors = np.einsum("ie,je->eij", vec, vec.conj())
            kind = K.ROT_DENSE
            data = np.concatenate([projectors.reshape(-1), lam.astype(complex), (-1j * step.dense).reshape(-1)])
        kinds.append(kind)
        qubits += step.qubits
        qstart.append(len(qubits))
        slots.append(-1 if step.slot is None else step.slot)
        cstart.append(csize)
        istart.append(isize)
        cdata.append(data)
        csize += len(data)
        if perm is not None:
            idata.append(np.asarray(perm, dtype=np.int64))
            isize += len(perm)
    gkind, gstart, gi, gc = [], [], [], []
    affine_at: dict[bytes, int] = {}  # where each distinct affine table already is in idata
    steps, i = program.steps, 0
    while i < len(steps):
        j = i + 1
        one_qubit = len(steps[i].qubits) == 1
        if one_qubit:
            while j < len(steps) and steps[j].qubits == steps[i].qubits:
                j += 1
        elif _fixed_map(steps[i], program.num_qubits):  # one-qubit monomials (X, Y) stay runs: a Y's
            while j < len(steps) and _fixed_map(steps[j], program.num_qubits) and len(steps[j].qubits) > 1:
                j += 1  # phases would make a table
        gstart.append(i)
        gi.append(isize)
        gc.append(csize)
        if one_qubit:
            gkind.append(K.GROUP_RUN)
        elif _is_permutation(steps[i]) and (affine := _affine_tables(steps[i:j], program.num_qubits)) is not None:
            # CNOTs, SWAPs and X: two small tables, no phases; repeats share them
            gkind.append(K.GROUP_AFFINE)
            gc[-1] = -1
            key = affine.tobytes()
            if key in affine_at:
                gi[-1] = affine_at[key]
            else:
                affine_at[key] = isize
                idata.append(affine)
                isize += len(affine)
        elif j - i > 1:  # one permutation of the whole state
            gkind.append(K.GROUP_PERMUTATION)
            perm, phases = _whole_permutation(steps[i:j], program.num_qubits)
            idata.append(perm)
            isize += len(perm)
            if np.all(phases == 1):  # no phases to apply
                gc[-1] = -1
            else:
                cdata.append(phases)
                csize += len(phases)
        else:
            gkind.append(K.GROUP_STEP)
        i = j
    gstart.append(len(steps))
    ints = {name: np.asarray(v, dtype=np.int64) for name, v in
            (("gkind", gkind), ("gstart", gstart), ("gi", gi), ("gc", gc), ("kind", kinds), ("qstart", qstart),
             ("qubits", qubits), ("cstart", cstart), ("istart", istart), ("slot", slots))}
    return Tape(**ints, cdata=np.concatenate(cdata) if cdata else np.zeros(0, complex),
                idata=np.concatenate(idata) if idata else np.zeros(1, np.int64), dmax=dmax, mmax=mmax,
                global_phase=complex(np.exp(1j * program.global_phase)))


def streams(program: Program) -> bool:
    """Whether every step of ``program`` becomes one pass over the state without a table of the
    whole state on a tape (``False`` without numba): one-qubit steps (runs), dense two-qubit
    steps (a pass over the quads), diagonals on up to four qubits
    (:func:`~qdiff.sim.tape_kernels._diagonal_pass`), Pauli-string rotations (masks) and CNOTs,
    SWAPs and other phase-free affine permutations (two tables of about ``2**(n/2)`` entries a
    group). Read from the steps (cached on the program), so that a wide program that
    does not stream is never lowered: the whole-state permutation tables of a 100-layer ansatz
    with Toffolis at n = 20 would take 2.4 GB."""
    K = _kernels()
    if K is None:
        return False
    cache = program._torch
    if "streams" not in cache:
        cache["streams"] = all(_one_pass(step, K.DIAGONAL_PASS_MAX_QUBITS) or
                               (_is_permutation(step) and _affine_local(step) is not None) for step in program.steps)
    return cache["streams"]


def _affine_local(step) -> tuple[list[int], int] | None:  # type: ignore[no-untyped-def]
    """A fixed monomial step's basis map ``j -> perm[j]`` on its qubits as ``(images of the unit
    vectors under the linear part, perm[0])`` when it is affine over GF(2) with all phases one
    (CNOT, SWAP, X, and products of them), else ``None`` (a Toffoli, a phase)."""
    if step.kind != "monomial":
        return None  # a fixed diagonal (CZ) joined the group: phases, no affine map
    perm, phases = np.asarray(step.monomial[0]), np.asarray(step.monomial[1], dtype=complex)
    if not np.allclose(phases, 1, rtol=0, atol=1e-12):
        return None
    k, constant = len(step.qubits), int(perm[0])
    images = [int(perm[1 << i]) ^ constant for i in range(k)]
    for j in range(1 << k):
        image = constant
        for i in range(k):
            if j >> i & 1:
                image ^= images[i]
        if image != int(perm[j]):
            return None
    return images, constant


def _affine_tables(steps, n: int) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """``[h, low (2**h), top (2**(n - h))]`` with ``h = n // 2`` for the map of basis indices
    ``j -> A j ^ b = top[j >> h] ^ low[j & (2**h - 1)]`` that the fixed monomial ``steps`` make
    together (see :func:`~qdiff.sim.tape_kernels._permute_affine`), or ``None`` when one of them
    is not :func:`_affine_local`."""
    columns, shift = [1 << q for q in range(n)], 0  # A's columns (images of unit vectors) and b
    for step in steps:
        local = _affine_local(step)
        if local is None:
            return None
        images, constant = local
        columns = [_apply_linear(c, step.qubits, images) for c in columns]
        shift = _apply_linear(shift, step.qubits, images) ^ _scatter_bits(constant, step.qubits)
    h = n // 2
    low, top = np.zeros(1, np.int64), np.array([shift], np.int64)
    for q in range(n):
        if q < h:
            low = np.concatenate([low, low ^ columns[q]])
        else:
            top = np.concatenate([top, top ^ columns[q]])
    return np.concatenate([[h], low, top])


def _scatter_bits(bits: int, qubits: tuple[int, ...]) -> int:
    """A step's local index as whole-state bits (bit ``i`` onto qubit ``qubits[i]``)."""
    return sum(((bits >> i) & 1) << q for i, q in enumerate(qubits))


def _apply_linear(v: int, qubits: tuple[int, ...], images: list[int]) -> int:
    """The linear part of a step's affine map (local unit-vector ``images``) on the whole-state
    index ``v``: its bits on ``qubits`` replaced by their image, the others kept."""
    image = 0
    for i, q in enumerate(qubits):
        if v >> q & 1:
            image ^= images[i]
    return (v & ~_scatter_bits((1 << len(qubits)) - 1, qubits)) | _scatter_bits(image, qubits)


def _plan_forward_faster(program: Program, state: torch.Tensor) -> bool:
    """Whether the torch plan runs the forward alone of a wide ``state`` faster than the tape: in
    complex64 (its float32 GEMMs), or with dense two-qubit steps (the plan fuses them into wider
    blocks; the tape takes a pass over the quads each: two layers of ``ry`` and ``cry`` at n = 20,
    complex128, 108-114 against 89-91 ms)."""
    cache = program._torch
    if "dense_pairs" not in cache:
        cache["dense_pairs"] = any(_dense_pair(step) for step in program.steps)
    return state.dtype == torch.complex64 or cache["dense_pairs"]


def _dense_pair(step) -> bool:  # type: ignore[no-untyped-def]
    """Whether a step is a dense two-qubit operator (``cry``, ``crx``, ``ch``, a two-qubit
    ``unitary``), which a wide tape runs as one pass over the quads."""
    return len(step.qubits) == 2 and step.kind == "dense"


def _one_pass(step, diagonal_max: int) -> bool:  # type: ignore[no-untyped-def]
    if len(step.qubits) == 1 or _dense_pair(step):
        return True
    if step.kind == "diagonal":
        return len(step.qubits) <= diagonal_max
    if step.kind != "pauli":
        return False
    phases = np.asarray(step.monomial[1], dtype=complex)
    return _pauli_string_masks(step.monomial[0], phases / abs(phases[0]), step.qubits) is not None


def _pauli_string_masks(perm, phases: np.ndarray, qubits: tuple[int, ...]) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """``(x, z, highest bit of x)`` as whole-state masks when the local monomial ``M |j> =
    phases[j] |perm[j]>`` is ``phases[0] X^x Z^z`` (a Pauli string: ``perm[j] = j ^ x``, ``phases[j]
    = phases[0] (-1)**|j & z|``); else ``None`` (another Hermitian monomial, e.g. a SWAP)."""
    j = np.arange(len(phases))
    local_x = int(perm[0])
    flipped = (phases[1 << np.arange(len(qubits))] / phases[0]).real < 0  # the Z and Y bits (checked below)
    local_z = int(np.sum(flipped << np.arange(len(qubits))))
    parity = j & local_z
    for shift in (16, 8, 4, 2, 1):  # fold the bits (k <= 32 here)
        parity = parity ^ (parity >> shift)
    signs = 1 - 2 * (parity & 1)
    if local_x == 0 or not np.array_equal(np.asarray(perm), j ^ local_x) or \
            not np.allclose(phases, phases[0] * signs, rtol=0, atol=1e-12):
        return None
    x = sum(1 << q for b, q in enumerate(qubits) if local_x >> b & 1)
    z = sum(1 << q for b, q in enumerate(qubits) if local_z >> b & 1)
    return np.array([x, z, x.bit_length() - 1], dtype=np.int64)


def _is_permutation(step) -> bool:  # type: ignore[no-untyped-def]
    return step.kind == "monomial" and step.slot is None


def _fixed_map(step, n: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether a step may join its fixed neighbours in one whole-state permutation group: a fixed
    monomial (CNOT, SWAP, Toffoli, CY), or a fixed diagonal (CZ, CCZ, CS) on a state small enough
    for a table of the whole state (:data:`TAPE_MAX_QUBITS`; wider programs stream, see
    :func:`streams`). A CZ chain so costs one pass, where each CZ was a pass of its own (an
    8-qubit hardware-efficient layer with 7 CZs, 1024 rows side by side: see benchmarks/README)."""
    if step.slot is not None:
        return False
    return step.kind == "monomial" or (step.kind == "diagonal" and n <= TAPE_MAX_QUBITS)


def _whole_permutation(steps, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Fixed monomial and diagonal steps composed into one map of the whole state: ``new[perm[i]] =
    phases[i] old[i]``."""
    perm, phases = np.arange(1 << n), np.ones(1 << n, dtype=complex)
    for step in steps:
        if step.kind == "diagonal":
            local_perm, local_phases = np.arange(1 << len(step.qubits)), np.asarray(step.fixed, dtype=complex)
        else:
            local_perm, local_phases = np.asarray(step.monomial[0]), np.asarray(step.monomial[1], dtype=complex)
        mask = sum(1 << q for q in step.qubits)
        local = np.zeros_like(perm)
        for bit, q in enumerate(step.qubits):
            local |= ((perm >> q) & 1) << bit
        moved = np.zeros_like(perm)
        for bit, q in enumerate(step.qubits):
            moved |= ((local_perm[local] >> bit) & 1) << q
        phases = phases * local_phases[local]
        perm = (perm & ~mask) | moved
    return perm, phases


def tape_for(program: Program, state: torch.Tensor, forward_only: bool = False) -> Tape | None:
    """The program's tape (lowered once, cached on the program) when ``state`` ``(B, 2**n)`` suits
    one, else ``None``: numba installed and a CPU state of at most :data:`TAPE_MAX_QUBITS` qubits,
    any batch; or up to :data:`TAPE_WIDE_MAX_QUBITS` for a program that :func:`streams`, except a
    forward alone (``forward_only``: no sweep follows) that the torch plan runs faster
    (:func:`_plan_forward_faster`; complex64: 4-layer hardware-efficient circuit n = 20 24 against
    34 ms, n = 22 98 against 136; QAOA p = 4 even to 0.87x)."""
    n = program.num_qubits
    if state.device.type != "cpu" or n > TAPE_WIDE_MAX_QUBITS or _kernels() is None:
        return None
    if n > TAPE_MAX_QUBITS and (not streams(program) or (forward_only and _plan_forward_faster(program, state))):
        return None
    cache = program._torch
    if "tape" not in cache:
        cache["tape"] = lower(program)
    return cache["tape"]


def _arrays(tape: Tape) -> tuple:
    return (tape.gkind, tape.gstart, tape.gi, tape.gc, tape.kind, tape.qstart, tape.qubits, tape.cstart, tape.istart,
            tape.slot, tape.cdata, tape.idata, tape.dmax, tape.mmax)


def _kernel(state: np.ndarray, name: str):  # type: ignore[no-untyped-def]
    """The kernel ``name`` (``"run"`` or ``"sweep"``) for ``state`` ``(B, 2**n)``: rows over
    threads (``_rows``) from :data:`~qdiff.sim.jit.THREADED_MIN_ROWS` rows; fewer rows wider than
    :data:`TAPE_MAX_QUBITS` (a program that :func:`streams`, see :func:`tape_for`) cut each pass
    over threads (``_wide``); else one thread."""
    K = _kernels()
    rows, size = state.shape
    if rows < THREADED_MIN_ROWS and size > 1 << TAPE_MAX_QUBITS and owns_thread_pool():
        return getattr(K, name + "_wide")
    return getattr(K, name + "_rows") if threaded(rows) else getattr(K, name)


def _working_dtype(state: torch.Tensor, side_by_side: bool = False) -> torch.dtype:
    """The dtype the kernels compute ``state`` ``(B, 2**n)`` in: complex64 for a complex64 state
    whose rows run side by side (:func:`lanes`) or that is wider than :data:`TAPE_MAX_QUBITS`,
    else complex128 (see :func:`run_tape`)."""
    wide = state.shape[1] > 1 << TAPE_MAX_QUBITS
    return torch.complex64 if state.dtype == torch.complex64 and (side_by_side or wide) else torch.complex128


def _working(x: torch.Tensor, dtype: torch.dtype = torch.complex128) -> torch.Tensor:
    """A contiguous working copy of ``x`` in ``dtype`` (always a copy: the kernels write into it)."""
    return x.detach().resolve_conj().to(dtype, memory_format=torch.contiguous_format, copy=True)


NUMPY_MAX_ELEMENTS = 1 << 16
"""Elements up to which the tape converts dtypes in numpy: a torch conversion costs 3-4 us a call
even for a few hundred numbers, numpy's well under 1 (a single complex64 call of an 8-qubit
circuit makes three: 12 us of its 36); larger tensors convert with torch's threads."""


_TORCH_OF = {np.float64: torch.float64, np.complex128: torch.complex128, np.complex64: torch.complex64}
_NUMPY_OF = {torch.float32: np.float32, torch.float64: np.float64, torch.complex64: np.complex64,
             torch.complex128: np.complex128}


def _numpy_as(t: torch.Tensor, dtype: type) -> np.ndarray:
    """``t`` (a CPU tensor, detached, no lazy conjugate) as a contiguous numpy array of ``dtype``
    (float64, complex128 or complex64): a view when it already is one, else a converted copy."""
    if t.numel() > NUMPY_MAX_ELEMENTS and (t.dtype != _TORCH_OF[dtype] or not t.is_contiguous()):
        t = t.to(_TORCH_OF[dtype]).contiguous()
    return np.ascontiguousarray(t.numpy(), dtype=dtype)


def _torch_as(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """``x`` as a tensor of ``dtype``: sharing its memory when the dtypes agree, else a converted
    copy (in numpy up to :data:`NUMPY_MAX_ELEMENTS`)."""
    t = torch.from_numpy(x)
    if t.dtype == dtype:
        return t
    if x.size <= NUMPY_MAX_ELEMENTS:
        return torch.from_numpy(x.astype(_NUMPY_OF[dtype]))
    return t.to(dtype)


def _angles(angles: torch.Tensor) -> np.ndarray:
    """``angles`` as a contiguous float64 array (a view when they already are one)."""
    return _numpy_as(angles.detach(), np.float64)


def _initial_rows(state: torch.Tensor, dtype: type = np.complex128) -> np.ndarray:
    """What the forward kernels read the initial states from (never write): ``(1, 2**n)`` when
    every row of ``state`` ``(B, 2**n)`` is one state (a batch stride of 0, as
    :func:`qdiff.execute.prepare` lays out a basis state), else ``(B, 2**n)``; of ``dtype`` and
    contiguous, a view of ``state`` when it already is."""
    s = state.detach()
    if s.shape[0] > 1 and s.stride(0) == 0:
        s = s[:1]
    return _numpy_as(s.resolve_conj() if s.is_conj() else s, dtype)


def lanes(tape: Tape, state: np.ndarray | torch.Tensor) -> bool:
    """Whether the forward of ``state`` ``(B, 2**n)`` runs its rows side by side in blocks
    (:func:`~qdiff.sim.tape_kernels.run_lanes`): every group of ``tape`` one the lanes run
    together (:attr:`Tape.side_by_side`), at most :data:`LANE_MAX_QUBITS` qubits
    (:data:`LANE_MAX_QUBITS_COMPLEX64` in complex64), two blocks of
    :data:`~qdiff.sim.tape_kernels.LANE_MIN` rows a thread or more (n = 8 on two threads, against
    the row kernel: 32 rows 2x slower in one block, 64 even, 128-256 rows 0.88x the time, 1024
    0.74-0.78x), in the process that owns numba's threads."""
    if not tape.side_by_side:
        return False
    rows, size = state.shape
    minimum = 2 * _kernels().LANE_MIN
    widest = LANE_MAX_QUBITS_COMPLEX64 if state.dtype in (torch.complex64, np.complex64) else LANE_MAX_QUBITS
    if rows < minimum or size > 1 << widest or not owns_thread_pool():
        return False  # before the thread count: asking numba for it starts its threads
    import numba

    return rows >= minimum * numba.get_num_threads()


def lane_blocks(rows: int) -> int:
    """The blocks :func:`~qdiff.sim.tape_kernels.run_lanes` cuts ``rows`` into: blocks of at most
    :data:`~qdiff.sim.tape_kernels.LANES` rows, at least one per thread while each keeps
    :data:`~qdiff.sim.tape_kernels.LANE_MIN` rows (64 rows in one block ran 1.6x slower than the
    row kernel on two threads)."""
    import numba

    K = _kernels()
    return max(-(-rows // K.LANES), min(numba.get_num_threads(), rows // K.LANE_MIN))


def lane_trigonometry(tape: Tape, angles: np.ndarray, rows: int,
                      dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``cos, sin`` ``(C, rows)`` of ``dtype`` of the angles ``theta l`` of :attr:`Tape.lane_trig`'s
    columns at ``angles`` ``(Ba, S)`` (``Ba`` 1 or ``rows``), the last column zero; torch
    evaluates them for the whole batch with vector instructions (numba calls the scalar library).
    A complex64 batch takes them in float32, as its lanes compute (and as the torch plan does):
    1024 rows of 64 columns 0.26 -> 0.15 us a row on one thread."""
    _, slots, eigenvalues = tape.lane_trig
    real = torch.float32 if dtype == np.float32 else torch.float64
    x = torch.empty(len(slots) + 1, rows, dtype=real)
    x[-1] = 0.0
    columns = torch.from_numpy(angles).T[slots].to(real)  # (C - 1, Ba): rows of the transposed angles
    x[:-1] = columns * torch.from_numpy(eigenvalues).to(real)[:, None]  # Ba = 1 broadcasts over the rows
    return torch.cos(x).numpy(), torch.sin(x).numpy()


def run_tape(tape: Tape, state: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The final states for ``state`` ``(B, 2**n)`` (not modified) and ``angles`` ``(B or 1, S)``.

    The row kernels of small states work in complex128 whatever the state's dtype (one compiled
    set instead of two: compiling one took 15-30 s on these machines; a small state's precision
    costs nothing here); rows side by side (:func:`lanes`) compute a complex64 batch in float32,
    whose passes take twice the lanes an instruction, and so do the kernels of wide complex64
    states (a complex128 working copy would take twice their memory). The kernels copy each row's initial state into the
    result themselves (:func:`_initial_rows`): a batch that starts from one basis state allocates
    only the result."""
    side_by_side = lanes(tape, state)
    x = np.empty(state.shape, dtype=_NUMPY_OF[_working_dtype(state, side_by_side)])
    a = _angles(angles)
    if side_by_side:
        cos, sin = lane_trigonometry(tape, a, x.shape[0], x.real.dtype.type)
        _kernels().run_lanes(x, _initial_rows(state), a, cos, sin, tape.lane_trig[0],
                             tape.lane_real, lane_blocks(x.shape[0]), *_arrays(tape))
    else:
        _kernel(x, "run")(x, _initial_rows(state, x.dtype.type), a, *_arrays(tape))
    out = _torch_as(x, state.dtype)
    if tape.global_phase != 1:
        out.mul_(tape.global_phase)
    return out


def sweep_tape(tape: Tape, final: torch.Tensor, grad_state: torch.Tensor, angles: torch.Tensor,
               overwrite_final: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The adjoint sweep: ``(dL/dangles (B or 1, S), dL/dinitial (B, 2**n))`` from the final states
    and their cotangent ``grad_state`` (``dL/dpsi*``, torch's convention), in complex128 as
    :func:`run_tape` (a wide complex64 state in complex64). ``overwrite_final``: nothing reads
    ``final`` afterwards, so a contiguous one of the working dtype is uncomputed in its own memory
    (one state less than a copy)."""
    back = tape.global_phase.conjugate()
    working = _working_dtype(final)
    in_place = overwrite_final and final.dtype == working and final.is_contiguous()
    psi, lam = final.detach() if in_place else _working(final, working), _working(grad_state, working)
    if back != 1:
        psi.mul_(back)
        lam.mul_(back)
    a = _angles(angles)
    grad = np.zeros(a.shape, dtype=np.float64)
    p = psi.numpy()
    _kernel(p, "sweep")(p, lam.numpy(), a, grad, *_arrays(tape))
    return _torch_as(grad, angles.dtype), _torch_as(lam.numpy(), final.dtype)
