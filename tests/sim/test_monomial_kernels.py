"""The numba chunk gather behind permutation gates (x, cx, swap, ccx, cy, iswap...) on large CPU
states: it runs (serial and threaded), and it agrees with the torch gather and with an independent
numpy index map, with and without phases, in both dtypes, forward and backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qdiff.sim import monomial as monomial_module
from qdiff.sim.monomial import MonomialPlan, apply_monomial

from ._helpers import count_kernel_calls

pytest.importorskip("numba")

N_QUBITS = 13  # 8192 amplitudes a row: past the one gather of small states (monomial._SMALL)


def count_numba_calls(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    return count_kernel_calls(monkeypatch, "monomial_kernels", ("gather_chunks", "gather_chunks_threads"))


def random_plan(rng: np.random.Generator, qubits: tuple[int, ...], phased: bool) -> MonomialPlan:
    d = 1 << len(qubits)
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, d)) if phased else np.ones(d)
    return MonomialPlan(rng.permutation(d), phases, qubits, N_QUBITS)


def numpy_monomial(state: np.ndarray, plan: MonomialPlan) -> np.ndarray:
    """``new[perm[l]] = phases[l] old[l]`` on the local index ``l`` of every amplitude."""
    j = np.arange(state.shape[-1])
    local = sum(((j >> q) & 1) << i for i, q in enumerate(plan.qubits))
    moved = plan.perm[local]
    target = j.copy()
    for i, q in enumerate(plan.qubits):
        target = (target & ~(1 << q)) | (((moved >> i) & 1) << q)
    out = np.empty_like(state)
    out[:, target] = state * plan.phases[local]
    return out


QUBITS = [(0,), (0, N_QUBITS - 1), (3, 10), (1, 5), (0, 4, 11), (2, 6, 7), (5, 12), (3, 10, 12), (0, 11, 12)]
"""Lowest target below ``monomial._WIDE_BITS`` (above it whole rows move: ``index_select``); up to
two at or above ``_GATHER_BITS`` (10), which pick the row of the gather table."""


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("qubits", QUBITS)
@pytest.mark.parametrize("phased", [False, True])
@pytest.mark.parametrize("rows", [1, 9])
def test_chunk_gather_matches_torch_gather_and_numpy(qubits, phased, rows, dtype, monkeypatch):
    rng = np.random.default_rng(len(qubits) * 100 + qubits[-1] + rows)
    plan = random_plan(rng, qubits, phased)
    state = torch.randn(rows, 1 << N_QUBITS, dtype=dtype, generator=torch.Generator().manual_seed(rows))
    calls = count_numba_calls(monkeypatch)
    got = apply_monomial(state, plan)
    threads = rows * state.shape[1] >= monomial_module._CHUNK_THREADS_MIN
    assert calls == ["gather_chunks_threads" if threads else "gather_chunks"]
    assert got.dtype == dtype and got.shape == state.shape
    monkeypatch.setattr(monomial_module, "kernels", lambda name: None)
    torch_gather = apply_monomial(state, plan)
    assert calls == ["gather_chunks_threads" if threads else "gather_chunks"]  # the torch path ran
    tol = 1e-6 if dtype == torch.complex64 else 1e-14
    torch.testing.assert_close(got, torch_gather, atol=tol, rtol=0)
    expected = numpy_monomial(state.numpy().astype(complex), plan)
    torch.testing.assert_close(got, torch.as_tensor(expected).to(dtype), atol=tol, rtol=0)


def test_chunk_gather_reads_conjugate_views_and_leaves_the_input_alone(monkeypatch):
    plan = random_plan(np.random.default_rng(3), (0, 7), phased=True)
    state = torch.randn(2, 1 << N_QUBITS, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    before = state.clone()
    calls = count_numba_calls(monkeypatch)
    got = apply_monomial(state.conj(), plan)
    assert calls == ["gather_chunks"]
    torch.testing.assert_close(got, torch.as_tensor(numpy_monomial(state.numpy().conj(), plan)), atol=1e-14, rtol=0)
    assert torch.equal(state, before)


def test_chunk_gather_backward_is_the_inverse_monomial(monkeypatch):
    plan = random_plan(np.random.default_rng(5), (1, 4, 10), phased=True)
    g = torch.Generator().manual_seed(1)
    state = torch.randn(3, 1 << N_QUBITS, dtype=torch.complex128, generator=g)
    weights = torch.randn(3, 1 << N_QUBITS, dtype=torch.complex128, generator=g)

    def gradient() -> torch.Tensor:
        x = state.clone().requires_grad_()
        (apply_monomial(x, plan) * weights).real.sum().backward()
        return x.grad

    calls = count_numba_calls(monkeypatch)
    got = gradient()
    assert calls == ["gather_chunks", "gather_chunks"]  # forward, and the inverse in the backward
    monkeypatch.setattr(monomial_module, "kernels", lambda name: None)
    torch.testing.assert_close(got, gradient(), atol=1e-14, rtol=0)


@pytest.mark.parametrize("num_qubits", [6, 9])
def test_chunk_gather_of_a_batch_of_small_rows(num_qubits, monkeypatch):
    """Rows narrower than one chunk (2**10): the chunk is the row, the table one row."""
    rng = np.random.default_rng(num_qubits)
    d = 8
    plan = MonomialPlan(rng.permutation(d), np.exp(1j * rng.uniform(0, 6, d)), (0, 2, num_qubits - 1), num_qubits)
    rows = 2 * (monomial_module._SMALL >> num_qubits) + 1
    state = torch.randn(rows, 1 << num_qubits, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    calls = count_numba_calls(monkeypatch)
    got = apply_monomial(state, plan)
    assert len(calls) == 1
    torch.testing.assert_close(got, torch.as_tensor(numpy_monomial(state.numpy(), plan)), atol=1e-14, rtol=0)
