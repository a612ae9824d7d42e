"""Pauli-sum kernels: expectation values and ``O|psi>`` without any ``2**n x 2**n`` matrix.

A Pauli string is ``P = i**ny X^x Z^z`` (bit masks ``x``, ``z``; ``ny`` the number of Y), so
``P|j> = i**ny (-1)**|j & z| |j ^ x>``. Hence

    <psi|P|psi> = i**ny sum_j conj(psi[j ^ x]) (-1)**|j & z| psi[j].

Terms sharing the same ``x`` share ``w_j = conj(psi[j ^ x]) psi[j]`` (one flip and one multiply);
each term then needs one reduction of ``w`` onto its ``z`` qubits and a signed sum. Memory stays
at a constant number of state vectors whatever the number of terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qdiff.ir.observables import PauliSum
from qdiff.sim.kernels import apply_diagonal, split_shape


@dataclass(frozen=True)
class PauliGroup:
    """Terms sharing the qubits flipped by X/Y: ``flip`` qubits and ``(z_qubits, coeff * i**ny)``."""

    flip: tuple[int, ...]
    terms: tuple[tuple[tuple[int, ...], complex], ...]


def group_terms(observable: PauliSum) -> tuple[PauliGroup, ...]:
    """Group an observable's terms by their X/Y support."""
    groups: dict[tuple[int, ...], list[tuple[tuple[int, ...], complex]]] = {}
    for key, coeff in observable:
        flip = tuple(q for q, l in key if l in "XY")
        zq = tuple(q for q, l in key if l in "ZY")
        ny = sum(1 for _, l in key if l == "Y")
        groups.setdefault(flip, []).append((zq, coeff * (1j**ny)))
    return tuple(PauliGroup(f, tuple(t)) for f, t in groups.items())


def _flip(state: torch.Tensor, qubits: tuple[int, ...], num_qubits: int) -> torch.Tensor:
    """``X`` on every qubit in ``qubits``: reverse those size-2 axes."""
    if not qubits:
        return state
    B = state.shape[0]
    shape, axes = split_shape(num_qubits, sorted(qubits))
    return state.view([B] + shape).flip([1 + a for a in axes]).reshape(state.shape)


def _signed_sum(w: torch.Tensor, zq: tuple[int, ...], num_qubits: int) -> torch.Tensor:
    """``sum_j (-1)**|j & z| w[..., j]`` by reducing onto the ``z`` qubits first."""
    B = w.shape[0]
    if not zq:
        return w.sum(-1)
    shape, axes = split_shape(num_qubits, sorted(zq))
    view = w.view([B] + shape)
    others = [1 + i for i in range(len(shape)) if i not in axes]
    reduced = view.sum(dim=others) if others else view  # (B, 2, ..., 2)
    k = len(zq)
    sign = torch.tensor([1.0, -1.0], dtype=w.real.dtype, device=w.device)
    for _ in range(k):
        reduced = (reduced * sign.view([2] + [1] * (reduced.dim() - 2))).sum(1) if reduced.dim() > 1 else reduced
    return reduced


def expectation(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:
    """Real ``<psi|O|psi>`` for a Hermitian ``O`` given as groups; ``state`` ``(B, 2**n)`` -> ``(B,)``."""
    B = state.shape[0]
    total = torch.zeros(B, dtype=state.real.dtype, device=state.device)
    for group in groups:
        if group.flip:
            w = _flip(state, group.flip, num_qubits).conj() * state
        else:
            w = state.real.square() + state.imag.square()
        for zq, coeff in group.terms:
            s = _signed_sum(w, zq, num_qubits)
            total = total + (coeff * s).real if torch.is_complex(s) else total + coeff.real * s
    return total


def apply_pauli_sum(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:
    """``O|psi>`` for ``state`` ``(B, 2**n)``: signs per term, then one flip per group."""
    out = torch.zeros_like(state)
    for group in groups:
        acc = torch.zeros_like(state)
        for zq, coeff in group.terms:
            if zq:
                diag = _z_diagonal(len(zq), coeff, state)
                acc = acc + apply_diagonal(state, diag, sorted(zq), num_qubits)
            else:
                acc = acc + coeff * state
        out = out + _flip(acc, group.flip, num_qubits)
    return out


def _z_diagonal(k: int, coeff: complex, like: torch.Tensor) -> torch.Tensor:
    """``coeff * diag(Z (x) ... (x) Z)`` on ``k`` qubits as a ``(2**k,)`` tensor."""
    z = torch.tensor([1.0, -1.0], dtype=like.real.dtype, device=like.device)
    d = torch.ones(1, dtype=like.real.dtype, device=like.device)
    for _ in range(k):
        d = torch.outer(d, z).flatten()
    return (d * coeff).to(like.dtype)
