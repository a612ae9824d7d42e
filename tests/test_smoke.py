"""End-to-end smoke test: the README example path works and matches Qiskit."""

import numpy as np

import qdiff


def test_bell_state_matches_qiskit():
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    c = qdiff.Circuit(3).h(0).cx(0, 2).ry(0.3, 1)
    q = QuantumCircuit(3)
    q.h(0)
    q.cx(0, 2)
    q.ry(0.3, 1)
    np.testing.assert_allclose(qdiff.state(c).numpy(), Statevector(q).data, atol=1e-12)
