"""Pure torch kernels that apply a k-qubit operator to a batched statevector.

Conventions: ``state`` has shape ``(B, 2**n)``; qubit ``q`` is bit ``q`` of the basis index
(little-endian). ``qubits`` are ascending and the operator's local bit ``i`` acts on ``qubits[i]``
(the compiler in :mod:`qdiff.sim.program` sorts qubits and permutes matrices). Operators are
unbatched ``(d, d)`` / ``(d,)`` or batched ``(B, d, d)`` / ``(B, d)`` with ``d = 2**k`` (a
leading batch of 1 counts as unbatched). Every kernel returns a new ``(B, 2**n)`` tensor, is
differentiable by torch autograd (twice), and never modifies its input.

Memory layout: the state is normally row-major. A *batch-last* state, the transpose of a
contiguous ``(2**n, B)`` tensor (strides ``(1, B)``, or ``(1, ld)`` with ``ld >= B`` for a block
of rows of one), is accepted too and the result is batch-last with strides ``(1, B)``;
:meth:`~qdiff.sim.program.TorchProgram.run` uses it for batches of at least
:data:`BATCH_LAST_MIN` (see :func:`prefers_batch_last`), where every kernel then streams over
``B`` contiguous amplitudes. Anything else is made contiguous first.

How each kernel is laid out; ``benchmarks/bench_simulator.py`` measures the choices against a
copy of the state. ``R = 2**qubits[0]`` amplitudes separate partners, so for contiguous target
qubits a state is the free view ``(B, L, d, R)``; small ``R`` would mean short inner loops, so
low qubits are handled in a block of consecutive amplitudes instead:

* dense (row-major, above ``_SMALL`` amplitudes): ``d*R <= 16``: ``kron(I, M, I_R)`` on blocks
  of ``W = max(d*R, 8)`` amplitudes as one *real* GEMM over interleaved ``(re, im)`` pairs
  (faster than the complex GEMM of the same product); ``d*R = 32``: the complex GEMM; ``R >= 256``
  or few blocks: a matmul ``(d, d) @ (d, R)`` per block; otherwise one qubit: two broadcast
  multiply-adds; several or scattered qubits: a monomial gather that swaps them down to bits
  ``0..k-1``, the low-block GEMM, and the gather back (about three passes instead of ``d``).
* diagonal: one broadcast multiply; when a target qubit is below ``_WIDE_BITS`` the factor is
  first spread over a block of ``2**_WIDE_BITS`` amplitudes (one ``index_select``).
* monomial (permutation times phases): targets all at or above ``_WIDE_BITS``: whole rows of
  ``2**qubits[0]`` amplitudes move, one ``index_select`` of rows (memcpy speed); otherwise one
  ``gather`` whose source is an overlapping strided window of the state and whose index (the
  high-target-bit patterns x a block of ``2**_GATHER_BITS``) is precomputed per plan, moving
  complex64 amplitudes in 16-byte pairs when qubit 0 is no target; its backward is the inverse
  monomial (:class:`_GatherMonomial`). Phases, if any, are one more in-place multiply.
* small states (``B * 2**n <= _SMALL``): the fewest torch calls (one ``mm``/``bmm``, one
  multiply, one gather over the whole state), since per-call overhead dominates there.
* batch-last: a matmul per block (shared dense matrix), ``d`` broadcast multiply-adds (batched
  dense), one multiply (diagonal), ``2**k`` slice copies (monomial), all with ``B`` innermost.

Index tensors and plans are memoized (bounded ``lru_cache``) per ``(num_qubits, qubits,
device)``; they hold constants only, never state.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

_WIDE_BITS = 6
"""Low block (``2**_WIDE_BITS`` amplitudes) used when the lowest target qubit is below it."""

_GATHER_BITS = 10
"""The gather path of monomials indexes blocks of ``2**_GATHER_BITS`` amplitudes."""

_EMBED_MAX = 32
"""Largest ``d*R`` for which a dense gate is embedded as ``kron(I, M, I_R)`` in one GEMM."""

_REAL_EMBED_MAX = 16
"""Up to this ``d*R`` the embedded GEMM runs in real arithmetic on ``(re, im)`` pairs."""

_EMBED_BLOCK = 8
"""Smallest block the real embedded GEMM uses (``W = max(d*R, 8)``)."""

_MATMUL_MIN_R = 256
"""From this ``R`` on, a dense gate is a matmul ``(d, d) @ (d, R)`` per block."""

_SMALL = 1 << 12
"""Below this many amplitudes (``B * 2**n``) kernels take the path with the fewest torch calls."""

BATCH_LAST_MIN = 32
"""Smallest batch for which :func:`prefers_batch_last` says yes."""


def prefers_batch_last(state: torch.Tensor) -> bool:
    """Whether a ``(B, 2**n)`` state runs faster batch-last (``B >= BATCH_LAST_MIN``).

    A circuit runner converts once, ``state.T.contiguous().T``, applies every kernel (each keeps
    the layout) and calls ``.contiguous()`` at the end.
    """
    return state.dim() == 2 and state.shape[0] >= BATCH_LAST_MIN and state.shape[1] > 1


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


@lru_cache(maxsize=256)
def _block_layout(num_qubits: int, qubits: tuple[int, ...], low: int) -> tuple:
    """The state as ``(B, *shape)``: gap blocks, one size-2 axis per target qubit ``>= low``, then a
    block of the lowest ``low`` bits (which holds every target qubit below ``low``).

    Returns ``(shape, strides, high_axes, index_shape, pos, local)``: contiguous ``strides`` of
    ``shape``; ``index_shape`` broadcasts an array over (high target bits, block) against it;
    ``pos[h, l]`` is the offset of block position ``l`` with high target bits ``h`` from the
    amplitude where those bits are 0, and ``local[h, l]`` the operator's local basis index there.
    Rows count the high bits with the highest qubit most significant, the order of their axes in
    ``shape``, so ``pos.reshape(index_shape)`` lines up with the view.
    """
    high = tuple(q for q in qubits if q >= low)
    if high:
        shape, axes = _split(num_qubits - low, tuple(q - low for q in high))
    else:
        shape, axes = (1 << (num_qubits - low),), ()
    shape = shape + (1 << low,)
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    index_shape = [1] * len(shape)
    index_shape[-1] = 1 << low
    for a in axes:
        index_shape[a] = 2
    kh = len(high)
    hb = np.arange(1 << kh)[:, None]  # bit t of a row number <-> high[t]
    pos = np.zeros((1 << kh, 1 << low), dtype=np.int64) + np.arange(1 << low)[None, :]
    for t, q in enumerate(high):
        pos = pos + ((hb >> t) & 1) * (1 << q)
    local = np.zeros_like(pos)
    for i, q in enumerate(qubits):
        local |= ((pos >> q) & 1) << i
    return shape, tuple(strides), axes, tuple(index_shape), pos, local


@lru_cache(maxsize=64)
def _bottom_permutation(num_qubits: int, qubits: tuple[int, ...],
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather indices ``(1, 2**n)`` moving ``qubits`` to bits ``0..k-1`` (the rest keep their order), and back.

    Memoised per (size, qubits, device) with a bound, since each entry holds two ``2**n`` index vectors.
    """
    order = list(qubits) + [q for q in range(num_qubits) if q not in qubits]  # new bit i <- old bit order[i]
    new = np.arange(1 << num_qubits)
    old = np.zeros_like(new)
    for i, q in enumerate(order):
        old |= ((new >> i) & 1) << q
    back = np.empty_like(old)
    back[old] = new
    return torch.as_tensor(old[None], device=device), torch.as_tensor(back[None], device=device)


def _is_contiguous(qubits: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in zip(qubits, qubits[1:]))


def _layout(state: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(state, batch_last)``: the state row-major or batch-last, copied only if it is neither."""
    if state.is_contiguous():
        return state, False
    B, N = state.shape
    if B > 1 and N > 1 and state.stride(0) == 1 and state.stride(1) >= B:  # rows of a batch-last pair too
        return state, True
    return state.contiguous(), False


def _shaped(t: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``t.view(shape)``, or a reshape when ``t`` is not contiguous (a view is cheaper to call)."""
    return t.view(shape) if t.is_contiguous() else t.reshape(shape)


# ----------------------------------------------------------------------------------------- dense


def apply_dense(state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> torch.Tensor:
    """Apply a dense ``(d, d)`` or ``(B, d, d)`` matrix to ascending ``qubits``."""
    state, batch_last = _layout(state)
    if matrix.dim() == 3 and matrix.shape[0] == 1:
        matrix = matrix[0]
    if batch_last:
        return _dense_batch_last(state, matrix, tuple(qubits), num_qubits)
    B, N = state.shape
    if not _is_contiguous(qubits):
        if B * N <= _SMALL:
            return _apply_dense_scattered(state, matrix, qubits, num_qubits)
        return _dense_via_bottom(state, matrix, tuple(qubits), num_qubits)
    d = matrix.shape[-1]
    batched = matrix.dim() == 3
    R = 1 << qubits[0]
    L = N // (d * R)
    if B * N <= _SMALL:  # the fewest torch calls
        if R == 1:  # partners are adjacent: rows of d amplitudes times M^T
            if batched:
                return torch.bmm(state.view(B, L, d), matrix.mT).view(B, N)
            return torch.mm(state.view(B * L, d), matrix.mT.contiguous()).view(B, N)
        if batched:
            return torch.matmul(matrix[:, None], state.view(B, L, d, R)).view(B, N)
        return torch.bmm(matrix.expand(B * L, d, d), state.view(B * L, d, R)).view(B, N)
    if d * R <= _REAL_EMBED_MAX:
        return _dense_embedded_real(state, matrix, d, R, min(max(d * R, _EMBED_BLOCK), N))
    if d * R <= _EMBED_MAX:
        big_t = _embed_transposed(matrix, d, R, 1)
        if batched:
            return torch.bmm(state.view(B, L, d * R), big_t).view(B, N)
        return torch.mm(state.view(B * L, d * R), big_t).view(B, N)
    if R == 1:  # d >= 64: rows of d amplitudes times M^T is a proper GEMM
        if batched:
            return torch.bmm(state.view(B, L, d), matrix.mT).view(B, N)
        return torch.mm(state.view(B * L, d), matrix.mT).view(B, N)
    if R >= _MATMUL_MIN_R or B * L <= 4:
        if batched:
            return torch.matmul(matrix[:, None], state.view(B, L, d, R)).view(B, N)
        return torch.bmm(matrix.expand(B * L, d, d), state.view(B * L, d, R)).view(B, N)
    if d > 2:  # d multiply-adds would be d passes; two gathers and a low block GEMM are ~3
        return _dense_via_bottom(state, matrix, tuple(qubits), num_qubits)
    return _dense_columns(state.view(B, L, d, R), _columns(matrix, (B, 1, d, 1), (1, d, 1))).view(B, N)


@lru_cache(maxsize=64)
def _bottom_swap(num_qubits: int, qubits: tuple[int, ...]) -> MonomialPlan:
    """The bit permutation that swaps ``qubits[i]`` with bit ``i`` in turn (as a monomial plan)."""
    k = len(qubits)
    at = list(range(num_qubits))  # at[position] = original bit now there
    for i, q in enumerate(qubits):
        p = at.index(q)
        at[i], at[p] = at[p], at[i]
    support = sorted(set(range(k)) | set(qubits))
    # local index over ``support``: new bit at position support[t] holds old bit at[support[t]]
    perm = [0] * (1 << len(support))
    for j in range(1 << len(support)):  # old local index -> new local index
        old_bits = {support[t]: (j >> t) & 1 for t in range(len(support))}
        perm[j] = sum(old_bits[at[support[t]]] << t for t in range(len(support)))
    return MonomialPlan(perm, [1.0] * len(perm), support, num_qubits)


def _dense_via_bottom(state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...],
                      num_qubits: int) -> torch.Tensor:
    """Swap the target qubits down to bits ``0..k-1`` (one gather), apply there, swap back."""
    plan = _bottom_swap(num_qubits, qubits)
    low = apply_monomial(state, plan)
    return apply_monomial(apply_dense(low, matrix, range(len(qubits)), num_qubits), plan.inverse())


@lru_cache(maxsize=16)
def _re_im_signs(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor([-1.0, 1.0], dtype=dtype, device=device)


def _dense_embedded_real(state: torch.Tensor, matrix: torch.Tensor, d: int, R: int, W: int) -> torch.Tensor:
    """``kron(I, M, I_R)`` on blocks of ``W`` amplitudes as one real GEMM over ``(re, im)`` pairs.

    A complex ``(W, W)`` block acts on interleaved ``(re, im)`` as the real ``(2W, 2W)`` matrix
    with 2x2 blocks ``[[a, b], [-b, a]]`` (rows: input re/im, columns: output re/im) for an entry
    ``a + ib`` of the transposed block; real GEMMs of this shape run faster than complex ones.
    """
    B, N = state.shape
    big_t = _embed_transposed(matrix, d, R, W // (d * R))  # (..., W, W) = (input j, output i)
    pairs = torch.view_as_real(big_t)  # (..., j, i, 2): input re -> (out re, out im) = (a, b)
    rotated = pairs.flip(-1) * _re_im_signs(pairs.dtype, pairs.device)  # input im -> (-b, a)
    real_t = torch.stack((pairs, rotated), dim=-3).reshape(big_t.shape[:-2] + (2 * W, 2 * W))
    rows = torch.view_as_real(state.resolve_conj())
    if matrix.dim() == 3:
        out = torch.bmm(rows.view(B, N // W, 2 * W), real_t)
    else:
        out = torch.mm(rows.view(B * N // W, 2 * W), real_t)
    return torch.view_as_complex(out.view(B, N, 2))


@lru_cache(maxsize=64)
def _eye_pattern(A: int, R: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``delta(a, a') delta(r, r')`` laid out ``(a', 1, r', a, 1, r)``."""
    eye_a = torch.eye(A, dtype=dtype, device=device)
    eye_r = torch.eye(R, dtype=dtype, device=device)
    return eye_a[:, None, None, :, None, None] * eye_r[None, None, :, None, None, :]


def _embed_transposed(matrix: torch.Tensor, d: int, R: int, A: int) -> torch.Tensor:
    """``kron(I_A, M, I_R)^T``, shape ``(..., W, W)`` with ``W = A*d*R``, contiguous, by one multiply."""
    pattern = _eye_pattern(A, R, matrix.dtype, matrix.device)
    W = A * d * R
    # entry (a', j, r', a, i, r) of the transpose is M[i, j] delta(a, a') delta(r, r')
    return (matrix.mT[..., None, :, None, None, :, None] * pattern).reshape(matrix.shape[:-2] + (W, W))


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
    """Small states: gather the target qubits to the bottom, apply there, gather back."""
    B, N = state.shape
    to_low, back = _bottom_permutation(num_qubits, tuple(qubits), state.device)
    if B > 1:
        to_low, back = to_low.expand(B, N), back.expand(B, N)
    moved = apply_dense(torch.gather(state, 1, to_low), matrix, range(len(qubits)), num_qubits)
    return torch.gather(moved, 1, back)


def _dense_batch_last(state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...],
                      num_qubits: int) -> torch.Tensor:
    """Dense gate on a batch-last state: ``d`` broadcast multiply-adds with ``B`` innermost."""
    B, N = state.shape
    k = len(qubits)
    d = 1 << k
    xt = state.T  # (N, B), contiguous
    if matrix.dim() == 2 and _is_contiguous(qubits) and state.stride(1) == B:
        R = 1 << qubits[0]
        out = torch.matmul(matrix, xt.view(N // (d * R), d, R * B))
        return out.view(N, B).T
    shape, factor_shape = _factor_shape(num_qubits, qubits)
    axes = _split(num_qubits, qubits)[1]
    view = xt.view(shape + (B,))
    # coefficient of input basis j for every output basis i, laid out (i bits on the gate axes, B)
    if matrix.dim() == 3:
        coeff = matrix.permute(2, 1, 0).contiguous()  # (j, i, B)
        tail = (B,)
    else:
        coeff = matrix.T  # (j, i)
        tail = (1,)
    out = None
    for j in range(d):
        index: list = [slice(None)] * (len(shape) + 1)
        for i, a in enumerate(axes):
            bit = (j >> i) & 1
            index[a] = slice(bit, bit + 1)
        column = coeff[j].reshape(factor_shape + tail)  # big-endian i bits = order of the axes
        part = view[tuple(index)]
        out = part * column if out is None else out.addcmul_(part, column)
    if not out.is_contiguous():
        out = out.contiguous()
    return out.view(N, B).T


# -------------------------------------------------------------------------------------- diagonal


def apply_diagonal(state: torch.Tensor, diagonal: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> torch.Tensor:
    """Multiply by a diagonal operator given as ``(d,)`` or ``(B, d)`` on ascending ``qubits``."""
    state, batch_last = _layout(state)
    batched = diagonal.dim() == 2
    if batched and diagonal.shape[0] == 1:
        diagonal, batched = diagonal[0], False
    qubits = tuple(qubits)
    B, N = state.shape
    if batch_last:
        shape, factor_shape = _factor_shape(num_qubits, qubits)
        if batched:
            f = diagonal.T.contiguous().view(factor_shape + (B,))
        else:
            f = _shaped(diagonal, factor_shape + (1,))
        return (state.T.view(shape + (B,)) * f).view(N, B).T
    shape, factor_shape, index, flat = _diagonal_plan(num_qubits, qubits, diagonal.device)
    if index is None:
        # the diagonal's index is big-endian over (2,)*k with local bit k-1 first, which matches
        # the order in which ascending qubits appear (highest first) in ``shape``
        factor = _shaped(diagonal, ((diagonal.shape[0],) if batched else (1,)) + factor_shape)
        return (state.view((B,) + shape) * factor).view(B, N)
    # low qubits: spread the diagonal over a block of the lowest bits (one index_select) so that
    # the multiply streams 2**_WIDE_BITS amplitudes at a time; a small state is one block
    factor = diagonal.index_select(-1, index)
    if shape is None:
        return state * factor
    if batched:
        factor = factor.view((B,) + factor_shape)
    elif not flat:
        factor = factor.view(factor_shape)
    return (state.view((B,) + shape) * factor).view(B, N)


@lru_cache(maxsize=1024)
def _diagonal_plan(num_qubits: int, qubits: tuple[int, ...], device: torch.device) -> tuple:
    """``(view shape, factor shape, index, flat)`` for :func:`apply_diagonal` (cached).

    ``index`` is ``None`` when the lowest target qubit is at or above the block (the factor is the
    diagonal reshaped); otherwise the block factor is ``diagonal[..., index]``, ``shape`` is
    ``None`` when the block is the whole state, and ``flat`` says that an unbatched block
    broadcasts as it is.
    """
    low = min(num_qubits, _WIDE_BITS)
    if qubits[0] >= low:
        return _factor_shape(num_qubits, qubits) + (None, False)
    shape, _, _, index_shape, _, local = _block_layout(num_qubits, qubits, low)
    index = torch.as_tensor(local.reshape(-1), device=device)
    return (None if low == num_qubits else shape, index_shape, index, local.shape[0] == 1)


# -------------------------------------------------------------------------------------- monomial


class MonomialPlan:
    """A permutation-with-phases operator on ascending ``qubits``, with its precomputed indices.

    ``new[perm[j]] = phases[j] * old[j]`` for each local basis index ``j``. Holds the slices
    used on batch-last states and, built on first use per dtype and device, the gather and row
    indices used on row-major ones.
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
        self._paired: MonomialPlan | None = None

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
        """For ``qubits[0] >= _WIDE_BITS``: the source row of every row of ``2**qubits[0]``
        amplitudes ``(rows,)``, and the row phases ``(1, rows, 1)`` or ``None``."""
        key = ("rows", dtype, device)
        if key not in self._gather:
            q0 = self.qubits[0]
            rows = MonomialPlan(self.perm, self.phases, [q - q0 for q in self.qubits], self.num_qubits - q0)
            index, phases = rows.gather_data(dtype, device, whole=True)[3:]
            self._gather[key] = (index[0], None if phases is None else phases.view(1, -1, 1))
        return self._gather[key]

    def paired(self) -> MonomialPlan:
        """The permutation alone on pairs of amplitudes (bit 0 is no target): ``n - 1`` qubits."""
        if self._paired is None:
            self._paired = MonomialPlan(self.perm, [1.0] * len(self.perm), [q - 1 for q in self.qubits],
                                        self.num_qubits - 1)
        return self._paired

    def _build_gather(self, dtype: torch.dtype, device: torch.device, low: int) -> tuple:
        n = self.num_qubits
        shape, strides, axes, index_shape, pos, local = _block_layout(n, self.qubits, low)
        window_strides = list(strides)
        for a in axes:  # every high target bit reads from the same window
            window_strides[a] = 0
        window = sum(1 << q for q in self.qubits if q >= low) + (1 << low)
        inv = [0] * len(self.perm)
        for j, p in enumerate(self.perm):
            inv[p] = j
        src_local = np.asarray(inv)[local]  # new[perm[j]] = phases[j] old[j]
        src = pos.copy()
        for i, q in enumerate(self.qubits):
            src = (src & ~(1 << q)) | (((src_local >> i) & 1) << q)
        index = torch.as_tensor(src.reshape((1,) + index_shape), device=device)
        phases = np.asarray(self.phases)[src_local]
        phase_t = None
        if np.any(np.abs(phases - 1) > 1e-14):
            phase_t = torch.as_tensor(phases.reshape((1,) + index_shape), dtype=dtype, device=device)
        return shape, window, tuple(window_strides), index, phase_t


def _monomial_gather(state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:
    """The window gather (no autograd: see :class:`_GatherMonomial`)."""
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
