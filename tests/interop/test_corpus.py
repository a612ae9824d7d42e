"""Every circuits/*.qasm loads and reproduces circuits/reference.json (Qiskit Statevector values)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
import torch

import qdiff

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"
REFERENCE = json.loads((CIRCUITS / "reference.json").read_text())["circuits"]
TOL = 1e-10


@pytest.fixture(scope="module")
def loaded() -> dict[str, qdiff.Circuit]:
    return {name: qdiff.load_qasm(CIRCUITS / name) for name in REFERENCE}


def test_every_file_has_reference_values():
    assert sorted(p.name for p in CIRCUITS.glob("*.qasm")) == sorted(REFERENCE)
    assert len(REFERENCE) >= 8


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_reference(name, loaded):
    ref = REFERENCE[name]
    circuit = loaded[name]
    assert circuit.num_qubits == ref["num_qubits"]
    assert [p.name for p in circuit.parameters] == ref["parameters"]
    values = torch.tensor(ref["values"], dtype=torch.float64)
    probs = qdiff.probs(circuit, values, qubits=ref["probs_qubits"])
    torch.testing.assert_close(probs, torch.tensor(ref["probs"], dtype=torch.float64), atol=TOL, rtol=0)
    observables = [qdiff.PauliSum.from_list([(label, c) for label, c in o["terms"]]) for o in ref["observables"]]
    energies = qdiff.expval(circuit, observables, values)
    expected = torch.tensor([o["expval"] for o in ref["observables"]], dtype=torch.float64)
    torch.testing.assert_close(energies, expected, atol=TOL, rtol=0)


def test_born_machine_structure(loaded):
    circuit = loaded["qcbm_bas3x3_d10.qasm"]
    assert circuit.num_qubits == 9 and circuit.num_parameters == 279
    assert circuit.count_ops() == {"rx": 99, "rz": 180, "cx": 80}
    layer = [op.qubits for op in circuit if op.name == "cx"][:8]
    assert nx.is_tree(nx.Graph(layer))  # the Chow-Liu tree: 8 edges spanning 9 qubits
    assert all(i // 3 == j // 3 or i % 3 == j % 3 for i, j in layer)  # maximal MI: same row or column
    assert [op.qubits for op in circuit if op.name == "cx"] == layer * 10  # the same tree between all layers


def test_qaoa_shares_angles(loaded):
    circuit = loaded["qaoa_maxcut_n6_p2.qasm"]
    assert [p.name for p in circuit.parameters] == ["gamma[0]", "beta[0]", "gamma[1]", "beta[1]"]
    counts = Counter(op.name for op in circuit)
    assert counts == {"h": 6, "rzz": 18, "rx": 12}
    graph = nx.Graph([op.qubits for op in circuit if op.name == "rzz"][:9])
    assert graph.number_of_nodes() == 6 and all(d == 3 for _, d in graph.degree())
    assert {str(op.params[0]) for op in circuit if op.name == "rzz"} == {"2*gamma[0]", "2*gamma[1]"}
