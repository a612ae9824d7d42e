"""VQE and QAOA drivers: small runs that must reach their targets, shots, backends, bad input."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

import qdiff
from qdiff.apps.variational import (
    SampledEnergy,
    brute_force_maxcut,
    heisenberg,
    hva_heisenberg,
    hva_tfim,
    interp,
    linear_ramp,
    maxcut,
    molecule,
    particle_conserving,
    qaoa,
    qaoa_circuit,
    qaoa_sweep,
    qubitwise_groups,
    regular_graph,
    tfim,
    vqe,
)
from qdiff.apps.variational.ansatz import EXCHANGE

CHEMICAL_ACCURACY = 1.6e-3


def test_h2_exact_reaches_fci():
    h2 = molecule("h2", 0.735)
    r = vqe(h2.hamiltonian, particle_conserving(4, 2), exact=h2.fci_energy, steps=30)
    assert abs(r.error) < 1e-8 < CHEMICAL_ACCURACY


def test_h2_with_shots_within_chemical_accuracy():
    h2 = molecule("h2", 0.735)
    r = vqe(h2.hamiltonian, particle_conserving(4, 2, singles=False), exact=h2.fci_energy, optimizer="adam",
            lr=0.05, steps=40, shots=5000, seed=3)
    assert abs(r.error) < CHEMICAL_ACCURACY
    assert abs(r.estimate - h2.fci_energy) < 0.02  # one 5000-shot estimate


def test_sampled_energy_is_unbiased_and_its_gradient_follows_the_shift_rule():
    H = tfim(3, h=0.7, periodic=False)
    c = hva_tfim(3, 1, periodic=False)
    assert len(qubitwise_groups(H)) == 2  # all Z terms, all X terms
    v = torch.tensor([0.3, -0.4], dtype=torch.float64)
    est = SampledEnergy(c, H, 200_000, torch.Generator().manual_seed(0))
    x = v.clone().requires_grad_()
    e = est(x)
    e.backward()
    y = v.clone().requires_grad_()
    exact = qdiff.expval(c, H, y)
    exact.backward()
    assert float(e.detach()) == pytest.approx(float(exact.detach()), abs=0.02)
    assert torch.allclose(x.grad, y.grad, atol=0.05)


def test_tfim_and_heisenberg_hva_reach_exact_energies():
    r = vqe(tfim(6, h=1.0), hva_tfim(6, 3), steps=150)
    assert r.relative_error < 1e-6 and r.fidelity > 0.9999
    r = vqe(heisenberg(6), hva_heisenberg(6, 3), steps=150)
    assert r.relative_error < 1e-3


def test_lattice_heisenberg_hva_covers_every_bond_once_per_layer_and_reaches_the_ground_state():
    from qdiff.apps.variational.hamiltonians import lattice_bonds

    for lattice, periodic in (((4, 4), True), ((3, 4), False), ((4, 2), False)):
        c = hva_heisenberg(lattice, 1, periodic=periodic, per_bond=True)
        bonds = [tuple(sorted(op.qubits)) for op in c.ops if op.spec.name == "exchange"]
        assert sorted(bonds) == sorted(lattice_bonds(lattice, periodic))  # each bond exactly once
        singlets = [op.qubits for op in c.ops if op.spec.name == "cx"]
        assert sorted(q for pair in singlets for q in pair) == list(range(lattice[0] * lattice[1]))  # a dimer cover
    r = vqe(heisenberg((2, 3), periodic=False), hva_heisenberg((2, 3), 3, periodic=False), steps=100)
    assert r.relative_error < 1e-3  # (2x4: 4.3e-4 with 4 layers; the hardware-efficient ansatz: 0.25)
    with pytest.raises(qdiff.GateError, match="even number of sites"):
        hva_heisenberg((3, 3), 1)


def test_exchange_gate_equals_rxx_ryy_rzz():
    v = torch.tensor([0.3, -0.2, 0.5, 0.1], dtype=torch.float64)
    a = qdiff.state(hva_heisenberg(4, 2), v)
    b = qdiff.state(hva_heisenberg(4, 2, native=True), v)
    assert torch.allclose(a, b, atol=1e-12)
    assert EXCHANGE.shift_rule is not None


def test_vqe_on_aer_backend():
    pytest.importorskip("qiskit_aer")
    h2 = molecule("h2")
    r = vqe(h2.hamiltonian, particle_conserving(4, 2, singles=False), exact=h2.fci_energy, optimizer="adam",
            lr=0.1, steps=3, backend=qdiff.AerBackend())
    assert r.steps == 3 and r.error is not None and r.error > 0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"hamiltonian": heisenberg(6)}, qdiff.ObservableError, "only 4"),
    ({"hamiltonian": qdiff.X(0) + 1j * qdiff.Y(1)}, qdiff.ObservableError, "not Hermitian"),
    ({"shots": 100}, qdiff.ParameterError, "L-BFGS needs exact"),
    ({"optimizer": "sgd"}, qdiff.ParameterError, "unknown optimizer"),
    ({"values": torch.zeros(3)}, qdiff.ParameterError, "shape"),
])
def test_vqe_bad_input_fails_before_optimising(kwargs, error, match, monkeypatch):
    calls = []
    monkeypatch.setattr(qdiff.execute, "get_engine", lambda *a: calls.append(a))
    args = {"hamiltonian": tfim(4), "circuit": hva_tfim(4, 2)} | kwargs
    with pytest.raises(error, match=match):
        vqe(**args)
    assert not calls


def test_custom_torch_optimizer():
    r = vqe(tfim(4), hva_tfim(4, 2), optimizer=torch.optim.SGD, lr=0.05, steps=40)
    assert r.energy < -4.5


def test_brute_force_maxcut():
    g = nx.cycle_graph(5)
    assert brute_force_maxcut(g)[0] == 4
    assert brute_force_maxcut(nx.complete_bipartite_graph(3, 3))[0] == 9
    value, z = brute_force_maxcut(nx.petersen_graph())
    assert value == 12 and maxcut(nx.petersen_graph()).to_matrix()[z, z].real == 12


def test_qaoa_p1_on_triangle_free_cubic_graph_beats_the_bound():
    g = nx.hypercube_graph(3)  # 3-regular, triangle-free, 8 nodes
    g = nx.convert_node_labels_to_integers(g)
    r = qaoa(g, p=1)
    assert r.expected_cut / g.number_of_edges() >= 0.6924  # each edge cut with probability >= 0.6924
    assert r.approximation_ratio >= 0.692


def test_qaoa_ratio_increases_with_p():
    g = regular_graph(8, seed=2)
    ratios = [r.approximation_ratio for r in qaoa_sweep(g, 3)]
    assert all(b > a for a, b in zip(ratios, ratios[1:]))


def test_initialisations():
    assert torch.allclose(linear_ramp(2), torch.tensor([0.1875, 0.5625, 0.5625, 0.1875], dtype=torch.float64))
    x = torch.tensor([0.2, 0.5, 0.4, 0.3], dtype=torch.float64)  # p = 2
    # i = 0: x0; i = 1: (x0 + x1)/2; i = 2: x1
    expected = torch.tensor([0.2, 0.5, 0.3, 0.4, 0.4, 0.3], dtype=torch.float64)
    assert torch.allclose(interp(x), expected)


def test_qaoa_circuit_shares_angles():
    c = qaoa_circuit(nx.path_graph(3), 2)
    assert [p.name for p in c.parameters] == ["gamma[0]", "beta[0]", "gamma[1]", "beta[1]"]
    assert c.count_ops() == {"h": 3, "rzz": 4, "rx": 6}


def test_qaoa_bad_input():
    with pytest.raises(qdiff.GateError, match="p >= 1"):
        qaoa(nx.path_graph(3), p=0)
    with pytest.raises(qdiff.ObservableError, match="no edges"):
        qaoa(nx.empty_graph(4), p=1)
