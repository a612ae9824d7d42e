"""The adjoint sweep on large states updates its pair in place, slice by slice (``_in_slices``).

Large states take that path only from ``2**17`` amplitudes (``2**12`` a row); here both
thresholds are 0 and ``_SLICE`` is made tiny so that 8-qubit circuits take it (slices of a few
amplitudes, both the run-of-amplitudes and the column slicing, whole-register blocks falling
back), and the gradients must equal backprop's. A counter proves the sliced path ran.
"""

from __future__ import annotations

import importlib

import pytest
import torch

import qdiff
from qdiff import Circuit, ParameterVector, X, Y, Z
from qdiff.apps.ansatz import hardware_efficient

from ._helpers import torch_plan_only


adjoint_module = importlib.import_module("qdiff.grad.adjoint")


@pytest.fixture(autouse=True)
def _torch_plan(monkeypatch):  # type: ignore[no-untyped-def]
    """These tests exercise the torch plan's sliced sweeps: the numba tape stays off, and the
    forward keeps no block outputs (which small circuits do, for a sweep of ``lambda`` alone)."""
    torch_plan_only(monkeypatch)
    monkeypatch.setattr(adjoint_module, "_KEEP_MAX", 0)


def _mixed(n: int = 8) -> Circuit:
    """Chunked layers, merged CX chains, a dense two-qubit rotation, Pauli rotations high and low."""
    w = ParameterVector("w", 6)
    c = hardware_efficient(n, 2, name="h").compose(Circuit(n, global_phase=0.2))
    c.rzz(w[0], 1, 6).pauli_rot("XYZ", (0, 3, 7), w[1]).pauli_rot("YX", (5, 6), 2 * w[2] - 0.3)
    c.cx(6, 2).crx(w[3], 7, 0).ry(w[4], 5).pauli_rot("ZXY", (4, 5, 6), w[5])
    return c


@pytest.mark.parametrize("slice_size", [1 << 4, 1 << 6])
@pytest.mark.parametrize("batch", [(), (3,)], ids=["shared", "per_sample"])
def test_sliced_sweep_equals_backprop(monkeypatch, slice_size, batch):
    calls = []
    original = adjoint_module._in_slices

    def counting(*args):
        done = original(*args)
        calls.append(done)
        return done

    monkeypatch.setattr(adjoint_module, "_SLICE", slice_size)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN", 0)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN_ROW", 0)
    monkeypatch.setattr(adjoint_module, "_in_slices", counting)
    c = _mixed()
    g = torch.Generator().manual_seed(3)
    obs = [X(0) @ Y(3) + Z(7), Z(1) @ Z(2) - 0.5 * X(6)]
    grads = {}
    for method in ("adjoint", "backprop"):
        v = (2 * torch.rand(batch + (c.num_parameters,), generator=torch.Generator().manual_seed(1),
                            dtype=torch.float64) - 1).requires_grad_(True)
        out = qdiff.expval(c, obs, v, method=method)
        weights = torch.rand(out.shape, generator=g, dtype=torch.float64)
        (out * weights).sum().backward()
        grads[method] = v.grad
        g = torch.Generator().manual_seed(3)
    assert any(calls) and not all(calls)  # sliced blocks, and whole-register ones that fell back
    torch.testing.assert_close(grads["adjoint"], grads["backprop"], rtol=1e-10, atol=1e-10)


def test_sliced_sweep_state_cotangent(monkeypatch):
    """The gradient of the initial state (returned by the sweep) is right too."""
    monkeypatch.setattr(adjoint_module, "_SLICE", 1 << 5)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN", 0)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN_ROW", 0)
    c = _mixed(8)
    v = torch.linspace(-1, 1, c.num_parameters, dtype=torch.float64)
    psi0 = torch.randn(2, 1 << 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    grads = []
    for method in ("adjoint", "backprop"):
        s = psi0.clone().requires_grad_(True)
        out = qdiff.state(c, v, method=method, initial_state=s)
        (out.abs() ** 2 * torch.arange(1 << 8)).sum().backward()
        grads.append(s.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("batch", [(), (3,)], ids=["shared", "per_sample"])
def test_forward_runs_out_of_place_and_only_the_sweep_slices(monkeypatch, batch):
    """Where the sweep works in place a slice at a time, the forward does not (out of place it was
    1.6-3x faster a block on two threads, within the memory guard's working copies): no slicing
    until the backward, the same final state and gradient as backprop, the user's state untouched."""
    calls = []
    original = adjoint_module._in_slices

    def counting(*args):
        calls.append(original(*args))
        return calls[-1]

    monkeypatch.setattr(adjoint_module, "_SLICE", 1 << 3)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN", 0)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN_ROW", 0)
    monkeypatch.setattr(adjoint_module, "_in_slices", counting)
    c = _mixed(8)
    values = 2 * torch.rand(batch + (c.num_parameters,), generator=torch.Generator().manual_seed(2),
                            dtype=torch.float64) - 1
    psi0 = torch.randn(1 << 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(4))
    psi0 = psi0 / psi0.norm()
    kept = psi0.clone()
    weights = torch.arange(1 << 8, dtype=torch.float64)
    for initial_state in (None, psi0):
        results = {}
        for method in ("adjoint", "backprop"):
            calls.clear()
            v = values.clone().requires_grad_(True)
            out = qdiff.state(c, v, method=method, initial_state=initial_state)
            assert not calls  # the forward never slices
            (out.abs() ** 2 * weights).sum().backward()
            if method == "adjoint":
                assert any(calls) and not all(calls)  # the sweep sliced; whole-register blocks fell back
            results[method] = (out.detach(), v.grad)
        torch.testing.assert_close(results["adjoint"], results["backprop"], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(psi0, kept, rtol=0, atol=0)


def _adjoint_node(out: torch.Tensor):
    """The AdjointState node under ``out`` (breadth-first through grad_fn.next_functions)."""
    todo = [out.grad_fn]
    while todo:
        node = todo.pop(0)
        if type(node).__name__ == "AdjointStateBackward":
            return node
        todo += [f for f, _ in node.next_functions if f is not None]
    raise AssertionError("no AdjointState node in the graph")


def test_sweep_reuses_the_final_state_only_when_nothing_else_reads_it(monkeypatch):
    """expval's final state is private: the in-place sweep overwrites it (one state less), unless
    the graph is kept, and then a second backward must still be right; qdiff.state hands the
    final state to the caller, so the sweep copies it and the caller's tensor is left intact."""
    monkeypatch.setattr(adjoint_module, "_SLICE", 1 << 6)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN", 0)
    monkeypatch.setattr(adjoint_module, "_IN_PLACE_MIN_ROW", 0)
    kept = []
    original = adjoint_module._graph_kept
    monkeypatch.setattr(adjoint_module, "_graph_kept", lambda: kept.append(original()) or kept[-1])
    c = _mixed(8)
    obs = X(0) @ Y(3) + Z(7)
    v = torch.linspace(-1, 1, c.num_parameters, dtype=torch.float64).requires_grad_(True)
    (want,) = torch.autograd.grad(qdiff.expval(c, obs, v, method="backprop"), v)

    e = qdiff.expval(c, obs, v, method="adjoint")
    assert _adjoint_node(e).owns_final
    e.backward()
    assert kept == [False]  # the final state was overwritten in place
    torch.testing.assert_close(v.grad, want, rtol=1e-10, atol=1e-10)

    v.grad = None
    e = qdiff.expval(c, obs, v, method="adjoint")
    e.backward(retain_graph=True)
    e.backward()  # the saved final state must have survived the first backward
    assert kept[1:] == [True, False]
    torch.testing.assert_close(v.grad, 2 * want, rtol=1e-10, atol=1e-10)

    s = qdiff.state(c, v, method="adjoint")
    assert not getattr(_adjoint_node(s), "owns_final", False)
    before = s.detach().clone()
    (s.real * torch.arange(1 << 8)).sum().backward()
    torch.testing.assert_close(s.detach(), before, rtol=0, atol=0)
