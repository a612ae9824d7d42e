"""Gradients on Qiskit backends: shift stencils in angle space and one autograd Function.

A stencil gives shift vectors ``S`` ``(K, A)`` and coefficients ``C`` ``(K, A)`` with

    d out / d angle_a  ~=  sum_k C[k, a] * out(angles + S[k])

(exact for parameter-shift rules, a stochastic estimate for SPSA). :class:`BackendFunction`
evaluates the backend on a batch of angle sets ``(B, A)``; its backward evaluates all ``B * K``
shifted angle sets in ONE call of the backend's evaluation function (one job, split only where a
device's execution limit requires it). With ``prefetch`` the shifted sets travel in the same
job as the forward evaluation, so a training step costs one job in all.

This mirrors :mod:`qdiff.grad.shifts` for backends; it lives here because the layers below
``grad`` must not import it and ``grad`` must not know about Qiskit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.autograd.function import once_differentiable

from qdiff.errors import DifferentiationError
from qdiff.ir.shift_rules import ShiftRule

Evaluate = Callable[[torch.Tensor], torch.Tensor]
"""``evaluate(angles (N, A) float64) -> outputs (N, *out)``, one backend job."""


def param_shift_stencil(rules: tuple[ShiftRule, ...], dtype: torch.dtype = torch.float64
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact shift rules of every slot: ``(S, C)``, each ``(K, A)`` with ``K = sum_a len(rules[a])``."""
    A = len(rules)
    rows = [(a, s, c) for a, rule in enumerate(rules) for s, c in zip(rule.shifts, rule.coefficients)]
    S = torch.zeros(len(rows), A, dtype=dtype)
    C = torch.zeros(len(rows), A, dtype=dtype)
    for k, (a, s, c) in enumerate(rows):
        S[k, a] = s
        C[k, a] = c
    return S, C


@dataclass
class SPSA:
    """Simultaneous-perturbation gradient estimates for backends (``method=SPSA(...)``).

    ``samples`` random +-1 directions per backward, each evaluated at ``+-epsilon``: ``2 * samples``
    evaluations per parameter set whatever the number of angles. On shot-based devices pick
    ``epsilon`` well above the shot noise (default 0.1 rad). A ``seed`` makes the directions
    reproducible (private generator); without one they follow ``torch.manual_seed``.
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

    def stencil(self, num_slots: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """``(S, C)``, each ``(2 * samples, A)``."""
        signs = torch.randint(0, 2, (self.samples, num_slots), generator=self._generator).to(dtype) * 2 - 1
        scale = 1.0 / (2 * self.epsilon * self.samples)
        return (torch.cat([self.epsilon * signs, -self.epsilon * signs]),
                torch.cat([signs * scale, -signs * scale]))


Stencil = Callable[[], tuple[torch.Tensor, torch.Tensor]]


class BackendFunction(torch.autograd.Function):
    """``angles (B, A) -> evaluate(angles) (B, *out)`` with a stencil-based backward."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, evaluate: Evaluate, stencil: Stencil,  # type: ignore[override]
                prefetch: bool) -> torch.Tensor:
        B, A = angles.shape
        ctx.evaluate, ctx.stencil, ctx.shifted = evaluate, stencil, None
        if prefetch and A:
            S, C = stencil()
            shifted = (angles[:, None, :] + S.to(angles)[None]).reshape(-1, A)
            outs = evaluate(torch.cat([angles, shifted]))
            ctx.shifted, ctx.coeffs = outs[B:], C
            out = outs[:B]
        else:
            out = evaluate(angles)
        ctx.save_for_backward(angles)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (angles,) = ctx.saved_tensors
        B, A = angles.shape
        if A == 0:
            return torch.zeros_like(angles), None, None, None
        if ctx.shifted is None:
            S, C = ctx.stencil()
            shifted = (angles[:, None, :] + S.to(angles)[None]).reshape(-1, A)
            outs = ctx.evaluate(shifted)
        else:
            outs, C = ctx.shifted, ctx.coeffs
        K = C.shape[0]
        outs = outs.reshape((B, K) + tuple(outs.shape[1:])).to(grad_out.dtype)
        projected = (grad_out[:, None] * outs).reshape(B, K, -1).sum(-1)  # (B, K)
        return projected @ C.to(projected), None, None, None


def differentiate(angles: torch.Tensor, evaluate: Evaluate, stencil: Stencil, prefetch: bool) -> torch.Tensor:
    """Evaluate ``angles`` ``(B, A)`` through :class:`BackendFunction` when a gradient is needed."""
    if not (torch.is_grad_enabled() and angles.requires_grad):
        with torch.no_grad():
            return evaluate(angles.detach())
    return BackendFunction.apply(angles, evaluate, stencil, prefetch)
