"""OpenQASM 2.0 and 3.0 text <-> qdiff circuits, through ``qiskit.qasm2`` and ``qiskit.qasm3``.

Loading parses with Qiskit (``qasm2.loads`` with Qiskit's extended ``qelib1.inc``, or
``qasm3.loads``, which needs the ``qiskit-qasm3-import`` package) and converts with
:func:`from_qiskit` with ``decompose=True``: a gate the file defines itself becomes the qdiff gate
of that name when its body has exactly that gate's matrix, and is otherwise expanded. Dumping
converts with :func:`to_qiskit` and exports with Qiskit; OpenQASM 3 declares each free parameter
as ``input float[64] name;`` and gets a ``gphase(...)`` statement for a non-zero global phase
(OpenQASM 2 cannot express either).

Two steps keep the export exact. ``pauli_rot`` is written as basis changes, a cx ladder and one
``rz`` (Qiskit 2.x exports a ``PauliEvolutionGate`` whose time is an expression with a wrong
gate definition). For OpenQASM 3, gates that ``stdgates.inc`` lacks are written as gate
definitions (``gate rzz(p0) a, b { ... }``) when their Qiskit definition is exact, and otherwise
(``sxdg``, ``ryy``, ``unitary``: definitions with a global phase, which OpenQASM gate bodies
written by Qiskit drop) inlined, their phases collected into the ``gphase`` statement. A QASM 3
round trip is therefore exact, global phase included; on loading, a file-defined gate whose name
and matrix are a qdiff gate's comes back as that gate (see ``from_qiskit``).

Qiskit escapes parameter names that are not OpenQASM identifiers by prefixing ``_`` and replacing
each bad character by ``_``, so ``theta[3]`` (an element of a ``ParameterVector``) is written as
``_theta_3_``. Loading reverses exactly that pattern, so vector elements keep their names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qiskit import QuantumCircuit, qasm2, qasm3
from qiskit.circuit import Parameter as QkParameter
from qiskit.circuit import ParameterExpression as QkExpression

from qdiff.errors import GateError, ParameterError
from qdiff.interop._from_qiskit import from_qiskit
from qdiff.interop._to_qiskit import to_qiskit
from qdiff.ir.circuit import Circuit

STDGATES = frozenset({"p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "cx", "cy",
                      "cz", "cp", "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "cu", "id", "u1", "u2",
                      "u3", "u", "barrier"})
"""Instructions Qiskit's OpenQASM 3 exporter writes without a gate definition (``u`` is ``U``)."""

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_HEADER = re.compile(r"\s*OPENQASM\s+(\d+)(?:\.(\d+))?\s*;")
_ESCAPED_ELEMENT = re.compile(r"_([A-Za-z\u0370-\u03ff_][A-Za-z\u0370-\u03ff_0-9]*)_(\d+)_")


def read_source(source: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """The program text and its file: ``source`` itself, or the file it names (a ``PathLike``,
    an existing file, or a one-line string ending in ``.qasm``)."""
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif not isinstance(source, str):
        raise TypeError(f"load_qasm expects OpenQASM text or a path, got {type(source).__name__}")
    elif "\n" not in source.strip() and (source.strip().endswith(".qasm") or _is_file(source.strip())):
        path = Path(source.strip())
    else:
        return source, None
    return path.read_text(), path


def _is_file(text: str) -> bool:
    try:
        return bool(text) and Path(text).is_file()
    except (OSError, ValueError):  # a name too long for the file system, an embedded NUL, ...
        return False


def qasm_version(text: str) -> int:
    """2 or 3, from the ``OPENQASM x.y;`` header (a program without one is OpenQASM 3)."""
    match = _HEADER.match(_COMMENTS.sub("", text))
    if match is None:
        return 3
    major = int(match.group(1))
    if major not in (2, 3):
        raise ValueError(f"unsupported OpenQASM version {match.group(0).strip()!r}; qdiff reads 2.0 and 3.0")
    return major


def _unescape_names(qc: QuantumCircuit) -> QuantumCircuit:
    """Rename parameters ``_name_i_`` (Qiskit's escape of ``name[i]``) back to ``name[i]``."""
    taken = {p.name for p in qc.parameters}
    renames = {}
    for p in qc.parameters:
        match = _ESCAPED_ELEMENT.fullmatch(p.name)
        if match is not None:
            name = f"{match.group(1)}[{match.group(2)}]"
            if name not in taken:
                renames[p] = QkParameter(name)
                taken.add(name)
    return qc.assign_parameters(renames) if renames else qc


def load_qasm(source: str | os.PathLike[str], decompose: bool = True) -> Circuit:
    """Parse OpenQASM 2.0 or 3.0 (text or a file) into a qdiff circuit."""
    text, path = read_source(source)
    if qasm_version(text) == 2:
        includes = (str(path.parent),) if path is not None else ()
        qc = qasm2.loads(text, include_path=includes, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    else:
        qc = _unescape_names(qasm3.loads(text))
    return from_qiskit(qc, decompose=decompose)[0]


def lower_pauli_rots(circuit: Circuit) -> Circuit:
    """The same circuit with each ``pauli_rot`` written exactly in standard gates.

    ``exp(-i t/2 P) = W^dagger CX-ladder^dagger rz(t) CX-ladder W`` with ``W = h`` for X and
    ``W = h sdg`` for Y on each non-identity letter; an all-identity string, a pure phase
    ``exp(-i t/2)``, is ``p(-t) rz(t)`` on its first qubit.
    """
    if not any(op.spec.qiskit_name == "PauliEvolution" for op in circuit):
        return circuit
    out = Circuit(circuit.num_qubits, global_phase=circuit.global_phase, name=circuit.name)
    for op in circuit:
        if op.spec.qiskit_name != "PauliEvolution":
            out.append(op)
            continue
        angle = op.params[0]
        letters = op.spec.name[len("pauli_rot_"):]
        active = [(q, letter) for q, letter in zip(op.qubits, letters) if letter != "I"]
        if not active:
            out.p(-angle, op.qubits[0]).rz(angle, op.qubits[0])
            continue
        for q, letter in active:
            if letter == "Y":
                out.sdg(q)
            if letter in "XY":
                out.h(q)
        ladder = [(a, b) for (a, _), (b, _) in zip(active, active[1:])]
        for a, b in ladder:
            out.cx(a, b)
        out.rz(angle, active[-1][0])
        for a, b in reversed(ladder):
            out.cx(a, b)
        for q, letter in active:
            if letter in "XY":
                out.h(q)
            if letter == "Y":
                out.s(q)
    return out


def _phase_free(op: object) -> bool:
    """True when ``op``'s definition tree carries no global phase, so that the gate definition
    Qiskit writes for it (OpenQASM gate bodies hold no phase) is exact."""
    definition = getattr(op, "definition", None)
    if definition is None:
        return False
    phase = definition.global_phase
    if isinstance(phase, QkExpression) or phase != 0:
        return False
    return all(inst.operation.name in STDGATES or _phase_free(inst.operation) for inst in definition.data)


def _inline_phased(qc: QuantumCircuit) -> QuantumCircuit:
    """``qc`` with every gate outside :data:`STDGATES` whose definition carries a global phase
    (``sxdg``, ``ryy``, ``unitary``, ...) replaced by that definition, in order, its phase moved
    to the circuit's global phase. Gates with phase-free definitions (``rzz``, ``iswap``, ``mcx``)
    stay and are written as exact OpenQASM gate definitions."""
    out = qc.copy_empty_like()

    def inline(source: QuantumCircuit, qubits: list, depth: int) -> None:
        for inst in source.data:
            op = inst.operation
            targets = [qubits[source.find_bit(q).index] for q in inst.qubits]
            if op.name in STDGATES or _phase_free(op):
                out.append(op, targets, copy=False)
            elif getattr(op, "definition", None) is None or depth > 32:
                raise GateError(f"cannot write gate {op.name!r} in OpenQASM 3 exactly: it has no definition")
            else:
                inline(op.definition, targets, depth + 1)
                out.global_phase += op.definition.global_phase

    inline(qc, list(out.qubits), 0)
    return out


def dump_qasm(circuit: Circuit, version: int = 3) -> str:
    """OpenQASM text of ``circuit`` (version 2 or 3)."""
    if version not in (2, 3):
        raise ValueError(f"version must be 2 or 3, got {version!r}")
    qc, _ = to_qiskit(lower_pauli_rots(circuit))
    if version == 2:
        if circuit.parameters:
            names = ", ".join(p.name for p in circuit.parameters[:5])
            raise ParameterError(f"OpenQASM 2 has no free parameters but the circuit has {circuit.num_parameters} "
                                 f"({names}{', ...' if circuit.num_parameters > 5 else ''}); assign values with "
                                 "circuit.assign({...}) or use version=3")
        return qasm2.dumps(qc)
    qc = _inline_phased(qc)
    text = qasm3.dumps(qc)
    phase = qc.global_phase
    if isinstance(phase, QkExpression):  # unreachable for qdiff circuits: their phase is a float
        raise GateError(f"cannot write the parameter-dependent global phase {phase} in OpenQASM 3")
    phase = float(phase)
    if phase != 0.0:
        text = text.rstrip("\n") + f"\ngphase({phase!r});\n"
    return text
