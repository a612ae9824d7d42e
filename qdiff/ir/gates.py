"""`GateSpec`: the one definition of a gate that every engine and backend reads.

A gate is one of three kinds:

``fixed``
    a constant unitary matrix (``h``, ``cx``, ``unitary(...)``).
``rotation``
    one angle, ``U(theta) = exp(-i theta G)`` for a Hermitian generator ``G`` (``rx``, ``crz``,
    ``p``, ``pauli_rot``...). The spectral decomposition ``G = sum_e lambda_e P_e`` gives the matrix
    ``U(theta) = sum_e exp(-i theta lambda_e) P_e`` (differentiable in torch), the adjoint
    derivative ``dU/dtheta = -i G U`` and the parameter-shift rule (see :mod:`qdiff.ir.shift_rules`).
``composite``
    several angles, defined as a product of rotations and fixed gates whose angles are affine in
    the gate's own angles (``u(theta, phi, lam) = p(phi) ry(theta) p(lam)``). Engines lower it.

Matrices use Qiskit's little-endian convention: local qubit ``i`` of a gate (the ``i``-th qubit
listed when the gate is placed) is bit ``i`` of the matrix index. All data are numpy arrays so
that this module needs no torch at import time; :meth:`GateSpec.matrix` accepts torch angles and
returns a differentiable torch tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from qdiff.errors import GateError
from qdiff.ir.shift_rules import ShiftRule, shift_rule_from_spectrum

GateKind = Literal["fixed", "rotation", "composite"]
Structure = Literal["diagonal", "monomial", "dense"]

_TOL = 1e-10


@dataclass(frozen=True)
class CompositeFactor:
    """One factor of a composite gate: ``spec`` on ``qubits`` (local indices of the parent gate),
    with each of its angles equal to ``weights @ parent_angles + offset``."""

    spec: GateSpec
    qubits: tuple[int, ...]
    weights: tuple[tuple[float, ...], ...] = ()
    offsets: tuple[float, ...] = ()


@dataclass(frozen=True, eq=False)
class GateSpec:
    """Everything anyone needs to know about one gate type.

    Attributes:
        name: qdiff name, also the builder method name (``"rx"``).
        num_qubits: number of qubits the gate acts on.
        num_params: number of angles (0 for fixed gates).
        kind: ``"fixed"``, ``"rotation"`` or ``"composite"``.
        qiskit_name: name of the equivalent Qiskit instruction, if any.
        fixed_matrix: ``(2**k, 2**k)`` complex array for fixed gates.
        generator: ``(2**k, 2**k)`` Hermitian array ``G`` for rotations, ``U = exp(-i theta G)``;
            ``None`` for a Pauli-string rotation, whose matrix is built only on demand
            (:attr:`generator_matrix`: read that, never this field, when you need the matrix).
        factors: the decomposition of a composite gate, applied first to last.
        num_controls: leading local qubits that act as controls (0 if not a controlled gate).
        base: for a controlled gate, the spec acting on the target qubits.
        inverse_name: name of the fixed gate that is this gate's inverse (``s`` -> ``sdg``).
        inverse_angles: for composite gates, maps angles to the angles of the inverse.
        pauli: for ``pauli_rot`` gates, the Pauli string (letter ``i`` on local qubit ``i``);
            ``G = P / 2``, so its spectrum, shift rule and action are known without a matrix.
    """

    name: str
    num_qubits: int
    num_params: int
    kind: GateKind
    qiskit_name: str | None = None
    fixed_matrix: np.ndarray | None = field(default=None, repr=False)
    generator: np.ndarray | None = field(default=None, repr=False)
    factors: tuple[CompositeFactor, ...] = ()
    num_controls: int = 0
    base: GateSpec | None = field(default=None, repr=False)
    inverse_name: str | None = None
    inverse_angles: Callable[[Sequence[Any]], tuple[Any, ...]] | None = field(default=None, repr=False)
    pauli: str | None = None

    # -- derived data ------------------------------------------------------------------------
    @cached_property
    def generator_matrix(self) -> np.ndarray:
        """The generator ``G`` as a ``(2**k, 2**k)`` array (built here for a Pauli string: ``4**k``
        entries, so engines use :attr:`pauli` and :func:`pauli_action` instead)."""
        if self.generator is not None:
            return self.generator
        if self.pauli is not None:
            perm, phase = pauli_action(self.pauli)
            out = np.zeros((len(perm), len(perm)), dtype=complex)
            out[perm, np.arange(len(perm))] = phase / 2
            return out
        raise GateError(f"gate {self.name!r} has no generator (it is {self.kind})")

    @cached_property
    def spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct generator eigenvalues ``(E,)`` and spectral projectors ``(E, d, d)``."""
        if self.pauli is not None and set(self.pauli) != {"I"}:  # P/2: eigenvalues -1/2, +1/2
            P = 2 * self.generator_matrix
            eye = np.eye(len(P))
            return np.array([-0.5, 0.5]), np.stack([(eye - P) / 2, (eye + P) / 2])
        return spectral_decomposition(self.generator_matrix)

    @cached_property
    def eigenvalues(self) -> np.ndarray:
        """Distinct generator eigenvalues ``(E,)``, ascending (no matrix for a Pauli string)."""
        if self.pauli is not None:
            return np.array([0.5]) if set(self.pauli) == {"I"} else np.array([-0.5, 0.5])
        return self.spectrum[0]

    @cached_property
    def shift_rule(self) -> ShiftRule:
        """The exact parameter-shift rule derived from the generator's spectrum."""
        return shift_rule_from_spectrum(self.eigenvalues)

    @cached_property
    def structure(self) -> Structure:
        """``diagonal``, ``monomial`` (permutation times phases) or ``dense`` for every angle."""
        if self.kind == "fixed":
            return structure_of(self.fixed_matrix)
        if self.pauli is not None:
            return "diagonal" if set(self.pauli) <= {"I", "Z"} else "dense"
        if self.kind == "rotation":
            return "diagonal" if structure_of(self.generator_matrix) == "diagonal" else "dense"
        return "dense"

    @cached_property
    def key(self) -> tuple:
        """Identity of the gate type: its name and size, plus its matrix for user unitaries."""
        content = np.round(self.fixed_matrix, 12).tobytes() if self.qiskit_name == "unitary" else b""
        return (self.name, self.num_qubits, content)

    # -- matrices ----------------------------------------------------------------------------
    def matrix(self, *angles: Any) -> Any:
        """The gate's unitary for the given angles.

        Args:
            *angles: ``num_params`` floats, numpy arrays or torch tensors of a common shape
                ``batch``.
        Returns:
            a ``(*batch, 2**k, 2**k)`` numpy array, or a differentiable complex128 torch tensor if
            any angle is a torch tensor.
        """
        if len(angles) != self.num_params:
            raise GateError(f"gate {self.name!r} takes {self.num_params} angle(s), got {len(angles)}")
        if self.kind == "fixed":
            return self.fixed_matrix
        if self.kind == "rotation":
            eigenvalues, projectors = self.spectrum
            return _spectral_exp(angles[0], eigenvalues, projectors)
        total = None
        for factor in self.factors:
            sub_angles = [
                sum(w * a for w, a in zip(row, angles)) + off
                for row, off in zip(factor.weights, factor.offsets)
            ]
            full = _embed(factor.spec.matrix(*sub_angles), factor.qubits, self.num_qubits)
            total = full if total is None else _matmul(full, total)
        return total

    def inverse(self, angles: Sequence[Any]) -> tuple[GateSpec, tuple[Any, ...]]:
        """Spec and angles of the inverse gate: ``inverse(U(angles)) == U_inv(angles_inv)``.

        A fixed gate without a named inverse (``iswap``, a user ``unitary``) gets a ``unitary``
        spec holding its conjugate transpose, labelled ``<name>_dg``.
        """
        if self.kind == "rotation":
            return self, (-angles[0],)
        if self.kind == "composite":
            assert self.inverse_angles is not None
            return self, self.inverse_angles(angles)
        if self.inverse_name == self.name:
            return self, ()
        from qdiff.ir.library import get_spec, unitary_spec  # the library imports this module

        if self.inverse_name is not None:
            return get_spec(self.inverse_name), ()
        return unitary_spec(self.fixed_matrix.conj().T, f"{self.name}_dg"), ()

    def __repr__(self) -> str:
        return f"GateSpec({self.name!r}, qubits={self.num_qubits}, params={self.num_params}, {self.kind})"


# -- numerical helpers (numpy, with torch dispatch for angles) -------------------------------

def pauli_action(pauli: str) -> tuple[np.ndarray, np.ndarray]:
    """How a Pauli string acts on basis states: ``P |j> = phase[j] |perm[j]>``, in ``O(2**k)``.

    Letter ``i`` acts on local qubit (bit) ``i``; ``perm[j] = j XOR xmask`` (the X and Y bits) and
    ``phase[j]`` collects ``(-1)**bit`` for Z and ``+i`` / ``-i`` (bit 0 / 1) for Y.

    >>> perm, phase = pauli_action("XY")   # X on bit 0, Y on bit 1
    >>> perm.tolist(), phase.tolist()
    ([3, 2, 1, 0], [1j, 1j, -1j, -1j])
    """
    j = np.arange(1 << len(pauli))
    phase = np.ones(len(j), dtype=complex)
    xmask = 0
    for i, letter in enumerate(pauli):
        bit = (j >> i) & 1
        if letter in "XY":
            xmask |= 1 << i
        if letter == "Z":
            phase *= 1 - 2 * bit
        elif letter == "Y":
            phase *= 1j * (1 - 2 * bit)
    return j ^ xmask, phase


def spectral_decomposition(generator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct eigenvalues ``(E,)`` (ascending) and spectral projectors ``(E, d, d)`` of a
    Hermitian matrix, with eigenvalues closer than 1e-9 merged."""
    values, vectors = np.linalg.eigh(generator)
    groups: list[list[int]] = []
    for i, v in enumerate(values):
        if groups and abs(values[groups[-1][0]] - v) < 1e-9:
            groups[-1].append(i)
        else:
            groups.append([i])
    eigenvalues = np.array([values[g].mean() for g in groups])
    projectors = np.stack([vectors[:, g] @ vectors[:, g].conj().T for g in groups])
    return eigenvalues, projectors


def structure_of(matrix: np.ndarray | None) -> Structure:
    assert matrix is not None
    nonzero = np.abs(matrix) > _TOL
    if not nonzero[~np.eye(len(matrix), dtype=bool)].any():
        return "diagonal"
    if (nonzero.sum(axis=0) == 1).all() and (nonzero.sum(axis=1) == 1).all():
        return "monomial"
    return "dense"


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _spectral_exp(angle: Any, eigenvalues: np.ndarray, projectors: np.ndarray) -> Any:
    """``sum_e exp(-i angle lambda_e) P_e`` with broadcasting over ``angle``'s shape."""
    if _is_torch(angle):
        import torch

        a = angle.to(torch.float64)
        lam = torch.as_tensor(eigenvalues, dtype=torch.float64, device=a.device)
        phases = torch.polar(torch.ones((), dtype=torch.float64, device=a.device), -a[..., None] * lam)
        proj = torch.as_tensor(projectors, dtype=torch.complex128, device=a.device)
        return torch.einsum("...e,eij->...ij", phases, proj)
    a = np.asarray(angle, dtype=float)
    phases = np.exp(-1j * a[..., None] * eigenvalues)
    return np.einsum("...e,eij->...ij", phases, projectors)


def _matmul(a: Any, b: Any) -> Any:
    if _is_torch(a) or _is_torch(b):
        import torch

        return torch.as_tensor(a) @ torch.as_tensor(b)
    return a @ b


def _embed(matrix: Any, qubits: Sequence[int], num_qubits: int) -> Any:
    """Embed a gate acting on local ``qubits`` into a ``num_qubits`` identity (little-endian)."""
    if list(qubits) == list(range(num_qubits)):
        return matrix
    if _is_torch(matrix):
        import torch

        rows, cols, lrows, lcols = (torch.as_tensor(i) for i in embedding_indices(qubits, num_qubits))
        shape = matrix.shape[:-2] + (2**num_qubits, 2**num_qubits)
        out = torch.zeros(shape, dtype=matrix.dtype, device=matrix.device)
        out[..., rows, cols] = matrix[..., lrows, lcols]
        return out
    return permuted_embedding(matrix, qubits, num_qubits)


def embedding_indices(qubits: Sequence[int], num_qubits: int) -> tuple[np.ndarray, ...]:
    """Index arrays ``(row, col, local_row, local_col)`` mapping a k-qubit matrix into n qubits."""
    k = len(qubits)
    dim = 2**num_qubits
    rows, cols, lrows, lcols = [], [], [], []
    others = [q for q in range(num_qubits) if q not in qubits]
    for rest in range(2 ** len(others)):
        base = sum(((rest >> j) & 1) << q for j, q in enumerate(others))
        for lr in range(2**k):
            r = base + sum(((lr >> j) & 1) << q for j, q in enumerate(qubits))
            for lc in range(2**k):
                c = base + sum(((lc >> j) & 1) << q for j, q in enumerate(qubits))
                rows.append(r)
                cols.append(c)
                lrows.append(lr)
                lcols.append(lc)
    assert max(rows) < dim
    return tuple(np.array(a) for a in (rows, cols, lrows, lcols))


def permuted_embedding(matrix: np.ndarray, qubits: Sequence[int], num_qubits: int) -> np.ndarray:
    """Numpy version of :func:`_embed`: the ``2**n x 2**n`` matrix of a gate on ``qubits``."""
    matrix = np.asarray(matrix)
    rows, cols, lrows, lcols = embedding_indices(qubits, num_qubits)
    out = np.zeros(matrix.shape[:-2] + (2**num_qubits, 2**num_qubits), dtype=complex)
    out[..., rows, cols] = matrix[..., lrows, lcols]
    return out


def controlled_matrix(base: np.ndarray, num_controls: int) -> np.ndarray:
    """Matrix of ``base`` controlled on ``num_controls`` leading (least significant) qubits."""
    d = base.shape[-1]
    nc = num_controls
    full = np.eye(d * 2**nc, dtype=complex)
    mask = 2**nc - 1
    idx = np.arange(d) * 2**nc + mask
    full[np.ix_(idx, idx)] = base
    return full


def controlled_generator(generator: np.ndarray, num_controls: int) -> np.ndarray:
    """Generator of a controlled rotation: ``|1..1><1..1| (x) G`` (zero elsewhere)."""
    d = generator.shape[-1]
    full = np.zeros((d * 2**num_controls,) * 2, dtype=complex)
    idx = np.arange(d) * 2**num_controls + 2**num_controls - 1
    full[np.ix_(idx, idx)] = generator
    return full


def is_unitary(matrix: np.ndarray, atol: float = 1e-8) -> bool:
    """True when ``matrix`` is square and ``U^dagger U = I`` within ``atol``."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        return False
    return bool(np.allclose(m.conj().T @ m, np.eye(len(m)), atol=atol))
