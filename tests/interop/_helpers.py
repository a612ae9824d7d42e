"""Seeded random circuits (qdiff and Qiskit) and exact matrix comparisons for the interop tests."""

from __future__ import annotations

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter as QkParameter
from qiskit.circuit.library import (
    GlobalPhaseGate,
    MCXGate,
    PauliEvolutionGate,
    UnitaryGate,
    get_standard_gate_name_mapping,
)
from qiskit.quantum_info import Operator, Pauli
from scipy.stats import unitary_group

import qdiff

ATOL = 1e-10


def qdiff_matrix(circuit: qdiff.Circuit, values: dict[str, float]) -> np.ndarray:
    """The circuit's unitary from qdiff's simulator (global phase included), parameters by name."""
    dim = 2**circuit.num_qubits
    v = torch.tensor([values[p.name] for p in circuit.parameters], dtype=torch.float64)
    states = qdiff.state(circuit, v, initial_state=torch.eye(dim, dtype=torch.complex128))  # row j = U|j>
    return states.numpy().T


def qiskit_matrix(qc: QuantumCircuit, values: dict[str, float]) -> np.ndarray:
    """Qiskit's ``Operator`` of ``qc`` with parameters bound by name."""
    return Operator(qc.assign_parameters({p: values[p.name] for p in qc.parameters})).data


def values_for(names, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {name: float(rng.uniform(-np.pi, np.pi)) for name in names}


def _qdiff_angle(rng: np.random.Generator, params: list[qdiff.Parameter]):
    kind = rng.integers(4)
    if kind == 0:
        return float(rng.uniform(-np.pi, np.pi))
    a, b = (params[int(i)] for i in rng.integers(len(params), size=2))
    if kind == 1:
        return a
    if kind == 2:
        return float(rng.uniform(-2, 2)) * a + float(rng.uniform(-1, 1))
    return a - 0.5 * b + 0.25 if a is not b else 2 * a


def random_qdiff_circuit(seed: int, n: int = 4, length: int = 40) -> qdiff.Circuit:
    """Every gate of qdiff's IR at least once (plus random extras), with affine angles."""
    rng = np.random.default_rng(seed)
    params = list(qdiff.ParameterVector("theta", 3)) + [qdiff.Parameter("t_2"), qdiff.Parameter("t_10")]
    c = qdiff.Circuit(n, global_phase=float(rng.uniform(-np.pi, np.pi)))
    names = list(qdiff.GATES)
    order = names + ["mcx", "pauli_rot", "unitary", "barrier"]
    order += [order[int(i)] for i in rng.integers(len(order), size=max(0, length - len(order)))]
    rng.shuffle(order)
    for name in order:
        if name == "mcx":
            qs = [int(q) for q in rng.permutation(n)]
            c.mcx(qs[:-1], qs[-1])
        elif name == "pauli_rot":
            k = int(rng.integers(1, n + 1))
            letters = "".join(rng.choice(list("IXYZ"), size=k))
            c.pauli_rot(letters, [int(q) for q in rng.permutation(n)[:k]], _qdiff_angle(rng, params))
        elif name == "unitary":
            k = int(rng.integers(1, 3))
            c.unitary(unitary_group.rvs(2**k, random_state=int(rng.integers(1 << 30))),
                      [int(q) for q in rng.permutation(n)[:k]])
        elif name == "barrier":
            c.barrier(*[int(q) for q in rng.permutation(n)[: int(rng.integers(1, n + 1))]])
        else:
            spec = qdiff.GATES[name]
            qs = [int(q) for q in rng.permutation(n)[: spec.num_qubits]]
            c.append(spec, qs, [_qdiff_angle(rng, params) for _ in range(spec.num_params)])
    return c


QISKIT_GATES = ["h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "sxdg", "id", "rx", "ry", "rz", "p", "u",
                "cx", "cy", "cz", "ch", "crx", "cry", "crz", "cp", "swap", "iswap", "rxx", "ryy", "rzz", "rzx",
                "ccx", "cswap"]


def random_qiskit_circuit(seed: int, n: int = 4, length: int = 40) -> QuantumCircuit:
    """Qiskit's versions of qdiff's gates, the exact aliases u3/u1/cu1, MCXGate, PauliEvolutionGate,
    UnitaryGate and GlobalPhaseGate, with affine Qiskit expressions and a global phase."""
    rng = np.random.default_rng(seed)
    params = [QkParameter(name) for name in ("t_10", "t_2", "alpha", "beta")]

    def angle():
        kind = rng.integers(3)
        a, b = (params[int(i)] for i in rng.integers(len(params), size=2))
        if kind == 0:
            return float(rng.uniform(-np.pi, np.pi))
        return a if kind == 1 else float(rng.uniform(-2, 2)) * a - b / 3 + 0.5

    qc = QuantumCircuit(n, global_phase=0.3)
    extras = ["u3", "u1", "cu1", "mcx", "pauli", "unitary", "phase_gate", "barrier"]  # "mcx": MCXGate(n - 1)
    order = QISKIT_GATES + extras
    order += [order[int(i)] for i in rng.integers(len(order), size=max(0, length - len(order)))]
    rng.shuffle(order)
    for name in order:
        perm = [int(q) for q in rng.permutation(n)]
        if name == "mcx":
            qc.append(MCXGate(n - 1), perm)
        elif name == "pauli":
            k = int(rng.integers(1, n + 1))
            label = "".join(rng.choice(list("IXYZ"), size=k))
            qc.append(PauliEvolutionGate(Pauli(label), time=angle()), perm[:k])
        elif name == "unitary":
            qc.append(UnitaryGate(unitary_group.rvs(4, random_state=int(rng.integers(1 << 30)))), perm[:2])
        elif name == "phase_gate":
            qc.append(GlobalPhaseGate(angle()), [])
        elif name == "barrier":
            qc.barrier(perm[:2])
        else:  # a standard gate (u3, u1, cu1 included): Qiskit's class with fresh angles
            template = get_standard_gate_name_mapping()[name]
            gate = template.base_class(*[angle() for _ in template.params])
            qc.append(gate, perm[: gate.num_qubits])
    return qc
