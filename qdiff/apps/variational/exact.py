"""Exact references: ground states by dense ``torch.linalg.eigh`` (small n) or scipy's sparse
Lanczos (``eigsh``, n up to ~20), and a differentiable eigensolver for Hamiltonians whose
couplings are torch tensors.

>>> from qdiff.apps.variational.hamiltonians import heisenberg
>>> round(ground_state(heisenberg(8)).energy, 6)
-14.604374

Gradients of the ground state (derivation): for ``H v_k = l_k v_k`` and a real loss ``L(E, v_0)``
with incoming gradients ``g_E``, ``g_v`` (torch's convention ``dL = Re <g, dz>``),

    dL/dH = g_E v_0 v_0^+ + sum_{k>0} v_k (v_k^+ g_v) / (l_0 - l_k) v_0^+,

made Hermitian. The sum needs a gap ``l_1 - l_0 > 0``: at a degenerate ground level the state is
not a function of ``H`` and :class:`DegenerateSpectrumError` is raised; the energy alone stays
differentiable there (its gradient is taken as the average over the degenerate level,
``g_E P / d``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from qdiff.errors import ObservableError, QdiffError, StateTooLargeError
from qdiff.ir.observables import PauliSum

DENSE_MAX_QUBITS = 12
SPARSE_MAX_QUBITS = 24


class DegenerateSpectrumError(QdiffError, ValueError):
    """The ground level is degenerate, so the ground state is not differentiable."""


@dataclass(frozen=True)
class GroundState:
    """The lowest eigenpair. ``state``: complex128 ``(2**n,)`` (little-endian), phase fixed so its
    largest entry is real positive; ``gap``: ``E1 - E0`` (0 for a degenerate ground level)."""

    energy: float
    state: torch.Tensor
    gap: float

    def fidelity(self, psi: torch.Tensor) -> float:
        """``|<ground|psi>|^2`` for a normalised state ``psi`` ``(2**n,)``."""
        return float(torch.vdot(self.state, psi.to(self.state.dtype).reshape(-1)).abs().square())


def _fix_phase(v: torch.Tensor) -> torch.Tensor:
    k = int(v.abs().argmax())
    return v * (v[k].conj() / v[k].abs())


def sector_indices(num_qubits: int, particles: int) -> np.ndarray:
    """Basis indices with ``particles`` ones (a fixed particle number under Jordan-Wigner)."""
    idx = np.arange(2**num_qubits)
    weight = np.zeros_like(idx)
    for q in range(num_qubits):
        weight += (idx >> q) & 1
    return idx[weight == particles]


def ground_state(hamiltonian: PauliSum, *, num_qubits: int | None = None, method: str = "auto",
                 particles: int | None = None) -> GroundState:
    """Lowest eigenvalue and eigenvector of a Hermitian PauliSum.

    Args:
        hamiltonian: Hermitian PauliSum.
        num_qubits: width (default the Hamiltonian's).
        method: ``"dense"`` (``torch.linalg.eigh``, n <= 12), ``"sparse"`` (scipy ``eigsh``,
            n <= 24) or ``"auto"``.
        particles: restrict to basis states with this many ones (e.g. a molecule's electrons).
    Raises:
        ObservableError: not Hermitian; StateTooLargeError: too many qubits for the method.
    """
    hamiltonian.check_hermitian()
    n = max(hamiltonian.num_qubits, num_qubits or 0)
    if method == "auto":
        method = "dense" if n <= 10 else "sparse"
    if method not in ("dense", "sparse"):
        raise ObservableError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
    limit = DENSE_MAX_QUBITS if method == "dense" else SPARSE_MAX_QUBITS
    if n > limit:
        raise StateTooLargeError(f"exact diagonalisation with method={method!r} is limited to {limit} qubits, "
                                 f"got {n}" + ("; use method='sparse'" if method == "dense" else ""))
    keep = None if particles is None else sector_indices(n, particles)
    matrix = hamiltonian.to_matrix(sparse=True, num_qubits=n)
    if keep is not None:
        matrix = matrix[keep][:, keep]
    dim = matrix.shape[0]
    if method == "dense" or dim <= 64:
        dense = torch.as_tensor(matrix.toarray(), dtype=torch.complex128)
        evals, evecs = torch.linalg.eigh(dense)
        e0, gap, v = float(evals[0]), float(evals[1] - evals[0]) if dim > 1 else float("inf"), evecs[:, 0]
    else:
        from scipy.sparse.linalg import eigsh

        real = not np.iscomplexobj(matrix.data) or not np.abs(matrix.data.imag).any()
        m = matrix.real if real else matrix
        rng = np.random.default_rng(0)
        w, vecs = eigsh(m, k=2, which="SA", v0=rng.standard_normal(dim), tol=1e-12)
        order = np.argsort(w)
        e0, gap = float(w[order[0]]), float(w[order[1]] - w[order[0]])
        v = torch.as_tensor(vecs[:, order[0]]).to(torch.complex128)
    if keep is not None:
        full = torch.zeros(2**n, dtype=torch.complex128)
        full[torch.as_tensor(keep)] = v
        v = full
    return GroundState(e0, _fix_phase(v / torch.linalg.vector_norm(v)), max(gap, 0.0))


# -- the differentiable eigensolver ------------------------------------------------------------------------
class _GroundEigh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, H: torch.Tensor, tol: float):  # type: ignore[override]
        evals, evecs = torch.linalg.eigh(H)
        v0 = _fix_phase(evecs[:, 0])
        evecs = torch.cat([v0[:, None], evecs[:, 1:]], dim=1)
        ctx.save_for_backward(evals, evecs)
        ctx.tol = tol
        return evals[0], v0

    @staticmethod
    def backward(ctx, g_e: torch.Tensor, g_v: torch.Tensor):  # type: ignore[override]
        evals, V = ctx.saved_tensors
        scale = max(float(evals.abs().max()), 1.0)
        degenerate = int((evals - evals[0] <= ctx.tol * scale).sum())
        grad = torch.zeros_like(V)
        if g_e is not None:
            P = V[:, :degenerate]
            grad = grad + g_e.to(V.dtype) * (P @ P.conj().T) / degenerate
        if g_v is not None and bool(g_v.abs().max() > 0):
            if degenerate > 1:
                raise DegenerateSpectrumError(
                    f"the ground level is {degenerate}-fold degenerate (gap <= {ctx.tol:g} x |H|), so the ground "
                    "state is not a differentiable function of the couplings; break the symmetry (e.g. a small "
                    "field), or differentiate the energy only")
            c = V[:, 1:].conj().T @ g_v  # (d-1,)
            w = c / (evals[0] - evals[1:]).to(V.dtype)
            grad = grad + (V[:, 1:] @ w)[:, None] @ V[:, :1].conj().T
        return (grad + grad.conj().T) / 2, None


def eigh_ground(matrix: torch.Tensor, tol: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable lowest eigenpair of a Hermitian matrix ``(d, d)``.

    Returns ``(energy, state)``: a real scalar and a ``(d,)`` vector whose phase is fixed (largest
    entry real positive); losses should not depend on that phase (fidelities do not).
    Gradients as in the module docstring; a degenerate ground level raises
    :class:`DegenerateSpectrumError` on backward through the state.
    """
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ObservableError(f"eigh_ground takes a square matrix, got shape {tuple(matrix.shape)}")
    if not torch.allclose(matrix, matrix.conj().T, atol=1e-10):
        raise ObservableError("eigh_ground needs a Hermitian matrix; symmetrise with (H + H^+) / 2")
    return _GroundEigh.apply(matrix, tol)


class ParametrizedHamiltonian:
    """``H(c) = sum_k c_k P_k`` for fixed Pauli terms and couplings given as a torch tensor.

    Args:
        terms: the Hermitian operators ``P_k`` (PauliSums; several Pauli strings may share one
            coupling, e.g. all X fields of a uniform model).
        num_qubits: width (default the widest term); at most 12 (dense matrices).

    >>> from qdiff import X, Z
    >>> model = ParametrizedHamiltonian([Z(0) @ Z(1), X(0) + X(1)])
    >>> energy, state = model.ground_state(torch.tensor([-1.0, -1.0], dtype=torch.float64))
    >>> round(float(energy), 6)
    -2.236068
    """

    def __init__(self, terms: Sequence[PauliSum], num_qubits: int | None = None):
        terms = list(terms)
        if not terms:
            raise ObservableError("ParametrizedHamiltonian needs at least one term")
        for t in terms:
            if not isinstance(t, PauliSum):
                raise ObservableError(f"terms must be PauliSums, got {type(t).__name__}")
            t.check_hermitian()
        n = max([t.num_qubits for t in terms] + [num_qubits or 0])
        if n > DENSE_MAX_QUBITS:
            raise StateTooLargeError(f"ParametrizedHamiltonian builds dense matrices: at most {DENSE_MAX_QUBITS} "
                                     f"qubits, got {n}")
        self.terms = terms
        self.num_qubits = n
        self.basis = torch.stack([torch.as_tensor(t.to_matrix(num_qubits=n), dtype=torch.complex128)
                                  for t in terms])  # (K, d, d)

    def matrix(self, couplings: torch.Tensor) -> torch.Tensor:
        """``(d, d)`` complex128 matrix for real couplings ``(K,)`` (differentiable)."""
        c = torch.as_tensor(couplings)
        if c.shape != (len(self.terms),):
            raise ObservableError(f"couplings must have shape ({len(self.terms)},), got {tuple(c.shape)}")
        if c.is_complex():
            raise ObservableError("couplings must be real (a complex coupling makes H non-Hermitian)")
        return torch.einsum("k,kij->ij", c.to(torch.complex128), self.basis)

    def ground_state(self, couplings: torch.Tensor, tol: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable ``(energy, state (2**n,))`` of ``H(couplings)``; see :func:`eigh_ground`."""
        return eigh_ground(self.matrix(couplings), tol)
