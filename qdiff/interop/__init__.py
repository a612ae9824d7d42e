"""The Qiskit bridge: circuits, observables and OpenQASM to and from Qiskit.

Importing this package does not import Qiskit; each function loads it on first call and, when
Qiskit is missing, raises an ``ImportError`` that names the ``qdiff[qiskit]`` extra. Users reach
these functions as ``qdiff.to_qiskit`` etc.

Conventions: parameters map one-to-one by name (a qdiff ``Parameter`` and the Qiskit
``Parameter`` of the same name); qdiff keeps the order of first appearance, never Qiskit's
alphabetical order. Angles are affine expressions on the qdiff side; a Qiskit expression that is
not affine raises :class:`qdiff.NonAffineError`. ``pauli_rot("XYZ", (a, b, c), t)`` is
``PauliEvolutionGate(Pauli("ZYX"), time=t/2)`` on ``[a, b, c]``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Pauli, SparsePauliOp

    from qdiff.ir.circuit import Circuit
    from qdiff.ir.observables import PauliSum

__all__ = ["dump_qasm", "from_qiskit", "from_sparse_pauli_op", "load_qasm", "to_qiskit", "to_sparse_pauli_op"]


def _bridge(module: str, caller: str) -> ModuleType:
    """Import ``qdiff.interop.<module>``, or explain how to install Qiskit."""
    try:
        importlib.import_module("qiskit")
    except ImportError as err:
        raise ImportError(f"qdiff.{caller} needs Qiskit, which could not be imported ({err}); install it "
                          "with: pip install 'qdiff[qiskit]'") from err
    return importlib.import_module(f"qdiff.interop.{module}")


def to_qiskit(circuit: Circuit) -> QuantumCircuit:
    """The ``qiskit.QuantumCircuit`` equal to a qdiff circuit, global phase included.

    Every qdiff parameter becomes a Qiskit ``Parameter`` of the same name and affine angles
    become Qiskit expressions. ``mcx`` becomes ``MCXGate``, ``pauli_rot`` ``PauliEvolutionGate``,
    ``unitary`` ``UnitaryGate``; the other gates are Qiskit's standard gates of the same name.

    Args:
        circuit: a qdiff circuit.
    Returns:
        a new Qiskit circuit with ``circuit.num_qubits`` qubits and no classical bits.
    Raises:
        ParameterError: two distinct parameters share a name (Qiskit needs unique names).
        ImportError: Qiskit is not installed.

    >>> import qdiff
    >>> theta = qdiff.Parameter("theta")
    >>> qc = qdiff.to_qiskit(qdiff.Circuit(2).h(0).cx(0, 1).rz(2 * theta + 1, 1))
    >>> [inst.operation.name for inst in qc.data], str(qc.data[2].operation.params[0])
    (['h', 'cx', 'rz'], '1 + 2*theta')
    """
    return _bridge("_to_qiskit", "to_qiskit").to_qiskit(circuit)[0]


def from_qiskit(qc: QuantumCircuit, decompose: bool = False) -> Circuit:
    """The qdiff circuit equal to a ``qiskit.QuantumCircuit``, global phase included.

    Parameters keep their names; ``circuit.parameters`` lists them in order of first appearance
    in ``qc.data`` (parameters first met together in one expression: in natural name order).

    Args:
        qc: a Qiskit circuit of unitary gates (barriers allowed).
        decompose: expand gates qdiff does not have (``cu``, ``rccx``, custom gates, ...) into
            their Qiskit definitions, recursively; measurements and resets still raise.
    Returns:
        a new qdiff circuit on ``qc.num_qubits`` qubits.
    Raises:
        GateError: unsupported instructions, listed by name with counts.
        NonAffineError: a gate angle that is not affine in the parameters (``sin(theta)``,
            ``theta * phi``); the message names the gate.
        ImportError: Qiskit is not installed.

    >>> import qdiff
    >>> from qiskit import QuantumCircuit
    >>> from qiskit.circuit import Parameter
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.rx(Parameter("t_2"), 0); _ = qc.ry(Parameter("t_10"), 1)
    >>> [p.name for p in qdiff.from_qiskit(qc).parameters]
    ['t_2', 't_10']
    """
    return _bridge("_from_qiskit", "from_qiskit").from_qiskit(qc, decompose)[0]


def to_sparse_pauli_op(pauli_sum: PauliSum, num_qubits: int | None = None) -> SparsePauliOp:
    """A qdiff ``PauliSum`` as a ``qiskit.quantum_info.SparsePauliOp`` (same labels).

    Args:
        pauli_sum: the observable.
        num_qubits: width of the result (default: the observable's width, at least 1).
    Raises:
        ObservableError: ``num_qubits`` smaller than the qubits the observable acts on.

    >>> import qdiff
    >>> qdiff.to_sparse_pauli_op(qdiff.Z(0) @ qdiff.X(2) + 0.5 * qdiff.Y(1)).to_list()
    [('XIZ', (1+0j)), ('IYI', (0.5+0j))]
    """
    return _bridge("_paulis", "to_sparse_pauli_op").to_sparse_pauli_op(pauli_sum, num_qubits)


def from_sparse_pauli_op(op: SparsePauliOp | Pauli) -> PauliSum:
    """A ``SparsePauliOp`` (or ``Pauli``) as a qdiff ``PauliSum``, its width kept.

    Raises:
        ObservableError: a coefficient that is a Qiskit parameter expression.

    >>> import qdiff
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> qdiff.from_sparse_pauli_op(SparsePauliOp.from_list([("ZX", 2.0)])) == 2 * qdiff.X(0) @ qdiff.Z(1)
    True
    """
    return _bridge("_paulis", "from_sparse_pauli_op").from_sparse_pauli_op(op)


def load_qasm(source: str | os.PathLike[str], decompose: bool = True) -> Circuit:
    """Read an OpenQASM 2.0 or 3.0 program (text, or a path to a file) as a qdiff circuit.

    The version comes from the ``OPENQASM`` header (none: 3.0). ``source`` is read as a path
    when it is a ``PathLike``, an existing file, or a one-line string ending in ``.qasm``.
    OpenQASM 3 ``input float[64] name;`` declarations become parameters with those names (Qiskit's
    ``_name_i_`` escape of a vector element ``name[i]`` is undone).

    Args:
        source: program text or a path.
        decompose: expand gates qdiff does not have, including the gates the file defines
            itself, into their bodies (see :func:`from_qiskit`).
    Raises:
        GateError: measurements, resets or classical control in the program.
        ImportError: Qiskit (or, for OpenQASM 3, ``qiskit-qasm3-import``) is not installed.

    >>> import qdiff
    >>> program = 'OPENQASM 3.0; include "stdgates.inc"; input float[64] a; qubit[2] q; rx(a) q[0]; cx q[0], q[1];'
    >>> c = qdiff.load_qasm(program)
    >>> c.count_ops(), [p.name for p in c.parameters]
    ({'rx': 1, 'cx': 1}, ['a'])
    """
    return _bridge("_qasm", "load_qasm").load_qasm(source, decompose)


def dump_qasm(circuit: Circuit, version: int = 3) -> str:
    """OpenQASM 3.0 (default) or 2.0 text of a qdiff circuit, through Qiskit's exporters.

    OpenQASM 3 declares free parameters as ``input float[64] name;`` and writes a non-zero global
    phase as ``gphase(...)``. OpenQASM 2 has neither: it needs a circuit without free parameters
    and drops the global phase. Gates outside the standard include files are written as gate
    definitions (Qiskit's decomposition).

    Raises:
        ParameterError: ``version=2`` with free parameters.
        ValueError: a version other than 2 or 3.

    >>> import qdiff
    >>> print(qdiff.dump_qasm(qdiff.Circuit(1).rx(qdiff.Parameter("a"), 0)))
    OPENQASM 3.0;
    include "stdgates.inc";
    input float[64] a;
    qubit[1] q;
    rx(a) q[0];
    <BLANKLINE>
    """
    return _bridge("_qasm", "dump_qasm").dump_qasm(circuit, version)
