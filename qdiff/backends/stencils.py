"""Shift stencils in angle space: the pure math behind every gradient from shifted evaluations.

A stencil is a pair ``(S, C)``, each ``(K, A)`` for ``A`` angle slots, such that

    d out / d angle_a  ~=  sum_k C[k, a] * out(angles + S[k])

exactly for parameter-shift rules, approximately for SPSA (and finite differences). Both users
share this module: :mod:`qdiff.grad` (shift engines on the torch simulator) and
:mod:`qdiff.backends.autograd` (gradients on Qiskit backends). It sits in ``backends`` because
``grad`` may import ``backends`` but not the reverse; it needs only torch and ``qdiff.ir``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from qdiff.errors import DifferentiationError
from qdiff.ir.shift_rules import ShiftRule


def rule_stencil(rules: Sequence[tuple[int, ShiftRule]], num_slots: int, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact shift rules of the listed slots: ``(S, C)``, each ``(K, num_slots)``.

    Args:
        rules: ``(slot, rule)`` pairs; row ``k`` shifts one slot by one of its rule's shifts.
        num_slots: ``A``, the number of angle slots (unlisted slots are never shifted).
    Returns:
        ``K = sum len(rule.shifts)`` rows, in the order of ``rules`` then of each rule's shifts.

    >>> from qdiff.ir.shift_rules import ShiftRule
    >>> import math
    >>> S, C = rule_stencil([(1, ShiftRule((math.pi / 2, -math.pi / 2), (0.5, -0.5), (1.0,)))], 2)
    >>> S.tolist() == [[0.0, math.pi / 2], [0.0, -math.pi / 2]], C.tolist()
    (True, [[0.0, 0.5], [0.0, -0.5]])
    """
    rows = [(a, s, c) for a, rule in rules for s, c in zip(rule.shifts, rule.coefficients)]
    S = torch.zeros(len(rows), num_slots, dtype=dtype)
    C = torch.zeros(len(rows), num_slots, dtype=dtype)
    for k, (a, s, c) in enumerate(rows):
        S[k, a] = s
        C[k, a] = c
    return S.to(device), C.to(device)


@dataclass
class SPSA:
    """Simultaneous-perturbation gradient estimates: ``samples`` random +-1 directions per stencil,
    each evaluated at ``+-epsilon``, so ``2 * samples`` evaluations whatever the number of angles.

    The estimate is unbiased to first order in ``epsilon``; its variance falls as ``1/samples``.
    On shot-based devices pick ``epsilon`` well above the shot noise (the default 0.1 rad). With a
    ``seed`` the directions come from a private generator (reproducible); without one they follow
    ``torch.manual_seed``. Pass it as ``method=`` on a backend (``qdiff.backends.SPSA``).
    """

    samples: int = 1
    epsilon: float = 0.1
    seed: int | None = None
    _generator: torch.Generator | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise DifferentiationError(f"SPSA needs an int samples >= 1, got {self.samples!r}")
        if not self.epsilon > 0:
            raise DifferentiationError(f"SPSA epsilon must be positive, got {self.epsilon!r}")
        if self.seed is not None:
            self._generator = torch.Generator()
            self._generator.manual_seed(self.seed)

    def stencil(self, num_slots: int, slots: Sequence[int] | None = None, dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(S, C)``, each ``(2 * samples, num_slots)``, perturbing ``slots`` (default all);
        ``(0, num_slots)`` when there is nothing to perturb."""
        index = list(range(num_slots)) if slots is None else list(slots)
        if not index:
            empty = torch.zeros(0, num_slots, dtype=dtype, device=device)
            return empty, empty.clone()
        signs = torch.randint(0, 2, (self.samples, len(index)), generator=self._generator).to(dtype) * 2 - 1
        delta = torch.zeros(self.samples, num_slots, dtype=dtype)
        delta[:, index] = signs
        delta = delta.to(device)
        scale = 1.0 / (2 * self.epsilon * self.samples)
        return torch.cat([self.epsilon * delta, -self.epsilon * delta]), torch.cat([delta * scale, -delta * scale])


def shifted_angles(angles: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Every shifted angle set: ``(B * K, A)`` from ``angles`` ``(B, A)`` and ``shifts`` ``(K, A)``,
    batch-major (rows ``b * K .. b * K + K - 1`` belong to ``angles[b]``)."""
    return (angles[:, None, :] + shifts.to(angles)[None]).reshape(-1, angles.shape[-1])


def combine(grad_out: torch.Tensor, outs: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """The vector-Jacobian product in angle space, ``(B, A)``.

    Args:
        grad_out: ``(B, *out)``, the incoming gradient.
        outs: ``(B * K, *out)``, the outputs at :func:`shifted_angles`.
        coefficients: ``C`` ``(K, A)``.
    Complex outputs (a state) contract as ``Re(conj(grad_out) * out)``. Differentiable.
    """
    B, K = grad_out.shape[0], coefficients.shape[0]
    outs = outs.reshape((B, K) + tuple(outs.shape[1:]))
    g = grad_out[:, None]
    weights = (g.conj() * outs).real if outs.is_complex() else g * outs.to(grad_out.dtype)
    projected = weights.reshape(B, K, -1).sum(-1)  # (B, K)
    return projected @ coefficients.to(projected)


__all__ = ["SPSA", "combine", "rule_stencil", "shifted_angles"]
