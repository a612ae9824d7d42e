"""PauliSum <-> SparsePauliOp: same labels (rightmost letter on qubit 0), same matrices."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import Pauli, SparsePauliOp

import qdiff


def _random_pauli_sum(seed: int, n: int = 4, terms: int = 6) -> qdiff.PauliSum:
    rng = np.random.default_rng(seed)
    labels = ["".join(rng.choice(list("IXYZ"), size=n)) for _ in range(terms)]
    return qdiff.PauliSum.from_list([(label, float(rng.normal())) for label in labels])


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip_and_matrices(seed):
    H = _random_pauli_sum(seed)
    op = qdiff.to_sparse_pauli_op(H)
    assert isinstance(op, SparsePauliOp) and op.num_qubits == 4
    np.testing.assert_allclose(op.to_matrix(), H.to_matrix(), atol=1e-12)
    assert qdiff.from_sparse_pauli_op(op) == H
    back = qdiff.to_sparse_pauli_op(qdiff.from_sparse_pauli_op(op))
    assert back.simplify() == op.simplify()


def test_labels_follow_qiskit():
    H = qdiff.X(0) @ qdiff.Z(2) - 0.5 * qdiff.Y(1)
    assert qdiff.to_sparse_pauli_op(H).to_list() == [("ZIX", 1.0), ("IYI", -0.5)]
    assert qdiff.from_sparse_pauli_op(SparsePauliOp.from_list([("ZIX", 1.0)])) == qdiff.Z(2) @ qdiff.X(0)
    assert qdiff.from_sparse_pauli_op(Pauli("-iXY")) == -1j * qdiff.X(1) @ qdiff.Y(0)


def test_widths_and_edge_cases():
    assert qdiff.to_sparse_pauli_op(qdiff.Z(0), num_qubits=3).to_list() == [("IIZ", 1.0)]
    assert qdiff.from_sparse_pauli_op(SparsePauliOp("IIZ")).num_qubits == 3
    assert qdiff.to_sparse_pauli_op(2 * qdiff.I()).to_list() == [("I", 2.0)]
    assert qdiff.to_sparse_pauli_op(qdiff.Z(0) - qdiff.Z(0), num_qubits=2).to_list() == [("II", 0.0)]
    with pytest.raises(qdiff.ObservableError, match="acts on 3 qubit"):
        qdiff.to_sparse_pauli_op(qdiff.Z(2), num_qubits=2)
    with pytest.raises(TypeError, match="SparsePauliOp"):
        qdiff.from_sparse_pauli_op("ZZ")
