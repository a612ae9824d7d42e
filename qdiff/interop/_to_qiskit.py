"""qdiff :class:`~qdiff.ir.Circuit` -> ``qiskit.QuantumCircuit``.

Each op is looked up by its spec's ``qiskit_name``: Qiskit's standard gates by name, ``mcx`` as
``MCXGate``, ``pauli_rot`` as ``PauliEvolutionGate`` and ``unitary`` as ``UnitaryGate``.
``pauli_rot("XYZ", (a, b, c), t) = exp(-i t/2 X_a Y_b Z_c)`` becomes
``PauliEvolutionGate(Pauli("ZYX"), time=t/2)`` on ``[a, b, c]``: Qiskit labels read right to left
and its evolution is ``exp(-i time P)``.
"""

from __future__ import annotations

from functools import lru_cache

from qiskit import QuantumCircuit
from qiskit.circuit import Gate
from qiskit.circuit.library import MCXGate, PauliEvolutionGate, UnitaryGate, get_standard_gate_name_mapping
from qiskit.quantum_info import Pauli

from qdiff.errors import GateError
from qdiff.interop._expressions import ParameterMap
from qdiff.ir.circuit import Circuit, Op

PAULI_ROT_PREFIX = "pauli_rot_"


@lru_cache(maxsize=1)
def standard_gates() -> dict[str, type[Gate]]:
    """Qiskit's standard gate classes by instruction name (``"rx"`` -> ``RXGate``)."""
    return {name: gate.base_class for name, gate in get_standard_gate_name_mapping().items()
            if isinstance(gate, Gate)}


def to_qiskit(circuit: Circuit) -> tuple[QuantumCircuit, ParameterMap]:
    """The Qiskit circuit equal to ``circuit`` (as an operator, global phase included)."""
    if not isinstance(circuit, Circuit):
        raise TypeError(f"to_qiskit expects a qdiff Circuit, got {type(circuit).__name__}")
    pmap = ParameterMap()
    qc = QuantumCircuit(circuit.num_qubits, name=circuit.name, global_phase=circuit.global_phase)
    for op in circuit:
        if op.is_directive:
            qc.barrier(*op.qubits)
        else:
            qc.append(_gate(op, pmap), list(op.qubits), copy=False)
    return qc, pmap


def _gate(op: Op, pmap: ParameterMap) -> Gate:
    spec = op.spec
    angles = [pmap.to_qiskit(e) for e in op.params]
    name = spec.qiskit_name
    if name == "PauliEvolution":
        pauli = spec.name[len(PAULI_ROT_PREFIX):]
        return PauliEvolutionGate(Pauli(pauli[::-1]), time=pmap.to_qiskit(op.params[0] / 2))
    if name == "unitary":
        return UnitaryGate(spec.fixed_matrix, label=None if spec.name == "unitary" else spec.name)
    if name == "mcx":
        return MCXGate(spec.num_controls)
    cls = standard_gates().get(name or "")
    if cls is None:
        raise GateError(f"gate {spec.name!r} has no Qiskit equivalent (qiskit_name={name!r})")
    return cls(*angles)
