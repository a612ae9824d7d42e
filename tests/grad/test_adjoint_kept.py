"""Small circuits keep every block's output in the adjoint forward (``_KEEP_MAX``), so the sweep
moves only the cotangent (``AdjointState._sweep_out_of_place`` with ``kept``); without it, the
stacked pair is uncomputed (the same sweep without ``kept``). Both give backprop's gradients, of the
angles and of the initial state, and a counter proves which sweep ran."""

from __future__ import annotations

import importlib

import pytest
import torch

import qdiff
from qdiff import X, Y, Z

from ._helpers import torch_plan_only
from .test_adjoint_slices import _mixed

adjoint_module = importlib.import_module("qdiff.grad.adjoint")
AdjointState = adjoint_module.AdjointState


@pytest.fixture(autouse=True)
def _torch_plan(monkeypatch):  # type: ignore[no-untyped-def]
    """These tests exercise the torch plan's sweeps: the numba tape stays off."""
    torch_plan_only(monkeypatch)


def _count_sweeps(monkeypatch) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = {"kept": 0, "pair": 0}
    original = AdjointState._sweep_out_of_place

    def counting(*args):  # type: ignore[no-untyped-def]
        counts["kept" if len(args) > 8 and args[8] is not None else "pair"] += 1
        return original(*args)

    monkeypatch.setattr(AdjointState, "_sweep_out_of_place", staticmethod(counting))
    return counts


@pytest.mark.parametrize("keep_max", [1 << 20, 0], ids=["kept", "pair"])
@pytest.mark.parametrize("batch", [(), (3,)], ids=["shared", "per_sample"])
def test_small_sweeps_equal_backprop(monkeypatch, keep_max, batch):
    monkeypatch.setattr(adjoint_module, "_KEEP_MAX", keep_max)
    counts = _count_sweeps(monkeypatch)
    c = _mixed(8)  # chunks, CX chains, a global phase, dense and Pauli rotations
    obs = [X(0) @ Y(3) + Z(7), Z(1) @ Z(2) - 0.5 * X(6)]
    psi0 = torch.randn(1 << 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(4))
    grads = {}
    for method in ("adjoint", "backprop"):
        v = (2 * torch.rand(batch + (c.num_parameters,), generator=torch.Generator().manual_seed(1),
                            dtype=torch.float64) - 1).requires_grad_(True)
        s = (psi0 / psi0.norm()).requires_grad_(True)
        out = qdiff.expval(c, obs, v, method=method, initial_state=s)
        weights = torch.rand(out.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        (out * weights).sum().backward()
        grads[method] = (v.grad, s.grad)
    assert counts == ({"kept": 1, "pair": 0} if keep_max else {"kept": 0, "pair": 1})
    for got, want in zip(grads["adjoint"], grads["backprop"]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_no_states_kept_without_a_backward(monkeypatch):
    """A forward under ``no_grad`` (or with nothing to differentiate) keeps nothing."""
    c = _mixed(8)
    v = torch.linspace(-1, 1, c.num_parameters, dtype=torch.float64)
    seen = []
    original = AdjointState.forward

    def spy(ctx, *args):  # type: ignore[no-untyped-def]
        out = original(ctx, *args)
        seen.append(ctx.kept)
        return out

    monkeypatch.setattr(AdjointState, "forward", staticmethod(spy))
    qdiff.expval(c, Z(0), v, method="adjoint")
    with torch.no_grad():
        qdiff.expval(c, Z(0), v.clone().requires_grad_(True), method="adjoint")
    out = qdiff.expval(c, Z(0), v.clone().requires_grad_(True), method="adjoint")
    assert seen[:2] == [None, None] and isinstance(seen[2], list) and len(seen[2]) > 3
    out.backward()


def test_a_forward_without_a_graph_skips_the_autograd_function(monkeypatch):
    """Nothing to differentiate (no input requires grad, or ``no_grad``): the adjoint forward runs
    without ``AdjointState.apply`` and its output has no graph, with the same values; with a
    parameter to differentiate, the Function runs and the gradient equals backprop's."""
    applied = []
    original = AdjointState.apply

    def counting(*args):  # type: ignore[no-untyped-def]
        applied.append(len(args))
        return original(*args)

    monkeypatch.setattr(AdjointState, "apply", counting)
    c = _mixed(8)
    v = torch.linspace(-1, 1, c.num_parameters, dtype=torch.float64)
    plain = qdiff.expval(c, Z(0) @ X(3), v, method="adjoint")
    with torch.no_grad():
        quiet = qdiff.state(c, v.clone().requires_grad_(True), method="adjoint")
    assert applied == [] and plain.grad_fn is None and quiet.grad_fn is None
    torch.testing.assert_close(quiet, qdiff.state(c, v, method="backprop"), atol=1e-12, rtol=0)
    w = v.clone().requires_grad_(True)
    qdiff.expval(c, Z(0) @ X(3), w, method="adjoint").backward()
    assert len(applied) == 1
    reference = v.clone().requires_grad_(True)
    qdiff.expval(c, Z(0) @ X(3), reference, method="backprop").backward()
    torch.testing.assert_close(w.grad, reference.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(plain, qdiff.expval(c, Z(0) @ X(3), v, method="backprop"), atol=1e-12, rtol=0)


def test_kept_sweep_of_a_circuit_without_gates():
    """No blocks, nothing kept but the (empty) list: the initial state's gradient is the cotangent."""
    psi0 = torch.tensor([0.6, 0.8, 0, 0], dtype=torch.complex128)
    grads = []
    for method in ("adjoint", "backprop"):
        s = psi0.clone().requires_grad_(True)
        qdiff.probs(qdiff.Circuit(2), initial_state=s, method=method)[1].backward()
        grads.append(s.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-15)
    assert grads[0][1].real == pytest.approx(1.6)


def test_two_chunk_layers_of_one_state_run_as_one_product_forward_and_back(monkeypatch):
    """A single state with shared angles runs each layer cut into two chunks as one
    ``layer_product`` (forward and sweep), including a layer whose low chunk is fixed (h gates);
    gradients of the angles and of the initial state equal backprop's."""
    plan_module = importlib.import_module("qdiff.sim.plan")
    calls: list[int] = []
    original = plan_module.layer_product

    def counting(state, low, high):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(state, low, high)

    monkeypatch.setattr(plan_module, "layer_product", counting)
    monkeypatch.setattr(adjoint_module, "layer_product", counting)
    w = qdiff.ParameterVector("w", 28)
    c = qdiff.Circuit(8)
    for q in range(8):
        c.ry(w[q], q).rz(w[8 + q], q)
    for q in range(7):
        c.cx(q, q + 1)
    for q in range(4):
        c.h(q)  # a fixed low chunk ...
    for q in range(4, 8):
        c.rx(w[12 + q], q)  # ... beside a rotating high one
    for q in range(7):
        c.cz(q, q + 1)
    for q in range(8):
        c.ry(w[20 + q], q)
    obs = X(0) @ Z(5) + 0.3 * Y(7)
    psi0 = torch.randn(1 << 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(5))
    grads = {}
    for method in ("adjoint", "backprop"):
        v = torch.linspace(-1.3, 1.1, c.num_parameters, dtype=torch.float64).requires_grad_(True)
        s = (psi0 / psi0.norm()).requires_grad_(True)
        calls.clear()
        qdiff.expval(c, obs, v, method=method, initial_state=s).backward()
        grads[method] = (v.grad, s.grad, len(calls))
    plan = qdiff.sim.program.compile_circuit(c).on(torch.complex128, torch.device("cpu")).plan(1, 1)
    layers = len(plan.paired(1, 1))
    assert layers == 3
    assert grads["adjoint"][2] == 2 * layers and grads["backprop"][2] == layers  # forward + sweep, forward
    for got, want in zip(grads["adjoint"][:2], grads["backprop"][:2]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
