"""Every gate's matrix equals Qiskit's exactly (little-endian, same argument order).

For each gate we build a one-gate qdiff circuit and a one-gate Qiskit circuit with the same
random angles and compare three matrices with ``qiskit.quantum_info.Operator``: the spec's
``matrix``, the circuit simulated on every basis state (one batched ``qdiff.state`` call), and the
same gate placed on shuffled qubits of a wider register (which exercises the simulator's
qubit sorting and the kernels' scattered-qubit paths).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit.library import PauliEvolutionGate
from qiskit.quantum_info import Operator, Pauli
from scipy.stats import unitary_group

import qdiff
from qdiff.ir import mcx_spec, pauli_rot_spec, unitary_spec

ATOL = 1e-12
PAULI_STRINGS = ["X", "Y", "Z", "XY", "ZZ", "IX", "YI", "XYZ", "IZI", "ZIX", "YYXZ"]


def _angles(seed: int, count: int) -> list[float]:
    return list(np.random.default_rng(seed).uniform(-2 * np.pi, 2 * np.pi, count))


def _qdiff_unitary(circuit: qdiff.Circuit, dtype: torch.dtype = torch.complex128) -> np.ndarray:
    """The circuit's matrix: column j is the state reached from basis state |j> (one batch)."""
    dim = 2**circuit.num_qubits
    basis = torch.eye(dim, dtype=dtype)
    states = qdiff.state(circuit, initial_state=basis, dtype=dtype)  # row j = U|j>
    return states.numpy().T


def _pair(name: str, angles: list[float], qubits: list[int], n: int) -> tuple[qdiff.Circuit, QuantumCircuit]:
    """The same gate as a qdiff circuit and a Qiskit circuit (the builders share names and order)."""
    ours = getattr(qdiff.Circuit(n), name)(*angles, *qubits)
    ref = QuantumCircuit(n)
    getattr(ref, name)(*angles, *qubits)
    return ours, ref


def _placement(k: int, n: int, seed: int) -> list[int]:
    return [int(q) for q in np.random.default_rng(seed).permutation(n)[:k]]


@pytest.mark.parametrize("name", sorted(qdiff.GATES))
def test_named_gate_matches_qiskit(name):
    spec = qdiff.GATES[name]
    angles = _angles(zlib.crc32(name.encode()), spec.num_params)
    k = spec.num_qubits
    ours, ref = _pair(name, angles, list(range(k)), k)
    expected = Operator(ref).data
    np.testing.assert_allclose(spec.matrix(*angles), expected, atol=ATOL, err_msg=f"{name}: spec.matrix")
    np.testing.assert_allclose(_qdiff_unitary(ours), expected, atol=ATOL, err_msg=f"{name}: simulated")


@pytest.mark.parametrize("name", sorted(qdiff.GATES))
@pytest.mark.parametrize("seed", [1, 2])
def test_named_gate_on_shuffled_qubits_matches_qiskit(name, seed):
    spec = qdiff.GATES[name]
    n = spec.num_qubits + 1
    qubits = _placement(spec.num_qubits, n, seed)
    angles = _angles(seed, spec.num_params)
    ours, ref = _pair(name, angles, qubits, n)
    np.testing.assert_allclose(_qdiff_unitary(ours), Operator(ref).data, atol=ATOL,
                               err_msg=f"{name} on {qubits} of {n}")
    np.testing.assert_allclose(_qdiff_unitary(ours, torch.complex64), Operator(ref).data, atol=1e-6,
                               err_msg=f"{name} on {qubits} of {n} (complex64)")


@pytest.mark.parametrize("num_controls", [3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_mcx_matches_qiskit(num_controls, seed):
    n = num_controls + 1 + seed  # once exactly as wide as the gate, once with a spare qubit
    placed = _placement(num_controls + 1, n, seed)
    controls, target = placed[:-1], placed[-1]
    ours = qdiff.Circuit(n).mcx(controls, target)
    ref = QuantumCircuit(n)
    ref.mcx(controls, target)
    np.testing.assert_allclose(_qdiff_unitary(ours), Operator(ref).data, atol=1e-10)
    assert ours[0].spec.num_controls == num_controls


def test_mcx_spec_matrix_matches_qiskit():
    for nc in (3, 4):
        ref = QuantumCircuit(nc + 1)
        ref.mcx(list(range(nc)), nc)
        np.testing.assert_allclose(mcx_spec(nc).matrix(), Operator(ref).data, atol=1e-10)


@pytest.mark.parametrize("label", PAULI_STRINGS)
def test_pauli_rot_matches_qiskit_pauli_evolution(label):
    k = len(label)
    n = k + 1
    angle = _angles(len(label) + 17, 1)[0]
    qubits = _placement(k, n, seed=k)
    ours = qdiff.Circuit(n).pauli_rot(label, qubits, angle)
    ref = QuantumCircuit(n)
    # qdiff: letter i acts on qubits[i]; Qiskit's Pauli label has its rightmost letter on qubit 0
    ref.append(PauliEvolutionGate(Pauli(label[::-1]), time=angle / 2), qubits)
    expected = Operator(ref).data
    np.testing.assert_allclose(_qdiff_unitary(ours), expected, atol=ATOL, err_msg=label)

    local = QuantumCircuit(k)
    local.append(PauliEvolutionGate(Pauli(label[::-1]), time=angle / 2), range(k))
    np.testing.assert_allclose(pauli_rot_spec(label).matrix(angle), Operator(local).data, atol=ATOL)


def test_pauli_rot_letter_order_is_the_listed_qubit_order():
    """pauli_rot("XZ", (a, b), t): X on a, Z on b; so swapping the qubits swaps the letters."""
    t = 0.83
    a = qdiff.Circuit(3).pauli_rot("XZ", (2, 0), t)
    b = qdiff.Circuit(3).pauli_rot("ZX", (0, 2), t)
    c = qdiff.Circuit(3).pauli_rot("XZ", (0, 2), t)
    np.testing.assert_allclose(_qdiff_unitary(a), _qdiff_unitary(b), atol=ATOL)
    assert np.abs(_qdiff_unitary(a) - _qdiff_unitary(c)).max() > 0.1


@pytest.mark.parametrize("k", [1, 2, 3])
def test_unitary_gate_matches_qiskit(k):
    matrix = unitary_group.rvs(2**k, random_state=k)
    n = k + 1
    qubits = _placement(k, n, seed=k + 5)
    ours = qdiff.Circuit(n).unitary(matrix, qubits)
    ref = QuantumCircuit(n)
    ref.unitary(matrix, qubits)
    np.testing.assert_allclose(_qdiff_unitary(ours), Operator(ref).data, atol=1e-10)
    np.testing.assert_allclose(unitary_spec(matrix).matrix(), matrix, atol=0)


def test_gate_matrix_accepts_batched_torch_angles():
    """spec.matrix with a batch of torch angles equals the per-angle Qiskit matrices."""
    angles = torch.tensor(_angles(3, 4), dtype=torch.float64)
    for name in ("rx", "crz", "rzx", "p"):
        batch = qdiff.GATES[name].matrix(angles)
        assert isinstance(batch, torch.Tensor) and batch.shape == (4,) + (2 ** qdiff.GATES[name].num_qubits,) * 2
        for i, a in enumerate(angles.tolist()):
            _, ref = _pair(name, [a], list(range(qdiff.GATES[name].num_qubits)), qdiff.GATES[name].num_qubits)
            np.testing.assert_allclose(batch[i].numpy(), Operator(ref).data, atol=ATOL)


def test_gate_library_covers_the_documented_gates():
    documented = ("id x y z h s sdg t tdg sx sxdg rx ry rz p u cx cy cz ch swap iswap crx cry crz cp "
                  "rxx ryy rzz rzx ccx cswap").split()
    assert set(documented) <= set(qdiff.GATES), sorted(set(documented) - set(qdiff.GATES))
    for name, spec in qdiff.GATES.items():
        assert spec.name == name
        assert spec.qiskit_name == name, "qdiff names follow Qiskit's"
