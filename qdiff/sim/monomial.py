"""Monomial kernel: a permutation times phases (:class:`MonomialPlan`) on ascending qubits.

* targets all at or above ``_WIDE_BITS``: whole rows of ``2**qubits[0]`` amplitudes move, one
  ``index_select`` of rows (memcpy speed);
* otherwise a gather whose source is an overlapping strided window of the state and whose
  index (the high-target-bit patterns x a block of ``2**_GATHER_BITS``) is precomputed per plan:
  on the CPU the numba chunk loop of :mod:`qdiff.sim.monomial_kernels` (phases in the same
  pass), else one torch ``gather``, moving complex64 amplitudes in 16-byte pairs when qubit 0 is
  no target, and phases, if any, in one more in-place multiply; its backward is the inverse
  monomial (:class:`_GatherMonomial`);
* small states (``B * 2**n <= _SMALL``): one gather over the whole state;
* batch-last: ``2**k`` slice copies with ``B`` innermost, or for more than ``_SLICE_MOVES_MAX``
  of them one ``index_select`` of whole rows of ``2**qubits[0] * B`` amplitudes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import torch

from qdiff.sim.jit import kernels, owns_thread_pool
from qdiff.sim.layout import _GATHER_BITS, _SMALL, _WIDE_BITS, _block_layout, _layout, split_shape

_SLICE_MOVES_MAX = 4
"""Batch-last: up to this many moved slices are copied one by one, more by one row gather
(measured at n = 12, B = 64: 8 moves cost 2-4x one ``index_select``, 64 moves 40x)."""

_CHUNK_THREADS_MIN = 1 << 15
"""Amplitudes (``B * 2**n``) from which the numba chunk gather spreads its chunks over threads."""

_ROW_INDEX_MAX = 1 << 16
"""Largest row index (``2**(n - qubits[0])`` entries, kept per plan) the batch-last row gather builds."""


class MonomialPlan:
    """A permutation-with-phases operator on ascending ``qubits``, with its precomputed indices.

    ``new[perm[j]] = phases[j] * old[j]`` for each local basis index ``j``. Holds the slices
    used on batch-last states and, built on first use per dtype and device, the gather and row
    indices used on row-major ones.
    """

    def __init__(self, perm: Sequence[int] | np.ndarray, phases: Sequence[complex] | np.ndarray,
                 qubits: Sequence[int], num_qubits: int):
        # compact: read-only numpy arrays (8 + 16 bytes an entry), never 2**k Python objects
        self.perm = _frozen(np.asarray(perm, dtype=np.int64))
        self.phases = _frozen(np.asarray(phases, dtype=complex))
        self.qubits = tuple(int(q) for q in qubits)
        self.num_qubits = num_qubits
        self.shape, self._axes = split_shape(num_qubits, qubits)
        d = len(self.perm)
        moved = int(np.count_nonzero((self.perm != np.arange(d)) | (np.abs(self.phases - 1) >= 1e-14)))
        self.clone_first = moved < d / 2
        self.num_moves = moved if self.clone_first else d  # slice copies of a batch-last application
        self._gather: dict = {}
        self._inverse: MonomialPlan | None = None
        self._paired: MonomialPlan | None = None
        self._moved: dict[tuple[int, int], MonomialPlan] = {}

    def key(self) -> tuple:
        """A value key (qubits, width, operator bytes): equal keys, the same operator, so owners
        can share one plan (and its index tensors) between identical blocks."""
        return (self.qubits, self.num_qubits, self.perm.tobytes(), self.phases.tobytes())

    @cached_property
    def moves(self) -> list[tuple]:
        """The batch-last slice copies ``(source index, destination index, phase or None)``, built
        on first use (``2**k`` index tuples)."""

        def index(j: int) -> tuple:
            idx: list = [slice(None)] * (len(self.shape) + 1)
            for i, a in enumerate(self._axes):
                idx[1 + a] = (j >> i) & 1
            return tuple(idx)

        out = []
        for j, (p, ph) in enumerate(zip(self.perm.tolist(), self.phases.tolist())):
            phase = None if abs(ph - 1) < 1e-14 else ph
            if not self.clone_first or p != j or phase is not None:
                out.append((index(j), index(p), phase))
        return out

    def inverse(self) -> MonomialPlan:
        """The inverse operator (inverse permutation, conjugate phases), also its adjoint."""
        if self._inverse is None:
            perm = np.empty_like(self.perm)
            perm[self.perm] = np.arange(len(self.perm))
            phases = np.empty_like(self.phases)
            phases[self.perm] = self.phases.conj()
            self._inverse = MonomialPlan(perm, phases, self.qubits, self.num_qubits)
            self._inverse._inverse = self
        return self._inverse

    def moved(self, shift: int, num_qubits: int) -> MonomialPlan:
        """The same operator on ``qubits + shift`` of a ``num_qubits`` register (sharing the
        arrays; cached): how a block acts on a slice of the state that holds all its qubits."""
        if shift == 0 and num_qubits == self.num_qubits:
            return self
        key = (shift, num_qubits)
        if key not in self._moved:
            self._moved[key] = MonomialPlan(self.perm, self.phases, [q + shift for q in self.qubits], num_qubits)
        return self._moved[key]

    def gather_data(self, dtype: torch.dtype, device: torch.device, whole: bool = False) -> tuple:
        """``(view_shape, window_size, window_strides, index, phases or None)`` for the gather path.

        The output is viewed as ``(B, *shape, 2**low)`` (``low = _GATHER_BITS``): gap blocks, one
        size-2 axis per target qubit at or above ``low``, and a block of the lowest ``low`` bits. Each output amplitude
        reads ``window[offset]`` of a strided window that starts where all high target bits are 0;
        ``index`` holds those offsets, shaped to broadcast over the gap blocks. ``whole``: the
        block is the whole state (``index`` is ``(1, 2**n)``, the source of every amplitude).
        """
        key = (dtype, device, whole)
        if key not in self._gather:
            n = self.num_qubits
            data = self._build_gather(dtype, device, n if whole else min(n, _GATHER_BITS))
            if whole:  # flat (1, 2**n) index and phases
                data = data[:3] + tuple(None if t is None else t.reshape(1, -1) for t in data[3:])
            self._gather[key] = data
        return self._gather[key]

    def row_data(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The source row of every row of ``2**qubits[0]`` amplitudes ``(rows,)``, and the row
        phases ``(1, rows, 1)`` or ``None`` (used for ``qubits[0] >= _WIDE_BITS``, and batch-last)."""
        key = ("rows", dtype, device)
        if key not in self._gather:
            q0 = self.qubits[0]
            rows = MonomialPlan(self.perm, self.phases, [q - q0 for q in self.qubits], self.num_qubits - q0)
            index, phases = rows.gather_data(dtype, device, whole=True)[3:]
            self._gather[key] = (index[0], None if phases is None else phases.view(1, -1, 1))
        return self._gather[key]

    def chunk_data(self, dtype: torch.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """``(table, phases, high, low)`` for :mod:`qdiff.sim.monomial_kernels` on the CPU: the
        gather index ``(R, 2**low)`` of :meth:`gather_data` (``R = 2**len(high)`` rows, one per
        pattern of the target qubits ``high`` at or above ``low``), its phases of ``dtype`` (or
        ``(1, 1)`` ones when there are none)."""
        key = ("chunks", dtype)
        if key not in self._gather:
            shape, _, _, index, phases = self.gather_data(dtype, torch.device("cpu"))
            L = shape[-1]
            low = L.bit_length() - 1
            table = index.numpy().reshape(-1, L)
            phase_table = np.ones((1, 1), dtype=np.complex64 if dtype == torch.complex64 else complex) \
                if phases is None else phases.numpy().reshape(table.shape)
            high = np.array([q for q in self.qubits if q >= low], dtype=np.int64)
            self._gather[key] = (table, phase_table, high, low)
        return self._gather[key]

    def paired(self) -> MonomialPlan:
        """The permutation alone on pairs of amplitudes (bit 0 is no target): ``n - 1`` qubits."""
        if self._paired is None:
            self._paired = MonomialPlan(self.perm, np.ones(len(self.perm), dtype=complex),
                                        [q - 1 for q in self.qubits], self.num_qubits - 1)
        return self._paired

    def _build_gather(self, dtype: torch.dtype, device: torch.device, low: int) -> tuple:
        n = self.num_qubits
        shape, strides, axes, index_shape, pos, local = _block_layout(n, self.qubits, low)
        window_strides = list(strides)
        for a in axes:  # every high target bit reads from the same window
            window_strides[a] = 0
        window = sum(1 << q for q in self.qubits if q >= low) + (1 << low)
        inv = np.empty_like(self.perm)
        inv[self.perm] = np.arange(len(self.perm))
        src_local = inv[local]  # new[perm[j]] = phases[j] old[j]
        src = pos.copy()
        for i, q in enumerate(self.qubits):
            src = (src & ~(1 << q)) | (((src_local >> i) & 1) << q)
        index = torch.as_tensor(src.reshape((1,) + index_shape), device=device)
        phases = self.phases[src_local]
        phase_t = None
        if np.any(np.abs(phases - 1) > 1e-14):
            phase_t = torch.as_tensor(phases.reshape((1,) + index_shape), dtype=dtype, device=device)
        return shape, window, tuple(window_strides), index, phase_t


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` as a read-only array (a read-only copy if it was writable: its owner may change it)."""
    if a.flags.writeable:
        a = a.copy()
        a.flags.writeable = False
    return a


def _monomial_gather(state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:
    """The window gather (no autograd: see :class:`_GatherMonomial`)."""
    numba_kernels = kernels("monomial_kernels") if state.device.type == "cpu" else None
    if numba_kernels is not None:
        return _chunk_gather(state, plan, numba_kernels)
    B, N = state.shape
    shape, window, window_strides, index, phases = plan.gather_data(state.dtype, state.device)
    if state.dtype == torch.complex64 and plan.qubits[0] >= 1 and state.storage_offset() % 2 == 0:
        # bit 0 is no target: move pairs of amplitudes as single 16-byte elements (half the
        # index work), then apply the phases amplitude by amplitude
        out = _window_gather(state.view(torch.complex128), plan.paired()).view(torch.complex64)
    else:
        out = _window_gather(state, plan, (shape, window, window_strides, index))
    if phases is not None:
        out.view((B,) + shape).mul_(phases)
    return out


def _chunk_gather(state: torch.Tensor, plan: MonomialPlan, numba_kernels) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """The window gather as numba's chunk loop (:mod:`qdiff.sim.monomial_kernels`): ``(B, N)`` ->
    a new ``(B, N)``."""
    table, phases, high, low = plan.chunk_data(state.dtype)
    psi = state.detach().resolve_conj().resolve_neg().contiguous()
    out = torch.empty_like(psi)
    threads = psi.numel() >= _CHUNK_THREADS_MIN and owns_thread_pool()
    run = numba_kernels.gather_chunks_threads if threads else numba_kernels.gather_chunks
    run(psi.numpy(), out.numpy(), table, phases, high, low, phases.size > 1)
    return out


def _window_gather(state: torch.Tensor, plan: MonomialPlan, data: tuple | None = None) -> torch.Tensor:
    """``out[..., i] = window[..., index[i]]`` over overlapping strided windows of ``state``."""
    B, N = state.shape
    shape, window, window_strides, index = data or plan.gather_data(state.dtype, state.device)[:4]
    size = (B,) + shape[:-1] + (window,)
    source = state.as_strided(size, (N,) + window_strides, state.storage_offset())
    return torch.gather(source, len(shape), index.expand((B,) + shape)).view(B, N)


def _monomial_rows(state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:
    """Targets all at or above ``_WIDE_BITS``: whole rows of ``2**qubits[0]`` amplitudes move, so
    one ``index_select`` of rows copies at memcpy speed (differentiable as it is)."""
    B, N = state.shape
    index, phases = plan.row_data(state.dtype, state.device)
    W = 1 << plan.qubits[0]
    rows = N // W
    if B > 1:
        index = (index + rows * torch.arange(B, device=index.device)[:, None]).view(-1)
    out = state.view(B * rows, W).index_select(0, index)
    if phases is not None:  # in place: index_select's backward does not need its output
        out.view(B, rows, W).mul_(phases)
    return out.view(B, N)


class _GatherMonomial(torch.autograd.Function):
    """The gather path with its adjoint as backward (the strided window has no usable gradient)."""

    @staticmethod
    def forward(ctx, state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:  # type: ignore[override]
        ctx.plan = plan
        return _monomial_gather(state, plan)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return apply_monomial(grad, ctx.plan.inverse()), None


def apply_monomial(state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:
    """Apply a permutation-with-phases operator described by ``plan``."""
    state, batch_last = _layout(state)
    B, N = state.shape
    if batch_last:
        q0 = plan.qubits[0]
        if plan.num_moves > _SLICE_MOVES_MAX and N >> q0 <= _ROW_INDEX_MAX and (q0 == 0 or state.stride(1) == B):
            # one index_select of whole rows of 2**q0 * B amplitudes
            index, phases = plan.row_data(state.dtype, state.device)
            rows = N >> q0
            out = (state.T.view(rows, -1) if q0 else state.T).index_select(0, index)
            if phases is not None:  # in place: index_select's backward does not need its output
                out.mul_(phases.view(rows, 1))
            return out.view(N, B).T
        view = state.T.view(tuple(plan.shape) + (B,))
        out = view.clone() if plan.clone_first else torch.empty_like(view)
        for src, dst, phase in plan.moves:
            src, dst = src[1:], dst[1:]
            if phase is None:
                out[dst] = view[src]
            else:
                out[dst] = view[src] * phase
        return out.view(N, B).T
    if B * N <= _SMALL:  # one gather (or index_select) over the whole state
        index, phases = plan.gather_data(state.dtype, state.device, whole=True)[3:]
        if torch.is_grad_enabled() and state.requires_grad:
            out = state.index_select(1, index[0])
            return out if phases is None else out * phases
        out = torch.gather(state, 1, index if B == 1 else index.expand(B, N))
        return out if phases is None else out.mul_(phases)
    if plan.qubits[0] >= _WIDE_BITS:
        return _monomial_rows(state, plan)
    if torch.is_grad_enabled() and state.requires_grad:
        return _GatherMonomial.apply(state, plan)
    return _monomial_gather(state, plan)
