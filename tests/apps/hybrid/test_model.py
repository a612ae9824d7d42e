"""The hybrid Born-machine + conditional-flow model: the exact likelihood equals brute-force
marginalisation and integrates to one, gradients into the circuit (adjoint) and the flow match
finite differences, samples follow the likelihood, posteriors are Bayes' rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qdiff
from qdiff.apps.hybrid import HybridBornFlow, conditional_realnvp
from qdiff.apps.qcbm import BornMachine, born_circuit


def _model(dim=2, k=2, unit_box=False, seed=0, scale=0.3):
    """A tiny model whose flow really depends on z: every flow parameter randomised (seeded)."""
    torch.manual_seed(seed)
    flow = conditional_realnvp(dim, k, hidden=6, layers=2, unit_box=unit_box, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * scale)
    edges = [(q, q + 1) for q in range(k - 1)]
    return HybridBornFlow(BornMachine(born_circuit(k, 2, edges), seed=seed), flow)


def test_exact_likelihood_equals_brute_force_marginalisation():
    model = _model(dim=3, k=3)
    x = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    # independent route: probabilities from the statevector, one flow call per (x, z) pair
    psi = qdiff.state(model.prior.circuit, model.prior.weights.detach())
    p = psi.abs().square()
    brute = []
    for row in x.detach():
        total = 0.0
        for z in range(8):
            bits = torch.tensor([[2.0 * ((z >> j) & 1) - 1 for j in range(3)]], dtype=torch.float64)
            with torch.no_grad():
                total += float(p[z]) * math.exp(float(model.flow.log_prob(row[None], bits)))
        brute.append(math.log(total))
    with torch.no_grad():
        ours = model.log_prob(x)
        post = model.posterior(x)
    assert torch.allclose(ours, torch.tensor(brute, dtype=torch.float64), atol=1e-10, rtol=0)
    # posterior = Bayes' rule on the same joint
    joint = torch.stack([torch.log(p[z]) + model.flow.log_prob(x, model.context(torch.full((7,), z)))
                         for z in range(8)], 1).detach()
    assert torch.allclose(post, torch.softmax(joint, 1), atol=1e-12)
    assert torch.allclose(post.sum(1), torch.ones(7, dtype=torch.float64))


def test_chunked_evaluation_gives_the_same_likelihood():
    model = _model(dim=2, k=3)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model.log_prob(x)
        model.chunk = 3  # 8 latent states in chunks of 3, 3, 2
        assert torch.allclose(model.log_prob(x), whole, atol=1e-13)


def test_density_integrates_to_one():
    model = _model(dim=2, k=2, scale=0.2)
    axis = torch.linspace(-8, 8, 321, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        density = model.log_prob(grid).exp()
    total = float(density.sum() * (axis[1] - axis[0]) ** 2)
    assert abs(total - 1) < 2e-3


def _adjoint_ran(tensor: torch.Tensor) -> bool:
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if "Adjoint" in type(fn).__name__:
            return True
        stack.extend(f for f, _ in fn.next_functions)
    return False


def test_gradients_match_finite_differences_for_circuit_and_flow():
    model = _model(dim=2, k=2, unit_box=True)
    x = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    loss = -model.log_prob(x).mean()
    assert _adjoint_ran(loss)  # the circuit's gradient comes from the adjoint engine by default
    model.zero_grad()
    loss.backward()
    params = dict(model.named_parameters())
    assert "prior.weights" in params and len(params) > 5
    h = 1e-6
    for name, param in params.items():
        flat = param.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 4)):  # a few entries of every tensor
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + h
                up = float(-model.log_prob(x).mean())
                flat[i] = old - h
                down = float(-model.log_prob(x).mean())
                flat[i] = old
            fd = (up - down) / (2 * h)
            assert abs(param.grad.view(-1)[i] - fd) < 1e-6 * max(1.0, abs(fd)), (name, i, float(param.grad.view(-1)[i]), fd)
    assert model.prior.weights.grad.abs().max() > 1e-3  # the circuit really receives a gradient


def test_samples_follow_the_likelihood():
    model = _model(dim=2, k=2, unit_box=True, scale=0.4)
    n = 20000
    x, z = model.sample(n, seed=4, return_latent=True)
    # latent histogram against the circuit's probabilities
    p = model.prior.probs().detach()
    freq = torch.bincount(z, minlength=4).double() / n
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-3).all()
    # 4x4 histogram of x against the density integrated over each cell (midpoint rule, 40x40 per cell)
    cells = 4
    counts = torch.histogramdd(x.float(), bins=[cells, cells], range=[0.0, 1.0, 0.0, 1.0]).hist.double() / n
    fine = 160
    centres = (torch.arange(fine, dtype=torch.float64) + 0.5) / fine
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        mass = (model.log_prob(grid).exp() / fine**2).reshape(cells, fine // cells, cells, fine // cells).sum((1, 3))
    assert abs(float(mass.sum()) - 1) < 5e-3
    stderr = (mass * (1 - mass) / n).sqrt()
    assert ((counts - mass).abs() <= 5 * stderr + 3e-3).all(), (counts, mass)


def test_conditional_and_posterior_sampling():
    model = _model(dim=2, k=2, scale=0.4)
    z = torch.tensor([0, 3, 3, 1])
    x = model.sample_given(z, seed=0)
    assert x.shape == (4, 2) and torch.equal(model.sample_given(z, seed=0), x)  # seeded
    # x | z = 3 from the flow alone: same noise, same map
    torch.manual_seed(0)
    direct = model.flow.sample(4, model.context(z))
    assert torch.allclose(x, direct)
    points = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    draws = model.sample_posterior(points, 20000, seed=1)
    assert draws.shape == (3, 20000)
    freq = torch.stack([torch.bincount(row, minlength=4) for row in draws]).double() / 20000
    post = model.posterior(points).detach()
    assert ((freq - post).abs() < 5 * (post * (1 - post) / 20000).sqrt() + 1e-3).all()


def test_sampling_is_seeded_and_checks_its_input():
    model = _model()
    assert torch.equal(model.sample(5, seed=3), model.sample(5, seed=3))
    with pytest.raises(ValueError, match="latent states must lie in 0..3"):
        model.sample_given(torch.tensor([4]))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2\)"):
        model.log_prob(torch.zeros(3, 5))


def test_bad_models_are_rejected_with_a_fix():
    machine = BornMachine(born_circuit(2, 1, [(0, 1)]))
    with pytest.raises(ValueError, match="context_dim=2"):
        HybridBornFlow(machine, conditional_realnvp(2, 0))
    big = BornMachine(qdiff.Circuit(13).rx(qdiff.Parameter("a"), 0))
    with pytest.raises(ValueError, match="at most 12"):
        HybridBornFlow(big, conditional_realnvp(2, 13))


def test_float32_flow_with_float64_prior():
    model = _model()
    model.flow.float()
    x = torch.randn(4, 2)
    out = model.log_prob(x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    out.sum().backward()
    assert model.prior.weights.grad is not None and np.isfinite(model.prior.weights.grad.numpy()).all()
