"""qdiff <-> Qiskit circuits: round trips equal as operators (global phase included), parameters
kept by name and in order of first appearance, affine angles kept, clear errors otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter as QkParameter
from qiskit.circuit.library import GlobalPhaseGate, PauliEvolutionGate
from qiskit.quantum_info import Operator, SparsePauliOp

import qdiff

from ._helpers import ATOL, qdiff_matrix, qiskit_matrix, random_qdiff_circuit, random_qiskit_circuit, values_for

# Qiskit computes PauliEvolutionGate matrices with scipy sparse routines that warn about formats.
pytestmark = pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")


def _by_name(expr: qdiff.ParameterExpression) -> dict[str, float]:
    return {**{p.name: c for p, c in expr.coefficients.items()}, "": expr.offset}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qdiff_to_qiskit_to_qdiff(seed):
    circuit = random_qdiff_circuit(seed)
    assert {op.name for op in circuit} >= set(qdiff.GATES) | {"mcx", "barrier", "unitary"}
    qc = qdiff.to_qiskit(circuit)
    back = qdiff.from_qiskit(qc)
    values = values_for([p.name for p in circuit.parameters], seed)
    expected = qdiff_matrix(circuit, values)
    np.testing.assert_allclose(qiskit_matrix(qc, values), expected, atol=ATOL)
    np.testing.assert_allclose(qdiff_matrix(back, values), expected, atol=ATOL)
    # the structure survives too: same gates on the same qubits with the same affine angles
    assert [p.name for p in back.parameters] == [p.name for p in circuit.parameters]
    assert [(op.name, op.qubits) for op in back] == [(op.name, op.qubits) for op in circuit]
    for ours, theirs in zip(circuit, back):
        for e_theirs, e_ours in zip(theirs.params, ours.params, strict=True):
            assert _by_name(e_theirs) == pytest.approx(_by_name(e_ours))
    assert np.exp(1j * back.global_phase) == pytest.approx(np.exp(1j * circuit.global_phase))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qiskit_to_qdiff_to_qiskit(seed):
    qc = random_qiskit_circuit(seed)
    circuit = qdiff.from_qiskit(qc)
    back = qdiff.to_qiskit(circuit)
    values = values_for([p.name for p in qc.parameters], seed)
    expected = qiskit_matrix(qc, values)
    np.testing.assert_allclose(qdiff_matrix(circuit, values), expected, atol=ATOL)
    np.testing.assert_allclose(qiskit_matrix(back, values), expected, atol=ATOL)
    assert {p.name for p in back.parameters} == {p.name for p in qc.parameters}


def test_pauli_rot_is_pauli_evolution_with_reversed_label_and_half_time():
    t = qdiff.Parameter("t")
    qc = qdiff.to_qiskit(qdiff.Circuit(3).pauli_rot("XYZ", [0, 1, 2], t))
    gate = qc.data[0].operation
    assert isinstance(gate, PauliEvolutionGate) and gate.operator.paulis[0].to_label() == "ZYX"
    assert str(gate.params[0]) == "0.5*t"


def test_parameter_order_is_first_appearance_not_alphabetical():
    t2, t10 = QkParameter("t_2"), QkParameter("t_10")
    qc = QuantumCircuit(2)
    qc.rx(t2, 0)
    qc.ry(t10, 1)
    assert [p.name for p in qc.parameters] == ["t_10", "t_2"]  # Qiskit sorts by name
    circuit = qdiff.from_qiskit(qc)
    assert [p.name for p in circuit.parameters] == ["t_2", "t_10"]
    again = qdiff.from_qiskit(qdiff.to_qiskit(circuit))
    assert [p.name for p in again.parameters] == ["t_2", "t_10"]


def test_parameters_map_one_to_one_by_name():
    a = qdiff.Parameter("a")
    qc = qdiff.to_qiskit(qdiff.Circuit(2).rx(a, 0).ry(2 * a, 1).rz(a - 1, 0))
    assert [p.name for p in qc.parameters] == ["a"]  # one Qiskit parameter for the three uses
    back = qdiff.from_qiskit(qc)
    assert back.num_parameters == 1 and {e.parameters[0] for op in back for e in op.params} == set(back.parameters)
    with pytest.raises(qdiff.ParameterError, match="both named 'a'"):
        qdiff.to_qiskit(qdiff.Circuit(1).rx(a, 0).ry(qdiff.Parameter("a"), 0))


def test_affine_expressions_survive():
    a, b = QkParameter("a"), QkParameter("b")
    qc = QuantumCircuit(1)
    qc.rx(2 * a - b / 4 + 1.5, 0)
    qc.u(a, -a, 3.0, 0)
    circuit = qdiff.from_qiskit(qc)
    expr = circuit[0].params[0]
    coefficients = {p.name: c for p, c in expr.coefficients.items()}
    assert coefficients == pytest.approx({"a": 2.0, "b": -0.25}) and expr.offset == pytest.approx(1.5)
    assert [str(e) for e in circuit[1].params] == ["a", "-a", "3"]
    back = qdiff.to_qiskit(circuit).data[0].operation.params[0]
    assert back.bind({p: 1.0 for p in back.parameters}).numeric() == pytest.approx(3.25)


@pytest.mark.parametrize("make", [lambda a, b: a.sin(), lambda a, b: a * b, lambda a, b: a.exp() + 1,
                                  lambda a, b: 1 / a])
def test_non_affine_angles_raise_naming_the_gate(make):
    a, b = QkParameter("a"), QkParameter("b")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.crz(make(a, b), 0, 1)
    with pytest.raises(qdiff.NonAffineError, match="gate 'crz'.*not affine"):
        qdiff.from_qiskit(qc)


def test_unsupported_instructions_are_listed():
    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.cu(0.1, 0.2, 0.3, 0.4, 0, 1)
    qc.rccx(0, 1, 2)
    qc.rccx(2, 1, 0)
    qc.reset(2)
    qc.measure([0, 1], [0, 1])
    with pytest.raises(qdiff.GateError) as info:
        qdiff.from_qiskit(qc)
    message = str(info.value)
    for text in ("cu (x1)", "rccx (x2)", "reset (x1)", "measure (x2)", "decompose=True"):
        assert text in message
    with pytest.raises(qdiff.GateError, match=r"measure \(x2\), reset \(x1\)") as info:
        qdiff.from_qiskit(qc, decompose=True)  # gates decompose, measurements never do
    assert "rccx" not in str(info.value)


def test_decompose_expands_gates_qdiff_lacks():
    a, b = QkParameter("a"), QkParameter("b")
    qc = QuantumCircuit(3, global_phase=0.2)
    qc.cu(a, b, 0.3, 2 * a + 0.1, 0, 1)
    qc.rccx(0, 1, 2)
    qc.ecr(1, 2)
    with pytest.raises(qdiff.GateError, match=r"cu \(x1\), ecr \(x1\), rccx \(x1\)"):
        qdiff.from_qiskit(qc)
    circuit = qdiff.from_qiskit(qc, decompose=True)
    assert set(circuit.count_ops()) <= set(qdiff.GATES) | {"pauli_rot_I"}
    values = {"a": 0.7, "b": -0.4}
    np.testing.assert_allclose(qdiff_matrix(circuit, values), qiskit_matrix(qc, values), atol=ATOL)


def test_non_commuting_pauli_evolution_needs_decompose():
    qc = QuantumCircuit(2)
    qc.append(PauliEvolutionGate(SparsePauliOp(["XY", "ZI"]), time=QkParameter("t")), [0, 1])
    with pytest.raises(qdiff.GateError, match="PauliEvolution"):
        qdiff.from_qiskit(qc)
    circuit = qdiff.from_qiskit(qc, decompose=True)  # Qiskit's synthesis (Lie-Trotter), not exp(-i t H)
    definition = qc.data[0].operation.definition
    np.testing.assert_allclose(qdiff_matrix(circuit, {"t": 0.4}), qiskit_matrix(definition, {"t": 0.4}), atol=ATOL)


def test_parameter_dependent_global_phase_is_exact():
    a = QkParameter("a")
    qc = QuantumCircuit(2, global_phase=a / 2 + 0.25)
    qc.rx(a, 1)
    qc.append(GlobalPhaseGate(-3 * a), [])
    circuit = qdiff.from_qiskit(qc)
    assert circuit.global_phase == pytest.approx(0.25)
    np.testing.assert_allclose(qdiff_matrix(circuit, {"a": 0.9}), qiskit_matrix(qc, {"a": 0.9}), atol=ATOL)


def test_commuting_pauli_evolution_becomes_one_rotation_per_term():
    t = QkParameter("t")
    qc = QuantumCircuit(3)
    qc.append(PauliEvolutionGate(SparsePauliOp(["XXI", "ZZI", "IIY"], [0.5, -1.0, 2.0]), time=t), [0, 1, 2])
    circuit = qdiff.from_qiskit(qc)
    assert circuit.count_ops() == {"pauli_rot_IXX": 1, "pauli_rot_IZZ": 1, "pauli_rot_YII": 1}
    np.testing.assert_allclose(qdiff_matrix(circuit, {"t": 0.3}), qiskit_matrix(qc, {"t": 0.3}), atol=ATOL)


def test_registers_classical_bits_and_controlled_states():
    x, y = QuantumRegister(2, "x"), QuantumRegister(1, "y")
    qc = QuantumCircuit(y, x, ClassicalRegister(1))
    qc.cx(x[1], y[0])
    qc.cx(x[0], x[1], ctrl_state=0)  # open control: not qdiff's cx
    with pytest.raises(qdiff.GateError, match="cx_o0"):
        qdiff.from_qiskit(qc)
    circuit = qdiff.from_qiskit(qc, decompose=True)
    assert circuit[0].qubits == (2, 0)
    assert Operator(qdiff.to_qiskit(circuit)) == Operator(qc.remove_final_measurements(inplace=False))


def test_type_errors():
    with pytest.raises(TypeError, match="qdiff Circuit"):
        qdiff.to_qiskit(QuantumCircuit(1))
    with pytest.raises(TypeError, match="QuantumCircuit"):
        qdiff.from_qiskit(qdiff.Circuit(1))
