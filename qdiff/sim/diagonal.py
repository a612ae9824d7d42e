"""Diagonal kernel: multiply by a ``(d,)`` or per-row ``(B, d)`` diagonal on ascending qubits.

One broadcast multiply; when a target qubit is below ``_WIDE_BITS`` the factor is first spread
over a block of ``2**_WIDE_BITS`` amplitudes (one ``index_select``) so the multiply streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from qdiff.sim.layout import _WIDE_BITS, _block_layout, _factor_shape, _layout, _shaped

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
