"""Torch kernels that apply a k-qubit operator to a batched statevector (one numba loop, the
monomial chunk gather on large CPU states, loaded lazily through :mod:`qdiff.sim.jit`).

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
``B`` contiguous amplitudes, unless per-row matrices make dense blocks that run faster row-major
(:meth:`qdiff.sim.plan.TorchPlan.batch_last`). Anything else is made contiguous first.

This module is the public entry point; each kernel lives in its own module:

* :mod:`qdiff.sim.layout` -- size thresholds, view shapes, the row-major / batch-last layout;
* :mod:`qdiff.sim.dense` -- :func:`apply_dense`;
* :mod:`qdiff.sim.diagonal` -- :func:`apply_diagonal`;
* :mod:`qdiff.sim.monomial` -- :class:`MonomialPlan` and :func:`apply_monomial`.

Index tensors and plans are memoized (bounded ``lru_cache``) per ``(num_qubits, qubits,
device)``; they hold constants only, never state.
"""

from __future__ import annotations

from qdiff.sim.dense import apply_dense
from qdiff.sim.diagonal import apply_diagonal
from qdiff.sim.layout import BATCH_LAST_MIN, prefers_batch_last, split_shape
from qdiff.sim.monomial import MonomialPlan, apply_monomial

__all__ = ["BATCH_LAST_MIN", "MonomialPlan", "apply_dense", "apply_diagonal", "apply_monomial",
           "prefers_batch_last", "split_shape"]
