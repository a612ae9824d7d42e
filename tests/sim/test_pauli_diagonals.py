"""Each Pauli group's cached Z diagonal is built once per observable, however many groups it has
(a per-group cache of 64 entries rebuilt all 84 of LiH's at every call)."""

from __future__ import annotations

import itertools

import torch

import qdiff
from qdiff.sim import pauli as pauli_module


def test_an_observable_of_many_groups_builds_its_diagonals_once(monkeypatch):
    n = 12
    flips = list(itertools.combinations(range(n), 2))[:70]  # 70 X-parts (each a group), with Z terms
    observable = sum((qdiff.X(a) @ qdiff.X(b) @ qdiff.Z((b + 1) % n) for a, b in flips), qdiff.Z(0))
    groups = pauli_module.group_terms(observable)
    assert len(groups) > 64
    built = []
    original = pauli_module._group_diagonal
    monkeypatch.setattr(pauli_module, "_group_diagonal", lambda *args: built.append(1) or original(*args))
    pauli_module._group_diagonals.cache_clear()
    state = torch.randn(1, 1 << n, dtype=torch.complex128)
    state = state / state.norm()
    first = pauli_module._apply_groups(state, groups, n)
    assert len(built) == len(groups)
    second = pauli_module._apply_groups(state, groups, n)
    assert len(built) == len(groups)  # nothing rebuilt
    torch.testing.assert_close(first, second)
    dense = torch.as_tensor(observable.to_matrix(sparse=False, num_qubits=n), dtype=torch.complex128)
    torch.testing.assert_close(first[0], dense @ state[0], atol=1e-10, rtol=0)
