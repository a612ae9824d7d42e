"""One sweep over every bijector: inverse round trip, log|det J| against autograd's Jacobian, and
sample / log_prob consistency of the flow built on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from qdiff.flows import (
    CNF,
    AffineCoupling,
    Bijector,
    Chain,
    Flow,
    Logit,
    MLPPotential,
    MongeAmpereFlow,
    NetPotential,
    NeuralRG,
    RealNVP,
    SymmetrizedPotential,
    checkerboard_mask,
    lattice_symmetries,
    mlp,
)


def _perturb(module: nn.Module) -> nn.Module:
    """Random (non-identity) parameters: flows start at the identity, which would test nothing."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module


CASES: dict[str, tuple[Callable[[], Bijector], int, float]] = {
    # name: (factory, dim, tolerance of the round trip / log-det checks); the ODE flows' tolerance is
    # their RK4 discretisation error O(dt^4) (the largest over 30 seeds is below 1e-5)
    "coupling": (lambda: AffineCoupling(checkerboard_mask(2, 2), [8]), 4, 1e-10),
    "realnvp-alternating": (lambda: RealNVP(3, layers=3, hidden=8), 3, 1e-10),
    "realnvp-checkerboard": (lambda: RealNVP(9, layers=2, hidden=8, mask="checkerboard", shape=(3, 3)), 9, 1e-10),
    "realnvp-half": (lambda: RealNVP(4, layers=2, hidden=8, mask="half"), 4, 1e-10),
    "logit": (lambda: Logit(0.05), 3, 1e-10),
    "chain": (lambda: Chain([RealNVP(2, 2, 8), Logit(0.1)]), 2, 1e-10),
    "neuralrg": (lambda: NeuralRG(4, depth=1, kernel_layers=2, hidden=8), 16, 1e-10),
    "ma-mlp": (lambda: MongeAmpereFlow(MLPPotential(3, 8), steps=10, dt=0.1), 3, 2e-5),
    "ma-lncosh": (lambda: MongeAmpereFlow(MLPPotential(4, 8, "lncosh", bias=False), steps=10, dt=0.1), 4, 2e-5),
    "ma-lattice": (lambda: MongeAmpereFlow(SymmetrizedPotential(MLPPotential(4, 6, "lncosh", False),
                                                                lattice_symmetries(2, 2)), steps=10, dt=0.1), 4, 2e-5),
    "ma-net-exact": (lambda: MongeAmpereFlow(NetPotential(mlp([3, 8, 1], zero_last=False), hutchinson=False),
                                             steps=10, dt=0.1), 3, 2e-5),
    "cnf": (lambda: CNF(mlp([3, 8, 2], zero_last=False), steps=10, dt=0.1), 2, 2e-5),
}


@pytest.fixture(params=sorted(CASES))
def case(request) -> tuple[str, Bijector, int, float]:
    torch.manual_seed(sorted(CASES).index(request.param))  # str hash() is salted per process
    factory, dim, tol = CASES[request.param]
    return request.param, _perturb(factory()).double(), dim, tol


def test_inverse_round_trip(case):
    name, bij, dim, tol = case
    z = torch.randn(5, dim, dtype=torch.float64)
    x, ld = bij(z)
    z2, ld2 = bij.inverse(x)
    assert x.shape == z.shape and ld.shape == (5,)
    assert not torch.allclose(x, z), f"{name} acts as the identity: the test would prove nothing"
    torch.testing.assert_close(z2, z, atol=tol, rtol=0)
    torch.testing.assert_close(ld2, -ld, atol=tol * 10, rtol=0)


def test_log_det_matches_autograd_jacobian(case):
    name, bij, dim, tol = case
    z = torch.randn(3, dim, dtype=torch.float64)
    _, ld = bij(z)
    for k in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: bij(v[None])[0][0], z[k])
        torch.testing.assert_close(ld[k], torch.linalg.slogdet(jac)[1], atol=tol * 100, rtol=0)


def test_sample_and_log_prob_agree(case):
    name, bij, dim, tol = case
    flow = Flow(bij, dim).double()
    x, logq = flow.sample_and_log_prob(6)
    torch.testing.assert_close(flow.log_prob(x), logq, atol=tol * 100, rtol=0)
    assert flow.sample(2).shape == (2, dim)


def test_context_is_an_argument_not_a_subclass():
    torch.manual_seed(0)
    coupling = _perturb(AffineCoupling(checkerboard_mask(2, 2), [8], context_dim=2)).double()
    z, c = torch.randn(4, 4, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    x, ld = coupling(z, c)
    z2, ld2 = coupling.inverse(x, c)
    torch.testing.assert_close(z2, z)
    assert not torch.allclose(coupling(z, -c)[0], x)
    with pytest.raises(ValueError, match="context"):
        coupling(z)
    with pytest.raises(ValueError, match="does not take a context"):
        Logit()(z, c)
