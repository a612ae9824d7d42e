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


WIDE = 13  # past NUMBA_MAX_QUBITS: the chunked kernel, chunks of 2**10 with 3 high bits


def wide_observable(n: int) -> qdiff.PauliSum:
    """Z strings on low, high and straddling qubits, X/Y flips of low and high bits, complex
    phases from Y, several terms per flip group, and a constant."""
    return (sum((qdiff.Z(q) @ qdiff.Z(q + 1) for q in range(n - 1)), 0.3 * qdiff.I())
            + sum(0.1 * (q + 1) * qdiff.X(q) for q in range(0, n, 3))
            + 0.7 * qdiff.Y(0) @ qdiff.Y(n - 1) - 0.4 * qdiff.X(0) @ qdiff.X(n - 1) @ qdiff.Z(5)
            + 0.25 * qdiff.X(2) @ qdiff.Z(10) @ qdiff.Y(n - 2) + 0.6 * qdiff.Z(n - 1) @ qdiff.Z(n - 3))


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("threads", [True, False])
def test_wide_kernel_matches_torch_term_by_term(rows, dtype, threads, monkeypatch):
    groups = pauli_module.group_terms(wide_observable(WIDE))
    state = random_states(rows, dtype, WIDE)
    calls = count_kernel_calls(monkeypatch, "pauli_kernels", ("o_psi_wide", "o_psi_wide_threads"))
    monkeypatch.setattr(pauli_module, "owns_thread_pool", lambda: threads)
    with torch.no_grad():
        values = pauli_module.expectation(state, groups, WIDE)
    tracked = state.clone().requires_grad_(True)
    kept = pauli_module.expectation(tracked, groups, WIDE)
    (grad,) = torch.autograd.grad(kept.sum(), tracked)
    assert calls == ["o_psi_wide_threads" if threads else "o_psi_wide"] * 2
    want_o_psi = pauli_module.apply_pauli_sum(state.to(torch.complex128), groups, WIDE)  # signs, then flips
    want = pauli_module.real_inner(state.to(torch.complex128), want_o_psi)
    tol = 1e-5 if dtype == torch.complex64 else 1e-12
    torch.testing.assert_close(values.double(), want, atol=tol, rtol=0)
    torch.testing.assert_close(kept.detach().double(), want, atol=tol, rtol=0)
    torch.testing.assert_close(grad.to(torch.complex128), 2 * want_o_psi, atol=tol, rtol=0)


def test_wide_expval_matches_qiskit():
    qiskit_info = pytest.importorskip("qiskit.quantum_info")
    from qdiff.interop import to_qiskit

    c = qdiff.Circuit(WIDE)
    for q in range(WIDE):
        c.ry(0.3 + 0.1 * q, q).rz(0.2 * q, q)
    for q in range(WIDE - 1):
        c.cx(q, q + 1)
    c.rx(0.4, 0).ry(0.5, WIDE - 1)
    observable = wide_observable(WIDE)
    got = qdiff.expval(c, observable)
    state = qiskit_info.Statevector(to_qiskit(c))
    want = state.expectation_value(qiskit_info.SparsePauliOp.from_list(observable.to_list())).real
    assert abs(float(got) - want) < 1e-10
