"""Lower a qdiff circuit to a *slot circuit*: one fresh parameter per trainable gate angle.

Qiskit backends evaluate shifted angles, not shifted parameter values: the parameter-shift rule
moves one gate angle at a time, and two gates sharing a parameter must be shifted separately. So
every gate angle that depends on a parameter gets its own parameter ``_a000000, _a000001, ...``
(zero-padded, so any sort order of the names is the slot order), constant angles are written into
the circuit as numbers, and composite gates (``u``) are lowered to their factors. The angles of a
batch of parameter values are then

    angles = values @ weights.T + offsets          # (B, A) from (B, P)

which torch differentiates (the chain rule to the user's parameters), while each slot's shift
rule comes from its gate's generator spectrum. Pure IR code: no torch, no Qiskit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qdiff.ir.circuit import Circuit, Op
from qdiff.ir.gates import GateSpec
from qdiff.ir.parameters import Parameter, ParameterExpression
from qdiff.ir.shift_rules import ShiftRule

SLOT_PREFIX = "_a"
SLOT_DIGITS = 6


def slot_name(index: int) -> str:
    """Name of angle slot ``index`` (zero-padded so that names sort in slot order)."""
    return f"{SLOT_PREFIX}{index:0{SLOT_DIGITS}d}"


@dataclass(frozen=True)
class SlotCircuit:
    """A circuit whose every trainable angle is its own parameter.

    Attributes:
        circuit: the lowered qdiff circuit; its parameters are ``slots`` (in order).
        slots: one parameter per trainable angle, named by :func:`slot_name`.
        weights: ``(A, P)`` coefficients: ``angles = values @ weights.T + offsets``.
        offsets: ``(A,)`` constant parts of the angles.
        rules: ``A`` shift rules, one per slot (from the gate's generator spectrum).
        parameters: the original circuit's parameters (columns of ``weights``).
    """

    circuit: Circuit
    slots: tuple[Parameter, ...]
    weights: np.ndarray
    offsets: np.ndarray
    rules: tuple[ShiftRule, ...]
    parameters: tuple[Parameter, ...]

    @property
    def num_slots(self) -> int:
        """Number of trainable angles ``A``."""
        return len(self.slots)


def lower(circuit: Circuit) -> SlotCircuit:
    """The slot circuit of ``circuit`` (memoised on the circuit until it is appended to)."""
    return circuit._derived("backend_slots", _lower)


def _lower(circuit: Circuit) -> SlotCircuit:
    params = circuit.parameters
    index = {p: i for i, p in enumerate(params)}
    ops: list[Op] = []
    slots: list[Parameter] = []
    rows: list[np.ndarray] = []
    offsets: list[float] = []
    rules: list[ShiftRule] = []

    def angle(spec: GateSpec, expr: ParameterExpression) -> ParameterExpression:
        if expr.is_constant():
            return expr
        row = np.zeros(len(params))
        for p, c in expr.coefficients.items():
            row[index[p]] += c
        slot = Parameter(slot_name(len(slots)))
        slots.append(slot)
        rows.append(row)
        offsets.append(expr.offset)
        rules.append(spec.shift_rule)
        return ParameterExpression({slot: 1.0})

    def emit(spec: GateSpec, qubits: tuple[int, ...], exprs: Sequence[ParameterExpression]) -> None:
        if spec.kind == "composite":
            for f in spec.factors:
                sub = [sum((w * a for w, a in zip(row, exprs)), ParameterExpression()) + off
                       for row, off in zip(f.weights, f.offsets)]
                emit(f.spec, tuple(qubits[i] for i in f.qubits), sub)
            return
        if spec.kind == "rotation":
            exprs = [angle(spec, exprs[0])]
        ops.append(Op(spec, qubits, tuple(exprs)))

    for op in circuit.ops:
        if op.is_directive:
            ops.append(op)
        else:
            emit(op.spec, op.qubits, op.params)
    lowered = Circuit(circuit.num_qubits, ops, global_phase=circuit.global_phase, name=circuit.name)
    weights = np.array(rows, dtype=float).reshape(len(rows), len(params))
    return SlotCircuit(lowered, tuple(slots), weights, np.array(offsets, dtype=float), tuple(rules), params)
