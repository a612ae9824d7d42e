"""Potentials (closed-form Laplacian, Hutchinson, symmetry) and ODE gradients (adjoint vs backprop)."""

from __future__ import annotations

import pytest
import torch

from qdiff.flows import (
    CNF,
    MLPPotential,
    MongeAmpereFlow,
    NetPotential,
    SymmetrizedPotential,
    lattice_symmetries,
    mlp,
    odeint,
)


def _autograd_grad_and_laplacian(phi, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(phi(x).sum(), x, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1]))
    return g.detach(), lap.detach()


@pytest.mark.parametrize("activation,bias", [("tanh", True), ("softplus", True), ("lncosh", False)])
def test_closed_form_gradient_and_laplacian_match_autograd(activation, bias):
    torch.manual_seed(0)
    phi = MLPPotential(5, 7, activation, bias=bias, init_scale=1.0).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    grad, lap = phi.grad_and_laplacian(x)
    ref_grad, ref_lap = _autograd_grad_and_laplacian(phi, x)
    torch.testing.assert_close(grad, ref_grad)
    torch.testing.assert_close(lap, ref_lap)


def test_symmetrized_potential_closed_form_and_invariance():
    torch.manual_seed(1)
    perms = lattice_symmetries(3, 3)
    assert perms.shape == (18, 9) and len({tuple(p.tolist()) for p in perms}) == 18
    phi = SymmetrizedPotential(MLPPotential(9, 6, "lncosh", bias=False, init_scale=1.0), perms).double()
    x = torch.randn(3, 9, dtype=torch.float64)
    grad, lap = phi.grad_and_laplacian(x)
    ref_grad, ref_lap = _autograd_grad_and_laplacian(phi, x)
    torch.testing.assert_close(grad, ref_grad)
    torch.testing.assert_close(lap, ref_lap)
    for p in perms:  # invariant under every lattice symmetry, and under x -> -x
        torch.testing.assert_close(phi(x[:, p]), phi(x))
    torch.testing.assert_close(phi(-x), phi(x))


def test_z2_symmetric_potential_gives_an_equivariant_flow():
    torch.manual_seed(2)
    phi = MLPPotential(4, 8, "lncosh", bias=False, init_scale=1.0).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(phi(-x), phi(x))
    torch.testing.assert_close(phi.grad_and_laplacian(-x)[0], -phi.grad_and_laplacian(x)[0])
    flow = MongeAmpereFlow(phi, steps=5, dt=0.1)
    (y, ld), (y_neg, ld_neg) = flow(x), flow(-x)
    torch.testing.assert_close(y_neg, -y)
    torch.testing.assert_close(ld_neg, ld)
    with_bias = MLPPotential(4, 8, "lncosh", bias=True, init_scale=1.0).double()
    with torch.no_grad():
        with_bias.b1.normal_()
    assert not torch.allclose(with_bias(-x), with_bias(x))


def test_hutchinson_estimator_is_unbiased():
    torch.manual_seed(3)
    net = mlp([3, 16, 16, 1], activation=torch.nn.Tanh, zero_last=False).double()
    exact = NetPotential(net, hutchinson=False)
    x = torch.randn(2, 3, dtype=torch.float64)
    grad, lap = exact.grad_and_laplacian(x)
    probes = torch.randn(4000, 2, 3, dtype=torch.float64)
    estimates = torch.stack([NetPotential(net).grad_and_laplacian(x, probes[k:k + 500])[1]
                             for k in range(0, 4000, 500)])  # (8, 2): means over 500 probes each
    per_probe = NetPotential(net).grad_and_laplacian(x, probes[:200])  # gradient is exact either way
    torch.testing.assert_close(per_probe[0], grad)
    mean, stderr = estimates.mean(0), estimates.std(0) / 8**0.5
    assert ((mean - lap).abs() < 4 * stderr + 1e-9).all(), (mean, lap, stderr)
    assert (estimates.std(0) > 0).all()  # it really is stochastic


def _loss_and_grads(flow, z):
    x, ld = flow(z)
    loss = (x**2).sum() + ld.sum()
    return torch.autograd.grad(loss, list(flow.parameters()))


@pytest.mark.parametrize("kind", ["cnf", "ma"])
def test_adjoint_gradients_match_backprop_through_the_solver(kind, monkeypatch):
    torchdiffeq = pytest.importorskip("torchdiffeq")
    calls = []
    real = torchdiffeq.odeint_adjoint
    monkeypatch.setattr(torchdiffeq, "odeint_adjoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(4)
    if kind == "cnf":
        net = mlp([3, 8, 2], activation=torch.nn.Tanh, zero_last=False).double()
        make = lambda adjoint: CNF(net, steps=32, dt=0.0125, adjoint=adjoint)  # noqa: E731
    else:
        phi = MLPPotential(2, 8, "tanh", init_scale=1.0).double()
        make = lambda adjoint: MongeAmpereFlow(phi, steps=32, dt=0.0125, adjoint=adjoint)  # noqa: E731
    z = torch.randn(6, 2, dtype=torch.float64)
    backprop, adjoint = _loss_and_grads(make(False), z), _loss_and_grads(make(True), z)
    # the two differ by the O(dt^4) discretisation of the adjoint ODE (about 3e-7 here; 7e-5 at dt=0.05)
    a, b = torch.cat([g.reshape(-1) for g in adjoint]), torch.cat([g.reshape(-1) for g in backprop])
    assert (a - b).norm() < 1e-5 * b.norm()
    assert len(calls) == 1  # the adjoint path really ran through torchdiffeq's adjoint solver


def test_odeint_methods_agree_and_run_backwards():
    decay = lambda t, s: (-s[0],)  # noqa: E731
    y0 = (torch.ones(3, dtype=torch.float64),)
    expected = torch.exp(torch.tensor(-1.0, dtype=torch.float64))
    for method in ("rk4", "dopri5"):
        (y,) = odeint(y0, decay, 0.0, 1.0, steps=20, method=method, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(y, expected.expand(3), rtol=1e-7, atol=0)
    (back,) = odeint((y,), decay, 1.0, 0.0, steps=20)
    torch.testing.assert_close(back, y0[0], rtol=1e-7, atol=0)
    with pytest.raises(ValueError, match="unknown ODE method"):
        odeint(y0, decay, 0.0, 1.0, method="rk45")
