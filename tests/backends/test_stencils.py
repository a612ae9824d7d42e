"""qdiff.backends.stencils: the one home of the stencil math used by qdiff.grad and the backends."""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff.backends import SPSA
from qdiff.backends.stencils import combine, rule_stencil, shifted_angles
from qdiff.grad.stencils import SPSAStencil
from qdiff.ir.library import GATES


def test_rule_stencil_rows_follow_the_rules():
    crz = GATES["crz"].shift_rule  # four-term rule
    S, C = rule_stencil([(2, crz), (0, GATES["ry"].shift_rule)], 3)
    assert S.shape == C.shape == (len(crz) + 2, 3)
    assert S[:len(crz), 2].tolist() == list(crz.shifts) and C[len(crz):, 0].tolist() == [0.5, -0.5]
    assert (S[:, 1] == 0).all() and rule_stencil([], 3)[0].shape == (0, 3)


def test_spsa_directions_are_shared_by_grad_and_backends():
    a, b = SPSA(samples=3, epsilon=0.2, seed=4), SPSAStencil(samples=3, epsilon=0.2, seed=4)
    Sa, Ca = a.stencil(5)
    Sb, Cb = b.stencil(5)
    assert torch.equal(Sa, Sb) and torch.equal(Ca, Cb) and isinstance(b, SPSA)
    assert SPSAStencil().epsilon == 0.01 and SPSA().epsilon == 0.1
    assert set(Sa.abs().unique().tolist()) == {0.2} and torch.allclose(Ca.abs(), torch.full_like(Ca, 1 / (2 * 0.2 * 3)))
    S, _ = SPSA(samples=2, seed=1).stencil(4, slots=[1, 3])
    assert (S[:, [0, 2]] == 0).all() and (S[:, [1, 3]] != 0).all()
    with pytest.raises(qdiff.DifferentiationError, match="samples"):
        SPSA(samples=0)


def test_shift_and_combine_give_the_exact_derivative_of_a_cosine():
    angles = torch.tensor([[0.3, -1.1], [2.0, 0.4]], dtype=torch.float64)
    rule = GATES["rx"].shift_rule
    S, C = rule_stencil([(0, rule), (1, rule)], 2)
    def f(a: torch.Tensor) -> torch.Tensor:  # (N, 1): cos(a0) cos(a1), each factor a Pauli-rotation-like cosine
        return torch.cos(a).prod(-1, keepdim=True)

    grad = combine(torch.ones(2, 1, dtype=torch.float64), f(shifted_angles(angles, S)), C)
    expected = torch.stack([-torch.sin(angles[:, 0]) * torch.cos(angles[:, 1]),
                            -torch.cos(angles[:, 0]) * torch.sin(angles[:, 1])], dim=-1)
    torch.testing.assert_close(grad, expected)
    assert shifted_angles(angles, S).shape == (2 * S.shape[0], 2)
