"""The numba ``O psi`` kernel behind small CPU expectation values: it runs, and it agrees with the
torch paths (one gather; group by group) in both dtypes, for one row, a few rows and threaded rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qdiff
from qdiff.sim import jit
from qdiff.sim import pauli as pauli_module

from ._helpers import count_kernel_calls

pytest.importorskip("numba")

OBSERVABLE = (0.7 * qdiff.Z(0) @ qdiff.Z(1) - 0.3 * qdiff.X(2) + 0.2 * qdiff.Y(0) @ qdiff.X(3)
              + 0.5 * qdiff.Y(1) @ qdiff.Y(2) @ qdiff.Z(3) + 0.1 * qdiff.X(0) @ qdiff.X(1))


def random_states(rows: int, dtype: torch.dtype, n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(rows)
    psi = torch.randn(rows, 1 << n, dtype=torch.complex128, generator=g)
    return (psi / psi.norm(dim=1, keepdim=True)).to(dtype)


def count_numba_calls(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    return count_kernel_calls(monkeypatch, "pauli_kernels",
                              ("o_psi", "o_psi_rows", "expectation_values", "expectation_values_rows"))


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("rows", [1, 3, jit.THREADED_MIN_ROWS + 1])
def test_numba_o_psi_matches_both_torch_paths(rows, dtype, monkeypatch):
    groups = pauli_module.group_terms(OBSERVABLE)
    state = random_states(rows, dtype)
    calls = count_numba_calls(monkeypatch)
    got, values = pauli_module._gathered_o_psi(state, groups, 4)
    assert calls == ["o_psi_rows" if rows > jit.THREADED_MIN_ROWS else "o_psi"]
    assert got.dtype == dtype and got.shape == state.shape
    assert values.dtype == dtype.to_real() and values.shape == (rows,)
    monkeypatch.setattr(pauli_module, "_numba_kernels", lambda state, n: None)
    gathered, gathered_values = pauli_module._gathered_o_psi(state, groups, 4)
    grouped = pauli_module._apply_groups(state, groups, 4)
    dense = state @ torch.as_tensor(np.asarray(OBSERVABLE.to_matrix(sparse=False)), dtype=dtype).T
    tol = 1e-5 if dtype == torch.complex64 else 1e-12
    for want in (gathered, grouped, dense):
        torch.testing.assert_close(got, want, atol=tol, rtol=0)
    expected = torch.linalg.vecdot(state, dense).real  # <psi|O|psi> from the dense matrix
    for want in (gathered_values, values):
        torch.testing.assert_close(want, expected, atol=tol, rtol=0)
    monkeypatch.undo()
    calls = count_numba_calls(monkeypatch)
    nothing, alone = pauli_module._gathered_o_psi(state, groups, 4, want_o_psi=False)
    suffix = "_rows" if rows > jit.THREADED_MIN_ROWS else ""
    assert calls == ["expectation_values" + suffix] and nothing is None
    assert alone.dtype == dtype.to_real()
    torch.testing.assert_close(alone, expected, atol=tol, rtol=0)


def test_expectation_without_a_graph_makes_the_values_alone(monkeypatch):
    """No backward can follow (no grad, or a state that does not require it): the kernel that
    writes no ``O psi`` runs; with a graph, the one that keeps it for the backward."""
    groups = pauli_module.group_terms(OBSERVABLE)
    state = random_states(jit.THREADED_MIN_ROWS + 1, torch.complex128)
    calls = count_numba_calls(monkeypatch)
    plain = pauli_module.expectation(state, groups, 4)
    with torch.no_grad():
        pauli_module.expectation(state.clone().requires_grad_(True), groups, 4)
    tracked = pauli_module.expectation(state.clone().requires_grad_(True), groups, 4)
    assert calls == ["expectation_values_rows", "expectation_values_rows", "o_psi_rows"]
    torch.testing.assert_close(plain, tracked.detach(), atol=1e-12, rtol=0)


def test_expectation_and_its_gradient_use_the_kernel_for_a_large_batch(monkeypatch):
    """256 rows at n = 8 are past the torch gather's size limit: the kernel serves the value and
    the backward, equal to the group-by-group torch path."""
    n = 8
    observable = sum((qdiff.Z(q) @ qdiff.Z(q + 1) for q in range(n - 1)), qdiff.X(0) + qdiff.Y(5))
    groups = pauli_module.group_terms(observable)
    state = random_states(256, torch.complex128, n).requires_grad_(True)
    assert 256 * len(groups) * (1 << n) > pauli_module._GATHERED_MAX
    calls = count_numba_calls(monkeypatch)
    energy = pauli_module.expectation(state, groups, n)
    (grad,) = torch.autograd.grad(energy.sum(), state)
    assert calls == ["o_psi_rows"]
    monkeypatch.setattr(pauli_module, "_numba_kernels", lambda state, n: None)
    reference = state.detach().requires_grad_(True)
    want = pauli_module.expectation(reference, groups, n)
    (want_grad,) = torch.autograd.grad(want.sum(), reference)
    torch.testing.assert_close(energy, want, atol=1e-12, rtol=0)
    torch.testing.assert_close(grad, want_grad, atol=1e-12, rtol=0)
