"""``qiskit.QuantumCircuit`` -> qdiff :class:`~qdiff.ir.Circuit`.

Supported directly: every Qiskit standard gate that is a qdiff gate (matched by name and class,
plus the exact aliases ``u3`` = ``u``, ``u1`` = ``p``, ``cu1`` = ``cp``), ``MCXGate`` with any
number of controls, ``PauliEvolutionGate`` of one Pauli string (or of commuting strings, one
``pauli_rot`` each), ``UnitaryGate``, ``GlobalPhaseGate`` and barriers. With ``decompose=True``
a custom gate with a qdiff gate's name and exactly its matrix (as OpenQASM files define
``rzz`` or ``mcx``) becomes that gate, and any other gate is replaced by its Qiskit definition,
recursively (or, for an operation without
one, by ``qiskit.transpile`` to the supported basis). Measurements, resets, delays and classical
control flow are never converted: a qdiff circuit is a unitary.

A global phase that depends on parameters (``GlobalPhaseGate(theta)``, or a definition's phase)
is kept exactly as ``pauli_rot("I", [0], -2 * phase)``, since ``exp(-i t/2 I) = exp(-i t/2)``.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import CircuitInstruction, Gate, Instruction
from qiskit.circuit import ParameterExpression as QkExpression
from qiskit.circuit.library import MCXGate, PauliEvolutionGate, UnitaryGate
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Operator, Pauli, SparsePauliOp

from qdiff.errors import GateError
from qdiff.interop._expressions import ParameterMap
from qdiff.interop._to_qiskit import standard_gates
from qdiff.ir.circuit import BARRIER, Circuit
from qdiff.ir.gates import GateSpec
from qdiff.ir.library import GATES, mcx_spec, pauli_rot_spec, unitary_spec

ALIASES = {"u3": "u", "u1": "p", "cu1": "cp"}
"""Qiskit gates whose matrices equal a qdiff gate's exactly, under another name."""

NEVER = {"measure", "reset", "delay", "initialize", "if_else", "while_loop", "for_loop", "switch_case",
         "box", "break_loop", "continue_loop", "store"}
"""Instructions that are not unitary gates: not converted even with ``decompose=True``."""

_MAX_DEPTH = 32


@lru_cache(maxsize=1)
def supported_gates() -> dict[str, GateSpec]:
    """qdiff specs by Qiskit instruction name, for the standard gates qdiff has."""
    table = {spec.qiskit_name: spec for spec in GATES.values() if spec.qiskit_name in standard_gates()}
    table.update({alias: table[name] for alias, name in ALIASES.items()})
    return table


class _Converter:
    """Walks a Qiskit circuit (and, when decomposing, definitions) appending to one qdiff circuit."""

    def __init__(self, qc: QuantumCircuit, decompose: bool):
        self.decompose = decompose
        self.pmap = ParameterMap()
        self.out = Circuit(qc.num_qubits, name=qc.name)
        self.phase = 0.0
        self.unsupported: Counter[str] = Counter()

    # -- walking ------------------------------------------------------------------------------------
    def circuit(self, qc: QuantumCircuit, qubits: list[int], depth: int = 0) -> None:
        """Append every instruction of ``qc``, its qubit ``k`` placed on ``qubits[k]``."""
        for inst in qc.data:
            self.instruction(qc, inst, qubits, depth)
        self.add_phase(qc.global_phase, f"global phase of {qc.name!r}")

    def instruction(self, qc: QuantumCircuit, inst: CircuitInstruction, outer: list[int], depth: int) -> None:
        op = inst.operation
        qubits = [outer[qc.find_bit(q).index] for q in inst.qubits]
        name = op.name
        if name == "barrier":
            self.out.append(BARRIER, qubits)
        elif name == "global_phase" and not qubits:
            self.add_phase(op.params[0], "global_phase gate")
        elif name in NEVER or not isinstance(op, Gate) and not self.decompose:
            self.unsupported[name] += 1
        elif (spec := _direct_spec(op)) is not None:
            params = [self.pmap.from_qiskit(p, f"gate {name!r}") for p in op.params]
            self.out.append(spec, qubits, params)
        elif isinstance(op, UnitaryGate):
            self.out.append(unitary_spec(op.to_matrix(), op.label or "unitary"), qubits)
        elif isinstance(op, PauliEvolutionGate) and (terms := _commuting_terms(op)) is not None:
            time = self.pmap.from_qiskit(op.params[0], f"gate {name!r}")
            for label, coeff in terms:  # exp(-i time c P) = pauli_rot(P, angle = 2 c time)
                self.out.append(pauli_rot_spec(label[::-1]), qubits, [time * (2.0 * coeff)])
        elif self.decompose and (spec := _recognized(op)) is not None:
            params = [self.pmap.from_qiskit(p, f"gate {name!r}") for p in op.params]
            self.out.append(spec, qubits, params)
        elif self.decompose and depth < _MAX_DEPTH:
            self.expand(op, qubits, depth)
        else:
            self.unsupported[name] += 1

    def expand(self, op: Instruction, qubits: list[int], depth: int) -> None:
        """Replace ``op`` by its definition, or by a transpilation to the supported basis."""
        definition = getattr(op, "definition", None)
        if definition is None:
            sub = QuantumCircuit(op.num_qubits, op.num_clbits)
            sub.append(op, sub.qubits, sub.clbits)
            try:
                definition = transpile(sub, basis_gates=sorted(supported_gates()), optimization_level=0)
            except Exception:  # noqa: BLE001 - Qiskit raises many types; report the gate instead
                self.unsupported[op.name] += 1
                return
            if any(inst.operation.name == op.name for inst in definition.data):
                self.unsupported[op.name] += 1
                return
        self.circuit(definition, qubits, depth + 1)

    # -- phases -------------------------------------------------------------------------------------
    def add_phase(self, value: object, where: str) -> None:
        """Add ``exp(i value)``: the constant part to the global phase, the rest as an op."""
        expr = self.pmap.from_qiskit(value, where)
        self.phase += expr.offset
        if not expr.is_constant():
            variable = expr - expr.offset
            if self.out.num_qubits == 0:
                raise GateError(f"{where}: a parameter-dependent global phase needs at least one qubit")
            self.out.append(pauli_rot_spec("I"), [0], [-2.0 * variable])

    def finish(self) -> Circuit:
        if self.unsupported:
            raise GateError(_unsupported_message(self.unsupported, self.decompose))
        return Circuit(self.out.num_qubits, self.out.ops, global_phase=self.phase, name=self.out.name)


def _direct_spec(op: Instruction) -> GateSpec | None:
    """The qdiff spec of a Qiskit standard gate (exact class, all-ones control state), or None."""
    if isinstance(op, MCXGate) and op.name == "mcx":
        full = 2**op.num_ctrl_qubits - 1
        return mcx_spec(op.num_ctrl_qubits) if op.ctrl_state == full else None
    spec = supported_gates().get(op.name)
    if spec is None or getattr(op, "base_class", None) is not standard_gates().get(op.name):
        return None
    ctrl_state = getattr(op, "ctrl_state", None)
    if ctrl_state is not None and ctrl_state != 2 ** getattr(op, "num_ctrl_qubits", 0) - 1:
        return None
    return spec


def _recognized(op: Instruction) -> GateSpec | None:
    """The qdiff gate a custom gate is, when it has a qdiff gate's name and exactly its matrix.

    OpenQASM files define gates such as ``rzz`` or ``mcx`` by their bodies; Qiskit loads them as
    custom gates. Their definition is compared with the qdiff gate's matrix (global phase
    included) at two random bindings of the gate's parameters.
    """
    spec = mcx_spec(op.num_qubits - 1) if op.name == "mcx" and op.num_qubits > 1 else supported_gates().get(op.name)
    definition = getattr(op, "definition", None)
    if spec is None or definition is None or spec.num_qubits != op.num_qubits or spec.num_params != len(op.params):
        return None
    free = {p for value in op.params if isinstance(value, QkExpression) for p in value.parameters}
    rng = np.random.default_rng(len(op.name))
    for _ in range(2 if free or spec.num_params else 1):
        binding = {p: float(v) for p, v in zip(free, rng.uniform(-3.0, 3.0, len(free)))}
        try:
            angles = [_numeric(value, binding) for value in op.params]
            bound = definition.assign_parameters(
                {p: v for p, v in binding.items() if p in definition.parameters}) if free else definition
            matrix = Operator(bound).data
        except (TypeError, ValueError, QiskitError):
            return None
        if not np.allclose(matrix, spec.matrix(*angles), atol=1e-9):
            return None
    return spec


def _numeric(value: object, binding: dict) -> float:
    if isinstance(value, QkExpression):
        value = value.bind({p: binding[p] for p in value.parameters}).numeric()
    result = complex(value)  # type: ignore[arg-type]
    if abs(result.imag) > 1e-12:
        raise ValueError("complex angle")
    return result.real


def _commuting_terms(op: PauliEvolutionGate) -> list[tuple[str, float]] | None:
    """The ``(label, real coefficient)`` terms of the evolved operator when they all commute."""
    operators = op.operator if isinstance(op.operator, list) else [op.operator]
    try:
        total = SparsePauliOp.sum([SparsePauliOp(o) for o in operators])
        terms = [(label, complex(c)) for label, c in total.to_list()]
    except (TypeError, ValueError):  # parametrized coefficients, or not a Pauli operator
        return None
    if any(abs(c.imag) > 1e-12 for _, c in terms):
        return None
    paulis = [Pauli(label) for label, _ in terms]
    if any(not a.commutes(b) for i, a in enumerate(paulis) for b in paulis[i + 1:]):
        return None
    return [(label, c.real) for label, c in terms]


def _unsupported_message(found: Counter[str], decompose: bool) -> str:
    listed = ", ".join(f"{name} (x{count})" for name, count in sorted(found.items()))
    text = f"from_qiskit: the circuit has instruction(s) qdiff cannot represent: {listed}."
    never = sorted(set(found) & NEVER)
    gates = sorted(set(found) - NEVER)
    if never:
        text += (f" {', '.join(never)}: a qdiff circuit is unitary; remove measurements, resets, delays "
                 "and classical control first (e.g. qc.remove_final_measurements(inplace=False)).")
    if gates and not decompose:
        text += f" {', '.join(gates)}: pass decompose=True to expand them into qdiff's gates."
    elif gates:
        text += f" {', '.join(gates)}: no definition in terms of qdiff's gates was found."
    return text


def from_qiskit(qc: QuantumCircuit, decompose: bool = False) -> tuple[Circuit, ParameterMap]:
    """The qdiff circuit equal to ``qc`` as an operator (global phase included)."""
    if not isinstance(qc, QuantumCircuit):
        raise TypeError(f"from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    converter = _Converter(qc, decompose)
    converter.circuit(qc, list(range(qc.num_qubits)))
    return converter.finish(), converter.pmap

