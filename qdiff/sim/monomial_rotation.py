"""Pauli-type rotations: ``exp(-i theta G)`` for a generator ``G = g M``, ``M`` a monomial involution.

A Hermitian generator with exactly one nonzero per row and column, all of modulus ``g``, is
``g M`` with ``M`` Hermitian, monomial (a permutation times phases) and ``M**2 = I``: on a fixed
point ``M_jj = +-1``, on a swapped pair ``M_pj M_jp = |M_pj|**2 = 1``. Pauli strings are the main
case (``P / 2``: ``g = 1/2``, ``M = P``, ``P|b> = phase(b) |b XOR xmask>``); ``rxx``, ``ryy`` and
``rzx`` are others. Since ``M**2 = I``,

    exp(-i theta g M) = cos(g theta) I - i sin(g theta) M,

so a rotation on ``k`` qubits is one monomial kernel call (:func:`qdiff.sim.monomial.apply_monomial`)
and two multiplies over the state: ``O(2**n)`` time whatever ``k``, and neither the operator nor
the generator ever becomes a ``2**k x 2**k`` matrix (``M`` is a :class:`MonomialPlan`). The adjoint
derivative needs ``-i G psi = -i g M psi``, the same kernel again.

This module holds the numpy analysis the compiler uses (:func:`generator_structure`) and the
per-call operator (:class:`MonomialRotation`); :mod:`qdiff.sim.plan` and :mod:`qdiff.sim.program`
apply it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from qdiff.ir.gates import pauli_action
from qdiff.sim.monomial import MonomialPlan, _frozen, apply_monomial

PAULI_MIN_QUBITS = 3
"""Smallest rotation (in qubits) compiled as a ``"pauli"`` step; smaller ones stay dense rotations.

Measured per kernel call (complex128, one thread, a loaded 2-core machine):
the ``"pauli"`` path is about four passes over the state whatever ``k``; a dense ``2**k`` block on
the lowest contiguous qubits is one real GEMM pass (``k <= 4``) and stays faster there (n = 20,
qubits 0..2: 3.8 ms dense vs 28 ms), while on high or scattered qubits the dense block needs the
gather-GEMM-gather route and the Pauli path wins (1.4-2x at ``k = 2..4``, growing as ``2**k``).
Building the dense operator costs an ``8**k`` eigendecomposition once and ``4**k`` per call and
per block of the adjoint, which is what made ``k >= 8`` unusable; ``k = 1, 2`` rotations keep the
fusion of single-qubit layers and the dense kernels' tuned paths."""

_TOL = 1e-10

Structure = Literal["diagonal", "pauli", "dense"]


@lru_cache(maxsize=16)
def relabel(k: int, order: tuple[int, ...]) -> np.ndarray:
    """``new[old]``: local basis index after re-ordering bits so that new bit ``i`` is old bit ``order[i]``."""
    old = np.arange(1 << k)
    new = np.zeros_like(old)
    for i, b in enumerate(order):
        new |= ((old >> b) & 1) << i
    return new


def generator_structure(generator: np.ndarray, order: Sequence[int]) -> tuple[Structure, object]:
    """How a rotation's generator ``(d, d)`` is applied, in the sorted local order ``order``.

    ``order[i]`` is the generator's local bit that becomes bit ``i`` (the compiler sorts qubits).
    Reads the matrix in a few vectorised passes and never re-orders it (index arithmetic only).

    Returns:
        ``("diagonal", diag)`` with the real diagonal ``(d,)``; ``("pauli", (perm, phases))`` when
        ``G = g M`` (see the module docstring) on at least :data:`PAULI_MIN_QUBITS` qubits, with
        ``G[perm[j], j] = phases[j]`` (``|phases[j]| = g``); otherwise ``("dense", None)``
        (the caller re-orders the matrix).
    """
    d = generator.shape[-1]
    k = d.bit_length() - 1
    order = tuple(order)
    rows, cols = np.nonzero(generator != 0)  # row-major order; then drop rounding-level entries
    keep = np.abs(generator[rows, cols]) > _TOL
    rows, cols = rows[keep], cols[keep]
    on_diagonal = rows == cols
    if on_diagonal.all():
        new = relabel(k, order)
        diag = np.zeros(d)
        diag[new[rows]] = np.real(generator[rows, cols])
        return "diagonal", diag
    if k >= PAULI_MIN_QUBITS and len(rows) == d:
        perm = np.full(d, -1, dtype=np.int64)
        perm[cols] = rows  # column j has its nonzero in row perm[j]
        vals = generator[perm, np.arange(d)]
        size = np.abs(vals)
        if (perm >= 0).all() and np.ptp(size) <= _TOL * size.max():  # d nonzeros in d distinct columns
            new = relabel(k, order)
            perm_new = np.empty(d, dtype=np.int64)
            phases = np.empty(d, dtype=complex)
            perm_new[new] = new[perm]
            phases[new] = vals
            return "pauli", (_frozen(perm_new), _frozen(phases))
    return "dense", None


def pauli_structure(pauli: str, order: Sequence[int]) -> tuple[Structure, object]:
    """:func:`generator_structure` of ``P / 2`` for a Pauli string, from its letters in ``O(2**k)``.

    ``order[i]`` is the string's local bit that becomes bit ``i``, so the sorted string has letter
    ``pauli[order[i]]`` on bit ``i``.
    """
    letters = "".join(pauli[b] for b in order)
    perm, phase = pauli_action(letters)
    if set(letters) <= {"I", "Z"}:
        return "diagonal", np.real(phase) / 2
    return "pauli", (_frozen(np.asarray(perm, dtype=np.int64)), _frozen(np.asarray(phase, dtype=complex) / 2))


def dense_generator(perm: Sequence[int], phases: Sequence[complex]) -> np.ndarray:
    """The ``(d, d)`` matrix with ``phases[j]`` at ``(perm[j], j)`` (``4**k`` entries: for analysis only)."""
    d = len(perm)
    out = np.zeros((d, d), dtype=complex)
    out[np.asarray(perm), np.arange(d)] = phases
    return out


def involution(qubits: Sequence[int], num_qubits: int, perm: Sequence[int],
               phases: Sequence[complex]) -> tuple[MonomialPlan, float]:
    """``(M, g)`` for the generator ``G = g M`` given as ``G[perm[j], j] = phases[j]``."""
    phases = np.asarray(phases, dtype=complex)
    g = float(abs(phases[0]))
    return MonomialPlan(perm, phases / g, qubits, num_qubits), g


def rotation_coefficients(theta: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``(cos(g theta), -i sin(g theta))`` as ``(..., G, 2)`` complex for angles ``(..., G)``, ``g`` ``(G,)``."""
    x = theta * scale
    zero = torch.zeros_like(x)
    return torch.stack((torch.complex(torch.cos(x), zero), torch.complex(zero, -torch.sin(x))), dim=-1)


@dataclass(frozen=True)
class MonomialRotation:
    """The operator of one ``"pauli"`` step or block for one call: ``a I + b M``.

    Attributes:
        monomial: ``M`` on the block's ascending qubits (Hermitian, ``M**2 = I``).
        coeffs: ``(2,)`` shared or ``(B, 2)`` per-row complex ``(a, b)``; for ``exp(-i theta g M)``
            ``a = cos(g theta)``, ``b = -i sin(g theta)``.
    """

    monomial: MonomialPlan
    coeffs: torch.Tensor

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, b)``: 0-dim tensors, or ``(B, 1)`` columns that broadcast over a ``(B, 2**n)`` state."""
        c = self.coeffs
        if c.dim() == 1:
            return c[0], c[1]
        return c[:, 0:1], c[:, 1:2]

    def inverse(self) -> MonomialRotation:
        """``a* I + b* M``: the inverse (and adjoint) of a rotation, whose ``a`` is real and ``b`` imaginary."""
        return MonomialRotation(self.monomial, self.coeffs.conj())

    def repeat(self, times: int) -> MonomialRotation:
        """Per-row coefficients repeated for ``times`` stacked copies of the batch."""
        if self.coeffs.dim() == 1:
            return self
        return MonomialRotation(self.monomial, self.coeffs.repeat(times, 1))

    def dense(self) -> torch.Tensor:
        """``a I + b M`` as ``(d, d)`` or ``(B, d, d)`` (``4**k`` entries: for analysis and tests only)."""
        m = self.monomial
        eye = torch.eye(len(m.perm), dtype=self.coeffs.dtype, device=self.coeffs.device)
        mat = torch.as_tensor(dense_generator(m.perm, m.phases), dtype=self.coeffs.dtype, device=self.coeffs.device)
        a, b = self.coeffs[..., 0, None, None], self.coeffs[..., 1, None, None]
        return a * eye + b * mat


MonomialKernel = Callable[[torch.Tensor, MonomialPlan], torch.Tensor]


def rotate(state: torch.Tensor, op: MonomialRotation, kernel: MonomialKernel = apply_monomial) -> torch.Tensor:
    """``a psi + M (b psi)`` for ``state`` ``(B, 2**n)`` (either layout): one monomial ``kernel``
    call and two multiplies. Runners pass the kernel they dispatch to (so that instrumenting a
    runner's kernels sees this call too); with per-row coefficients ``b`` is a ``(B, 1)`` column.
    Differentiable in ``state`` and in ``op.coeffs``.

    (Folding the phases of ``M`` into the scaling multiply, to save the phase pass, measured
    no faster: within noise at ``n = 16..20``, slower on small states.)"""
    a, b = op.factors()
    return torch.addcmul(kernel(state * b, op.monomial), state, a)


def rotate_keeping(state: torch.Tensor, op: MonomialRotation,
                   kernel: MonomialKernel = apply_monomial) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a psi + b M psi, M psi)``: the rotated state and ``M psi``, from one ``kernel`` call
    (the adjoint sweep needs ``M psi`` for the angle gradient)."""
    a, b = op.factors()
    moved = kernel(state, op.monomial)
    return torch.addcmul(state * a, moved, b), moved


def pauli_cross(lam: torch.Tensor, moved: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """``sum lam conj(M psi)`` over the basis (and the batch unless ``per_sample``): ``(B,)`` or ``()``.

    For ``G = g M`` the angle gradient is ``Re(conj(y) (-i g))`` with this ``y``, as for a dense
    block's cross matrix ``Y`` it is ``Re tr(Y^H (-i G))`` (``qdiff/grad/adjoint.md``)."""
    y = torch.linalg.vecdot(moved, lam)  # sum conj(moved) * lam over the last axis
    return y if per_sample else y.sum()
