"""Pure torch kernels that apply a k-qubit operator to a batched statevector.

Conventions: ``state`` has shape ``(B, 2**n)``; qubit ``q`` is bit ``q`` of the basis index
(little-endian). ``qubits`` are ascending and the operator's local bit ``i`` acts on ``qubits[i]``
(the compiler in :mod:`qdiff.sim.program` sorts qubits and permutes matrices). Operators are
unbatched ``(d, d)`` / ``(d,)`` or batched ``(B, d, d)`` / ``(B, d)`` with ``d = 2**k`` (a
leading batch of 1 counts as unbatched). Every kernel returns a new ``(B, 2**n)`` tensor, is
differentiable by torch autograd, and never modifies its input.

Memory layout: the state is normally row-major. A *batch-last* state, the transpose of a
contiguous ``(2**n, B)`` tensor (strides ``(1, B)``), is accepted too and the result keeps that
layout; :meth:`~qdiff.sim.program.TorchProgram.run` uses it for large batches, where every
kernel then streams over ``B`` contiguous amplitudes. Anything else is made contiguous first.

How each is laid out (the choices are measured by ``benchmarks/bench_simulator.py``). With
``R = 2**qubits[0]`` amplitudes between partners, a state is a free view ``(B, L, d, R)`` for
contiguous target qubits; small ``R`` means short inner loops, so low qubits are handled in a
block of ``W`` consecutive amplitudes instead:

* dense, contiguous qubits: ``d*R <= 32``: the gate embedded in a ``W x W`` block,
  ``kron(I, M, I_R)``, applied by one GEMM over ``(B*N/W, W)`` rows (``bmm`` if batched);
  large ``R`` (or few blocks): a matmul over the middle axis (``(d, d) @ (d, R)`` per block);
  otherwise ``d`` multiply-adds of broadcast columns. Scattered qubits move the axes last (two
  copies) around one GEMM.
* diagonal: one broadcast multiply; for low qubits the factor is expanded to a block of
  ``2**_WIDE_BITS`` amplitudes first.
* monomial (permutation times phases): low qubits: one ``gather`` with a precomputed index over
  an overlapping strided window (its own autograd rule: the inverse monomial); otherwise
  ``2**k`` strided slice copies, or a clone plus the few moved slices.
* batch-last: ``d`` broadcast multiply-adds (dense), one multiply (diagonal), slice copies
  (monomial), all with ``B`` innermost.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

_WIDE_BITS = 6
"""Low block (``2**_WIDE_BITS`` amplitudes) used when the lowest target qubit is below it."""

_EMBED_MAX = 32
"""Largest ``d*R`` for which a dense gate is embedded as ``kron(I, M, I_R)`` in one GEMM."""

_EMBED_BLOCK = 16
"""Smallest block the embedded GEMM uses (``W = max(d*R, 16)``)."""

_MATMUL_MIN_R = 256
"""From this ``R`` on, a dense gate is a matmul ``(d, d) @ (d, R)`` per block."""

_SMALL = 1 << 12
"""Below this many amplitudes (``B * 2**n``) kernels take the path with the fewest torch calls."""


def split_shape(num_qubits: int, qubits: Sequence[int]) -> tuple[list[int], list[int]]:
    """View shape of a ``2**n`` axis that isolates ``qubits`` as size-2 axes.

    Returns ``(shape, axes)``: ``shape`` splits the basis index, most significant first, into
    gap blocks and size-2 axes; ``axes[i]`` is the position of ``qubits[i]`` in ``shape``.
    """
    shape, axes = _split(num_qubits, tuple(qubits))
    return list(shape), list(axes)


@lru_cache(maxsize=4096)
def _split(num_qubits: int, qubits: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape: list[int] = []
    axes_by_qubit: dict[int, int] = {}
    high = num_qubits
    for q in sorted(qubits, reverse=True):
        gap = high - q - 1
        if gap:
            shape.append(2**gap)
        axes_by_qubit[q] = len(shape)
        shape.append(2)
        high = q
    if high:
        shape.append(2**high)
    return tuple(shape), tuple(axes_by_qubit[q] for q in qubits)


@lru_cache(maxsize=4096)
def _factor_shape(num_qubits: int, qubits: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(shape, factor_shape)``: the split view and a broadcast shape with 2 on the gate axes."""
    shape, axes = _split(num_qubits, qubits)
    factor = [1] * len(shape)
    for a in axes:
        factor[a] = 2
    return shape, tuple(factor)


def _is_contiguous(qubits: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in zip(qubits, qubits[1:]))


def _layout(state: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(state, batch_last)``: the state row-major or batch-last, copied only if it is neither."""
    B, N = state.shape
    if B > 1 and N > 1 and state.stride() == (1, B):
        return state, True
    return (state if state.is_contiguous() else state.contiguous()), False


def _unbatch(op: torch.Tensor, dims: int) -> torch.Tensor:
    """Drop a leading batch of 1 (an operator shared by the whole batch)."""
    return op[0] if op.dim() == dims + 1 and op.shape[0] == 1 else op


# ----------------------------------------------------------------------------------------- dense


def apply_dense(state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> torch.Tensor:
    """Apply a dense ``(d, d)`` or ``(B, d, d)`` matrix to ascending ``qubits``."""
    state, batch_last = _layout(state)
    matrix = _unbatch(matrix, 2)
    qubits = tuple(qubits)
    if batch_last:
        return _dense_batch_last(state, matrix, qubits, num_qubits)
    if not _is_contiguous(qubits):
        return _apply_dense_scattered(state, matrix, qubits, num_qubits)
    B, N = state.shape
    d = matrix.shape[-1]
    batched = matrix.dim() == 3
    R = 1 << qubits[0]
    L = N // (d * R)
    if R == 1:  # partners are adjacent: rows of d amplitudes times M^T
        if batched:
            return torch.bmm(state.view(B, L, d), matrix.transpose(-1, -2)).view(B, N)
        return (state.view(B * L, d) @ matrix.transpose(-1, -2)).view(B, N)
    if B * N <= _SMALL:
        if batched:
            return torch.matmul(matrix[:, None], state.view(B, L, d, R)).view(B, N)
        return torch.matmul(matrix, state.view(B * L, d, R)).view(B, N)
    if d * R <= _EMBED_MAX:
        W = min(max(d * R, _EMBED_BLOCK), N)
        big = _embed(matrix, d, R, W // (d * R))
        if batched:
            return torch.bmm(state.view(B, N // W, W), big.transpose(-1, -2)).view(B, N)
        return (state.view(B * N // W, W) @ big.transpose(-1, -2)).view(B, N)
    if R >= _MATMUL_MIN_R or B * L <= 4:
        if batched:
            return torch.matmul(matrix[:, None], state.view(B, L, d, R)).view(B, N)
        return torch.matmul(matrix, state.view(B * L, d, R)).view(B, N)
    return _dense_columns(state.view(B, L, d, R), _columns(matrix, (B, 1, d, 1), (1, d, 1))).view(B, N)


@lru_cache(maxsize=256)
def _embed_index(d: int, R: int, A: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each entry of ``kron(I_A, M, I_R)`` comes from in ``M.flatten()``, and which are 0."""
    a, i, r, a2, j, r2 = np.indices((A, d, R, A, d, R)).reshape(6, -1)
    return (i * d + j).astype(np.int64), (a == a2) & (r == r2)


_EMBED_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _embed(matrix: torch.Tensor, d: int, R: int, A: int) -> torch.Tensor:
    """``kron(I_A, M, I_R)`` of shape ``(..., W, W)`` with ``W = A*d*R`` (differentiable in M)."""
    key = (d, R, A, matrix.device)
    if key not in _EMBED_CACHE:
        index, mask = _embed_index(d, R, A)
        _EMBED_CACHE[key] = (torch.as_tensor(index, device=matrix.device),
                             torch.as_tensor(mask, device=matrix.device))
    index, mask = _EMBED_CACHE[key]
    W = A * d * R
    flat = matrix.reshape(matrix.shape[:-2] + (d * d,))[..., index]
    return torch.where(mask, flat, 0).view(matrix.shape[:-2] + (W, W))


def _columns(matrix: torch.Tensor, batched_shape: tuple[int, ...], shape: tuple[int, ...]) -> list[torch.Tensor]:
    """Column ``j`` of every matrix, reshaped to broadcast against the state view."""
    if matrix.dim() == 3:
        return [matrix[:, :, j].reshape(batched_shape) for j in range(matrix.shape[-1])]
    return [matrix[:, j].reshape(shape) for j in range(matrix.shape[-1])]


def _dense_columns(view: torch.Tensor, columns: list[torch.Tensor]) -> torch.Tensor:
    """``sum_j column_j * view[..., j, :]`` over the size-d axis 2 of ``view`` ``(B, L, d, R)``."""
    out = view[:, :, 0:1] * columns[0]
    for j in range(1, len(columns)):
        out.addcmul_(view[:, :, j:j + 1], columns[j])
    return out


def _apply_dense_scattered(state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int],
                           num_qubits: int) -> torch.Tensor:
    B, N = state.shape
    k = len(qubits)
    d = 1 << k
    shape, axes = _split(num_qubits, tuple(qubits))
    view = state.view((B,) + shape)
    src = [1 + axes[i] for i in reversed(range(k))]  # local bit k-1 is the most significant
    dst = list(range(view.dim() - k, view.dim()))
    moved = view.movedim(src, dst)
    moved_shape = moved.shape
    rows = moved.reshape(B, -1, d)
    if matrix.dim() == 3:
        out = torch.bmm(rows, matrix.transpose(-1, -2))
    else:
        out = (rows.reshape(-1, d) @ matrix.transpose(-1, -2)).view(B, -1, d)
    return out.view(moved_shape).movedim(dst, src).reshape(B, N)


def _dense_batch_last(state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...],
                      num_qubits: int) -> torch.Tensor:
    """Dense gate on a batch-last state: ``d`` broadcast multiply-adds with ``B`` innermost."""
    B, N = state.shape
    k = len(qubits)
    d = 1 << k
    xt = state.T  # (N, B), contiguous
    if matrix.dim() == 2 and _is_contiguous(qubits):
        R = 1 << qubits[0]
        out = torch.matmul(matrix, xt.view(N // (d * R), d, R * B))
        return out.view(N, B).T
    shape, axes = _split(num_qubits, qubits)
    view = xt.view(shape + (B,))
    # coefficient of input basis j for every output basis i, laid out (i bits on the gate axes, B)
    if matrix.dim() == 3:
        coeff = matrix.permute(2, 1, 0).contiguous()  # (j, i, B)
        tail = (B,)
    else:
        coeff = matrix.T  # (j, i)
        tail = (1,)
    factor = [1] * len(shape)
    for a in axes:
        factor[a] = 2
    out = None
    for j in range(d):
        index: list = [slice(None)] * (len(shape) + 1)
        for i, a in enumerate(axes):
            bit = (j >> i) & 1
            index[a] = slice(bit, bit + 1)
        column = coeff[j].reshape((2,) * k + tail).reshape(tuple(factor) + tail)
        part = view[tuple(index)]
        out = part * column if out is None else out.addcmul_(part, column)
    if not out.is_contiguous():
        out = out.contiguous()
    return out.view(N, B).T


# -------------------------------------------------------------------------------------- diagonal


def apply_diagonal(state: torch.Tensor, diagonal: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> torch.Tensor:
    """Multiply by a diagonal operator given as ``(d,)`` or ``(B, d)`` on ascending ``qubits``."""
    state, batch_last = _layout(state)
    diagonal = _unbatch(diagonal, 1)
    qubits = tuple(qubits)
    B, N = state.shape
    k = len(qubits)
    batched = diagonal.dim() == 2
    if batch_last:
        shape, factor_shape = _factor_shape(num_qubits, qubits)
        if batched:
            f = diagonal.T.contiguous().reshape((2,) * k + (B,)).reshape(factor_shape + (B,))
        else:
            f = diagonal.reshape((2,) * k).reshape(factor_shape + (1,))
        return (state.T.view(shape + (B,)) * f).view(N, B).T
    low = min(num_qubits, _WIDE_BITS)
    if qubits[0] >= low or B * N <= _SMALL:
        # the diagonal's index is big-endian over (2,)*k with local bit k-1 first, which matches
        # the order in which ascending qubits appear (highest first) in ``shape``
        shape, factor_shape = _factor_shape(num_qubits, qubits)
        lead = (diagonal.shape[0],) if batched else (1,)
        factor = diagonal.reshape(lead + (2,) * k).reshape(lead + factor_shape)
        return (state.view((B,) + shape) * factor).view(B, N)
    # low qubits: expand the factor over the lowest ``low`` bits so the multiply streams a block
    high = tuple(q - low for q in qubits if q >= low)
    low_qubits = tuple(q for q in qubits if q < low)
    kh = len(high)
    lead = (diagonal.shape[0],) if batched else ()
    low_shape, low_factor = _factor_shape(low, low_qubits)
    block = diagonal.reshape(lead + (2,) * k).reshape(lead + (2,) * kh + low_factor)
    block = block.expand(lead + (2,) * kh + low_shape).reshape(lead + (2,) * kh + (1 << low,))
    if high:
        shape, factor_shape = _factor_shape(num_qubits - low, high)
    else:
        shape, factor_shape = (1 << (num_qubits - low),), (1,)
    factor = block.reshape((lead or (1,)) + factor_shape + (1 << low,))
    return (state.view((B,) + shape + (1 << low,)) * factor).view(B, N)


# -------------------------------------------------------------------------------------- monomial


class MonomialPlan:
    """Precomputed slices for a permutation-with-phases operator on ascending ``qubits``.

    ``new[perm[j]] = phases[j] * old[j]`` for each local basis index ``j``.
    """

    def __init__(self, perm: Sequence[int], phases: Sequence[complex], qubits: Sequence[int], num_qubits: int):
        self.perm = tuple(int(p) for p in perm)
        self.phases = tuple(complex(p) for p in phases)
        self.qubits = tuple(qubits)
        self.num_qubits = num_qubits
        self.shape, axes = split_shape(num_qubits, qubits)
        d = len(perm)

        def index(j: int) -> tuple:
            idx: list = [slice(None)] * (len(self.shape) + 1)
            for i, a in enumerate(axes):
                idx[1 + a] = (j >> i) & 1
            return tuple(idx)

        moves = [(index(j), index(perm[j]), None if abs(phases[j] - 1) < 1e-14 else complex(phases[j]))
                 for j in range(d)]
        moved = [m for j, m in enumerate(moves) if perm[j] != j or m[2] is not None]
        self.clone_first = len(moved) < d / 2
        self.moves = moved if self.clone_first else moves
        self._gather: dict = {}
        self._inverse: MonomialPlan | None = None

    def inverse(self) -> MonomialPlan:
        """The inverse operator (inverse permutation, conjugate phases), also its adjoint."""
        if self._inverse is None:
            d = len(self.perm)
            perm, phases = [0] * d, [0j] * d
            for j, (p, ph) in enumerate(zip(self.perm, self.phases)):
                perm[p] = j
                phases[p] = ph.conjugate()
            self._inverse = MonomialPlan(perm, phases, self.qubits, self.num_qubits)
        return self._inverse

    def gather_data(self, dtype: torch.dtype, device: torch.device) -> tuple:
        """``(view_shape, window_size, window_strides, index, phases or None)`` for the gather path.

        The output is viewed as ``(B, *shape, 2**low)``: gap blocks, one size-2 axis per target
        qubit at or above ``low``, and a block of the lowest ``low`` bits. Each output amplitude
        reads ``window[offset]`` of a strided window that starts where all high target bits are 0;
        ``index`` holds those offsets, shaped to broadcast over the gap blocks.
        """
        key = (dtype, device)
        if key not in self._gather:
            self._gather[key] = self._build_gather(dtype, device)
        return self._gather[key]

    def _build_gather(self, dtype: torch.dtype, device: torch.device) -> tuple:
        n = self.num_qubits
        low = min(n, _WIDE_BITS)
        high = [q for q in self.qubits if q >= low]
        if high:
            shape, axes = _split(n - low, tuple(q - low for q in high))
        else:
            shape, axes = (1 << (n - low),), ()
        shape = shape + (1 << low,)
        strides, s = [], 1 << low
        for size in reversed(shape[:-1]):
            strides.append(s)
            s *= size
        strides = strides[::-1]
        window_strides = list(strides) + [1]
        for a in axes:
            window_strides[a] = 0
        window = sum(1 << q for q in high) + (1 << low)
        # offsets of every (high bits, low block) output position, relative to the window start
        kh = len(high)
        hb = np.arange(1 << kh)[:, None]  # high target bits, bit t <-> high[t]
        lo = np.arange(1 << low)[None, :]
        pos = np.zeros((1 << kh, 1 << low), dtype=np.int64) + lo
        for t, q in enumerate(high):
            pos = pos + ((hb >> t) & 1) * (1 << q)
        inv = [0] * len(self.perm)
        for j, p in enumerate(self.perm):
            inv[p] = j
        local = np.zeros_like(pos)
        for i, q in enumerate(self.qubits):
            local |= ((pos >> q) & 1) << i
        src_local = np.asarray(inv)[local]
        src = pos.copy()
        for i, q in enumerate(self.qubits):
            src = (src & ~(1 << q)) | (((src_local >> i) & 1) << q)
        # axis order of the index: the high target axes are most significant first in ``shape``
        index_shape = [1] * len(shape)
        index_shape[-1] = 1 << low
        for a in axes:
            index_shape[a] = 2
        # rows of ``pos`` count the high bits with high[kh-1] most significant, the order in
        # which ``shape`` holds their axes, so a plain reshape puts each row on its axes
        index = torch.as_tensor(src.reshape([1] + index_shape), device=device)
        phases = np.asarray(self.phases)[src_local]
        phase_t = None
        if np.any(np.abs(phases - 1) > 1e-14):
            phase_t = torch.as_tensor(phases.reshape([1] + index_shape), dtype=dtype, device=device)
        return shape, window, tuple(window_strides), index, phase_t


def _monomial_gather(state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:
    B, N = state.shape
    shape, window, window_strides, index, phases = plan.gather_data(state.dtype, state.device)
    size = (B,) + shape[:-1] + (window,)
    source = state.as_strided(size, (N,) + window_strides, state.storage_offset())
    out = torch.gather(source, len(shape), index.expand((B,) + shape))
    if phases is not None:
        out.mul_(phases)
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
        view = state.T.view(tuple(plan.shape) + (B,))
        out = view.clone() if plan.clone_first else torch.empty_like(view)
        for src, dst, phase in plan.moves:
            src, dst = src[1:], dst[1:]
            if phase is None:
                out[dst] = view[src]
            else:
                out[dst] = view[src] * phase
        return out.view(N, B).T
    if plan.qubits[0] < min(plan.num_qubits, _WIDE_BITS):
        if torch.is_grad_enabled() and state.requires_grad:
            return _GatherMonomial.apply(state, plan)
        return _monomial_gather(state, plan)
    view = state.view([B] + plan.shape)
    out = view.clone() if plan.clone_first else torch.empty_like(view)
    for src, dst, phase in plan.moves:
        if phase is None:
            out[dst] = view[src]
        else:
            out[dst] = view[src] * phase
    return out.view(B, N)
