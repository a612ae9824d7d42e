"""Hamiltonians against direct Kronecker constructions, MaxCut against brute force, the molecule table."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

import qdiff
from qdiff.apps.variational import heisenberg, lattice_bonds, maxcut, molecule, tfim
from qdiff.apps.variational.hamiltonians import check_hamiltonian, diagonal, graph_edges

P = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1, -1])}


def op(n: int, placed: dict[int, str]) -> np.ndarray:
    """Kronecker product, qubit 0 the rightmost factor (little-endian)."""
    out = np.eye(1)
    for q in reversed(range(n)):
        out = np.kron(out, P[placed.get(q, "I")])
    return out


@pytest.mark.parametrize("periodic", [False, True])
def test_tfim_matches_kronecker(periodic):
    n, h, J = 4, 0.7, 1.3
    bonds = [(i, i + 1) for i in range(n - 1)] + ([(0, n - 1)] if periodic else [])
    ref = -J * sum(op(n, {i: "Z", j: "Z"}) for i, j in bonds) - h * sum(op(n, {i: "X"}) for i in range(n))
    assert np.allclose(tfim(n, h=h, J=J, periodic=periodic).to_matrix(), ref)


def test_xxz_j1_j2_matches_kronecker():
    n, delta, J2 = 5, 0.5, 0.3
    ref = np.zeros((2**n, 2**n), dtype=complex)
    for (i, j), J in [((i, (i + 1) % n), 1.0) for i in range(n)] + [((i, (i + 2) % n), J2) for i in range(n)]:
        ref += J * (op(n, {i: "X", j: "X"}) + op(n, {i: "Y", j: "Y"}) + delta * op(n, {i: "Z", j: "Z"}))
    assert np.allclose(heisenberg(n, delta=delta, J2=J2).to_matrix(), ref)


def test_square_lattice_bonds():
    assert sorted(lattice_bonds((3, 3))) == sorted(
        {tuple(sorted((x + 3 * y, (x + 1) % 3 + 3 * y))) for x in range(3) for y in range(3)}
        | {tuple(sorted((x + 3 * y, x + 3 * ((y + 1) % 3)))) for x in range(3) for y in range(3)})
    assert len(lattice_bonds((3, 3), neighbor=2)) == 18
    assert len(heisenberg((2, 3), periodic=False)) == 3 * 7


def test_maxcut_against_brute_force():
    g = nx.Graph()
    g.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 2.0), (2, 3, 0.5), (0, 3, 1.5), (0, 2, 1.0)])
    values = diagonal(maxcut(g), 4)
    for z in range(16):
        bits = [(z >> q) & 1 for q in range(4)]
        assert values[z] == pytest.approx(sum(w for i, j, w in g.edges(data="weight") if bits[i] != bits[j]))
    assert np.allclose(np.diag(maxcut(g).to_matrix()).real, values)


@pytest.mark.parametrize("graph, match", [
    (nx.empty_graph(3), "no edges"),
    (nx.relabel_nodes(nx.path_graph(3), {0: "a"}), "0..N-1"),
])
def test_bad_graphs(graph, match):
    with pytest.raises(qdiff.ObservableError, match=match):
        graph_edges(graph)


def test_check_hamiltonian_rejects_bad_operators():
    with pytest.raises(qdiff.ObservableError, match="not Hermitian"):
        check_hamiltonian(qdiff.X(0) + 1j * qdiff.Y(0))
    with pytest.raises(qdiff.ObservableError, match="only 2"):
        check_hamiltonian(qdiff.Z(0) @ qdiff.Z(2), num_qubits=2)
    with pytest.raises(qdiff.ObservableError, match="PauliSum"):
        check_hamiltonian("ZZ")


def test_h2_table_reproduces_fci():
    h2 = molecule("h2")  # equilibrium 0.735 A
    assert h2.bond_length == 0.735 and h2.num_qubits == 4 and len(h2.hamiltonian) == 15
    assert h2.fci_energy == pytest.approx(-1.13730604, abs=1e-8)
    evals = np.linalg.eigvalsh(h2.hamiltonian.to_matrix())
    assert evals[0] == pytest.approx(h2.fci_energy, abs=1e-9)
    assert h2.hamiltonian.to_matrix()[3, 3].real == pytest.approx(h2.hf_energy, abs=1e-9)  # |0011> = HF
    for r in (0.5, 1.0, 2.0):
        m = molecule("h2", r)
        assert np.linalg.eigvalsh(m.hamiltonian.to_matrix())[0] == pytest.approx(m.fci_energy, abs=1e-8)
    lih = molecule("lih")
    assert lih.num_qubits == 12 and len(lih.hamiltonian) == 631 and lih.fci_energy == pytest.approx(-7.8824, abs=1e-4)


def test_unknown_molecule_and_geometry():
    with pytest.raises(qdiff.ObservableError, match="unknown molecule"):
        molecule("h2o")
    with pytest.raises(qdiff.ObservableError, match="bond length must be positive"):
        molecule("h2", -1.0)


def test_jordan_wigner_number_operator():
    from qdiff.apps.variational.chemistry import fermion_to_qubit

    h1 = np.diag([1.0, 2.0, 3.0])
    H = fermion_to_qubit(h1, np.zeros((3, 3, 3, 3)), 0.5)
    for z, bits in enumerate(itertools.product([0, 1], repeat=3)):
        occ = [(z >> q) & 1 for q in range(3)]
        assert H.to_matrix()[z, z].real == pytest.approx(0.5 + sum(occ[q] * (q + 1) for q in range(3)))
