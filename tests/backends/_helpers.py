"""Small circuits shared by the backend tests."""

from __future__ import annotations

import torch

import qdiff


def mixed_circuit() -> qdiff.Circuit:
    """3 qubits, 3 parameters, shared and affine angles, a composite ``u``, controlled and
    two-qubit rotations, a constant rotation and a global phase."""
    a, b, c = qdiff.Parameter("t_10"), qdiff.Parameter("t_2"), qdiff.Parameter("a")
    circuit = qdiff.Circuit(3, global_phase=0.4).h(0).ry(a, 1).cx(0, 1).crz(2 * b + 0.3, 1, 2)
    return circuit.u(a, b, c, 2).rzz(c - a, 0, 2).p(0.2, 1).rx(b, 0).pauli_rot("XY", (1, 2), a)


OBSERVABLES = [qdiff.Z(0) @ qdiff.X(2), qdiff.Y(1) + 0.5 * qdiff.Z(2), qdiff.X(0) @ qdiff.Z(1) - qdiff.Z(0)]


def values(batch: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, generator=g, dtype=torch.float64) * 3 - 1.5
