"""Gradients on Qiskit backends: shift stencils in angle space and one autograd Function.

A stencil gives shift vectors ``S`` ``(K, A)`` and coefficients ``C`` ``(K, A)`` with

    d out / d angle_a  ~=  sum_k C[k, a] * out(angles + S[k])

(exact for parameter-shift rules, a stochastic estimate for SPSA). :class:`BackendFunction`
evaluates the backend on a batch of angle sets ``(B, A)``; its backward evaluates all ``B * K``
shifted angle sets in ONE call of the backend's evaluation function (one job, split only where a
device's execution limit requires it). With ``prefetch`` the shifted sets travel in the same
job as the forward evaluation, so a training step costs one job in all.

The stencil math (shift rules, SPSA directions, shifting and contracting) is
:mod:`qdiff.backends.stencils`, shared with :mod:`qdiff.grad.shifts`; the autograd Function is
this layer's own because it calls a backend job instead of the torch simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd.function import once_differentiable

from qdiff.backends.stencils import combine, shifted_angles

Evaluate = Callable[[torch.Tensor], torch.Tensor]
"""``evaluate(angles (N, A) float64) -> outputs (N, *out)``, one backend job."""


Stencil = Callable[[], tuple[torch.Tensor, torch.Tensor]]
"""``stencil() -> (S, C)``, each ``(K, A)`` (see :mod:`qdiff.backends.stencils`); called once per backward."""


class BackendFunction(torch.autograd.Function):
    """``angles (B, A) -> evaluate(angles) (B, *out)`` with a stencil-based backward."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, evaluate: Evaluate, stencil: Stencil,  # type: ignore[override]
                prefetch: bool) -> torch.Tensor:
        B, A = angles.shape
        ctx.evaluate, ctx.stencil, ctx.shifted = evaluate, stencil, None
        if prefetch and A:
            S, C = stencil()
            outs = evaluate(torch.cat([angles, shifted_angles(angles, S)]))
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
        if angles.shape[1] == 0:
            return torch.zeros_like(angles), None, None, None
        if ctx.shifted is None:
            S, C = ctx.stencil()
            outs = ctx.evaluate(shifted_angles(angles, S))
        else:
            outs, C = ctx.shifted, ctx.coeffs
        return combine(grad_out, outs, C), None, None, None


def differentiate(angles: torch.Tensor, evaluate: Evaluate, stencil: Stencil, prefetch: bool) -> torch.Tensor:
    """Evaluate ``angles`` ``(B, A)`` through :class:`BackendFunction` when a gradient is needed."""
    if not (torch.is_grad_enabled() and angles.requires_grad):
        with torch.no_grad():
            return evaluate(angles.detach())
    return BackendFunction.apply(angles, evaluate, stencil, prefetch)


__all__ = ["BackendFunction", "Evaluate", "Stencil", "differentiate"]
