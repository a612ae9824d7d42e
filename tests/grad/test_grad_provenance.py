"""Each engine proves it ran the way it claims: simulator calls, autograd graphs, saved memory."""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff import ParameterVector, X, Z

from ._helpers import (
    OUTPUTS,
    STATE,
    count_runs,
    expected_shift_count,
    first_rotation,
    graph_nodes,
    graph_nodes_from,
    node_names,
    num_steps,
    probe_kernels,
    random_circuit,
    random_values,
)

CUSTOM_NODES = {"AdjointStateBackward", "ShiftFunctionBackward"}


# -- parameter shift: one forward run, one batched run per backward -------------------------------

@pytest.mark.parametrize("batch", [(3,), (2, 3), ()], ids=["B3", "B2x3", "unbatched"])
@pytest.mark.parametrize("output", ["expval_list", "probs_marginal", "var"])
def test_param_shift_one_run_forward_one_batched_run_backward(output, batch, monkeypatch):
    seed = 0
    circuit = random_circuit(seed)
    values = random_values(circuit, batch, seed).requires_grad_(True)
    B = 1
    for b in batch:
        B *= b
    K = expected_shift_count(circuit)
    # the circuit has trainable two-term and four-term angles and a constant (unshifted) one
    assert K > 0 and any(op.params and all(e.is_constant() for e in op.params) for op in circuit.ops)
    runs = count_runs(monkeypatch)
    out = OUTPUTS[output](circuit, values, "param_shift")
    assert runs.batches == [B]
    assert "ShiftFunctionBackward" in node_names(out)
    runs.reset()
    (grad,) = torch.autograd.grad(out.sum(), values)
    assert runs.batches == [B * K], f"expected one run of {B} x {K} shifted evaluations"
    assert grad.shape == values.shape
    runs.reset()
    torch.autograd.grad(OUTPUTS[output](circuit, values, "param_shift").sum(), values)
    assert len(runs.calls) == 2  # again: no caching that would hide a second backward


@pytest.mark.parametrize("method", ["param_shift", "finite_diff"])
def test_shift_engines_run_once_without_a_graph_when_nothing_is_differentiated(method, monkeypatch):
    """Values that do not require grad (or ``no_grad``): one run of the program and no
    ``ShiftFunction.apply`` (its bookkeeping skipped), the same numbers as with a graph."""
    from qdiff.grad.shifts import ShiftFunction

    applied = []
    original = ShiftFunction.apply
    monkeypatch.setattr(ShiftFunction, "apply", lambda *args: applied.append(1) or original(*args))
    circuit = random_circuit(1)
    values = random_values(circuit, (3,), 1)
    runs = count_runs(monkeypatch)
    plain = OUTPUTS["expval_list"](circuit, values, method)
    with torch.no_grad():
        quiet = OUTPUTS["expval_list"](circuit, values.clone().requires_grad_(True), method)
    assert runs.batches == [3, 3] and plain.grad_fn is None and quiet.grad_fn is None and applied == []
    graphed = OUTPUTS["expval_list"](circuit, values.clone().requires_grad_(True), method)
    assert "ShiftFunctionBackward" in node_names(graphed) and applied == [1]
    torch.testing.assert_close(plain, graphed.detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(quiet, plain, atol=1e-12, rtol=0)


def test_shift_count_rule_by_gate(monkeypatch):
    """Two shifted runs per two-term angle, four per controlled rotation, none for constants."""
    t = qdiff.Parameter("t")
    cases = {
        "rx": (lambda c: c.rx(t, 0), 2), "ry": (lambda c: c.ry(t, 0), 2), "rz": (lambda c: c.rz(t, 0), 2),
        "p": (lambda c: c.p(t, 0), 2), "u": (lambda c: c.u(t, 2 * t, -t, 0), 6),
        "u_partly_constant": (lambda c: c.u(t, 0.3, 0.1, 0), 2),
        "crx": (lambda c: c.crx(t, 0, 1), 4), "cry": (lambda c: c.cry(t, 1, 0), 4),
        "crz": (lambda c: c.crz(t, 0, 1), 4), "cp": (lambda c: c.cp(t, 0, 1), 2),
        "rxx": (lambda c: c.rxx(t, 0, 1), 2), "ryy": (lambda c: c.ryy(t, 0, 1), 2),
        "rzz": (lambda c: c.rzz(t, 0, 1), 2), "rzx": (lambda c: c.rzx(t, 1, 0), 2),
        "pauli_rot": (lambda c: c.pauli_rot("YX", (0, 1), t), 2),
        "constant_too": (lambda c: c.rx(t, 0).crx(0.4, 0, 1), 2),
    }
    runs = count_runs(monkeypatch)
    for name, (build, k) in cases.items():
        c = build(qdiff.Circuit(2).h(0).h(1))
        assert expected_shift_count(c) == k, name
        v = torch.tensor([[0.3], [0.9]], dtype=torch.float64, requires_grad=True)
        runs.reset()
        e = qdiff.expval(c, X(0) @ X(1) + Z(1), v, method="param_shift")
        torch.autograd.grad(e.sum(), v)
        assert runs.batches == [2, 2 * k], name


# -- adjoint: forward without a graph, backward walks the kernels without recording -------------

@pytest.mark.parametrize("output", ["expval_list", "probs", "var", "state"])
def test_adjoint_backward_builds_no_graph(output, monkeypatch):
    circuit = random_circuit(1, global_phase=0.4)
    values = random_values(circuit, (2,), 1).requires_grad_(True)
    fn = STATE if output == "state" else OUTPUTS[output]
    runs = count_runs(monkeypatch)
    kernels = probe_kernels(monkeypatch)
    out = fn(circuit, values, "adjoint")
    assert runs.batches == [2]
    steps, rotations = num_steps(circuit)
    assert len(kernels.calls) == steps
    assert not any(k.requires_grad or k.grad_enabled for k in kernels.calls), "forward recorded a graph"
    nodes = graph_nodes(out)
    adjoint_nodes = [n for n in nodes if type(n).__name__ == "AdjointStateBackward"]
    assert len(adjoint_nodes) == 1
    assert "ShiftFunctionBackward" not in node_names(out)
    # below the adjoint node there is only the affine map values -> angles, not the kernels
    below = [type(n).__name__ for n in graph_nodes_from(adjoint_nodes[0])]
    assert len(below) <= 8, below
    assert "AccumulateGrad" in below

    runs.reset()
    kernels.reset()
    loss = (out.abs() if out.is_complex() else out).square().sum()
    (grad,) = torch.autograd.grad(loss, values)
    assert runs.calls == []  # the backward walks the circuit itself, no forward re-run
    assert rotations > 0
    assert len(kernels.calls) == steps  # one inverse per block; cross matrices need no kernel
    assert not any(k.requires_grad or k.grad_enabled or k.grad_fn is not None for k in kernels.calls)
    assert grad.grad_fn is None and not grad.requires_grad


def test_auto_is_adjoint_on_the_simulator():
    circuit = random_circuit(0)
    values = random_values(circuit, (2,), 0).requires_grad_(True)
    assert "AdjointStateBackward" in node_names(qdiff.expval(circuit, Z(0), values))
    assert "AdjointStateBackward" in node_names(qdiff.expval(circuit, Z(0), values, method="auto"))


# -- backprop: the graph goes through every kernel call --------------------------------------------

@pytest.mark.parametrize("output", ["expval_list", "probs", "state"])
def test_backprop_graph_runs_through_the_kernels(output, monkeypatch):
    circuit = random_circuit(2)
    values = random_values(circuit, (2,), 2).requires_grad_(True)
    fn = STATE if output == "state" else OUTPUTS[output]
    runs = count_runs(monkeypatch)
    kernels = probe_kernels(monkeypatch)
    out = fn(circuit, values, "backprop")
    steps, _ = num_steps(circuit)
    assert runs.batches == [2]
    assert len(kernels.calls) == steps
    assert all(k.grad_enabled for k in kernels.calls)
    # from the first rotation on (before it the state is constant) every kernel output is a node
    # of the output's graph
    first = first_rotation(circuit)
    assert first < steps / 4
    assert all(k.requires_grad and k.grad_fn is not None for k in kernels.calls[first:])
    reachable = {id(n) for n in graph_nodes(out)}
    assert all(id(k.grad_fn) in reachable for k in kernels.calls[first:]), "a kernel output is not in the graph"
    assert not CUSTOM_NODES & set(node_names(out))
    runs.reset()
    kernels.reset()
    torch.autograd.grad((out.abs() if out.is_complex() else out).sum(), values)
    assert runs.calls == [] and kernels.calls == []  # the backward is torch's own


def test_finite_diff_and_spsa_are_shift_engines(monkeypatch):
    circuit = random_circuit(0)
    values = random_values(circuit, (2,), 0).requires_grad_(True)
    K = expected_shift_count(circuit)
    slots = sum(1 for op in circuit.ops for e in op.params if not e.is_constant())
    runs = count_runs(monkeypatch)
    for method, shifted in [("finite_diff", 2 * slots), (qdiff.grad.spsa_engine(samples=5, seed=0), 10)]:
        runs.reset()
        e = qdiff.expval(circuit, Z(0), values, method=method)
        assert "ShiftFunctionBackward" in node_names(e)
        torch.autograd.grad(e.sum(), values)
        assert runs.batches == [2, 2 * shifted], method
    assert K != 2 * slots  # the circuit has four-term angles, so the counts above are distinct


# -- memory: what is saved for backward ----------------------------------------------------------

def _layered(n: int, depth: int) -> qdiff.Circuit:
    """``depth`` layers of ry on every qubit, then rzz / cx between neighbours; 4 shared parameters."""
    w = ParameterVector("w", 4)
    c = qdiff.Circuit(n)
    for d in range(depth):
        for q in range(n):
            c.ry(w[(d + q) % 4] + 0.1 * q, q)
        for q in range(n - 1):
            if (q + d) % 2:
                c.cx(q, q + 1)
            else:
                c.rzz(0.5 * w[q % 4], q, q + 1)
    return c


def _saved_bytes(circuit: qdiff.Circuit, method: str, batch: int) -> tuple[int, int]:
    """(all bytes, complex bytes) saved for backward while building ``expval`` of ``circuit``."""
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    v = torch.linspace(-1.0, 1.0, batch * 4, dtype=torch.float64).reshape(batch, 4).requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        e = qdiff.expval(circuit, Z(0) @ Z(1) + X(2), v, method=method)
    assert e.requires_grad
    total = sum(t.numel() * t.element_size() for t in saved)
    complex_bytes = sum(t.numel() * t.element_size() for t in saved if t.is_complex())
    return total, complex_bytes


def test_adjoint_saved_memory_is_independent_of_depth_backprop_grows():
    n, B = 8, 2
    shallow, deep = _layered(n, 10), _layered(n, 100)
    slots = [len(qdiff.sim.program.compile_circuit(c).offsets) for c in (shallow, deep)]
    state_bytes = B * 2**n * 16

    adj_shallow, adj_shallow_c = _saved_bytes(shallow, "adjoint", B)
    adj_deep, adj_deep_c = _saved_bytes(deep, "adjoint", B)
    # complex tensors saved: the final state (and what the expectation value keeps), whatever the depth
    assert adj_shallow_c == adj_deep_c <= 4 * state_bytes
    # everything else that grows is angle-sized: angles (B, A) and the (A, P) map to parameters
    assert adj_deep - adj_shallow <= 8 * (slots[1] - slots[0]) * (B + 4)
    assert adj_deep <= 8 * state_bytes + 8 * slots[1] * (B + 4)

    bp_shallow, _ = _saved_bytes(shallow, "backprop", B)
    bp_deep, _ = _saved_bytes(deep, "backprop", B)
    assert bp_deep > 5 * bp_shallow
    assert bp_shallow > adj_shallow
    assert bp_deep > 20 * adj_deep
