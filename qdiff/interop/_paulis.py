"""qdiff :class:`~qdiff.ir.PauliSum` <-> ``qiskit.quantum_info.SparsePauliOp``.

Both use Qiskit's label convention (rightmost letter on qubit 0), so the conversion is a relabel.
"""

from __future__ import annotations

import numbers

from qiskit.quantum_info import Pauli, SparsePauliOp

from qdiff.errors import ObservableError
from qdiff.ir.observables import PauliSum


def to_sparse_pauli_op(pauli_sum: PauliSum, num_qubits: int | None = None) -> SparsePauliOp:
    """The ``SparsePauliOp`` of ``pauli_sum`` on ``num_qubits`` qubits (default: its width, at least 1)."""
    if not isinstance(pauli_sum, PauliSum):
        raise TypeError(f"to_sparse_pauli_op expects a qdiff PauliSum, got {type(pauli_sum).__name__}")
    if num_qubits is not None:
        if isinstance(num_qubits, bool) or not isinstance(num_qubits, numbers.Integral) or num_qubits < 1:
            raise ObservableError(f"num_qubits must be a positive int, got {num_qubits!r}")
        if num_qubits < pauli_sum.num_qubits:
            raise ObservableError(f"the observable acts on {pauli_sum.num_qubits} qubit(s), more than "
                                  f"num_qubits={num_qubits}")
    n = max(pauli_sum.num_qubits, num_qubits or 0, 1)
    terms = pauli_sum.to_list(n)
    return SparsePauliOp.from_list(terms or [("I" * n, 0.0)], num_qubits=n)


def from_sparse_pauli_op(op: SparsePauliOp | Pauli) -> PauliSum:
    """The ``PauliSum`` of a ``SparsePauliOp`` or ``Pauli`` (its width kept as ``num_qubits``)."""
    if isinstance(op, Pauli):
        op = SparsePauliOp(op)
    if not isinstance(op, SparsePauliOp):
        raise TypeError(f"from_sparse_pauli_op expects a SparsePauliOp or Pauli, got {type(op).__name__}")
    pairs = op.to_list()
    for label, coeff in pairs:
        if not isinstance(coeff, numbers.Number):
            raise ObservableError(f"coefficient {coeff!r} of {label!r} is not a number; bind the "
                                  "SparsePauliOp's parameters first (op.assign_parameters)")
    return PauliSum.from_list([(label, complex(coeff)) for label, coeff in pairs], num_qubits=op.num_qubits)
