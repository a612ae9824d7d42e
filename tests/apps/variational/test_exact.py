"""Exact references and the differentiable eigensolver."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qdiff
from qdiff.apps.variational import (
    DegenerateSpectrumError,
    ParametrizedHamiltonian,
    eigh_ground,
    ground_state,
    heisenberg,
    tfim,
)


def test_heisenberg_reference_energies():
    assert ground_state(heisenberg(8)).energy == pytest.approx(-14.604374, abs=1e-6)
    assert ground_state(heisenberg(10), method="sparse").energy == pytest.approx(-18.061785, abs=1e-6)


def test_sparse_lanczos_agrees_with_dense_eigh():
    H = tfim(9, h=0.8, periodic=False)
    dense, sparse = ground_state(H, method="dense"), ground_state(H, method="sparse")
    assert sparse.energy == pytest.approx(dense.energy, abs=1e-9)
    assert dense.fidelity(sparse.state) == pytest.approx(1.0, abs=1e-8)
    assert dense.energy == pytest.approx(float(np.linalg.eigvalsh(H.to_matrix())[0]), abs=1e-10)
    psi = dense.state
    assert float(torch.vdot(psi, torch.as_tensor(H.to_matrix()) @ psi).real) == pytest.approx(dense.energy)


def test_particle_sector():
    H = heisenberg(4, periodic=False) + 3 * sum((qdiff.Z(i) for i in range(4)), qdiff.PauliSum())
    gs = ground_state(H, particles=2)
    idx = [z for z in range(16) if bin(z).count("1") == 2]
    M = H.to_matrix()[np.ix_(idx, idx)]
    assert gs.energy == pytest.approx(np.linalg.eigvalsh(M)[0])
    assert float(gs.state.abs()[[z for z in range(16) if z not in idx]].max()) == 0


def test_ground_state_rejects_bad_input():
    with pytest.raises(qdiff.ObservableError, match="not Hermitian"):
        ground_state(qdiff.X(0) + 1j * qdiff.Z(0))
    with pytest.raises(qdiff.StateTooLargeError):
        ground_state(tfim(14), method="dense")


def _fd(f, x, eps=1e-6):
    g = torch.zeros_like(x)
    for k in range(len(x)):
        d = torch.zeros_like(x)
        d[k] = eps
        g[k] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def test_eigensolver_gradients_match_finite_differences():
    n = 4
    terms = [qdiff.Z(i) @ qdiff.Z(i + 1) for i in range(n - 1)] + [qdiff.X(i) for i in range(n)] + [qdiff.Z(0)]
    model = ParametrizedHamiltonian(terms)
    target = torch.randn(2**n, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    target = target / target.norm()
    c = torch.tensor([-1.0, -0.8, -1.2, -0.5, -0.7, -0.9, -0.4, 0.3], dtype=torch.float64)

    def loss(x):
        e, v = model.ground_state(x)
        return e + 3 * torch.vdot(target, v).abs().square()

    x = c.clone().requires_grad_()
    loss(x).backward()
    assert torch.allclose(x.grad, _fd(lambda y: loss(y).detach(), c), atol=1e-6)


def test_degenerate_ground_state_raises_but_energy_stays_differentiable():
    H = torch.diag(torch.tensor([-1.0, -1.0, 2.0], dtype=torch.complex128)).requires_grad_()
    e, v = eigh_ground(H)
    with pytest.raises(DegenerateSpectrumError, match="degenerate"):
        (e + v.abs().square().sum()).backward()
    H2 = H.detach().clone().requires_grad_()
    e, _ = eigh_ground(H2)
    e.backward()
    assert torch.allclose(H2.grad.diagonal().real, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))


def test_eigensolver_rejects_non_hermitian():
    with pytest.raises(qdiff.ObservableError, match="Hermitian"):
        eigh_ground(torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.complex128))
    with pytest.raises(qdiff.ObservableError, match="real"):
        ParametrizedHamiltonian([qdiff.Z(0)]).matrix(torch.tensor([1j]))


def test_learn_tfim_couplings_to_match_a_target_ground_state():
    """Inverse problem: couplings of an 8-site TFIM chain whose ground state is a given state."""
    n = 8
    terms = [qdiff.Z(i) @ qdiff.Z(i + 1) for i in range(n - 1)] + [qdiff.X(i) for i in range(n)]
    model = ParametrizedHamiltonian(terms)
    g = torch.Generator().manual_seed(1)
    true = -(0.5 + torch.rand(len(terms), generator=g, dtype=torch.float64))
    _, target = model.ground_state(true)
    c = torch.full((len(terms),), -1.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([c], lr=0.05)
    fidelities = []
    for _ in range(40):
        opt.zero_grad()
        _, v = model.ground_state(c)
        fid = torch.vdot(target, v).abs().square()
        (-fid).backward()
        opt.step()
        fidelities.append(float(fid.detach()))
    assert fidelities[-1] > 0.999 > fidelities[0]
