"""Gate fusion: regroup a :class:`~qdiff.sim.program.Program`'s steps into fewer, larger blocks.

This module is the structural (numpy, angle-free) half of the execution plan; :mod:`qdiff.sim.plan`
turns it into torch operators for a call. Fusion never changes results beyond rounding: every
block is the exact ordered product of the steps it replaces.

Segmentation walks the steps once, keeping the single-qubit steps seen since the last flush
*pending* per qubit (in order):

* a single-qubit step (rotation or fixed, any structure) joins its qubit's pending run;
* a multi-qubit step that touches a qubit with pending steps first flushes ALL pending runs as one
  :class:`Layer` (they act on distinct qubits, so they commute with each other, and none of them
  has crossed a multi-qubit step on its qubit). Pending runs on untouched qubits may wait past
  a multi-qubit step: it acts on other qubits and commutes with them;
* a fixed monomial or diagonal multi-qubit step (cx, cz, swap, ccx, ...) joins the previous
  :class:`Merged` segment when nothing was emitted since and the union of qubits stays within
  ``max_merge`` (a whole CX chain becomes one gather);
* any other multi-qubit step (two-qubit rotations, fixed dense gates) stays a :class:`Single`.

A layer is later cut into :class:`Chunk` s of at most ``k`` consecutive qubits (qubits inside the
range without a run get the identity); each chunk is one dense ``2**k x 2**k`` block, the
Kronecker product of its runs' ``2 x 2`` products, or a diagonal one when every step of it is
diagonal. How large ``k`` should be depends on the state size (see :func:`chunk_qubits`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qdiff.sim.program import Program, Step

MAX_MERGE = 12
"""Most qubits a merged fixed monomial may span on large states (its gather index grows as ``2**k``)."""


@dataclass(frozen=True)
class Layer:
    """Runs of single-qubit steps on distinct qubits: ``runs[i] = (qubit, step indices in order)``."""

    runs: tuple[tuple[int, tuple[int, ...]], ...]


@dataclass(frozen=True, eq=False)
class Merged:
    """Consecutive fixed monomial/diagonal steps as one monomial on ascending ``qubits``.

    ``new[perm[j]] = phases[j] * old[j]`` over the local basis of ``qubits`` (``2**k`` entries):
    read-only numpy arrays ``int64`` / ``complex128``, shared between segments that merge the
    same gates on the same qubits (every layer of a hardware-efficient ansatz), never tuples of
    ``2**k`` Python numbers. Equal when qubits, steps and operator agree.
    """

    qubits: tuple[int, ...]
    perm: np.ndarray
    phases: np.ndarray
    steps: tuple[int, ...]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Merged):
            return NotImplemented
        return (self.qubits == other.qubits and self.steps == other.steps
                and np.array_equal(self.perm, other.perm) and np.array_equal(self.phases, other.phases))

    def __hash__(self) -> int:
        return hash((self.qubits, self.steps))


@dataclass(frozen=True)
class Single:
    """One program step applied as it is."""

    step: int


Segment = Layer | Merged | Single


@dataclass(frozen=True)
class Chunk:
    """A block of a layer: ``qubits`` consecutive ascending; ``runs[i]`` are the step indices on
    ``qubits[i]`` (empty: identity). ``diagonal``: every step is diagonal; ``rotating``: some step
    has an angle slot."""

    qubits: tuple[int, ...]
    runs: tuple[tuple[int, ...], ...]
    diagonal: bool
    rotating: bool


def segments(program: Program, max_merge: int | None = None) -> tuple[Segment, ...]:
    """Segment ``program``'s steps (see the module docstring). Cached per ``max_merge``."""
    n = program.num_qubits
    if max_merge is None:
        max_merge = n if n <= 16 else MAX_MERGE
    key = ("segments", max_merge)
    if key not in program._torch:
        program._torch[key] = _segment(program.steps, n, max_merge)
    return program._torch[key]


def _segment(steps: tuple[Step, ...], n: int, max_merge: int) -> tuple[Segment, ...]:
    out: list[Segment] = []
    pending: dict[int, list[int]] = {}
    merging: list[int] = []  # steps of the Merged segment still open at the end of ``out``
    merged: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # gates -> their product, shared

    def close_merge() -> None:
        if merging:
            gates = tuple(_signature(steps[i]) for i in merging)
            if gates not in merged:
                m = _merge([steps[i] for i in merging], merging, n)
                merged[gates] = (m.perm, m.phases)
            perm, phases = merged[gates]
            qubits = tuple(sorted(set().union(*(steps[i].qubits for i in merging))))
            out.append(Merged(qubits, perm, phases, tuple(merging)))
            merging.clear()

    def flush() -> None:
        if pending:
            close_merge()
            out.append(Layer(tuple((q, tuple(pending[q])) for q in sorted(pending))))
            pending.clear()

    for i, step in enumerate(steps):
        if len(step.qubits) == 1:
            pending.setdefault(step.qubits[0], []).append(i)
            continue
        if any(q in pending for q in step.qubits):
            flush()
        if step.slot is None and step.kind in ("monomial", "diagonal"):
            union = set(step.qubits).union(*(steps[j].qubits for j in merging))
            if len(union) > max_merge:
                close_merge()
            merging.append(i)
            continue
        close_merge()
        out.append(Single(i))
    flush()
    close_merge()
    return tuple(out)


def _merge(steps: list[Step], indices: list[int], n: int) -> Merged:
    """The product of fixed monomial/diagonal ``steps`` (in order) on the union of their qubits."""
    qubits = tuple(sorted(set().union(*(s.qubits for s in steps))))
    pos = {q: i for i, q in enumerate(qubits)}
    dest = np.arange(1 << len(qubits))  # basis j currently maps to phase[j] |dest[j]>
    phase = np.ones(len(dest), dtype=complex)
    for s in steps:
        if s.kind == "diagonal":
            perm, ph = np.arange(len(s.fixed)), np.asarray(s.fixed, dtype=complex)
        else:
            perm, ph = np.asarray(s.monomial[0]), np.asarray(s.monomial[1], dtype=complex)
        local = np.zeros_like(dest)
        for b, q in enumerate(s.qubits):
            local |= ((dest >> pos[q]) & 1) << b
        new_local = perm[local]
        phase = phase * ph[local]
        for b, q in enumerate(s.qubits):
            dest = (dest & ~(1 << pos[q])) | (((new_local >> b) & 1) << pos[q])
    dest.flags.writeable = False
    phase.flags.writeable = False
    return Merged(qubits, dest, phase, tuple(indices))


def _signature(step: Step) -> tuple:
    """What a fixed monomial/diagonal step does, as a hashable value (kind, qubits, operator)."""
    if step.kind == "diagonal":
        return ("diagonal", step.qubits, np.asarray(step.fixed, dtype=complex).tobytes())
    perm, phases = step.monomial
    return ("monomial", step.qubits, np.asarray(perm, dtype=np.int64).tobytes(),
            np.asarray(phases, dtype=complex).tobytes())


def chunk_qubits(num_qubits: int, batch: int, angle_batch: int) -> int:
    """Largest chunk (in qubits) for a layer: 5 up to 12 qubits, else 4; fewer for large operator
    batches.

    Measured on 2 cores: at n = 8 (overhead-bound) chunks of 4 beat 2, 3 and 8 (a 256 x 256 block
    costs more to build and to differentiate than it saves in calls; 5 cuts the same two chunks of
    4); at n = 9 and 10, 5 gives two chunks a layer where 4 gives three (the Born machine's step
    -11%, the 4-layer n = 10 gradient -8%, interleaved runs); at n = 12-16 they tie; at n = 20 a
    16 x 16 block costs about 1.5 state copies and chunks of 4 beat 3 and 5. ``angle_batch * 4**k``
    operator entries are kept under ``2**16``.
    """
    k = min(num_qubits, 5 if num_qubits <= 12 else 4)
    while k > 1 and angle_batch << (2 * k) > 1 << 16:
        k -= 1
    return k


def chunks(program: Program, layer: Layer, k: int) -> tuple[Chunk, ...]:
    """Cut ``layer`` into chunks of at most ``k`` consecutive qubits, balanced in size."""
    runs = dict(layer.runs)
    active = sorted(runs)
    out: list[Chunk] = []
    i = 0
    while i < len(active):
        span = active[-1] - active[i] + 1
        size = math.ceil(span / math.ceil(span / k))
        start = active[i]
        while i < len(active) and active[i] < start + size:
            i += 1
        qubits = tuple(range(start, active[i - 1] + 1))
        chunk_runs = tuple(runs.get(q, ()) for q in qubits)
        used = [program.steps[s] for r in chunk_runs for s in r]
        out.append(Chunk(qubits, chunk_runs, all(s.kind == "diagonal" for s in used),
                         any(s.slot is not None for s in used)))
    return tuple(out)


def single_qubit_matrix(step: Step) -> np.ndarray:
    """The ``2 x 2`` matrix of a fixed single-qubit step."""
    if step.kind == "diagonal":
        return np.diag(np.asarray(step.fixed, dtype=complex))
    if step.kind == "monomial":
        perm, phases = step.monomial
        m = np.zeros((2, 2), dtype=complex)
        for j, (p, ph) in enumerate(zip(perm, phases)):
            m[p, j] = ph
        return m
    return np.asarray(step.fixed, dtype=complex)
