"""Text diagrams of circuits: one wire per qubit, ops packed into columns (moments).

Each qubit gets a wire row (``q0`` on top) and consecutive wires are separated by a gap row that
carries vertical connectors. An op goes into the earliest column in which every wire from its
lowest to its highest qubit is free, so a connector never crosses another gate; it may cross an
idle wire (drawn ``┼``). Symbols:

- single-qubit gates: a label such as ``H``, ``RX(0.5)``, ``RZ(2*theta + 0.1)``; numbers keep 3
  significant digits and simple multiples of pi print as ``π/2``;
- controlled gates: ``■`` on each control, the base gate's symbol on the target(s) (``cx`` -> ``X``);
- ``swap``: ``x`` on both wires;
- other multi-qubit gates: their label on each wire, with the local qubit index (``[0]``, ``[1]``)
  when the gate is not symmetric under exchanging its qubits (``rzx``, ``pauli_rot``, ``unitary``);
- barriers: ``░``.

Diagrams wider than ``width`` are cut into blocks separated by a blank line; a wire that goes on
in the next block ends with ``»`` and resumes with ``«``. A nonzero global phase is printed on a
first line of its own.

>>> from qdiff.ir import Circuit
>>> print(draw(Circuit(2).h(0).cx(0, 1)))  # doctest: +NORMALIZE_WHITESPACE
q0: ─H─■─
       │
q1: ───X─
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from qdiff.ir.gates import GateSpec
from qdiff.ir.parameters import ParameterExpression

if TYPE_CHECKING:
    from qdiff.ir.circuit import Circuit, Op

_WIRE, _GAP = "─", " "
_CONTROL, _SWAP, _BARRIER, _LINK, _CROSS = "■", "x", "░", "│", "┼"
_NAMES = {"id": "I", "sdg": "S†", "tdg": "T†", "sx": "√X", "sxdg": "√X†", "iswap": "iSWAP"}
_PI_DENOMINATORS = (1, 2, 3, 4, 6, 8)
_MAX_SYMMETRY_QUBITS = 8

# A column: the symbol on each wire (None: plain wire) and the character on each gap row below a
# wire (" " for nothing, "│" for a connector, "░" inside a barrier).
_Column = tuple[list[str | None], list[str]]


def draw(circuit: Circuit, width: int = 100) -> str:
    """A text diagram of ``circuit``, wrapped into blocks at most ``width`` characters wide.

    Args:
        circuit: the circuit to draw.
        width: the target line width; a single column wider than that gets a block of its own.
    Returns:
        the diagram, lines joined by ``"\\n"`` without a trailing newline (``""`` for a circuit
        of zero qubits). Every line of a block has the same length.
    """
    n = circuit.num_qubits
    if n == 0:
        return ""
    header = [f"global phase: {format_number(circuit.global_phase)}"] if circuit.global_phase else []
    columns = _layout(circuit)
    names = [f"q{q}" for q in range(n)]
    pad = max(len(s) for s in names)
    wire_prefix = [f"{s:<{pad}}: " for s in names]
    gap_prefix = " " * (pad + 2)
    blocks = _split(columns, max(width - len(gap_prefix) - 4, 1))
    rendered = [_render_block(columns[lo:hi], wire_prefix, gap_prefix, lo > 0, hi < len(columns))
                for lo, hi in blocks]
    return "\n".join(header + ["\n\n".join(rendered)])


# -- labels ----------------------------------------------------------------------------------

def format_number(value: float) -> str:
    """A compact angle: a simple multiple of pi as ``π/2``, ``-3π/4``, otherwise 3 digits.

    >>> format_number(math.pi / 2), format_number(-0.75 * math.pi), format_number(0.123456)
    ('π/2', '-3π/4', '0.123')
    """
    if value == 0:
        return "0"
    for d in _PI_DENOMINATORS:
        k = value * d / math.pi
        if abs(k - round(k)) < 1e-9 and 1 <= abs(round(k)) <= 16:
            num = abs(round(k))
            text = ("π" if num == 1 else f"{num}π") + (f"/{d}" if d > 1 else "")
            return "-" + text if k < 0 else text
    return f"{value:.3g}"


def format_angle(expr: ParameterExpression) -> str:
    """A constant angle via :func:`format_number`, a parametrized one via ``str(expr)``."""
    return format_number(expr.offset) if expr.is_constant() else str(expr)


def gate_label(spec: GateSpec, params: Sequence[ParameterExpression] = ()) -> str:
    """The display name of a gate with its angles, e.g. ``RZ(2*theta + 0.1)`` or ``√X``."""
    if spec.qiskit_name == "unitary":
        name = spec.name
    elif spec.name.startswith("pauli_rot_"):
        name = "R" + spec.name[len("pauli_rot_"):]
    else:
        name = _NAMES.get(spec.name, spec.name.upper())
    return f"{name}({', '.join(format_angle(p) for p in params)})" if params else name


def _is_symmetric(spec: GateSpec) -> bool:
    """True when the gate is unchanged by every permutation of its qubits."""
    k = spec.num_qubits
    if spec.pauli is not None:
        return len(set(spec.pauli)) == 1
    if k > _MAX_SYMMETRY_QUBITS or spec.kind == "composite":
        return False
    matrix = spec.fixed_matrix if spec.fixed_matrix is not None else spec.generator_matrix
    tensor = np.asarray(matrix).reshape((2,) * (2 * k))
    for i in range(1, k):  # the transpositions (0 i) generate every permutation
        axes = list(range(2 * k))
        axes[0], axes[i], axes[k], axes[k + i] = i, 0, k + i, k
        if not np.allclose(tensor, tensor.transpose(axes), atol=1e-12):
            return False
    return True


def _symbols(spec: GateSpec, params: Sequence[ParameterExpression]) -> list[str]:
    """The symbol drawn on each of the gate's qubits, in the order they are listed."""
    if spec.num_controls > 0 and spec.base is not None:
        return [_CONTROL] * spec.num_controls + _symbols(spec.base, params)
    if spec.name == "swap":
        return [_SWAP, _SWAP]
    label = gate_label(spec, params)
    if spec.num_qubits == 1 or _is_symmetric(spec):
        return [label] * spec.num_qubits
    return [f"{label}[{i}]" for i in range(spec.num_qubits)]


# -- layout ----------------------------------------------------------------------------------

def _layout(circuit: Circuit) -> list[_Column]:
    """Pack ops into columns; each op spans its wires from lowest to highest qubit."""
    n = circuit.num_qubits
    level = [0] * n
    columns: list[_Column] = []
    for op in circuit:
        lo, hi = min(op.qubits), max(op.qubits)
        col = max(level[lo:hi + 1])
        for q in range(lo, hi + 1):
            level[q] = col + 1
        if col == len(columns):
            columns.append(([None] * n, [_GAP] * (n - 1)))
        _place(op, columns[col], lo, hi)
    return columns


def _place(op: Op, column: _Column, lo: int, hi: int) -> None:
    """Write the symbols of ``op`` into ``column`` (wires ``lo..hi`` are free there)."""
    wires, gaps = column
    if op.is_directive:
        for q in op.qubits:
            wires[q] = _BARRIER
            if q + 1 in op.qubits:
                gaps[q] = _BARRIER
        return
    for q, symbol in zip(op.qubits, _symbols(op.spec, op.params)):
        wires[q] = symbol
    for q in range(lo, hi + 1):
        if wires[q] is None:
            wires[q] = _CROSS
        if q < hi:
            gaps[q] = _LINK


def _column_width(column: _Column) -> int:
    return max([len(s) for s in column[0] if s is not None] + [1])


def _split(columns: list[_Column], budget: int) -> list[tuple[int, int]]:
    """Greedy ``(start, stop)`` ranges of columns whose cells and separators fit ``budget``."""
    blocks: list[tuple[int, int]] = []
    start, used = 0, -1
    for i, column in enumerate(columns):
        w = _column_width(column) + 1
        if i > start and used + w > budget:
            blocks.append((start, i))
            start, used = i, -1
        used += w
    blocks.append((start, len(columns)))
    return blocks


# -- rendering -------------------------------------------------------------------------------

def _cell(symbol: str | None, width: int) -> str:
    """A wire cell: ``symbol`` centred on the wire (a connector lands on its middle)."""
    if symbol is None:
        return _WIRE * width
    left = (width - len(symbol)) // 2
    return _WIRE * left + symbol + _WIRE * (width - len(symbol) - left)


def _gap_cell(char: str, width: int) -> str:
    """A gap cell: ``char`` at the column's centre, where connectors run."""
    centre = (width - 1) // 2
    return " " * centre + char + " " * (width - centre - 1)


def _render_block(columns: list[_Column], wire_prefix: list[str], gap_prefix: str,
                  continued_from: bool, continues: bool) -> str:
    """Render one block: wire rows and gap rows, all of the same length."""
    widths = [_column_width(c) for c in columns]
    start = "«" if continued_from else ""
    end = "»" if continues else ""
    lines: list[str] = []
    for q, prefix in enumerate(wire_prefix):
        cells = _WIRE.join(_cell(c[0][q], w) for c, w in zip(columns, widths))
        lines.append(f"{prefix}{start}{_WIRE}{cells}{_WIRE}{end}")
        if q + 1 < len(wire_prefix):
            gaps = _GAP.join(_gap_cell(c[1][q], w) for c, w in zip(columns, widths))
            lines.append(f"{gap_prefix}{' ' * len(start)} {gaps} {' ' * len(end)}")
    return "\n".join(lines)
