"""Dense kernels: a ``(d, d)`` or per-row ``(B, d, d)`` matrix on ascending qubits.

``R = 2**qubits[0]`` amplitudes separate partners, so for contiguous target qubits a state is the
free view ``(B, L, d, R)``; small ``R`` would mean short inner loops, so low qubits are handled in
a block of consecutive amplitudes instead (row-major, above ``_SMALL`` amplitudes):

* ``d*R <= 16``: ``kron(I, M, I_R)`` on blocks of ``W = max(d*R, 8)`` amplitudes as one *real*
  GEMM over interleaved ``(re, im)`` pairs (faster than the complex GEMM of the same product),
  except per-row matrices with ``R = 1`` and ``d >= 8``: one complex ``bmm`` over rows of ``d``;
* ``d*R = 32``: the complex GEMM; ``R >= 256`` or few blocks (per-row ``d > 2``: ``R >= 8``): a
  matmul ``(d, d) @ (d, R)`` per block;
* otherwise one qubit: two broadcast multiply-adds; several or scattered qubits: a monomial gather
  that swaps them down to bits ``0..k-1``, the low-block GEMM, and the gather back (about three
  passes instead of ``d``).

Small states (``B * 2**n <= _SMALL``) take the fewest torch calls (one ``mm``/``bmm``). Batch-last
states: a matmul per block (shared matrix) or ``d`` broadcast multiply-adds (per-row matrices),
with ``B`` innermost. ``benchmarks/bench_simulator.py`` measures these choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from qdiff.sim.layout import _SMALL, _bottom_permutation, _factor_shape, _is_contiguous, _layout, _split
from qdiff.sim.monomial import MonomialPlan, apply_monomial

_EMBED_MAX = 32
"""Largest ``d*R`` for which a dense gate is embedded as ``kron(I, M, I_R)`` in one GEMM."""

_REAL_EMBED_MAX = 16
"""Up to this ``d*R`` the embedded GEMM runs in real arithmetic on ``(re, im)`` pairs."""

_EMBED_BLOCK = 8
"""Smallest block the real embedded GEMM uses (``W = max(d*R, 8)``)."""

_MATMUL_MIN_R = 256
"""From this ``R`` on, a dense gate is a matmul ``(d, d) @ (d, R)`` per block."""

_BATCHED_ROWS_MIN_D = 8
"""From this ``d`` on, per-row matrices on the lowest qubits (``R = 1``) are one complex ``bmm`` over
rows of ``d`` amplitudes rather than the real embedded GEMM (measured at n = 8, 9, B = 64..1024,
complex128 and complex64: 1.5-10x faster for d = 8 and 16; d = 4 ties)."""

_BATCHED_MATMUL_MIN_R = 8
"""From this ``R`` on, per-row matrices ``(B, d, d)``, ``d > 2``, are one broadcast matmul over ``(B, L, d, R)``
(measured at n = 9, d = 8, 16, B = 64..559: 2-7x faster than the gather-GEMM-gather route, while
at ``R = 2, 4`` the ``B * L`` tiny products lose)."""


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
    if R == 1 and (B * N <= _SMALL or d * R > _EMBED_MAX or (batched and d >= _BATCHED_ROWS_MIN_D)):
        return _rows_gemm(state, matrix, L, d)  # partners adjacent: the fewest calls, or a proper GEMM
    if B * N <= _SMALL:  # the fewest torch calls
        return blocks_gemm(state, matrix, L, d, R)
    if d * R <= _REAL_EMBED_MAX:
        return _dense_embedded_real(state, matrix, d, R, min(max(d * R, _EMBED_BLOCK), N))
    if d * R <= _EMBED_MAX:
        big_t = _embed_transposed(matrix, d, R, 1)
        if batched:
            return torch.bmm(state.view(B, L, d * R), big_t).view(B, N)
        return torch.mm(state.view(B * L, d * R), big_t).view(B, N)
    if R >= _MATMUL_MIN_R or B * L <= 4 or (batched and d > 2 and R >= _BATCHED_MATMUL_MIN_R):
        return blocks_gemm(state, matrix, L, d, R)
    if d > 2:  # d multiply-adds would be d passes; two gathers and a low block GEMM are ~3
        return _dense_via_bottom(state, matrix, tuple(qubits), num_qubits)
    return _dense_columns(state.view(B, L, d, R), _columns(matrix, (B, 1, d, 1), (1, d, 1))).view(B, N)


def _rows_gemm(state: torch.Tensor, matrix: torch.Tensor, L: int, d: int) -> torch.Tensor:
    """``R = 1``: the rows of ``d`` adjacent amplitudes times ``M^T``, one ``mm`` (shared matrix) or
    ``bmm`` (per-row); BLAS takes the transposed operand as it is."""
    B, N = state.shape
    if matrix.dim() == 3:
        return torch.bmm(state.view(B, L, d), matrix.mT).view(B, N)
    return torch.mm(state.view(B * L, d), matrix.mT).view(B, N)


def blocks_gemm(state: torch.Tensor, matrix: torch.Tensor, L: int, d: int, R: int) -> torch.Tensor:
    """``M @ (d, R)`` for each of the ``B * L`` blocks of the ``(B, L, d, R)`` view: one ``mm`` when
    there is one block (half the cost of a ``bmm`` of one), else a ``bmm`` (shared matrix) or a
    broadcast ``matmul`` (per-row)."""
    B, N = state.shape
    if matrix.dim() == 3:
        return torch.matmul(matrix[:, None], state.view(B, L, d, R)).view(B, N)
    if B * L == 1:
        return torch.mm(matrix, state.view(d, R)).view(B, N)
    return torch.bmm(matrix.expand(B * L, d, d), state.view(B * L, d, R)).view(B, N)


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


def fast_per_row(qubits: tuple[int, ...]) -> bool:
    """Whether per-row ``(B, d, d)`` matrices on ``qubits`` (``d > 2``) take a one-pass GEMM path on a
    row-major state: ``R = 1`` (the real embedded GEMM on blocks of ``d`` amplitudes) or
    ``R >= _BATCHED_MATMUL_MIN_R`` (the broadcast matmul). For ``R = 2, 4`` neither layout wins
    clearly (measured); :class:`qdiff.sim.plan.TorchPlan` picks its layout by this."""
    d, R = 1 << len(qubits), 1 << qubits[0]
    return d > 2 and _is_contiguous(qubits) and (R == 1 or R >= _BATCHED_MATMUL_MIN_R)
