"""Engines across the input space: bad methods, no_grad, batch shapes, dict values, no parameters."""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff import DifferentiationError, X, Y, Z
from qdiff.grad import ENGINES, finite_diff_engine, spsa_engine

from ._helpers import EXACT_ENGINES, OUTPUTS, count_runs, node_names, random_circuit, random_values

ALL_METHODS = ("backprop", "adjoint", "param_shift", "finite_diff", "spsa", "auto")
SHIFT_ENGINES = ("param_shift", "finite_diff", "spsa")


# -- bad input -----------------------------------------------------------------------------------

def test_param_shift_on_state_raises_and_points_to_adjoint(monkeypatch):
    c = random_circuit(0)
    runs = count_runs(monkeypatch)
    with pytest.raises(DifferentiationError, match="adjoint"):
        qdiff.state(c, random_values(c, (2,), 0), method="param_shift")
    assert runs.calls == []  # refused before simulating


@pytest.mark.parametrize("method", ["adjiont", "Adjoint", "", "exact"])
def test_unknown_method_lists_the_choices(method):
    c = random_circuit(0)
    with pytest.raises(DifferentiationError) as info:
        qdiff.expval(c, Z(0), random_values(c, (), 0), method=method)
    message = str(info.value)
    assert repr(method) in message
    for name in ("auto", *ENGINES):
        assert name in message


def test_non_string_non_engine_method_raises():
    c = random_circuit(0)
    with pytest.raises(DifferentiationError):
        qdiff.expval(c, Z(0), random_values(c, (), 0), method=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"samples": 0}, {"samples": -2}, {"epsilon": 0.0}, {"epsilon": -0.1}])
def test_spsa_engine_rejects_bad_options(kwargs):
    with pytest.raises(DifferentiationError):
        spsa_engine(**kwargs)


@pytest.mark.parametrize("step", [0.0, -1e-3])
def test_finite_diff_engine_rejects_non_positive_step(step):
    c = random_circuit(0)
    v = random_values(c, (), 0).requires_grad_(True)
    with pytest.raises(DifferentiationError, match="step"):
        e = qdiff.expval(c, Z(0), v, method=finite_diff_engine(step=step))
        torch.autograd.grad(e, v)


# -- no_grad, values without requires_grad ----------------------------------------------------------

@pytest.mark.parametrize("method", ALL_METHODS)
def test_no_grad_gives_plain_tensors(method, monkeypatch):
    c = random_circuit(1)
    v = random_values(c, (3,), 1).requires_grad_(True)
    expected = qdiff.expval(c, [Z(0), X(1) @ Y(2)], v.detach(), method="backprop")
    runs = count_runs(monkeypatch)
    with torch.no_grad():
        out = qdiff.expval(c, [Z(0), X(1) @ Y(2)], v, method=method)
        p = qdiff.probs(c, v, method=method)
    assert out.grad_fn is None and not out.requires_grad
    assert p.grad_fn is None and not p.requires_grad
    assert runs.batches == [3, 3]
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_values_without_requires_grad_give_no_graph(method):
    c = random_circuit(1)
    out = qdiff.expval(c, Z(0), random_values(c, (2,), 1), method=method)
    assert out.grad_fn is None and not out.requires_grad


@pytest.mark.parametrize("method", ("backprop", "adjoint"))
def test_no_grad_state(method):
    c = random_circuit(2, global_phase=0.3)
    v = random_values(c, (2,), 2).requires_grad_(True)
    with torch.no_grad():
        s = qdiff.state(c, v, method=method)
    assert s.grad_fn is None
    torch.testing.assert_close(s, qdiff.state(c, v.detach(), method="backprop"), atol=1e-12, rtol=0)


# -- batch shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("output", ["expval_list", "probs_marginal", "var"])
@pytest.mark.parametrize("method", ["adjoint", "param_shift", "finite_diff"])
def test_two_batch_dimensions(method, output):
    c = random_circuit(0)
    values = random_values(c, (2, 3), 0)
    fn = OUTPUTS[output]
    grads, outs = {}, {}
    for m in ("backprop", method):
        v = values.clone().requires_grad_(True)
        outs[m] = fn(c, v, m)
        weights = torch.linspace(-1, 1, outs[m].numel(), dtype=torch.float64).reshape(outs[m].shape)
        (grads[m],) = torch.autograd.grad((outs[m] * weights).sum(), v)
    assert outs[method].shape[:2] == (2, 3) and outs[method].shape == outs["backprop"].shape
    assert grads[method].shape == (2, 3, c.num_parameters)
    torch.testing.assert_close(outs[method], outs["backprop"], atol=1e-12, rtol=0)
    tol = 1e-6 if method == "finite_diff" else 1e-10
    torch.testing.assert_close(grads[method], grads["backprop"], atol=tol, rtol=0)
    # per-sample gradients: each batch element's gradient is that of the unbatched call
    v = values[1, 2].clone().requires_grad_(True)
    single = fn(c, v, method)
    (g,) = torch.autograd.grad((single * weights[1, 2]).sum(), v)
    torch.testing.assert_close(g, grads[method][1, 2], atol=tol, rtol=0)


@pytest.mark.parametrize("method", EXACT_ENGINES)
def test_unbatched_values_with_batched_initial_state(method):
    c = random_circuit(2)
    values = random_values(c, (), 2)
    init = torch.zeros(4, 8, dtype=torch.complex128)
    init[torch.arange(4), torch.tensor([0, 3, 5, 7])] = 1
    grads = {}
    for m in ("backprop", method):
        v = values.clone().requires_grad_(True)
        out = qdiff.expval(c, [Z(0) @ Z(2), X(1)], v, initial_state=init, method=m)
        assert out.shape == (4, 2)
        (grads[m],) = torch.autograd.grad(out[:, 0].sum() - out[:, 1].sum(), v)
    torch.testing.assert_close(grads[method], grads["backprop"], atol=1e-10, rtol=0)


# -- dict values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", EXACT_ENGINES + ("finite_diff",))
def test_dict_values(method):
    """``{Parameter: batched tensor, Parameter: scalar, ParameterVector: vector}``: gradients reach
    every leaf, broadcast scalars sum over the batch."""
    t, s = qdiff.Parameter("t"), qdiff.Parameter("s")
    w = qdiff.ParameterVector("w", 3)
    c = (qdiff.Circuit(3).h([0, 1, 2]).crx(2 * t + 0.1, 0, 1).ryy(t - s, 1, 2).u(-w[2], w[0], s, 0)
         .cx(2, 0).rzx(w[1], 2, 1).cp(-w[0], 1, 0).pauli_rot("YZX", (0, 1, 2), s + w[1]))
    grads = {}
    for m in ("backprop", method):
        tv = torch.tensor([0.3, -0.4], dtype=torch.float64, requires_grad=True)
        sv = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
        wv = torch.tensor([0.2, -0.9, 1.4], dtype=torch.float64, requires_grad=True)
        out = qdiff.expval(c, [Z(1), X(0) @ X(2)], {w: wv, t: tv, s: sv}, method=m)
        assert out.shape == (2, 2)
        weights = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
        grads[m] = torch.autograd.grad((out * weights).sum(), [tv, sv, wv])
    tol = 1e-6 if method == "finite_diff" else 1e-10
    for a, b in zip(grads[method], grads["backprop"]):
        torch.testing.assert_close(a, b, atol=tol, rtol=0)
    assert grads[method][2].abs().min() > 1e-3  # every leaf really receives a gradient


# -- circuits without parameters ------------------------------------------------------------------

@pytest.mark.parametrize("constant_rotations", [False, True])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_circuit_without_parameters(method, constant_rotations, monkeypatch):
    c = qdiff.Circuit(3).h(0).cx(0, 1).sx(2).swap(1, 2)
    if constant_rotations:  # angle slots exist, but none is trainable
        c.rx(0.3, 0).crx(0.7, 1, 2).u(0.1, 0.2, 0.3, 1).pauli_rot("XZ", (2, 0), -0.4)
    assert c.num_parameters == 0
    runs = count_runs(monkeypatch)
    out = qdiff.expval(c, [Z(0) @ Z(1), X(2)], method=method)
    p = qdiff.probs(c, method=method)
    assert out.shape == (2,) and p.shape == (8,)
    assert len(runs.calls) == 2
    assert not out.requires_grad and not p.requires_grad
    torch.testing.assert_close(out, qdiff.expval(c, [Z(0) @ Z(1), X(2)], method="backprop"), atol=1e-12, rtol=0)
    torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ("backprop", "adjoint", "auto"))
def test_circuit_without_parameters_state(method):
    c = qdiff.Circuit(2, global_phase=0.5).h(0).rx(0.3, 1).cx(0, 1)
    s = qdiff.state(c, method=method)
    torch.testing.assert_close(s, qdiff.state(c, method="backprop"), atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_gradient_flows_to_initial_state_of_circuit_without_parameters(method):
    c = qdiff.Circuit(2).h(0).sx(1).cx(0, 1).s(1)  # no rotations at all (see the refusal test below)
    grads = {}
    for m in ("backprop", method):
        init = torch.tensor([0.6, 0.8j, 0, 0], dtype=torch.complex128, requires_grad=True)
        e = qdiff.expval(c, Z(1) + X(0), initial_state=init, method=m)
        (grads[m],) = torch.autograd.grad(e, init)
    torch.testing.assert_close(grads[method], grads["backprop"], atol=1e-10, rtol=0)


# -- initial-state gradients need adjoint or backprop -----------------------------------------------

@pytest.mark.parametrize("circuit", ["parametrized", "constant_rotation"])
@pytest.mark.parametrize("method", SHIFT_ENGINES)
def test_shift_engines_refuse_a_differentiable_initial_state(method, circuit):
    t = qdiff.Parameter("t")
    c = qdiff.Circuit(2).ry(t if circuit == "parametrized" else 0.4, 0).cx(0, 1)
    values = torch.tensor([0.4], dtype=torch.float64, requires_grad=True) if circuit == "parametrized" else None
    init = torch.tensor([0.6, 0.8j, 0, 0], dtype=torch.complex128, requires_grad=True)
    with pytest.raises(DifferentiationError, match="initial_state"):
        qdiff.expval(c, Z(1), values, initial_state=init, method=method)
    # without a differentiable initial state the same call works
    qdiff.expval(c, Z(1), values, initial_state=init.detach(), method=method)


def test_engine_object_as_method(monkeypatch):
    c = random_circuit(0)
    v = random_values(c, (2,), 0).requires_grad_(True)
    runs = count_runs(monkeypatch)
    e = qdiff.expval(c, Z(0), v, method=finite_diff_engine(step=1e-4))
    assert "ShiftFunctionBackward" in node_names(e)
    (g,) = torch.autograd.grad(e.sum(), v)
    (ref,) = torch.autograd.grad(qdiff.expval(c, Z(0), v, method="backprop").sum(), v)
    torch.testing.assert_close(g, ref, atol=1e-6, rtol=0)
    assert len(runs.calls) == 3


def test_spsa_by_name_follows_torch_manual_seed_and_keeps_no_hidden_state():
    t = qdiff.Parameter("t")
    c = qdiff.Circuit(2).ry(t, 0).rx(2 * t, 1).cx(0, 1)
    grads = []
    for _ in range(2):
        torch.manual_seed(123)
        v = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
        qdiff.expval(c, Z(0) + Z(1), v, method="spsa").backward()
        grads.append(v.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


def test_engine_options_are_checked_when_the_engine_is_made():
    with pytest.raises(DifferentiationError, match="step must be positive"):
        qdiff.grad.finite_diff_engine(step=0)
    with pytest.raises(DifferentiationError, match="epsilon must be positive"):
        qdiff.grad.spsa_engine(epsilon=-1.0)


def test_empty_batch_is_refused_clearly():
    t = qdiff.Parameter("t")
    with pytest.raises(qdiff.ParameterError, match="empty"):
        qdiff.expval(qdiff.Circuit(1).ry(t, 0), Z(0), torch.zeros(0, 1))
