"""Standard parametrized circuits (ansatzes) used by the commands, examples and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from qdiff.errors import GateError, QubitError
from qdiff.ir.circuit import Circuit
from qdiff.ir.parameters import ParameterVector

Edges = Sequence[tuple[int, int]]


def entangler_edges(num_qubits: int, entangler: str | Edges) -> list[tuple[int, int]]:
    """The (control, target) pairs of an entangling layer: ``"chain"``, ``"ring"`` or explicit edges."""
    if entangler == "chain":
        return [(q, q + 1) for q in range(num_qubits - 1)]
    if entangler == "ring":
        return [(q, (q + 1) % num_qubits) for q in range(num_qubits)] if num_qubits > 2 else entangler_edges(num_qubits, "chain")
    if isinstance(entangler, str):
        raise GateError(f"unknown entangler {entangler!r}; use 'chain', 'ring' or a list of (control, target) pairs")
    edges = [(int(a), int(b)) for a, b in entangler]
    for a, b in edges:
        if not (0 <= a < num_qubits and 0 <= b < num_qubits) or a == b:
            raise QubitError(f"entangler edge {(a, b)} is invalid for {num_qubits} qubits")
    return edges


def hardware_efficient(num_qubits: int, layers: int, rotations: Sequence[str] = ("ry", "rz"),
                       entangler: str | Edges = "chain", name: str = "w") -> Circuit:
    """``layers`` x (each rotation in ``rotations`` on every qubit, then cx on the entangler edges).

    Parameters form one :class:`ParameterVector` ``name`` of length
    ``layers * len(rotations) * num_qubits``, in application order.

    >>> hardware_efficient(4, 2).num_parameters
    16
    """
    if num_qubits < 1 or layers < 1:
        raise GateError(f"hardware_efficient needs num_qubits >= 1 and layers >= 1, got {num_qubits}, {layers}")
    unknown = [r for r in rotations if r not in ("rx", "ry", "rz", "p")]
    if unknown:
        raise GateError(f"rotations must be among rx, ry, rz, p; got {unknown}")
    edges = entangler_edges(num_qubits, entangler)
    weights = ParameterVector(name, layers * len(rotations) * num_qubits)
    circuit = Circuit(num_qubits)
    k = 0
    for _ in range(layers):
        for q in range(num_qubits):
            for r in rotations:
                getattr(circuit, r)(weights[k], q)
                k += 1
        for a, b in edges:
            circuit.cx(a, b)
    return circuit
