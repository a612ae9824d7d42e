"""Tests of the text circuit diagram (qdiff.ir.drawing)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import qdiff.ir.drawing as drawing
from qdiff.ir import GATES, Circuit, Parameter
from qdiff.ir.drawing import draw, format_number

# The symbol each named gate shows on each of its qubits (placed on qubits 0..k-1, angles 0.5,
# 0.25, 0.125). A gate added to the library must be added here.
EXPECTED_SYMBOLS: dict[str, list[str]] = {
    "id": ["I"], "x": ["X"], "y": ["Y"], "z": ["Z"], "h": ["H"], "s": ["S"], "sdg": ["S†"],
    "t": ["T"], "tdg": ["T†"], "sx": ["√X"], "sxdg": ["√X†"],
    "rx": ["RX(0.5)"], "ry": ["RY(0.5)"], "rz": ["RZ(0.5)"], "p": ["P(0.5)"],
    "u": ["U(0.5, 0.25, 0.125)"],
    "cx": ["■", "X"], "cy": ["■", "Y"], "cz": ["■", "Z"], "ch": ["■", "H"],
    "crx": ["■", "RX(0.5)"], "cry": ["■", "RY(0.5)"], "crz": ["■", "RZ(0.5)"], "cp": ["■", "P(0.5)"],
    "swap": ["x", "x"], "iswap": ["iSWAP", "iSWAP"],
    "rxx": ["RXX(0.5)", "RXX(0.5)"], "ryy": ["RYY(0.5)", "RYY(0.5)"], "rzz": ["RZZ(0.5)", "RZZ(0.5)"],
    "rzx": ["RZX(0.5)[0]", "RZX(0.5)[1]"],
    "ccx": ["■", "■", "X"], "cswap": ["■", "x", "x"],
}


def wire(diagram: str, qubit: int) -> str:
    """The wire row of ``qubit`` (all blocks concatenated, prefixes and markers removed)."""
    rows = [line for line in diagram.splitlines() if line.startswith(f"q{qubit}:")]
    return "".join(row.split(": ", 1)[1].strip("«»") for row in rows)


def blocks(diagram: str) -> list[list[str]]:
    return [block.splitlines() for block in diagram.split("\n\n")]


def test_bell_circuit_exact():
    expected = "\n".join([
        "q0: ─H─■─",
        "       │ ",
        "q1: ───X─",
    ])
    assert draw(Circuit(2).h(0).cx(0, 1)) == expected
    assert str(Circuit(2).h(0).cx(0, 1)) == expected


def test_mixed_circuit_exact():
    theta = Parameter("theta")
    c = (Circuit(3).h(0).cx(0, 1).rx(theta, 2).crz(2 * theta + 0.1, 2, 0).swap(0, 2).barrier()
         .rzz(0.25, 0, 1).ccx(0, 1, 2))
    expected = "\n".join([
        "q0: ─────H─────■─RZ(2*theta + 0.1)─x─░─RZZ(0.25)─■─",
        "               │         │         │ ░     │     │ ",
        "q1: ───────────X─────────┼─────────┼─░─RZZ(0.25)─■─",
        "                         │         │ ░           │ ",
        "q2: ─RX(theta)───────────■─────────x─░───────────X─",
    ])
    assert draw(c) == expected


def test_expected_symbols_cover_the_library():
    assert set(EXPECTED_SYMBOLS) == set(GATES)


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_draws_its_symbols(name):
    spec = GATES[name]
    c = Circuit(spec.num_qubits + 1).append(spec, range(spec.num_qubits), [0.5, 0.25, 0.125][:spec.num_params])
    diagram = draw(c)
    for q, symbol in enumerate(EXPECTED_SYMBOLS[name]):
        assert symbol in wire(diagram, q), (name, q, diagram)
    assert set(wire(diagram, spec.num_qubits)) == {"─"}  # the spare wire stays idle


def test_controls_and_targets_on_the_right_wires():
    d = draw(Circuit(3).cx(2, 0))
    assert wire(d, 0) == "─X─" and wire(d, 1) == "─┼─" and wire(d, 2) == "─■─"
    d = draw(Circuit(4).ccx(3, 0, 1).cswap(2, 3, 0))
    assert wire(d, 0).startswith("─■─x") and wire(d, 1).startswith("─X─┼")
    assert wire(d, 2).startswith("─┼─■") and wire(d, 3).startswith("─■─x")
    d = draw(Circuit(5).mcx([4, 0, 2], 1))
    assert [wire(d, q) for q in range(5)] == ["─■─", "─X─", "─■─", "─┼─", "─■─"]


def test_connectors_join_the_gate_rows():
    lines = draw(Circuit(3).cx(0, 2)).splitlines()
    column = lines[0].index("■")
    assert [line[column] for line in lines] == ["■", "│", "┼", "│", "X"]


def test_moments_pack_ops_without_crossing_gates():
    d = draw(Circuit(3).h(0).x(2).cx(0, 2).h(1))
    assert wire(d, 0) == "─H─■───" and wire(d, 2) == "─X─X───"
    assert wire(d, 1) == "───┼─H─"  # H(1) waits for the cx whose connector crosses wire 1
    parallel = draw(Circuit(2).h(0).x(1))
    assert wire(parallel, 0) == "─H─" and wire(parallel, 1) == "─X─"


def test_multi_qubit_gates_label_each_wire():
    theta = Parameter("theta")
    d = draw(Circuit(3).rzz(theta, 2, 0).pauli_rot("XYZ", (1, 2, 0), 0.5))
    assert "RZZ(theta)" in wire(d, 0) and "RZZ(theta)" in wire(d, 2) and "┼" in wire(d, 1)
    assert "RXYZ(0.5)[2]" in wire(d, 0) and "RXYZ(0.5)[0]" in wire(d, 1) and "RXYZ(0.5)[1]" in wire(d, 2)
    d = draw(Circuit(2).pauli_rot("ZZ", (0, 1), 0.5).unitary(np.eye(4)[[0, 2, 1, 3]], [0, 1], "perm"))
    assert "RZZ(0.5)" in wire(d, 0) and "[" not in wire(d, 0).split("perm")[0]
    cnot = np.eye(4)[[0, 3, 2, 1]]
    d = draw(Circuit(2).unitary(cnot, [1, 0], "cnot"))
    assert "cnot[1]" in wire(d, 0) and "cnot[0]" in wire(d, 1)


def test_parametrized_labels_show_expressions():
    theta, phi = Parameter("theta"), Parameter("phi")
    d = draw(Circuit(2).rx(2 * theta + 0.1, 0).u(theta, -phi, 0.5, 1).crz(theta - phi, 0, 1))
    assert "RX(2*theta + 0.1)" in wire(d, 0)
    assert "U(theta, -phi, 0.5)" in wire(d, 1)
    assert "RZ(theta - phi)" in wire(d, 1)


def test_numbers_are_compact():
    assert format_number(0.123456) == "0.123"
    assert format_number(123456.0) == "1.23e+05"
    assert format_number(0.0) == "0"
    assert format_number(math.pi) == "π" and format_number(-math.pi / 4) == "-π/4"
    assert format_number(2 * math.pi / 3) == "2π/3"
    assert "RY(π/2)" in draw(Circuit(1).ry(math.pi / 2, 0))


def test_wrapping_splits_long_circuits_into_even_blocks():
    c = Circuit(3)
    for i in range(60):
        c.rx(0.1 * i, i % 3).cx(i % 3, (i + 1) % 3)
    d = draw(c, width=60)
    parts = blocks(d)
    assert len(parts) > 2
    for k, block in enumerate(parts):
        assert len(block) == 5
        assert len({len(line) for line in block}) == 1, block
        assert len(block[0]) <= 60
        assert block[0].endswith("»") == (k < len(parts) - 1)
        assert (block[0][4] == "«") == (k > 0)
    assert "".join(wire(d, q) for q in range(3)).count("■") == 60
    assert len(blocks(draw(c))) < len(parts)  # default width 100 wraps less
    assert len(blocks(draw(c, width=10_000))) == 1


def test_width_smaller_than_a_column_gives_one_column_per_block():
    d = draw(Circuit(1).rx(0.5, 0).ry(0.25, 0), width=5)
    assert [b[0] for b in blocks(d)] == ["q0: ─RX(0.5)─»", "q0: «─RY(0.25)─"]


def test_barriers_show():
    d = draw(Circuit(3).h(0).barrier().x(1).barrier(0, 2))
    assert wire(d, 0).count("░") == 2 and wire(d, 2).count("░") == 2 and wire(d, 1).count("░") == 1
    lines = d.splitlines()
    column = lines[0].index("░")
    assert [line[column] for line in lines] == ["░"] * 5


def test_empty_circuits_draw():
    assert draw(Circuit(0)) == ""
    assert draw(Circuit(2)) == "q0: ──\n      \nq1: ──"
    assert draw(Circuit(1)) == str(Circuit(1)) == "q0: ──"


def test_wire_labels_align_beyond_ten_qubits():
    d = draw(Circuit(11).cx(0, 10))
    rows = d.splitlines()
    assert rows[0].startswith("q0 : ") and rows[-1].startswith("q10: ")
    assert len({len(row) for row in rows}) == 1


def test_global_phase_is_shown_first():
    d = draw(Circuit(1, global_phase=math.pi / 2).h(0))
    assert d.splitlines() == ["global phase: π/2", "q0: ─H─"]


def test_drawing_does_not_import_torch():
    tree = ast.parse(Path(drawing.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "torch" for name in names)
