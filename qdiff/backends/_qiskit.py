"""Qiskit helpers shared by the backends; Qiskit is imported inside each function.

Binding never relies on Qiskit's parameter order: :func:`binding_columns` maps each parameter of
a (transpiled) circuit back to its slot by name, so a ``(N, A)`` angle array becomes the
``(N, len(qc.parameters))`` binding array in the circuit's own order.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from qdiff.backends.lowering import SLOT_DIGITS, SLOT_PREFIX, SlotCircuit
from qdiff.errors import BackendError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.transpiler import Target

EXTRAS = {"qiskit": "qiskit", "qiskit_aer": "qiskit-aer", "qiskit_ibm_runtime": "qiskit-ibm-runtime"}


def require(module: str, caller: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that names the ``qdiff[qiskit]`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = EXTRAS.get(module.split(".")[0], module)
        raise ImportError(f"qdiff.{caller} needs {package}, which could not be imported ({err}); install "
                          "it with: pip install 'qdiff[qiskit]'") from err


_UNBINDABLE = {"crx", "cry", "crz", "cp"}


def to_qiskit_slots(slots: SlotCircuit, caller: str) -> QuantumCircuit:
    """The Qiskit circuit of a slot circuit (one Qiskit Parameter per slot, same names).

    Controlled rotations are replaced by their standard decompositions: qiskit-aer 0.18 silently
    ignores ``parameter_binds`` on a parametrised ``crx``/``cry``/``crz``/``cp`` (one unbound
    result comes back), and Aer also runs the local and Aer primitives.
    """
    require("qiskit", caller)
    from qdiff.interop._to_qiskit import to_qiskit

    qc = to_qiskit(slots.circuit)[0]
    return qc.decompose(gates_to_decompose=sorted(_UNBINDABLE)) if _UNBINDABLE & set(qc.count_ops()) else qc


def add_measurements(qc: QuantumCircuit, basis: Sequence[tuple[int, str]]) -> None:
    """Measure ``basis`` (``(qubit, "X"|"Y"|"Z")`` pairs) into a new register ``meas``, in place.

    Bit ``i`` is qubit ``basis[i][0]``, rotated first into its letter's eigenbasis (``H`` for
    ``X``, ``S^dag`` then ``H`` for ``Y``). Add them before transpiling: the rotations must be
    translated to the device's gates.
    """
    qiskit = require("qiskit", "measurements")
    creg = qiskit.ClassicalRegister(len(basis), "meas")
    qc.add_register(creg)
    for i, (q, letter) in enumerate(basis):
        if letter == "Y":
            qc.sdg(q)
        if letter in ("X", "Y"):
            qc.h(q)
        qc.measure(q, creg[i])


def logical_circuit(slots: SlotCircuit, measured: Sequence[tuple[int, str]] | None, caller: str) -> QuantumCircuit:
    """The Qiskit circuit of ``slots`` (before transpilation), measuring ``measured`` when given."""
    qc = to_qiskit_slots(slots, caller)
    if measured is not None:
        add_measurements(qc, measured)
    return qc


def slot_index(name: str) -> int:
    """Slot number of a slot parameter's name (``_a000012`` -> 12)."""
    if not (name.startswith(SLOT_PREFIX) and name[len(SLOT_PREFIX):].isdigit()):
        raise BackendError(f"unexpected parameter {name!r} in a transpiled circuit")
    return int(name[len(SLOT_PREFIX):])


def binding_columns(qc: QuantumCircuit) -> np.ndarray:
    """For each parameter of ``qc`` in ``qc.parameters`` order, its slot index ``(len,)``."""
    return np.array([slot_index(p.name) for p in qc.parameters], dtype=np.int64)


def bind_array(qc: QuantumCircuit, angles: np.ndarray) -> np.ndarray:
    """The ``(N, len(qc.parameters))`` binding array of ``angles`` ``(N, A)`` for ``qc``."""
    return np.ascontiguousarray(angles[:, binding_columns(qc)], dtype=np.float64)


def positions(qc: QuantumCircuit, n: int) -> list[int]:
    """Physical qubit holding each of the ``n`` virtual qubits at the end of ``qc``."""
    layout = getattr(qc, "layout", None)
    if layout is None:
        return list(range(n))
    return list(layout.final_index_layout())[:n]


def bits_to_ints(bits: Any) -> np.ndarray:
    """A Qiskit ``BitArray`` of shape ``(N,)`` as little-endian integers ``(N, shots)`` int64."""
    arr = np.asarray(bits.array, dtype=np.int64)  # (N, shots, bytes), big-endian bytes
    if bits.num_bits > 63:
        raise BackendError(f"{bits.num_bits} measured bits do not fit an int64 outcome; measure fewer qubits")
    weights = 256 ** np.arange(arr.shape[-1] - 1, -1, -1, dtype=np.int64)
    return (arr * weights).sum(-1)


def bitarray_bits(bits: Any) -> np.ndarray:
    """A Qiskit ``BitArray`` of shape ``(N,)`` as bits ``(N, shots, num_bits)`` uint8, bit ``i`` = clbit ``i``."""
    arr = np.asarray(bits.array, dtype=np.uint8)  # (N, shots, bytes), big-endian bytes
    return np.unpackbits(arr[..., ::-1], axis=-1, bitorder="little")[..., :bits.num_bits]


def counts_to_probs(outcomes: np.ndarray, num_bits: int) -> np.ndarray:
    """Empirical probabilities ``(N, 2**num_bits)`` of integer outcomes ``(N, shots)``."""
    N, shots = outcomes.shape
    flat = (outcomes + (np.arange(N) * 2**num_bits)[:, None]).ravel()
    return np.bincount(flat, minlength=N * 2**num_bits).reshape(N, 2**num_bits) / shots


class AngleBounds:
    """Angle limits of fractional gates (e.g. IBM's ``rzz`` in ``[0, pi/2]``) in an ISA circuit.

    Collected once per transpiled circuit: every instruction whose gate has angle bounds in the
    target and whose angle depends on slots, as an affine function of the binding columns. Checked
    on every binding array before anything is submitted.
    """

    def __init__(self, qc: QuantumCircuit, target: Target | None):
        self.checks: list[tuple[str, np.ndarray, float]] = []
        self.target = target
        if target is None or not target.has_angle_bounds():
            return
        params = list(qc.parameters)
        for inst in qc.data:
            name = inst.operation.name
            if not target.gate_has_angle_bounds(name):
                continue
            for angle in inst.operation.params:
                free = getattr(angle, "parameters", set())
                if not free:
                    continue
                coef = np.array([float(angle.gradient(p)) if p in free else 0.0 for p in params])
                offset = float(angle.bind({p: 0.0 for p in free}).numeric())
                self.checks.append((name, coef, offset))

    def check(self, bound: np.ndarray) -> None:
        """Raise before submission when a binding puts a fractional gate outside its limits."""
        for name, coef, offset in self.checks:
            values = bound @ coef + offset
            for v in np.unique(np.round(values, 12)):
                if not self.target.supported_angle_bound(name, [float(v)]):
                    raise BackendError(
                        f"the device runs {name!r} as a fractional gate with angle limits, and a parameter "
                        f"set gives it the angle {v:.6g}, outside them. The circuit is transpiled once with "
                        "free parameters, so angles cannot be folded into the limits per value: get the "
                        "device without fractional gates (service.backend(name, use_fractional_gates=False), "
                        "or ibm_backend(..., use_fractional_gates=False)), or keep these angles inside the "
                        "limits (for rzz: 0 <= angle <= pi/2)")


__all__ = ["SLOT_DIGITS", "AngleBounds", "add_measurements", "bind_array", "binding_columns", "bitarray_bits", "bits_to_ints", "counts_to_probs", "logical_circuit",
           "positions", "require", "to_qiskit_slots"]
