"""Layout helpers shared by the kernels: size thresholds, view shapes and the state's memory layout.

See :mod:`qdiff.sim.kernels` for the conventions (little-endian, ascending ``qubits``) and the
row-major / batch-last layouts. Shapes and index tensors are memoized (bounded ``lru_cache``)
per ``(num_qubits, qubits[, device])``; they hold constants only, never state.
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
    """Whether ascending, distinct ``qubits`` (the kernels' convention) are consecutive (O(1))."""
    return qubits[-1] - qubits[0] == len(qubits) - 1


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
