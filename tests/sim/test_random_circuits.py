"""The torch simulator against ``qiskit.quantum_info.Statevector`` on seeded random circuits.

Circuits draw from the whole gate set (every named gate, ``mcx``, ``pauli_rot``, ``unitary``,
barriers), on 1 to 6 qubits, with angles that are numbers, parameters or affine expressions of
them, and sometimes a global phase. Each is run batched; every batch row must equal Qiskit's
statevector for the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit.library import PauliEvolutionGate
from qiskit.quantum_info import Pauli, SparsePauliOp, Statevector
from scipy.stats import unitary_group

import qdiff
from qdiff import Circuit, Parameter, ParameterVector, PauliSum

SEEDS = range(40)
BATCH = 3


def _random_angle(rng: np.random.Generator, pool: list[Parameter]):
    kind = rng.integers(6)
    a, b = (pool[int(i)] for i in rng.choice(len(pool), 2, replace=False))
    c = float(rng.uniform(-2, 2))
    return [c, a, 2 * a + 0.1, a - b, -a, a / 3 + c * b - 0.7][kind]


def random_circuit(seed: int) -> tuple[Circuit, list[Parameter]]:
    """A random circuit over the whole gate set and the parameters it may use."""
    rng = np.random.default_rng(seed)
    n = 1 + seed % 6
    w = ParameterVector("w", 3)
    pool = [*w, Parameter("theta"), Parameter("phi")]
    phase = float(rng.uniform(-3, 3)) if seed % 3 == 0 else 0.0
    c = Circuit(n, global_phase=phase)
    kinds = [name for name, spec in qdiff.GATES.items() if spec.num_qubits <= n]
    kinds += ["pauli_rot", "unitary", "monomial", "diagonal", "barrier"] + (["mcx"] if n >= 4 else [])
    for _ in range(int(rng.integers(5, 25))):
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "pauli_rot":
            k = int(rng.integers(1, n + 1))
            label = "".join(rng.choice(list("IXYZ"), k))
            c.pauli_rot(label, [int(q) for q in rng.choice(n, k, replace=False)], _random_angle(rng, pool))
        elif kind == "unitary":
            k = int(rng.integers(1, min(n, 3) + 1))
            c.unitary(unitary_group.rvs(2**k, random_state=rng), [int(q) for q in rng.choice(n, k, replace=False)])
        elif kind in ("monomial", "diagonal"):  # user unitaries that take the sparse kernel paths
            k = int(rng.integers(1, min(n, 3) + 1))
            phases = np.exp(1j * rng.uniform(-np.pi, np.pi, 2**k))
            perm = rng.permutation(2**k) if kind == "monomial" else np.arange(2**k)
            matrix = np.eye(2**k)[perm] * phases
            c.unitary(matrix, [int(q) for q in rng.choice(n, k, replace=False)], label=kind)
        elif kind == "barrier":
            c.barrier([int(q) for q in rng.choice(n, int(rng.integers(1, n + 1)), replace=False)])
        elif kind == "mcx":
            qs = [int(q) for q in rng.choice(n, int(rng.integers(4, n + 1)), replace=False)]
            c.mcx(qs[:-1], qs[-1])
        else:
            spec = qdiff.GATES[kind]
            qs = [int(q) for q in rng.choice(n, spec.num_qubits, replace=False)]
            getattr(c, kind)(*(_random_angle(rng, pool) for _ in range(spec.num_params)), *qs)
    return c, pool


def to_qiskit(circuit: Circuit, values: dict[Parameter, float]) -> QuantumCircuit:
    """The same circuit as a Qiskit circuit with numeric angles."""
    q = QuantumCircuit(circuit.num_qubits, global_phase=circuit.global_phase)
    for op in circuit:
        angles = [e.evaluate(values) for e in op.params]
        qubits = list(op.qubits)
        if op.name == "barrier":
            q.barrier(qubits)
        elif op.spec.qiskit_name == "unitary":
            q.unitary(op.spec.fixed_matrix, qubits)
        elif op.spec.qiskit_name == "PauliEvolution":
            label = op.name.removeprefix("pauli_rot_")
            q.append(PauliEvolutionGate(Pauli(label[::-1]), time=angles[0] / 2), qubits)
        elif op.name == "mcx":
            q.mcx(qubits[:-1], qubits[-1])
        else:
            getattr(q, op.name)(*angles, *qubits)
    return q


def _values(circuit: Circuit, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(10_000 + seed)
    return torch.tensor(rng.uniform(-np.pi, np.pi, (BATCH, circuit.num_parameters)), dtype=torch.float64)


def _reference_states(circuit: Circuit, values: torch.Tensor) -> list[Statevector]:
    params = circuit.parameters
    return [Statevector(to_qiskit(circuit, dict(zip(params, row.tolist())))) for row in values]


def random_pauli_sum(n: int, rng: np.random.Generator, terms: int = 5) -> PauliSum:
    pairs = [("".join(rng.choice(list("IXYZ"), n)), float(rng.normal())) for _ in range(terms)]
    return PauliSum.from_list(pairs)


def test_generator_covers_the_whole_gate_set():
    seen: set[str] = set()
    for seed in SEEDS:
        c, _ = random_circuit(seed)
        seen |= {("pauli_rot" if op.name.startswith("pauli_rot_") else op.name) for op in c}
    assert set(qdiff.GATES) | {"mcx", "pauli_rot", "unitary", "monomial", "diagonal", "barrier"} <= seen
    assert {random_circuit(s)[0].num_qubits for s in SEEDS} == set(range(1, 7))


@pytest.mark.parametrize("seed", SEEDS)
def test_state_matches_qiskit(seed):
    c, _ = random_circuit(seed)
    values = _values(c, seed)
    expected = np.stack([sv.data for sv in _reference_states(c, values)])
    out = qdiff.state(c, values)
    assert out.dtype == torch.complex128 and out.shape == (BATCH, 2**c.num_qubits)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-10)
    out64 = qdiff.state(c, values.float(), dtype=torch.complex64)
    assert out64.dtype == torch.complex64
    np.testing.assert_allclose(out64.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("seed", SEEDS[::2])
def test_single_unbatched_values_match_qiskit(seed):
    c, _ = random_circuit(seed)
    values = _values(c, seed)[0]
    out = qdiff.state(c, values)
    assert out.shape == (2**c.num_qubits,)
    np.testing.assert_allclose(out.numpy(), _reference_states(c, values[None])[0].data, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_expval_and_var_match_qiskit(seed):
    c, _ = random_circuit(seed)
    n = c.num_qubits
    rng = np.random.default_rng(20_000 + seed)
    observables = [random_pauli_sum(n, rng) for _ in range(3)]
    observables.append(0.7 * qdiff.Z(0) + (qdiff.X(n - 1) @ qdiff.Y(0) if n > 1 else qdiff.Y(0)) - 0.2)
    values = _values(c, seed)
    refs = _reference_states(c, values)
    ev = qdiff.expval(c, observables, values)
    va = qdiff.var(c, observables, values)
    assert ev.shape == va.shape == (BATCH, len(observables)) and ev.dtype == torch.float64
    for b, sv in enumerate(refs):
        psi = sv.data
        for k, o in enumerate(observables):
            op = SparsePauliOp.from_list(o.to_list(n))
            mean = sv.expectation_value(op)
            assert abs(mean.imag) < 1e-10
            assert ev[b, k].item() == pytest.approx(mean.real, abs=1e-10)
            m = op.to_matrix()
            second = np.real(psi.conj() @ m @ m @ psi)
            assert va[b, k].item() == pytest.approx(second - mean.real**2, abs=1e-9)
    single = qdiff.expval(c, observables[0], values)
    assert single.shape == (BATCH,)
    np.testing.assert_allclose(single.numpy(), ev[:, 0].numpy(), atol=1e-14)
    ev64 = qdiff.expval(c, observables, values.float(), dtype=torch.complex64)
    assert ev64.dtype == torch.float32
    np.testing.assert_allclose(ev64.numpy(), ev.numpy(), atol=2e-4)


@pytest.mark.parametrize("seed", SEEDS)
def test_probs_and_marginals_match_qiskit(seed):
    c, _ = random_circuit(seed)
    n = c.num_qubits
    rng = np.random.default_rng(30_000 + seed)
    values = _values(c, seed)
    refs = _reference_states(c, values)
    full = qdiff.probs(c, values)
    np.testing.assert_allclose(full.numpy(), np.stack([sv.probabilities() for sv in refs]), atol=1e-10)
    subsets = [[int(q) for q in rng.permutation(n)[: int(rng.integers(1, n + 1))]] for _ in range(3)]
    if n >= 3:
        subsets.append([2, 0])
    for qargs in subsets:
        out = qdiff.probs(c, values, qubits=qargs)
        assert out.shape == (BATCH, 2 ** len(qargs))
        expected = np.stack([sv.probabilities(qargs) for sv in refs])
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-10, err_msg=f"qubits={qargs}")


def test_probs_qubit_order_convention():
    """probs(c, v, qubits=[2, 0])[1] is P(q2 = 1, q0 = 0)."""
    c = Circuit(3).x(2)
    p = qdiff.probs(c, qubits=[2, 0])
    assert p.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert qdiff.probs(c, qubits=[0, 2]).tolist() == [0.0, 0.0, 1.0, 0.0]
