"""Pure torch kernels that apply a k-qubit operator to a batched statevector.

Conventions: ``state`` has shape ``(B, 2**n)`` and is contiguous; qubit ``q`` is bit ``q`` of the
basis index (little-endian). ``qubits`` are ascending and the operator's local bit ``i`` acts on
``qubits[i]`` (the compiler in :mod:`qdiff.sim.program` sorts qubits and permutes matrices).
Operators are unbatched ``(d, d)`` / ``(d,)`` or batched ``(B, d, d)`` / ``(B, d)`` with
``d = 2**k``. Every kernel returns a new ``(B, 2**n)`` tensor, is differentiable by torch
autograd, and never modifies its input.

How each is laid out (measured on 2 CPU cores, see benchmarks/bench_simulator.py):

* contiguous target qubits ``q0..q0+k-1`` are a free view ``(B, L, d, R)`` with ``R = 2**q0``;
  for small ``d*R`` the gate is embedded as ``kron(M, I_R)`` and applied by one GEMM over
  ``(B*L, d*R)`` rows, otherwise by a batched matmul over the middle axis;
* scattered target qubits fall back to moving the axes last (two copies);
* diagonal operators are one broadcast multiply; monomial operators (permutation times phases)
  are ``2**k`` strided slice copies, or a clone plus the few moved slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_EMBED_LIMIT = 16


def split_shape(num_qubits: int, qubits: Sequence[int]) -> tuple[list[int], list[int]]:
    """View shape of a ``2**n`` axis that isolates ``qubits`` as size-2 axes.

    Returns ``(shape, axes)``: ``shape`` splits the basis index, most significant first, into
    gap blocks and size-2 axes; ``axes[i]`` is the position of ``qubits[i]`` in ``shape``.
    """
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
    return shape, [axes_by_qubit[q] for q in qubits]


def _is_contiguous(qubits: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in zip(qubits, qubits[1:]))


def apply_dense(state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> torch.Tensor:
    """Apply a dense ``(d, d)`` or ``(B, d, d)`` matrix to ascending ``qubits``."""
    B, N = state.shape
    d = matrix.shape[-1]
    batched = matrix.dim() == 3
    if _is_contiguous(qubits):
        R = 1 << qubits[0]
        L = N // (d * R)
        if d * R <= _EMBED_LIMIT:
            eye = torch.eye(R, dtype=matrix.dtype, device=matrix.device)
            big = (matrix[..., :, None, :, None] * eye[:, None, :]).reshape(matrix.shape[:-2] + (d * R, d * R))
            if batched:
                return torch.bmm(state.view(B, L, d * R), big.transpose(-1, -2)).view(B, N)
            return (state.view(B * L, d * R) @ big.transpose(-1, -2)).view(B, N)
        if batched:
            return torch.matmul(matrix[:, None], state.view(B, L, d, R)).view(B, N)
        return torch.matmul(matrix, state.view(B * L, d, R)).view(B, N)
    return _apply_dense_scattered(state, matrix, qubits, num_qubits)


def _apply_dense_scattered(state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int],
                           num_qubits: int) -> torch.Tensor:
    B, N = state.shape
    k = len(qubits)
    d = 1 << k
    shape, axes = split_shape(num_qubits, qubits)
    view = state.view([B] + shape)
    src = [1 + axes[i] for i in reversed(range(k))]  # local bit k-1 is the most significant
    dst = list(range(view.dim() - k, view.dim()))
    moved = view.movedim(src, dst)
    moved_shape = moved.shape
    rows = moved.reshape(B, -1, d)
    out = torch.matmul(rows, matrix.transpose(-1, -2))
    return out.view(moved_shape).movedim(dst, src).reshape(B, N)


def apply_diagonal(state: torch.Tensor, diagonal: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> torch.Tensor:
    """Multiply by a diagonal operator given as ``(d,)`` or ``(B, d)`` on ascending ``qubits``."""
    B, N = state.shape
    k = len(qubits)
    shape, axes = split_shape(num_qubits, qubits)
    factor_shape = [1] * len(shape)
    for a in axes:
        factor_shape[a] = 2
    # the diagonal's index is big-endian over (2,)*k with local bit k-1 first, which matches the
    # order in which ascending qubits appear (highest first) in ``shape``
    lead = [diagonal.shape[0]] if diagonal.dim() == 2 else [1]
    factor = diagonal.reshape(lead + [2] * k).reshape(lead + factor_shape)
    return (state.view([B] + shape) * factor).view(B, N)


class MonomialPlan:
    """Precomputed slices for a permutation-with-phases operator on ascending ``qubits``.

    ``new[perm[j]] = phases[j] * old[j]`` for each local basis index ``j``.
    """

    def __init__(self, perm: Sequence[int], phases: Sequence[complex], qubits: Sequence[int], num_qubits: int):
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


def apply_monomial(state: torch.Tensor, plan: MonomialPlan) -> torch.Tensor:
    """Apply a permutation-with-phases operator described by ``plan``."""
    B, N = state.shape
    view = state.view([B] + plan.shape)
    out = view.clone() if plan.clone_first else torch.empty_like(view)
    for src, dst, phase in plan.moves:
        if phase is None:
            out[dst] = view[src]
        else:
            out[dst] = view[src] * phase
    return out.view(B, N)
