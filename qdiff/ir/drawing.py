"""Text rendering of circuits (placeholder listing; replaced by a diagram)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qdiff.ir.circuit import Circuit


def draw(circuit: Circuit) -> str:
    """A readable listing of the circuit's ops."""
    lines = [f"Circuit({circuit.num_qubits} qubits, {len(circuit)} ops)"]
    lines += [f"  {op!r}" for op in circuit]
    return "\n".join(lines)
