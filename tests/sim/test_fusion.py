"""The fused execution plan (qdiff.sim.fusion / plan / plan_vjp) against the unfused steps.

Fusion must not change any result beyond rounding: states on random circuits over the whole gate
set (every chunk size, shared and per-sample angles, batch-last batches, complex64), and gradients
of the adjoint walk over fused blocks against backprop through the same plan and against finite
differences. The Pauli expectation paths are checked against each other, second derivatives too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qdiff
from qdiff import Circuit, ParameterVector, X, Y, Z
from qdiff.apps.ansatz import hardware_efficient
from qdiff.sim import pauli
from qdiff.sim.fusion import Layer, Merged, Single, segments
from qdiff.sim.plan import TorchPlan
from qdiff.sim.program import compile_circuit
from tests.sim.test_random_circuits import random_circuit

CPU = torch.device("cpu")


def _angles(tp, batch: int, seed: int) -> torch.Tensor | None:  # type: ignore[no-untyped-def]
    if not tp.program.num_slots:
        return None
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(batch, len(tp.program.parameters), generator=g, dtype=torch.float64) * 6 - 3
    return tp.angles(values.to(tp.real_dtype))


@pytest.mark.parametrize("seed", range(0, 40, 3))
@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64], ids=["c128", "c64"])
def test_fused_plan_equals_unfused_steps(seed, dtype):
    circuit, _ = random_circuit(seed)
    tp = compile_circuit(circuit).on(dtype, CPU)
    n = circuit.num_qubits
    g = torch.Generator().manual_seed(seed)
    tol = 1e-12 if dtype == torch.complex128 else 2e-5
    for batch, angle_batch in ((1, 1), (3, 3), (3, 1), (40, 40)):
        angles = _angles(tp, angle_batch, seed)
        state = torch.randn(batch, 2**n, generator=g, dtype=torch.complex128).to(dtype)
        reference = tp.run_steps(state, angles)
        for k in range(1, n + 1):
            fused = TorchPlan(tp, k).run(state, angles)
            assert fused.is_contiguous()
            assert (fused - reference).abs().max() < tol, (batch, angle_batch, k)
        assert (tp.run(state, angles) - reference).abs().max() < tol


def test_segments_of_a_layered_ansatz():
    c = hardware_efficient(6, 3)
    segs = segments(compile_circuit(c))
    assert [type(s) for s in segs] == [Layer, Merged] * 3
    assert all(len(s.runs) == 6 for s in segs if isinstance(s, Layer))
    assert all(s.qubits == tuple(range(6)) for s in segs if isinstance(s, Merged))
    tp = compile_circuit(c).on(torch.complex128, CPU)
    assert tp.plan(1, 1) is tp.plan(1, 1)  # cached per chunk size
    assert len(tp.plan(1, 1).blocks) == 3 * (2 + 1)  # two chunks of 3 qubits and one gather per layer


def test_multi_qubit_rotations_stay_single_and_untouched_runs_wait():
    c = Circuit(4).rz(0.3, 3).cx(0, 1).rzz(0.2, 1, 2).cx(1, 2).h(3)
    segs = segments(compile_circuit(c))
    # rz(3) commutes with cx(0, 1) and rzz(1, 2): it waits and joins h(3) in the final layer
    assert [type(s) for s in segs] == [Merged, Single, Merged, Layer]
    assert segs[-1].runs[0][0] == 3 and len(segs[-1].runs[0][1]) == 2


def _grad_circuit() -> Circuit:
    w = ParameterVector("w", 10)
    c = Circuit(4, global_phase=0.3)
    c.h(0).ry(w[0], 0).rz(2 * w[1] + 0.1, 0).rx(w[2], 1).sx(1).u(w[3], w[4], -w[3], 2).p(w[5], 3)
    c.cx(0, 1).cx(1, 2).cz(2, 3).crx(w[6], 3, 0).rzz(w[7], 0, 2)
    c.ry(w[8], 1).rz(w[9] - w[0], 1).cry(w[1], 1, 3).ccx(0, 1, 2).t(2).s(3).cp(w[2], 2, 3)
    return c


@pytest.mark.parametrize("batch", [(), (3,)], ids=["single", "batched"])
@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64], ids=["c128", "c64"])
def test_adjoint_over_fused_blocks_matches_backprop_and_finite_differences(batch, dtype):
    c = _grad_circuit()
    torch.manual_seed(1)
    values = (torch.rand(batch + (c.num_parameters,), dtype=torch.float64) * 6 - 3).requires_grad_(True)
    obs = [Z(0) @ Z(1) + 0.5 * X(2), Y(3) - X(0) @ Y(1)]
    weights = torch.tensor([0.7, -1.3], dtype=torch.float64)

    def loss(v: torch.Tensor, method: str) -> torch.Tensor:
        e = qdiff.expval(c, obs, v, method=method, dtype=dtype).to(torch.float64)
        p = qdiff.probs(c, v, method=method, dtype=dtype).to(torch.float64)
        return (e @ weights).sum() + (p[..., 5] - p[..., 0]).square().sum()

    grads = {m: torch.autograd.grad(loss(values, m), values)[0] for m in ("adjoint", "backprop")}
    tol = 1e-10 if dtype == torch.complex128 else 2e-4
    assert (grads["adjoint"] - grads["backprop"]).abs().max() < tol
    if dtype == torch.complex128:
        fd = torch.autograd.grad(loss(values, qdiff.grad.finite_diff_engine()), values)[0]
        assert (grads["adjoint"] - fd).abs().max() < 1e-6


def test_adjoint_per_sample_and_shared_angles_and_initial_state():
    c = hardware_efficient(5, 2, rotations=("rx", "ry", "rz"))
    torch.manual_seed(2)
    values = torch.rand(c.num_parameters, dtype=torch.float64, requires_grad=True)
    init = torch.randn(4, 32, dtype=torch.complex128)
    init = (init / init.norm(dim=-1, keepdim=True)).requires_grad_(True)
    out = {}
    for m in ("adjoint", "backprop"):
        s = qdiff.state(c, values, initial_state=init, method=m)  # shared angles, 4 states
        loss = (s.real * torch.arange(32.0)).sum() + s.imag[:, 3].sum()
        out[m] = torch.autograd.grad(loss, (values, init))
    for a, b in zip(out["adjoint"], out["backprop"]):
        assert (a - b).abs().max() < 1e-10


def test_circuit_without_parameters_and_fixed_only_layers():
    c = Circuit(3, global_phase=-0.4).h(0).h(1).x(2).cx(0, 2).s(1).swap(1, 2).t(0)
    tp = compile_circuit(c).on(torch.complex128, CPU)
    assert all(b.fixed is not None for b in tp.plan(1, 1).blocks)
    init = torch.randn(2, 8, dtype=torch.complex128, requires_grad=True)
    ref = tp.run_steps(init.detach(), None)
    assert (tp.run(init.detach(), None) - ref).abs().max() < 1e-13
    s = qdiff.state(c, initial_state=init, method="adjoint")
    (g,) = torch.autograd.grad((s.real * torch.arange(8.0)).sum(), init)
    (g_ref,) = torch.autograd.grad((qdiff.state(c, initial_state=init, method="backprop").real
                                    * torch.arange(8.0)).sum(), init)
    assert (g - g_ref).abs().max() < 1e-12


def test_shift_engines_run_fused_plans_on_shifted_batches():
    c = _grad_circuit()
    values = torch.linspace(-1, 1, c.num_parameters, dtype=torch.float64).requires_grad_(True)
    e = {m: torch.autograd.grad(qdiff.expval(c, Z(0) @ X(3), values, method=m), values)[0]
         for m in ("param_shift", "adjoint")}
    assert (e["param_shift"] - e["adjoint"]).abs().max() < 1e-10


@pytest.mark.parametrize("n", [3, 9])
def test_expectation_paths_agree_with_second_derivatives(n, monkeypatch):
    h = 0.3 * X(0) @ Y(2) + Z(1) @ Z(2) + 0.7 * Y(1) + X(1) - 0.2 * Z(0) + X(0) @ X(2) @ Z(1)
    groups = pauli.group_terms(h)
    g = torch.Generator().manual_seed(n)
    state = torch.randn(3, 2**n, generator=g, dtype=torch.complex128).requires_grad_(True)
    results = []
    numba_small, numba_wide = pauli._numba_kernels, pauli._wide_kernels
    # torch: term by term (strided adds; long terms through temporaries), cached diagonals, one
    # gather; numba: the gathered small-state kernel, the chunked wide-state kernel
    for gathered, diagonal, term_max, kernel in ((0, 0, 6, None), (0, 0, 1, None), (0, 22, 6, None),
                                                 (1 << 30, 0, 6, None), (0, 0, 6, "small"), (0, 0, 6, "wide")):
        monkeypatch.setattr(pauli, "_GATHERED_MAX", gathered)
        monkeypatch.setattr(pauli, "_DIAGONAL_MAX_QUBITS", diagonal)
        monkeypatch.setattr(pauli, "_TERM_QUBITS_MAX", term_max)
        monkeypatch.setattr(pauli, "_numba_kernels", numba_small if kernel == "small" else lambda *a: None)
        monkeypatch.setattr(pauli, "_wide_kernels", numba_wide if kernel == "wide" else lambda *a: None)
        monkeypatch.setattr(pauli, "NUMBA_MAX_QUBITS", 0 if kernel == "wide" else 12)
        e = pauli.expectation(state, groups, n)
        (grad,) = torch.autograd.grad((e * torch.tensor([1.0, 2.0, 3.0])).sum(), state, create_graph=True)
        (second,) = torch.autograd.grad(grad.abs().square().sum(), state)
        results.append((e.detach(), grad.detach(), second))
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            assert (a - b).abs().max() < 1e-11 * max(1.0, float(b.abs().max()))


def test_small_state_expectation_keeps_o_psi_for_a_one_multiply_backward():
    h = Z(0) @ Z(1) + X(0) + 0.5 * Y(2) @ X(1)
    groups = pauli.group_terms(h)
    state = torch.randn(2, 8, generator=torch.Generator().manual_seed(0), dtype=torch.complex128)
    with torch.no_grad():
        plain = pauli.expectation(state, groups, 3)
    tracked = state.clone().requires_grad_(True)
    e = pauli.expectation(tracked, groups, 3)
    assert type(e.grad_fn).__name__ == "_ExpectationBackward"  # not autograd through the gather
    (grad,) = torch.autograd.grad(e.sum(), tracked)
    o_psi = (state @ torch.as_tensor(h.to_matrix(), dtype=torch.complex128).T)
    torch.testing.assert_close(e.detach(), plain, atol=1e-13, rtol=0)
    torch.testing.assert_close(grad, 2 * o_psi, atol=1e-13, rtol=0)


def test_fused_blocks_reduce_kernel_calls():
    c = hardware_efficient(8, 4)
    tp = compile_circuit(c).on(torch.complex128, CPU)
    assert len(tp.plan(1, 1).blocks) == 12 < len(tp.program.steps) / 7
    np.testing.assert_allclose(
        tp.run(torch.eye(1, 256, dtype=torch.complex128), _angles(tp, 1, 0)).numpy(),
        tp.run_steps(torch.eye(1, 256, dtype=torch.complex128), _angles(tp, 1, 0)).numpy(), atol=1e-13)
