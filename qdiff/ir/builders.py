"""Qiskit-compatible gate builder methods, mixed into :class:`qdiff.ir.Circuit`.

Argument order follows Qiskit (``rx(theta, qubit)``, ``cx(control, target)``,
``crx(theta, control, target)``, ``u(theta, phi, lam, qubit)``). Single-qubit gates also accept a
list of qubits and are then applied to each. Every method appends in place and returns the
circuit, so calls chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qdiff.ir.library import GATES, mcx_spec, pauli_rot_spec

if TYPE_CHECKING:
    from qdiff.ir.circuit import Circuit
    from qdiff.ir.parameters import ParameterLike

    Qubits = int | Sequence[int]


class GateBuilders:
    """Builder methods; each appends one gate (or one per listed qubit) and returns ``self``."""

    def append(self, op_or_spec: Any, qubits: Sequence[int] = (), params: Sequence[Any] = ()) -> Circuit:
        raise NotImplementedError  # provided by Circuit

    def _one(self, name: str, qubit: Qubits, *angles: ParameterLike) -> Circuit:
        qubits = [qubit] if not isinstance(qubit, Sequence) else list(qubit)
        for q in qubits:
            self.append(GATES[name], [q], angles)
        return self  # type: ignore[return-value]

    # fixed single-qubit gates
    def id(self, qubit: Qubits) -> Circuit:
        """Identity."""
        return self._one("id", qubit)

    def x(self, qubit: Qubits) -> Circuit:
        """Pauli X."""
        return self._one("x", qubit)

    def y(self, qubit: Qubits) -> Circuit:
        """Pauli Y."""
        return self._one("y", qubit)

    def z(self, qubit: Qubits) -> Circuit:
        """Pauli Z."""
        return self._one("z", qubit)

    def h(self, qubit: Qubits) -> Circuit:
        """Hadamard."""
        return self._one("h", qubit)

    def s(self, qubit: Qubits) -> Circuit:
        """S = sqrt(Z)."""
        return self._one("s", qubit)

    def sdg(self, qubit: Qubits) -> Circuit:
        """S dagger."""
        return self._one("sdg", qubit)

    def t(self, qubit: Qubits) -> Circuit:
        """T = fourth root of Z."""
        return self._one("t", qubit)

    def tdg(self, qubit: Qubits) -> Circuit:
        """T dagger."""
        return self._one("tdg", qubit)

    def sx(self, qubit: Qubits) -> Circuit:
        """sqrt(X)."""
        return self._one("sx", qubit)

    def sxdg(self, qubit: Qubits) -> Circuit:
        """sqrt(X) dagger."""
        return self._one("sxdg", qubit)

    # parametrized single-qubit gates
    def rx(self, theta: ParameterLike, qubit: Qubits) -> Circuit:
        """exp(-i theta X / 2)."""
        return self._one("rx", qubit, theta)

    def ry(self, theta: ParameterLike, qubit: Qubits) -> Circuit:
        """exp(-i theta Y / 2)."""
        return self._one("ry", qubit, theta)

    def rz(self, phi: ParameterLike, qubit: Qubits) -> Circuit:
        """exp(-i phi Z / 2)."""
        return self._one("rz", qubit, phi)

    def p(self, theta: ParameterLike, qubit: Qubits) -> Circuit:
        """Phase gate diag(1, exp(i theta))."""
        return self._one("p", qubit, theta)

    def u(self, theta: ParameterLike, phi: ParameterLike, lam: ParameterLike, qubit: Qubits) -> Circuit:
        """Qiskit's U(theta, phi, lam) = p(phi) ry(theta) p(lam)."""
        return self._one("u", qubit, theta, phi, lam)

    # two-qubit gates
    def cx(self, control: int, target: int) -> Circuit:
        """Controlled X (CNOT)."""
        return self.append(GATES["cx"], [control, target])

    def cy(self, control: int, target: int) -> Circuit:
        """Controlled Y."""
        return self.append(GATES["cy"], [control, target])

    def cz(self, control: int, target: int) -> Circuit:
        """Controlled Z."""
        return self.append(GATES["cz"], [control, target])

    def ch(self, control: int, target: int) -> Circuit:
        """Controlled Hadamard."""
        return self.append(GATES["ch"], [control, target])

    def swap(self, qubit1: int, qubit2: int) -> Circuit:
        """Swap two qubits."""
        return self.append(GATES["swap"], [qubit1, qubit2])

    def iswap(self, qubit1: int, qubit2: int) -> Circuit:
        """iSWAP."""
        return self.append(GATES["iswap"], [qubit1, qubit2])

    def crx(self, theta: ParameterLike, control: int, target: int) -> Circuit:
        """Controlled rx."""
        return self.append(GATES["crx"], [control, target], [theta])

    def cry(self, theta: ParameterLike, control: int, target: int) -> Circuit:
        """Controlled ry."""
        return self.append(GATES["cry"], [control, target], [theta])

    def crz(self, theta: ParameterLike, control: int, target: int) -> Circuit:
        """Controlled rz."""
        return self.append(GATES["crz"], [control, target], [theta])

    def cp(self, theta: ParameterLike, control: int, target: int) -> Circuit:
        """Controlled phase."""
        return self.append(GATES["cp"], [control, target], [theta])

    def rxx(self, theta: ParameterLike, qubit1: int, qubit2: int) -> Circuit:
        """exp(-i theta X X / 2)."""
        return self.append(GATES["rxx"], [qubit1, qubit2], [theta])

    def ryy(self, theta: ParameterLike, qubit1: int, qubit2: int) -> Circuit:
        """exp(-i theta Y Y / 2)."""
        return self.append(GATES["ryy"], [qubit1, qubit2], [theta])

    def rzz(self, theta: ParameterLike, qubit1: int, qubit2: int) -> Circuit:
        """exp(-i theta Z Z / 2)."""
        return self.append(GATES["rzz"], [qubit1, qubit2], [theta])

    def rzx(self, theta: ParameterLike, qubit1: int, qubit2: int) -> Circuit:
        """exp(-i theta Z_{qubit1} X_{qubit2} / 2), as Qiskit's RZXGate."""
        return self.append(GATES["rzx"], [qubit1, qubit2], [theta])

    # three or more qubits
    def ccx(self, control1: int, control2: int, target: int) -> Circuit:
        """Toffoli."""
        return self.append(GATES["ccx"], [control1, control2, target])

    def cswap(self, control: int, target1: int, target2: int) -> Circuit:
        """Fredkin (controlled swap)."""
        return self.append(GATES["cswap"], [control, target1, target2])

    def mcx(self, control_qubits: Sequence[int], target_qubit: int) -> Circuit:
        """X on ``target_qubit`` controlled on every qubit in ``control_qubits``."""
        controls = list(control_qubits)
        return self.append(mcx_spec(len(controls)), controls + [target_qubit])

    def pauli_rot(self, pauli: str, qubits: Sequence[int], angle: ParameterLike) -> Circuit:
        """exp(-i angle P / 2) for a Pauli string; letter ``i`` acts on ``qubits[i]``.

        Example: ``pauli_rot("XYZ", (a, b, c), t)`` puts X on a, Y on b and Z on c.
        """
        return self.append(pauli_rot_spec(pauli.upper()), list(qubits), [angle])
