"""The fused execution plan: a program's segments (:mod:`qdiff.sim.fusion`) as torch blocks.

A :class:`TorchPlan` is a list of :class:`Block` s, each one kernel call (dense, diagonal or
monomial on ascending qubits). Fixed blocks hold constants computed once; a *rotating* block's
operator is built for each call from the angles, for ALL blocks together in a handful of
vectorised torch ops (:meth:`TorchPlan.build`):

1. every single-qubit rotation ``sum_e exp(-i theta lambda_e) P_e`` at once ``(B, S, 2, 2)``,
   concatenated after the identity and the fixed single-qubit matrices into one pool;
2. every run (the single-qubit steps of a layer on one qubit) as the product of its pool entries:
   one gather and ``L - 1`` batched ``2 x 2`` matmuls for runs of length ``<= L``;
3. the chunks of each size ``k`` as Kronecker products of their runs: one gather and ``k - 1``
   broadcast multiplies (diagonal chunks use the diagonals only);
4. multi-qubit rotations kept as single steps come from a :class:`~qdiff.sim.program.RotationTable`;
   a ``"pauli"`` step (a Pauli-string rotation on 3 or more qubits) stays a block of its own, whose
   operator is a :class:`~qdiff.sim.monomial_rotation.MonomialRotation` (two coefficients and a
   monomial), never a ``2**k x 2**k`` matrix.

With per-row operators (a batch of angle sets) on a row-major state, the chunks of a layer that
cover every qubit run as one GEMM each that also rotates the qubit order (:func:`rotating_gemm`,
:func:`layer_tilings`), so no chunk needs a gather or a broadcast matmul; a single state with
shared operators runs a layer of two such chunks as one matrix product (:func:`layer_product`).

Everything is differentiable, so backprop works through :meth:`TorchPlan.run`; the adjoint
engine walks the blocks backwards and needs each rotating block's cross matrix
(:func:`cross`) to get the angle gradient from the VJP of the small operators (see
``qdiff/grad/adjoint.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from qdiff.ir.gates import spectral_decomposition, structure_of
from qdiff.sim.fusion import Merged, Single, chunks, segments, single_qubit_matrix
from qdiff.sim.kernels import MonomialPlan, apply_diagonal, apply_monomial, prefers_batch_last, split_shape
from qdiff.sim.dense import blocks_gemm, fast_per_row
from qdiff.sim.kernels import apply_dense as _kernel_dense
from qdiff.sim.layout import _SMALL, _is_contiguous
from qdiff.sim.monomial_rotation import MonomialRotation, rotate, rotate_keeping
from qdiff.sim.program import RotationTable, TorchProgram, _unit_phases

Operator = torch.Tensor | MonomialPlan | MonomialRotation


@dataclass
class Built:
    """The rotating blocks' operators of one call (see :meth:`TorchPlan.build`).

    Attributes:
        bases: ``(base, blocks, key)``: ``base`` ``(B, G, d, d)`` or ``(B, G, d)``, ``base[:, g]``
            the operator of block ``blocks[g]``; ``key`` ``("chunk", (k, diagonal))`` or ``("rot", (kind, d))``.
        taken: the single-qubit matrices of every run position ``(B, R, L, 2, 2)`` (identity
            padded), or ``None`` without rotating chunks.
    """

    bases: list[tuple[torch.Tensor, list[int], tuple]]
    taken: torch.Tensor | None
    ops: list | None = None
    """Every block's operator (:meth:`TorchPlan.operators`), filled on first use."""


@dataclass(frozen=True)
class Block:
    """One kernel call of the plan.

    Attributes:
        kind: ``"dense"`` (operator ``(d, d)`` or ``(B, d, d)``), ``"diagonal"`` (``(d,)`` or
            ``(B, d)``), ``"monomial"`` (a :class:`MonomialPlan`) or ``"pauli"`` (a
            :class:`MonomialRotation`).
        qubits: ascending qubits; the operator's local bit ``i`` acts on ``qubits[i]``.
        fixed: the constant operator of a fixed block, ``None`` for a rotating one.
        steps: indices of the program steps the block replaces (in order).
    """

    kind: str
    qubits: tuple[int, ...]
    fixed: Operator | None
    steps: tuple[int, ...]


def apply_dense(state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    """A dense block: as :func:`qdiff.sim.kernels.apply_dense`, except that a shared matrix on
    consecutive qubits whose lowest is 4..7 (``R = 16..128`` amplitudes between partners) is one
    batched matmul over ``(B * L, d, R)`` blocks, which measured 2-3x faster there than the
    kernel's gather-GEMM-gather route for the 8 x 8 .. 32 x 32 blocks of a chunk."""
    B, N = state.shape
    if 16 <= (1 << qubits[0]) < 256 and B * N > _SMALL and state.is_contiguous() and \
            (matrix.dim() == 2 or matrix.shape[0] == 1) and _is_contiguous(qubits):
        d, R = matrix.shape[-1], 1 << qubits[0]
        return blocks_gemm(state, matrix if matrix.dim() == 2 else matrix[0], N // (d * R), d, R)
    return _kernel_dense(state, matrix, qubits, n)


def apply_block(state: torch.Tensor, kind: str, op: Operator, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    """Apply one block's operator ``op`` to ``state`` ``(B, 2**n)``."""
    if kind == "dense":
        return apply_dense(state, op, qubits, n)
    if kind == "diagonal":
        return apply_diagonal(state, op, qubits, n)
    if kind == "pauli":
        return rotate(state, op, apply_monomial)
    return apply_monomial(state, op)


def rotating_gemm(state: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """A dense block on the lowest ``k`` qubits of ``state`` ``(B, 2**n)`` (``matrix`` ``(d, d)`` or
    per-row ``(B, d, d)``, ``d = 2**k``) that also rotates the qubit order: the result holds the
    block's qubits as its top ``k`` bits and the other qubits, in order, below them.

    ``M @ (d, L)^T`` per row, one GEMM that reads the state transposed and writes it in the new
    order: applied to chunks that tile the qubits from the bottom up (:func:`layer_tilings`), each
    chunk in turn finds its qubits at the bottom, and after the last one the order is restored,
    with no gather between chunks (a per-row chunk on middle qubits otherwise costs a broadcast
    matmul over ``(B, L, d, R)`` blocks or two gathers around a GEMM: measured 1.5-2.7x slower at
    n = 8, B = 1024)."""
    B, N = state.shape
    d = matrix.shape[-1]
    rows = state.view(B, N // d, d).mT
    return (torch.bmm(matrix, rows) if matrix.dim() == 3 else torch.matmul(matrix, rows)).view(B, N)


def layer_product(state: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A layer of two dense blocks, ``low`` ``(dl, dl)`` on the lowest qubits and ``high`` on the
    rest, applied to one state ``(1, N)`` seen as the ``(N/dl, dl)`` matrix ``X`` (rows: the high
    qubits): ``high @ X @ low^T``, one call for the two blocks (the Python and view calls of two
    block applications cost as much as their arithmetic at n = 8, 9: the forward 0.65x)."""
    N = state.shape[-1]
    dl = low.shape[-1]
    return torch.linalg.multi_dot([high, state.reshape(N // dl, dl), low.mT]).view(1, N)


def layer_crosses(lam: torch.Tensor, psi: torch.Tensor, dl: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The cross matrices (:func:`cross`) of both blocks of a :func:`layer_product` layer from one
    pair ``(1, N)`` after it, the states seen as ``(N/dl, dl)`` matrices: ``(Y_low, Y_high)`` =
    ``((psi^H lam)^T, lam psi^H)`` (a transposed view for the low block, as :func:`cross`)."""
    N = lam.shape[-1]
    lam2, psi_h = lam.reshape(N // dl, dl), psi.reshape(N // dl, dl).mH
    return (psi_h @ lam2).mT, lam2 @ psi_h


def layer_tilings(blocks: list[Block], n: int) -> dict[int, int]:
    """``start -> end``: each run ``blocks[start:end]`` (at least two) of dense blocks on
    consecutive qubits whose qubits are ``0..n-1`` in ascending order, chunk after chunk (a layer
    of single-qubit gates cut into chunks), which :func:`rotating_gemm` can apply in turn."""
    out: dict[int, int] = {}
    b = 0
    while b < len(blocks):
        end, nxt = b, 0
        while end < len(blocks) and nxt < n and blocks[end].kind == "dense" and \
                blocks[end].qubits[0] == nxt and _is_contiguous(blocks[end].qubits):
            nxt = blocks[end].qubits[-1] + 1
            end += 1
        if nxt == n and end - b >= 2:
            out[b] = end
            b = end
        else:
            b += 1
    return out


def rotate_block(state: torch.Tensor, op: MonomialRotation) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``"pauli"`` block's ``(a psi + b M psi, M psi)`` from one monomial kernel call (the adjoint sweep)."""
    return rotate_keeping(state, op, apply_monomial)


def _fixed_block(matrix: np.ndarray, qubits: tuple[int, ...], steps: tuple[int, ...], n: int,
                 dtype: torch.dtype, device: torch.device, shared: dict) -> Block:
    """A constant block from its matrix, taking the cheapest kernel its structure allows;
    ``shared`` interns monomial plans (identical blocks share one plan and its index tensors)."""
    kind = structure_of(matrix)
    if kind == "diagonal":
        return Block(kind, qubits, torch.as_tensor(np.diag(matrix).copy(), dtype=dtype, device=device), steps)
    if kind == "monomial":
        cols = np.abs(matrix).argmax(axis=0)
        plan = MonomialPlan(cols, matrix[cols, np.arange(len(matrix))], qubits, n)
        return Block(kind, qubits, shared.setdefault(plan.key(), plan), steps)
    return Block(kind, qubits, torch.as_tensor(matrix, dtype=dtype, device=device), steps)


class TorchPlan:
    """The fused plan of a :class:`TorchProgram` with layers cut into chunks of ``k`` qubits."""

    def __init__(self, program: TorchProgram, k: int):
        self.program = program
        prog = program.program
        n = self.num_qubits = prog.num_qubits
        dtype, device = program.dtype, program.device
        steps = prog.steps
        self.blocks: list[Block] = []
        self.involutions: dict[int, MonomialPlan] = {}  # block -> M of a "pauli" block
        # sources of rotating blocks: ("chunk", group key, index) or ("rot", index in table)
        self.sources: list[tuple | None] = []
        pool_fixed: list[np.ndarray] = [np.eye(2, dtype=complex)]
        pool_index: dict[int, int] = {}  # step -> position in the pool (rotations: after fixed)
        rotations_1q: list[int] = []
        runs: list[tuple[int, ...]] = []
        chunk_groups: dict[tuple[int, bool], list[tuple[int, ...]]] = {}  # (k, diag) -> run rows per chunk
        singles: list[int] = []
        shared: dict[tuple, MonomialPlan | torch.Tensor] = {}  # identical fixed blocks share one operator
        for seg in segments(prog):
            if isinstance(seg, Merged):  # segments of the same gates share their arrays
                key = (seg.qubits, id(seg.perm), id(seg.phases))
                diagonal = bool(np.array_equal(seg.perm, np.arange(len(seg.perm))))
                if key not in shared:  # a diagonal (cz, ccz, ...) is one multiply, not a gather and a multiply
                    shared[key] = torch.tensor(seg.phases, dtype=dtype, device=device) if diagonal \
                        else MonomialPlan(seg.perm, seg.phases, seg.qubits, n)
                self._add(Block("diagonal" if diagonal else "monomial", seg.qubits, shared[key], seg.steps))
            elif isinstance(seg, Single):
                step = steps[seg.step]
                if step.slot is None:
                    self._add(Block(step.kind, step.qubits, program.fixed[seg.step], (seg.step,)))
                else:
                    if step.kind == "pauli":
                        self.involutions[len(self.blocks)] = program.involutions[seg.step]
                    self._add(Block(step.kind, step.qubits, None, (seg.step,)), ("rot", len(singles)))
                    singles.append(seg.step)
            else:
                for chunk in chunks(prog, seg, k):
                    used = tuple(s for r in chunk.runs for s in r)
                    if not chunk.rotating:
                        self._add(_fixed_block(self._chunk_matrix(chunk), chunk.qubits, used, n, dtype, device, shared))
                        continue
                    rows = []
                    for run in chunk.runs:
                        for s in run:
                            if s not in pool_index:
                                if steps[s].slot is None:
                                    pool_index[s] = len(pool_fixed)
                                    pool_fixed.append(single_qubit_matrix(steps[s]))
                                else:
                                    pool_index[s] = -1 - len(rotations_1q)  # resolved below
                                    rotations_1q.append(s)
                        rows.append(len(runs))
                        runs.append(run)
                    key = (len(chunk.qubits), chunk.diagonal)
                    members = chunk_groups.setdefault(key, [])
                    self._add(Block("diagonal" if chunk.diagonal else "dense", chunk.qubits, None, used),
                              ("chunk", key, len(members)))
                    members.append(tuple(rows))
        F = len(pool_fixed)
        self.pool_fixed = torch.as_tensor(np.stack(pool_fixed), dtype=dtype, device=device)[None]  # (1, F, 2, 2)
        lams = np.zeros((len(rotations_1q), 2))
        projs = np.zeros((len(rotations_1q), 2, 2, 2), dtype=complex)
        for i, s in enumerate(rotations_1q):
            lam, proj = spectral_decomposition(steps[s].generator)
            lams[i, : len(lam)], projs[i, : len(lam)] = lam, proj
        self.rot_slots = torch.tensor([steps[s].slot for s in rotations_1q], dtype=torch.long, device=device)
        self.neg_rot_lams = torch.as_tensor(-lams, dtype=program.real_dtype, device=device)
        self.rot_projs = torch.as_tensor(projs, dtype=dtype, device=device)
        L = max((len(r) for r in runs), default=1)
        table = np.zeros((len(runs), L), dtype=np.int64)  # padded with the identity (pool entry 0)
        for i, run in enumerate(runs):
            for j, s in enumerate(run):
                p = pool_index[s]
                table[i, j] = p if p >= 0 else F - 1 - p
        self.run_table = torch.as_tensor(table, device=device)
        # for the adjoint VJP: -i G at every rotation of a run (zero elsewhere) and its angle slot
        gen = np.zeros((len(runs), L, 2, 2), dtype=complex)
        run_slots = np.zeros((len(runs), L), dtype=np.int64)
        for i, run in enumerate(runs):
            for j, s in enumerate(run):
                if steps[s].slot is not None:
                    gen[i, j] = -1j * steps[s].generator
                    run_slots[i, j] = steps[s].slot
        self.run_gen = torch.as_tensor(gen, dtype=dtype, device=device)
        self.run_slots = torch.as_tensor(run_slots.reshape(-1), device=device)
        order = np.concatenate([np.asarray(r, dtype=np.int64).reshape(-1) for r in chunk_groups.values()]) \
            if chunk_groups else np.zeros(0, dtype=np.int64)
        run_order = np.argsort(order)
        # chunk positions -> runs; None when they coincide (a single chunk size, runs in chunk order)
        self.run_order = None if np.array_equal(run_order, np.arange(len(run_order))) else \
            torch.as_tensor(run_order, device=device)
        self.chunk_groups = {key: torch.as_tensor(np.asarray(rows, dtype=np.int64), device=device)
                             for key, rows in chunk_groups.items()}
        self.table = RotationTable([steps[s] for s in singles], dtype, device)
        gens: dict[tuple[str, int], list[np.ndarray]] = {}
        for s in singles:  # table positions follow the order of ``singles`` within each group
            step = steps[s]
            if step.kind == "pauli":  # G = g M: the scale g (the sweep supplies M psi)
                gens.setdefault(("pauli", 2), []).append(np.array(abs(step.monomial[1][0])))
            elif step.kind == "diagonal":
                gens.setdefault(("diagonal", len(step.diagonal)), []).append(step.diagonal)
            else:
                gens.setdefault(("dense", step.dense.shape[-1]), []).append(step.dense)
        self.table_generators = {key: (self.table.groups[key][0],
                                       torch.as_tensor(-1j * np.stack(v), dtype=dtype, device=device))
                                 for key, v in gens.items()}
        self.global_phase = complex(np.exp(1j * prog.global_phase)) if prog.global_phase else None
        # blocks fed by each built base, in the order of the base's axis 1
        self.members: dict[tuple, list[int]] = {}
        for b, src in enumerate(self.sources):
            if src is not None:
                key, index = (("chunk",) + (src[1],), src[2]) if src[0] == "chunk" else \
                    (("rot", self.table.positions[src[1]][0]), self.table.positions[src[1]][1])
                self.members.setdefault(key, []).append((index, b))
        self.members = {key: [b for _, b in sorted(v)] for key, v in self.members.items()}
        # state passes a batch-first run saves with per-row operators (see batch_last)
        self.per_row_gain = sum(2 * (1 << len(b.qubits)) - 3 for b in self.blocks
                                if b.kind == "dense" and b.fixed is None and fast_per_row(b.qubits))
        self.tilings = layer_tilings(self.blocks, n)
        self.pairs = {b: end for b, end in self.tilings.items() if end - b == 2}

    def _add(self, block: Block, source: tuple | None = None) -> None:
        self.blocks.append(block)
        self.sources.append(source)

    def _chunk_matrix(self, chunk) -> np.ndarray:  # type: ignore[no-untyped-def]
        """The constant matrix of a chunk without rotations (numpy)."""
        m = np.ones((1, 1), dtype=complex)
        for run in reversed(chunk.runs):  # highest qubit is the most significant factor
            u = np.eye(2, dtype=complex)
            for s in run:
                u = single_qubit_matrix(self.program.program.steps[s]) @ u
            m = np.kron(m, u)
        return m

    # ------------------------------------------------------------------------------- building

    def build(self, angles: torch.Tensor | None) -> Built:
        """The rotating blocks' operators for ``angles`` ``(B, num_slots)`` (differentiable)."""
        out: list[tuple[torch.Tensor, list[int], tuple]] = []
        if angles is None:
            return Built(out, None)
        taken = None
        B = angles.shape[0]
        if self.chunk_groups:
            pool = self.pool_fixed if B == 1 else self.pool_fixed.expand(B, -1, -1, -1)
            if len(self.rot_slots):
                phases = _unit_phases(angles.index_select(1, self.rot_slots).unsqueeze(-1) * self.neg_rot_lams)  # (B, S, 2)
                S = phases.shape[1]  # sum_e phase_e P_e, one batched (1 x 2) @ (2 x 4) per rotation
                projs = self.rot_projs.view(S, 2, 4)
                if B == 1:  # one bmm over the rotations (a broadcast matmul adds five reshaping calls)
                    rot = torch.bmm(phases.view(S, 1, 2), projs).view(B, S, 2, 2)
                else:  # without expanding the projectors B times (4x faster at B = 1024, measured)
                    rot = torch.einsum("bse,sef->bsf", phases, projs).view(B, S, 2, 2)
                pool = torch.cat([pool, rot], dim=1)
            # (B, R, L, 2, 2); index_select, not pool[:, table]: 2x faster from B = 64 on (measured)
            taken = pool.index_select(1, self.run_table.view(-1)).view(B, *self.run_table.shape, 2, 2)
            R, L = self.run_table.shape
            positions = taken.view(B * R, L, 2, 2).unbind(1)  # bmm on flat (B R, 2, 2) views: no matmul reshapes
            u = positions[0]
            for t in positions[1:]:
                u = torch.bmm(t, u)
            u = u.view(B, R, 2, 2)
            for (k, diag), rows in self.chunk_groups.items():
                C = rows.shape[0]
                w = u.index_select(1, rows.view(-1)).view(B, C, k, 2, 2)  # lowest qubit first
                # kron(w_j, m) for j = 1 .. k-1: each higher qubit enters as the more significant
                # factor, so the broadcast multiply's innermost axis is m's (long), not w_j's (2):
                # 1.6-1.7x faster than the other order (measured at B = 1 and 1024); views, not
                # indexing with None (a third faster at B = 1)
                if diag:
                    ws = w.diagonal(dim1=-2, dim2=-1).unbind(2)  # k x (B, C, 2)
                    m = ws[0]
                    for j in range(1, k):
                        d = m.shape[-1]
                        m = (ws[j].view(B, C, 2, 1) * m.view(B, C, 1, d)).view(B, C, 2 * d)
                else:
                    ws = w.unbind(2)  # k x (B, C, 2, 2)
                    m = ws[0]
                    for j in range(1, k):
                        d = m.shape[-1]
                        m = (ws[j].view(B, C, 2, 1, 2, 1) * m.view(B, C, 1, d, 1, d)).view(B, C, 2 * d, 2 * d)
                key = ("chunk", (k, diag))
                out.append((m, self.members[key], key))
        if self.table.positions:
            for tkey, base in self.table.build(angles).items():
                key = ("rot", tkey)
                out.append((base, self.members[key], key))
        return Built(out, taken)

    def operators(self, angles: torch.Tensor | None, built: Built | None = None) -> list[Operator]:
        """Every block's operator: constants, and views of :meth:`build` (batch axis dropped when
        the angles are shared, ``B == 1``)."""
        if built is None:
            built = self.build(angles)
        elif built.ops is not None:
            return built.ops
        ops: list[Operator] = [b.fixed for b in self.blocks]
        for base, members, _ in built.bases:
            views = base[0].unbind(0) if base.shape[0] == 1 else base.unbind(1)
            for b, v in zip(members, views):
                ops[b] = v
        for b, m in self.involutions.items():
            ops[b] = MonomialRotation(m, ops[b])
        built.ops = ops
        return ops

    @cached_property
    def fixed_inverses(self) -> list[Operator | None]:
        """The inverse of every fixed block (conjugate transpose, conjugate diagonal, inverse
        monomial); ``None`` for rotating blocks."""
        out: list[Operator | None] = []
        for block in self.blocks:
            op = block.fixed
            if op is None:
                out.append(None)
            elif isinstance(op, MonomialPlan):
                out.append(op.inverse())
            elif block.kind == "diagonal":
                out.append(op.conj().resolve_conj())
            else:
                out.append(op.mH.resolve_conj().contiguous())
        return out

    def inverse_operators(self, built: Built, repeat: int = 1) -> list[Operator | None]:
        """Every block's inverse for the operators ``built``: the rotating ones conjugated (and
        transposed) a whole built base at a time, each base's batch axis repeated ``repeat`` times
        (the adjoint sweep's stacked pair with per-row operators); ``None`` for ``"pauli"`` blocks
        (:meth:`MonomialRotation.inverse` instead)."""
        out = list(self.fixed_inverses)
        for base, members, key in built.bases:
            if key[1][0] == "pauli":
                continue
            if base.dim() == 4:  # (B, G, d, d): materialised conjugate transposes
                inverse = base.mH.resolve_conj()
            else:
                inverse = base.conj().resolve_conj()
            if base.shape[0] > 1 and repeat > 1:
                inverse = inverse.repeat((repeat,) + (1,) * (inverse.dim() - 1))
            views = inverse[0].unbind(0) if base.shape[0] == 1 else inverse.unbind(1)
            for b, v in zip(members, views):
                out[b] = v
        return out

    # -------------------------------------------------------------------------------- running

    def run(self, state: torch.Tensor, angles: torch.Tensor | None, built: Built | None = None,
            keep: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Apply every block to ``state`` ``(B, 2**n)``; ``angles`` ``(B or 1, num_slots)`` or
        ``None``; ``built``: the operators if already built for these angles; ``keep``: a list
        that receives the state after every block (before the global phase), except that both
        blocks of a layer run by :func:`layer_product` (see :meth:`paired`) receive the layer's
        output."""
        n = self.num_qubits
        ops = self.operators(angles, built)
        batch_last = self.batch_last(state, angles)
        if batch_last:
            state = state.T.contiguous().T
        # per-row layers tile the qubits: one rotating GEMM per chunk (keep needs every block's output)
        tilings = self.tilings if keep is None and not batch_last and angles is not None and \
            angles.shape[0] > 1 and state.is_contiguous() else {}
        pairs = self.paired(state.shape[0], 1 if angles is None else angles.shape[0])
        b = 0
        while b < len(self.blocks):
            if b in pairs:
                state = layer_product(state, ops[b], ops[b + 1])
                if keep is not None:
                    keep += [state, state]
                b += 2
                continue
            if b in tilings:
                for c in range(b, tilings[b]):
                    state = rotating_gemm(state, ops[c])
                b = tilings[b]
                continue
            block = self.blocks[b]
            state = apply_block(state, block.kind, ops[b], block.qubits, n)
            if keep is not None:
                keep.append(state)
            b += 1
        if self.global_phase is not None:
            state = state * self.global_phase
        return state.contiguous() if batch_last else state


    def paired(self, rows: int, angle_rows: int) -> dict[int, int]:
        """``start -> start + 2`` for the layers that :meth:`run` applies as one
        :func:`layer_product`: the two-chunk tilings (:func:`layer_tilings`) of a single state
        with shared operators (``rows == angle_rows == 1``); empty otherwise.

        The adjoint sweep relies on it: such a layer keeps only its output, and both chunks'
        cross matrices come from the pair after the layer (the chunks act on disjoint qubits, so
        the partial trace over one chunk's qubits is blind to the other chunk's operator)."""
        return self.pairs if rows == 1 and angle_rows == 1 else {}

    def batch_last(self, state: torch.Tensor, angles: torch.Tensor | None) -> bool:
        """Whether :meth:`run` converts ``state`` ``(B, 2**n)`` to the batch-last layout.

        As :func:`~qdiff.sim.kernels.prefers_batch_last` (``B >= 32``: every kernel streams over
        ``B``), except with per-row angles when the plan has dense blocks with a one-pass
        batch-first kernel for per-row matrices (:func:`~qdiff.sim.dense.fast_per_row`): such a
        ``d x d`` block costs about ``2 d`` state passes batch-last (``d`` broadcast multiply-adds)
        and about 3 batch-first, against 2 passes for the two layout conversions (measured on the
        Born machine, n = 9, d = 8 and 16, B = 64..559: 4-8x per block).
        """
        if not prefers_batch_last(state):
            return False
        per_row = angles is not None and angles.shape[0] > 1
        return not (per_row and self.per_row_gain > 2)


_CROSS_PARTIALS_MAX = 1 << 16
"""Most entries of the ``(B, L, d, d)`` partial cross matrices :func:`cross` holds at once."""


def cross(lam: torch.Tensor, psi: torch.Tensor, kind: str, qubits: tuple[int, ...], n: int,
          per_sample: bool) -> torch.Tensor:
    """The cross matrix of a block: ``X[i, j] = sum lam[.., i, ..] conj(psi[.., j, ..])`` over
    every basis bit outside ``qubits`` (and over the batch unless ``per_sample``).

    ``lam``, ``psi``: ``(B, 2**n)``. Returns ``(d, d)`` / ``(B, d, d)`` for a dense block, the
    diagonal ``(d,)`` / ``(B, d)`` for a diagonal one (``d = 2**len(qubits)``).
    """
    B = lam.shape[0]
    k = len(qubits)
    d = 1 << k
    if kind == "diagonal":
        w = lam * psi.conj()
        shape, axes = split_shape(n, qubits)
        view = w.reshape([B] + shape)
        others = [1 + i for i in range(len(shape)) if i not in axes]
        if not per_sample:
            others = [0] + others
        red = view.sum(dim=others) if others else view
        return red.reshape((B, d) if per_sample else (d,))
    if _is_contiguous(qubits):
        R = 1 << qubits[0]
        L = (1 << n) // (d * R)
        if R == 1:  # X = (psi^H lam)^T: BLAS conjugates psi^H as it reads it
            if per_sample:
                return (psi.reshape(B, L, d).mH @ lam.reshape(B, L, d)).mT
            return (psi.reshape(B * L, d).mH @ lam.reshape(B * L, d)).mT
        if L == 1:  # the block's qubits on top: one (d, R) @ (R, d) product per row
            if B == 1 and not per_sample:
                return lam.reshape(d, R) @ psi.reshape(d, R).mH
            x = lam.reshape(B, d, R) @ psi.reshape(B, d, R).mH
            return x if per_sample else x.sum(0)
        lam4, psi4 = lam.reshape(B, L, d, R), psi.reshape(B, L, d, R)
        # (B, L, d, d) partial products, L at a time up to _CROSS_PARTIALS_MAX entries: with R < d
        # all at once they outgrow the state (d / R of them), e.g. 8 states for d = 16, R = 2
        step = max(1, _CROSS_PARTIALS_MAX // (B * d * d))
        x = (lam4[:, :step] @ psi4[:, :step].mH).sum(1)
        for i in range(step, L, step):
            x = x + (lam4[:, i:i + step] @ psi4[:, i:i + step].mH).sum(1)
        return x if per_sample else x.sum(0)
    shape, axes = split_shape(n, qubits)
    m = len(shape)
    lab_l = [0] + [1 + i for i in range(m)]
    lab_p = [0] + [1 + i if i not in axes else 1 + m + i for i in range(m)]
    order = sorted(axes)  # highest qubit first: big-endian local index
    out = ([0] if per_sample else []) + [1 + a for a in order] + [1 + m + a for a in order]
    x = torch.einsum(lam.reshape([B] + shape), lab_l, psi.reshape([B] + shape).conj(), lab_p, out)
    return x.reshape((B, d, d) if per_sample else (d, d))
