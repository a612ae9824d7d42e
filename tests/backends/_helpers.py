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


SIGMAS = 5.0
"""Shot-noise bounds in the tests are this many standard deviations (runs are seeded)."""


def norm1(o: qdiff.PauliSum) -> float:
    """``sum |c_t|`` over the non-identity strings of ``o``: an estimate of ``<o>`` from ``shots``
    measurements per qubit-wise commuting group has a standard deviation of at most this / sqrt(shots)."""
    return sum(abs(c) for key, c in o if key)


def expval_bounds(observables: list[qdiff.PauliSum], shots: int) -> torch.Tensor:
    """``(K,)``: ``SIGMAS`` standard deviations of each observable's estimate from ``shots``."""
    return torch.tensor([SIGMAS * norm1(o) / shots**0.5 for o in observables], dtype=torch.float64)


def var_bounds(observables: list[qdiff.PauliSum], shots: int) -> torch.Tensor:
    """``(K,)`` bounds on a variance estimate ``m2 - m1^2``: ``|error| <= e2 + 2 |m1| e1 + e1^2``
    with ``e1``, ``e2`` the bounds of ``<o>`` and ``<o^2>`` and ``|m1| <= norm1(o)``."""
    e1, e2 = expval_bounds(observables, shots), expval_bounds([o @ o for o in observables], shots)
    n1 = torch.tensor([norm1(o) for o in observables], dtype=torch.float64)
    return e2 + 2 * n1 * e1 + e1**2
