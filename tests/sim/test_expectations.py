"""Several observables at once (``qdiff.expval`` with a list): the diagonal ones come together from
the probabilities and one cached ``(2**n, K)`` matrix, the others one by one, in the caller's order."""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff.sim import pauli as pauli_module


def _circuit(n: int) -> qdiff.Circuit:
    w = qdiff.ParameterVector("w", 3 * n)
    c = qdiff.Circuit(n)
    for q in range(n):
        c.ry(w[q], q).rx(w[n + q], q)
    for q in range(n - 1):
        c.cx(q, q + 1)
    for q in range(n):
        c.rz(w[2 * n + q], q).ry(w[q] * 0.5, q)
    return c


OBSERVABLES = [
    qdiff.Z(0), qdiff.X(1) @ qdiff.Y(2), 0.5 * qdiff.Z(1) @ qdiff.Z(3) - 2.0 * qdiff.I(), qdiff.Z(2),
    qdiff.X(0) + 0.3 * qdiff.Z(3), 1.5 * qdiff.I(), qdiff.Z(0) @ qdiff.Z(1) @ qdiff.Z(2) @ qdiff.Z(3),
]


def _one_by_one(observables, values, dtype):
    return torch.stack([qdiff.expval(_circuit(4), o, values, dtype=dtype) for o in observables], dim=-1)


def _counting(monkeypatch):
    calls = {"expectation": 0, "matrix": 0}
    expectation, matrix = pauli_module.expectation, pauli_module._diagonal_matrix.__wrapped__

    def counted_expectation(*args):
        calls["expectation"] += 1
        return expectation(*args)

    def counted_matrix(*args):
        calls["matrix"] += 1
        return matrix(*args)

    monkeypatch.setattr(pauli_module, "expectation", counted_expectation)
    monkeypatch.setattr(pauli_module, "_diagonal_matrix", pauli_module.lru_cache(maxsize=16)(counted_matrix))
    return calls


@pytest.mark.parametrize("dtype, tol", [(torch.complex128, 1e-12), (torch.complex64, 2e-6)])
def test_a_mixed_list_matches_one_observable_at_a_time(dtype, tol, monkeypatch):
    values = torch.rand(5, 12, dtype=dtype.to_real(), generator=torch.Generator().manual_seed(1), requires_grad=True)
    reference = _one_by_one(OBSERVABLES, values, dtype)
    (reference * torch.arange(1.0, 8.0, dtype=reference.dtype)).sum().backward()
    expected_grad, values.grad = values.grad, None
    calls = _counting(monkeypatch)
    together = qdiff.expval(_circuit(4), OBSERVABLES, values, dtype=dtype)
    assert calls == {"expectation": 2, "matrix": 1}  # X(1)Y(2) and X(0) + 0.3 Z(3) on their own
    torch.testing.assert_close(together, reference, atol=tol, rtol=0)
    (together * torch.arange(1.0, 8.0, dtype=together.dtype)).sum().backward()
    torch.testing.assert_close(values.grad, expected_grad, atol=10 * tol, rtol=0)
    qdiff.expval(_circuit(4), OBSERVABLES, values, dtype=dtype)
    assert calls["matrix"] == 1  # cached for the list


def test_all_diagonal_read_out_takes_no_per_observable_call_and_matches_qiskit(monkeypatch):
    from qiskit.quantum_info import Statevector

    n = 4
    observables = [qdiff.Z(q) for q in range(n)] + [qdiff.Z(0) @ qdiff.Z(3)]
    values = torch.rand(12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    calls = _counting(monkeypatch)
    ours = qdiff.expval(_circuit(n), observables, values)
    assert calls == {"expectation": 0, "matrix": 1}
    state = Statevector(qdiff.state(_circuit(n), values).numpy())
    theirs = [state.expectation_value(qdiff.to_sparse_pauli_op(o, n)).real for o in observables]
    torch.testing.assert_close(ours, torch.tensor(theirs, dtype=torch.float64), atol=1e-12, rtol=0)


def test_a_matrix_past_the_limit_falls_back_to_one_by_one(monkeypatch):
    observables = [qdiff.Z(q) for q in range(4)]
    values = torch.rand(3, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    reference = _one_by_one(observables, values, torch.complex128)
    monkeypatch.setattr(pauli_module, "DIAGONAL_MATRIX_MAX", 4 * 16 - 1)
    calls = _counting(monkeypatch)
    out = qdiff.expval(_circuit(4), observables, values)
    assert calls == {"expectation": 4, "matrix": 0}
    torch.testing.assert_close(out, reference, atol=1e-12, rtol=0)
