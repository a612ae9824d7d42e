"""Per-row dense blocks (every batch row has its own matrix, as with parameter-shift batches).

The batch-first broadcast-matmul kernel and the plan's layout choice must give the results of the
existing paths: each row applied alone, and the batch-last run, in complex128 and complex64.
"""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff.apps.qcbm.circuit import born_circuit
from qdiff.sim import plan as plan_module
from qdiff.sim.dense import _BATCHED_MATMUL_MIN_R, apply_dense, fast_per_row
from qdiff.sim.program import compile_circuit

CPU = torch.device("cpu")
DTYPES = [torch.complex128, torch.complex64]
TOL = {torch.complex128: 1e-12, torch.complex64: 3e-5}


def _unitaries(B: int, d: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(B, d, d, dtype=torch.complex128, generator=g)
    return torch.linalg.qr(a)[0].to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["c128", "c64"])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_per_row_matrices_equal_rows_applied_alone(dtype, k):
    n, B = 10, 6
    g = torch.Generator().manual_seed(k)
    state = torch.randn(B, 2**n, dtype=dtype, generator=g)
    m = _unitaries(B, 2**k, dtype, k)
    for q0 in range(n - k + 1):
        qubits = tuple(range(q0, q0 + k))
        got = apply_dense(state, m, qubits, n)
        rows = torch.cat([apply_dense(state[b:b + 1], m[b], qubits, n) for b in range(B)])
        torch.testing.assert_close(got, rows, atol=TOL[dtype], rtol=0, msg=f"q0={q0}")
        batch_last = apply_dense(state.T.contiguous().T, m, qubits, n)
        torch.testing.assert_close(batch_last, rows, atol=TOL[dtype], rtol=0, msg=f"q0={q0} batch-last")
    assert fast_per_row((3, 4, 5)) and 1 << 3 >= _BATCHED_MATMUL_MIN_R and fast_per_row((0, 1, 2))
    assert not fast_per_row((1, 2, 3)) and not fast_per_row((2, 3, 4)) and not fast_per_row((0, 2, 3))
    assert not fast_per_row((4,)) and fast_per_row((4, 5))


@pytest.mark.parametrize("dtype", DTYPES, ids=["c128", "c64"])
def test_born_machine_batch_picks_batch_first_and_matches_batch_last(dtype, monkeypatch):
    c = born_circuit(7, 3, [(q, q + 1) for q in range(6)])
    tp = compile_circuit(c).on(dtype, CPU)
    B = 2 * c.num_parameters + 1  # a parameter-shift batch
    g = torch.Generator().manual_seed(0)
    values = (torch.rand(B, c.num_parameters, generator=g, dtype=torch.float64) * 6 - 3).to(tp.real_dtype)
    angles = tp.angles(values)
    state = torch.zeros(B, 2**7, dtype=dtype)
    state[:, 0] = 1
    plan = tp.plan(B, B)
    assert plan.per_row_gain > 2
    assert not plan.batch_last(state, angles)  # per-row 8 x 8 blocks run batch-first
    assert plan.batch_last(state, angles[:1])  # shared angles keep the batch-last layout
    out = tp.run(state, angles)
    monkeypatch.setattr(plan_module.TorchPlan, "batch_last", lambda self, s, a: True)
    forced = tp.run(state, angles)
    torch.testing.assert_close(out, forced, atol=TOL[dtype], rtol=0)
    rows = torch.cat([tp.run(state[b:b + 1], angles[b:b + 1]) for b in range(0, B, 7)])
    torch.testing.assert_close(out[::7], rows, atol=TOL[dtype], rtol=0)


def test_per_row_gradients_agree_in_both_layouts(monkeypatch):
    c = born_circuit(6, 2, [(q, q + 1) for q in range(5)])
    g = torch.Generator().manual_seed(1)
    values = torch.rand(40, c.num_parameters, generator=g, dtype=torch.float64) * 6 - 3
    weights = torch.rand(40, 2**6, generator=g, dtype=torch.float64)

    def grads() -> dict[str, torch.Tensor]:
        out = {}
        for method in ("adjoint", "backprop"):
            v = values.clone().requires_grad_(True)
            (out[method],) = torch.autograd.grad((qdiff.probs(c, v, method=method) * weights).sum(), v)
        return out

    first = grads()
    torch.testing.assert_close(first["adjoint"], first["backprop"], atol=1e-12, rtol=0)
    monkeypatch.setattr(plan_module.TorchPlan, "batch_last", lambda self, s, a: s.shape[0] >= 32)
    forced = grads()
    for method in first:
        torch.testing.assert_close(first[method], forced[method], atol=1e-12, rtol=0)


def _hardware_efficient(n: int, layers: int) -> qdiff.Circuit:
    """``layers`` x (ry, rz on every qubit, a cx chain), then a layer whose low half is fixed (h)
    and whose high half rotates (rx): a tiling with a shared chunk among per-row ones."""
    w = qdiff.ParameterVector("w", 2 * n * layers + n)
    c = qdiff.Circuit(n)
    for layer in range(layers):
        for q in range(n):
            c.ry(w[2 * (layer * n + q)], q).rz(w[2 * (layer * n + q) + 1], q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    for q in range(n):
        if q < n // 2:
            c.h(q)
        else:
            c.rx(w[2 * n * layers + q], q)
    return c


def test_layer_tilings_find_chunks_that_cover_the_qubits_bottom_up():
    Block = plan_module.Block
    dense = [Block("dense", (0, 1, 2), None, ()), Block("dense", (3, 4), None, ()), Block("dense", (5, 6, 7), None, ())]
    cx = Block("monomial", tuple(range(8)), None, ())
    assert plan_module.layer_tilings(dense + [cx] + dense, 8) == {0: 3, 4: 7}
    assert plan_module.layer_tilings(dense[:2] + [cx], 8) == {}  # qubits 5..7 not covered
    assert plan_module.layer_tilings(dense[1:], 8) == {}  # does not start at qubit 0
    assert plan_module.layer_tilings([dense[0], cx, dense[1], dense[2]], 8) == {}  # interrupted
    assert plan_module.layer_tilings([Block("dense", tuple(range(8)), None, ())], 8) == {}  # one chunk: nothing to gain


@pytest.mark.parametrize("dtype", DTYPES, ids=["c128", "c64"])
@pytest.mark.parametrize("n, B", [(8, 1024), (6, 40), (9, 3)])
def test_tiled_per_row_layers_equal_the_unfused_steps(dtype, n, B, monkeypatch):
    c = _hardware_efficient(n, 2)
    tp = compile_circuit(c).on(dtype, CPU)
    g = torch.Generator().manual_seed(n)
    angles = tp.angles((torch.rand(B, c.num_parameters, generator=g, dtype=torch.float64) * 6 - 3).to(tp.real_dtype))
    state = torch.randn(B, 2**n, dtype=dtype, generator=g)
    plan = tp.plan(B, B)
    assert len(plan.tilings) == 3  # one tiling per layer, the last with a fixed (h) chunk among rotating ones
    calls = []
    original = plan_module.rotating_gemm
    monkeypatch.setattr(plan_module, "rotating_gemm", lambda s, m: calls.append(m.shape) or original(s, m))
    out = tp.run(state, angles)
    assert len(calls) == sum(end - start for start, end in plan.tilings.items())
    torch.testing.assert_close(out, tp.run_steps(state, angles), atol=TOL[dtype], rtol=0)
    calls.clear()
    tp.run(state, angles[:1])  # shared angles: the usual kernels
    assert not calls
