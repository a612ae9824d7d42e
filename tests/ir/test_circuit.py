"""Circuits (structure, parameters, derived circuits, identity) and PauliSum algebra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qdiff
from qdiff import Circuit, Parameter, ParameterVector, PauliSum, X, Y, Z


# -- parameters ---------------------------------------------------------------------------------

def test_parameters_in_order_of_first_appearance_never_alphabetical():
    names = ["t_10", "t_2", "t_1", "b", "a", "t_33"]
    ps = {n: Parameter(n) for n in names}
    c = Circuit(2)
    for n in names:
        c.rx(ps[n], 0)
    c.ry(ps["t_2"], 1)  # repeats do not move a parameter
    assert [p.name for p in c.parameters] == names
    assert c.num_parameters == len(names)
    assert len(c) == len(names) + 1


def test_parameters_inside_expressions_and_composites():
    a, b, c_ = Parameter("z"), Parameter("y"), Parameter("x")
    w = ParameterVector("w", 3)
    c = Circuit(2).rz(2 * b - a, 0).u(w[2], c_, w[0], 1).crx(-w[1], 0, 1)
    assert c.parameters == (b, a, w[2], c_, w[0], w[1])


def test_parameters_update_after_append():
    t, s = Parameter("t"), Parameter("s")
    c = Circuit(1).rx(t, 0)
    assert c.parameters == (t,)
    c.ry(s, 0)
    assert c.parameters == (t, s)
    assert c.num_parameters == 2


def test_constant_angles_are_not_parameters():
    c = Circuit(1).rx(0.3, 0).ry(np.float64(0.2), 0)
    assert c.parameters == () and c.num_parameters == 0


# -- structure ----------------------------------------------------------------------------------

def _random_qiskit_pair(seed: int, n: int, size: int):
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(seed)
    ours, ref = Circuit(n), QuantumCircuit(n)
    for _ in range(size):
        kind = rng.integers(5)
        if kind == 0:
            q = int(rng.integers(n))
            ours.h(q)
            ref.h(q)
        elif kind == 1:
            a, b = (int(x) for x in rng.choice(n, 2, replace=False))
            ours.cx(a, b)
            ref.cx(a, b)
        elif kind == 2:
            q = int(rng.integers(n))
            ours.rz(0.1, q)
            ref.rz(0.1, q)
        elif kind == 3 and n >= 3:
            a, b, c = (int(x) for x in rng.choice(n, 3, replace=False))
            ours.ccx(a, b, c)
            ref.ccx(a, b, c)
        else:
            qs = sorted(int(x) for x in rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
            ours.barrier(qs)
            ref.barrier(qs)
    return ours, ref


@pytest.mark.parametrize("seed", range(6))
def test_depth_matches_qiskit(seed):
    ours, ref = _random_qiskit_pair(seed, n=2 + seed % 4, size=4 + 3 * seed)
    assert ours.depth() == ref.depth()


def test_depth_and_count_ops_small():
    c = Circuit(3).h(0).cx(0, 1).barrier().h(2).rz(0.3, 1).cx(1, 2)
    assert c.depth() == 4  # h | cx | rz | cx on qubit 1's path; the barrier is not a layer
    assert c.count_ops() == {"h": 2, "cx": 2, "barrier": 1, "rz": 1}
    assert list(c.count_ops()) == ["h", "cx", "barrier", "rz"]  # order of first appearance
    assert Circuit(3).depth() == 0
    assert len(Circuit(3)) == 0


def test_builders_chain_and_accept_qubit_lists():
    c = Circuit(3)
    assert c.h([0, 1, 2]) is c
    assert c.count_ops() == {"h": 3}
    assert [op.qubits for op in c] == [(0,), (1,), (2,)]


def test_ops_are_immutable_views():
    c = Circuit(2).h(0)
    ops = c.ops
    assert isinstance(ops, tuple)
    assert c[0].name == "h" and c[0].qubits == (0,)


# -- compose / inverse / assign -------------------------------------------------------------------

def test_compose_places_other_on_qubits():
    t = Parameter("t")
    a = Circuit(3).h(0)
    b = Circuit(2).rx(t, 0).cx(0, 1)
    c = a.compose(b, [2, 0])
    assert [(op.name, op.qubits) for op in c] == [("h", (0,)), ("rx", (2,)), ("cx", (2, 0))]
    assert len(a) == 1 and len(b) == 2, "compose returns a new circuit"
    assert c.parameters == (t,)
    d = a.compose(b)
    assert [op.qubits for op in d] == [(0,), (0,), (0, 1)]


def test_compose_rejects_a_wrong_qubit_count():
    with pytest.raises(qdiff.QubitError, match="2 qubit"):
        Circuit(3).compose(Circuit(2).h(0), [1])
    with pytest.raises(qdiff.QubitError, match="out of range"):
        Circuit(1).compose(Circuit(2).cx(0, 1))


def test_compose_rejects_repeated_target_qubits():
    # two single-qubit gates would otherwise silently land on one qubit
    with pytest.raises(qdiff.QubitError, match="repeated"):
        Circuit(2).compose(Circuit(2).h(0).x(1), [0, 0])


def test_compose_adds_global_phases():
    c = Circuit(1, global_phase=0.25).compose(Circuit(1, global_phase=0.5))
    assert c.global_phase == 0.75


def test_compose_matches_qiskit_statevector():
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    a = Circuit(3).h(0).cx(0, 1)
    b = Circuit(2).ry(0.4, 0).cz(0, 1).sx(1)
    qa = QuantumCircuit(3)
    qa.h(0)
    qa.cx(0, 1)
    qb = QuantumCircuit(2)
    qb.ry(0.4, 0)
    qb.cz(0, 1)
    qb.sx(1)
    ref = qa.compose(qb, [2, 0])
    np.testing.assert_allclose(qdiff.state(a.compose(b, [2, 0])).numpy(), Statevector(ref).data, atol=1e-12)


def _everything_circuit():
    w = ParameterVector("w", 8)
    rng = np.random.default_rng(3)
    from scipy.stats import unitary_group

    c = Circuit(4, global_phase=0.4)
    c.h(0).s(1).sdg(2).t(3).tdg(0).sx(1).sxdg(2).x(3).y(0).z(1).id(2)
    c.rx(2 * w[0] + 0.1, 0).ry(w[1] - w[2], 1).rz(-w[3], 2).p(w[4] / 3, 3).u(w[5], w[6], w[7], 0)
    c.cx(0, 3).cy(3, 1).cz(1, 2).ch(2, 0).swap(0, 2).iswap(1, 3)
    c.crx(w[0], 3, 0).cry(w[1], 0, 2).crz(w[2], 1, 3).cp(w[3], 2, 1)
    c.rxx(w[4], 0, 1).ryy(w[5], 3, 2).rzz(w[6], 1, 3).rzx(w[7], 2, 0)
    c.barrier().ccx(0, 1, 2).cswap(3, 0, 1).mcx([0, 2, 3], 1)
    c.pauli_rot("XIYZ", [3, 1, 0, 2], w[0] - w[1]).unitary(unitary_group.rvs(4, random_state=rng), [2, 0])
    return c, w


def test_circuit_inverse_undoes_the_circuit():
    c, w = _everything_circuit()
    values = torch.tensor(np.random.default_rng(1).uniform(-3, 3, (3, c.num_parameters)))
    out = qdiff.state(c.compose(c.inverse()), values)
    expected = torch.zeros_like(out)
    expected[:, 0] = 1
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-12)
    assert len(c.inverse()) == len(c) and c.inverse().global_phase == -c.global_phase


def test_inverse_matches_qiskit_inverse():
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Operator

    c = Circuit(2, global_phase=0.3).u(0.1, 0.2, 0.3, 0).iswap(0, 1).s(1).crz(0.7, 1, 0)
    q = QuantumCircuit(2, global_phase=0.3)
    q.u(0.1, 0.2, 0.3, 0)
    q.iswap(0, 1)
    q.s(1)
    q.crz(0.7, 1, 0)
    states = qdiff.state(c.inverse(), initial_state=torch.eye(4, dtype=torch.complex128)).numpy().T
    np.testing.assert_allclose(states, Operator(q.inverse()).data, atol=1e-12)
    assert c.inverse().global_phase == -0.3
    assert [op.name for op in c.inverse()][1:] == ["sdg", "iswap_dg", "u"]


def test_assign_replaces_parameters():
    t, s = Parameter("t"), Parameter("s")
    c = Circuit(2).rx(2 * t + 0.1, 0).ry(s - t, 1)
    bound = c.assign({t: 0.5})
    assert bound.parameters == (s,)
    assert c.parameters == (t, s), "assign returns a new circuit"
    full = c.assign({t: 0.5, s: 0.25})
    assert full.num_parameters == 0
    np.testing.assert_allclose(qdiff.state(full).numpy(), qdiff.state(c, torch.tensor([0.5, 0.25])).numpy(),
                               atol=1e-14)
    u = Parameter("u")
    renamed = c.assign({t: 3 * u})
    assert renamed.parameters == (u, s)
    np.testing.assert_allclose(qdiff.state(renamed, torch.tensor([0.5, 0.25])).numpy(),
                               qdiff.state(c, torch.tensor([1.5, 0.25])).numpy(), atol=1e-14)


def test_assign_with_parameter_vector_keys():
    w = ParameterVector("w", 3)
    t = Parameter("t")
    c = Circuit(2).rx(w[0], 0).ry(w[1] + t, 1).rz(-w[2], 0)
    bound = c.assign({w: [0.1, 0.2, 0.3]})
    assert bound.parameters == (t,)
    np.testing.assert_allclose(qdiff.state(bound, torch.tensor([0.4])).numpy(),
                               qdiff.state(c, torch.tensor([0.1, 0.2, 0.4, 0.3])).numpy(), atol=1e-14)


def test_assign_rejects_bad_keys():
    w = ParameterVector("w", 2)
    c = Circuit(1).rx(w[0], 0).ry(w[1], 0)
    with pytest.raises(qdiff.ParameterError, match=r"\['stranger'\] are not in the circuit"):
        c.assign({Parameter("stranger"): 1.0})
    with pytest.raises(qdiff.ParameterError, match="needs 2 values, got 1"):
        c.assign({w: [1.0]})
    with pytest.raises(qdiff.ParameterError, match="Parameters or ParameterVectors"):
        c.assign({"w[0]": 1.0})


# -- identity -------------------------------------------------------------------------------------

def test_equality_and_hashing():
    t = Parameter("t")
    a = Circuit(2).h(0).rx(2 * t, 1)
    b = Circuit(2).h(0).rx(t * 2, 1)
    assert a == b and hash(a) == hash(b)
    assert a != Circuit(2).h(0).rx(t, 1)
    assert a != Circuit(2).h(0).rx(2 * Parameter("t"), 1)
    assert a != Circuit(3).h(0).rx(2 * t, 1)
    assert Circuit(1, global_phase=0.1) != Circuit(1)
    assert Circuit(2).cx(0, 1) != Circuit(2).cx(1, 0)
    assert len({a, b, Circuit(2)}) == 2


def test_hash_freezes_the_circuit():
    c = Circuit(2).h(0)
    {c: 1}
    with pytest.raises(qdiff.QdiffError, match="frozen"):
        c.cx(0, 1)
    with pytest.raises(qdiff.QdiffError, match="copy"):
        c.append("x", [0])
    assert len(c) == 1, "a refused append changes nothing"
    editable = c.copy()
    editable.cx(0, 1)
    assert len(editable) == 2 and editable != c


# -- PauliSum -------------------------------------------------------------------------------------

def test_pauli_products():
    assert X(0) @ Y(0) == 1j * Z(0)
    assert Y(0) @ X(0) == -1j * Z(0)
    assert Y(1) @ Z(1) == 1j * X(1)
    assert Z(0) @ X(0) == 1j * Y(0)
    assert X(0) @ X(0) == qdiff.I()
    assert (X(0) @ Z(1)) @ (Y(0) @ Z(1)) == 1j * Z(0)
    assert X(0) @ Y(0) != Z(0)


def test_pauli_sum_algebra_matches_matrices():
    a = 0.5 * Z(0) @ Z(1) - X(0) + 2 * qdiff.I() + Y(2) / 4
    b = X(1) @ Y(2) - 0.3 * Z(0)
    ma, mb = a.to_matrix(num_qubits=3), b.to_matrix(num_qubits=3)
    np.testing.assert_allclose((a @ b).to_matrix(num_qubits=3), ma @ mb, atol=1e-14)
    np.testing.assert_allclose((a + b).to_matrix(num_qubits=3), ma + mb, atol=1e-14)
    np.testing.assert_allclose((a - b).to_matrix(num_qubits=3), ma - mb, atol=1e-14)
    np.testing.assert_allclose((3 - a).to_matrix(num_qubits=3), 3 * np.eye(8) - ma, atol=1e-14)
    assert a.num_qubits == 3 and len(a) == 4


def test_from_list_uses_qiskit_convention():
    from qiskit.quantum_info import SparsePauliOp

    pairs = [("XZY", 0.5), ("IYI", 1.0), ("ZZI", -0.3), ("III", 0.2), ("YIX", 0.7)]
    ours = PauliSum.from_list(pairs)
    np.testing.assert_allclose(ours.to_matrix(), SparsePauliOp.from_list(pairs).to_matrix(), atol=1e-14)
    assert PauliSum.from_list([("XZ", 0.5)]) == 0.5 * X(1) @ Z(0)
    assert ours.num_qubits == 3
    assert PauliSum.from_list(ours.to_list()) == ours
    assert dict(ours.to_list()) == {label: complex(c) for label, c in pairs}


def test_to_list_round_trips_through_qiskit():
    from qiskit.quantum_info import SparsePauliOp

    h = 0.5 * Z(0) @ Z(2) - X(1) + 0.25 * Y(0) @ X(3)
    np.testing.assert_allclose(SparsePauliOp.from_list(h.to_list()).to_matrix(), h.to_matrix(), atol=1e-14)
    assert all(len(label) == 4 for label, _ in h.to_list())
    assert all(len(label) == 6 for label, _ in h.to_list(6))


def test_to_matrix_sparse_and_dense_agree():
    import scipy.sparse

    h = PauliSum.from_list([("XYZI", 0.3), ("IIZZ", -1.0), ("YYII", 0.5j), ("IIII", 2.0)])
    sparse = h.to_matrix(sparse=True)
    assert scipy.sparse.issparse(sparse)
    np.testing.assert_allclose(sparse.toarray(), h.to_matrix(), atol=0)
    assert PauliSum().to_matrix(num_qubits=2).shape == (4, 4)
    assert not PauliSum().to_matrix(num_qubits=2).any()


def test_hermiticity():
    assert (X(0) + 0.5 * Z(1)).is_hermitian()
    assert not (1j * Z(0)).is_hermitian()
    assert (1j * X(0) @ Y(0)).is_hermitian()  # = -Z(0)
    with pytest.raises(qdiff.ObservableError, match="not Hermitian"):
        (X(0) + 1j * Z(1)).check_hermitian()
    m = (X(0) + 1j * Z(1)).adjoint().to_matrix()
    np.testing.assert_allclose(m, (X(0) + 1j * Z(1)).to_matrix().conj().T, atol=0)


def test_pauli_sum_bad_input():
    with pytest.raises(qdiff.ObservableError, match="I, X, Y, Z"):
        PauliSum.from_list([("XA", 1.0)])
    with pytest.raises(qdiff.ObservableError, match="non-negative int"):
        X(-1)
    with pytest.raises(qdiff.ObservableError, match="use @"):
        X(0) * Z(1)
