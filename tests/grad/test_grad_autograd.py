"""torch.autograd integration: gradcheck, second derivatives (param_shift nested rules; adjoint refuses)."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import hessian

import qdiff
from qdiff import X, Y, Z

from ._helpers import EXACT_ENGINES, count_runs


def _small_circuit():  # type: ignore[no-untyped-def]
    t, s = qdiff.Parameter("t"), qdiff.Parameter("s")
    w = qdiff.ParameterVector("w", 2)
    c = (qdiff.Circuit(2).h(0).rx(2 * t + 0.1, 0).cry(t - s, 0, 1).u(-w[1], w[0], 0.3, 1)
         .rzx(s, 1, 0).cp(w[0] + 0.2, 1, 0).pauli_rot("XY", (1, 0), -t))
    return c, torch.tensor([0.37, -0.81, 1.23, 0.54], dtype=torch.float64)


OBS = [Z(0) @ X(1) + 0.4 * Y(1), X(0) - 0.7 * Z(1)]


@pytest.mark.parametrize("engine", EXACT_ENGINES)
@pytest.mark.parametrize("output", ("expval", "probs", "var"))
def test_gradcheck(engine, output):
    circuit, values = _small_circuit()
    f = {
        "expval": lambda v: qdiff.expval(circuit, OBS, v, method=engine),
        "probs": lambda v: qdiff.probs(circuit, v, method=engine),
        "var": lambda v: qdiff.var(circuit, OBS, v, method=engine),
    }[output]
    v = torch.stack([values, values.flip(0)]).requires_grad_(True)
    assert torch.autograd.gradcheck(f, (v,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("engine", ("backprop", "adjoint"))
def test_gradcheck_state(engine):
    circuit, values = _small_circuit()
    v = values.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: qdiff.state(circuit, x, method=engine), (v,),
                                    eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("output", ("expval", "var", "probs"))
def test_param_shift_hessian_equals_backprop_hessian(output, monkeypatch):
    circuit, values = _small_circuit()
    weights = torch.tensor([0.3, -1.2, 0.8, 0.5], dtype=torch.float64)

    def f(method):  # type: ignore[no-untyped-def]
        if output == "expval":
            return lambda v: qdiff.expval(circuit, OBS[0], v, method=method)
        if output == "var":
            return lambda v: qdiff.var(circuit, OBS[1], v, method=method)
        return lambda v: qdiff.probs(circuit, v, method=method) @ weights

    expected = hessian(f("backprop"), values)
    runs = count_runs(monkeypatch)
    got = hessian(f("param_shift"), values)
    assert len(runs.calls) >= 3  # forward, first shifted batch, nested shifted batches
    assert got.shape == (4, 4)
    torch.testing.assert_close(got, expected, atol=1e-8, rtol=0)
    torch.testing.assert_close(got, got.T, atol=1e-10, rtol=0)
    assert expected.abs().max() > 0.1


def test_param_shift_double_backward_via_autograd_grad():
    circuit, values = _small_circuit()
    grads = {}
    for method in ("backprop", "param_shift"):
        v = values.clone().requires_grad_(True)
        e = qdiff.expval(circuit, OBS[0], v, method=method)
        (g,) = torch.autograd.grad(e, v, create_graph=True)
        assert g.grad_fn is not None
        (gg,) = torch.autograd.grad(g @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64), v)
        grads[method] = gg
    torch.testing.assert_close(grads["param_shift"], grads["backprop"], atol=1e-8, rtol=0)


SECOND_ORDER_ERRORS = qdiff.DifferentiationError
"""The adjoint backward raises as soon as it is asked for a graph (create_graph=True)."""


def test_adjoint_refuses_double_backward():
    circuit, values = _small_circuit()
    v = values.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(qdiff.expval(circuit, OBS[0], v, method="adjoint"), v)  # first order is fine
    assert g.grad_fn is None
    with pytest.raises(SECOND_ORDER_ERRORS):
        e = qdiff.expval(circuit, OBS[0], v, method="adjoint")
        (g,) = torch.autograd.grad(e, v, create_graph=True)
        torch.autograd.grad(g.sum(), v)
    with pytest.raises(SECOND_ORDER_ERRORS, match="first derivatives only"):
        e = qdiff.expval(circuit, OBS[0], v, method="adjoint")
        (g,) = torch.autograd.grad(e, v, create_graph=True)
        g.sum().backward()


def test_adjoint_hessian_raises_instead_of_returning_zeros():
    """Regression: with torch's once_differentiable the error node hung on detached copies, so
    ``functional.hessian`` (autograd.grad w.r.t. the values, strict=False) silently got zeros."""
    circuit, values = _small_circuit()
    with pytest.raises(SECOND_ORDER_ERRORS):
        h = hessian(lambda x: qdiff.expval(circuit, OBS[0], x, method="adjoint"), values)
        assert h.abs().max() > 0, f"adjoint Hessian came back all zeros: {h}"
