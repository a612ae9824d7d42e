"""One autograd mechanism for every engine that differentiates by evaluating shifted circuits.

A *stencil* gives shift vectors ``S`` ``(K, A)`` and coefficients ``C`` ``(K, A)`` in angle space
such that

    d out / d angle_a  ~=  sum_k C[k, a] * out(angles + S[k])

(exactly for parameter-shift rules, approximately for finite differences and SPSA). The
backward pass evaluates all ``B * K`` shifted angle sets as ONE batched run of the program, then
contracts with the incoming gradient (:func:`qdiff.backends.stencils.shifted_angles` and
:func:`~qdiff.backends.stencils.combine`, shared with the Qiskit backends). The shifted
evaluation itself goes through this same Function, so the backward is differentiable again
(second derivatives by nested stencils).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qdiff.backends.stencils import combine, shifted_angles
from qdiff.errors import DifferentiationError
from qdiff.sim.program import TorchProgram

Stencil = Callable[[TorchProgram, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``stencil(program, angles (B, A)) -> (shifts (K, A), coefficients (K, A))``."""


class ShiftFunction(torch.autograd.Function):
    """``angles (B, A) -> output(run(angles))`` with a stencil-based backward."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, program: TorchProgram, initial: torch.Tensor,  # type: ignore[override]
                output: Callable[[torch.Tensor], torch.Tensor], stencil: Stencil) -> torch.Tensor:
        with torch.no_grad():
            out = output(program.run(initial, angles))
        ctx.save_for_backward(angles)
        ctx.program, ctx.initial, ctx.output, ctx.stencil = program, initial, output, stencil
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (angles,) = ctx.saved_tensors
        shifts, coeffs = ctx.stencil(ctx.program, angles.detach())
        B, K = angles.shape[0], shifts.shape[0]
        if K == 0:
            return torch.zeros_like(angles), None, None, None, None
        shifted = shifted_angles(angles, shifts)  # (B * K, A)
        initial = ctx.initial
        initial = initial.repeat_interleave(K, dim=0) if initial.shape[0] == B else initial.expand(B * K, -1)
        outs = ShiftFunction.apply(shifted, ctx.program, initial.contiguous(), ctx.output, ctx.stencil)
        return combine(grad_out, outs, coeffs), None, None, None, None


def shift_engine(stencil: Stencil, name: str) -> Callable[..., torch.Tensor]:
    """An engine (see :mod:`qdiff.grad`) called ``name`` from a stencil."""

    def engine(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
               output: Callable[[torch.Tensor], torch.Tensor], *, linear: bool = True) -> torch.Tensor:
        if angles is None:
            return output(program.run(initial_state, None))
        if initial_state.requires_grad and torch.is_grad_enabled():
            raise DifferentiationError(
                f"method={name!r} differentiates gate angles only, not the initial_state; "
                "use method='adjoint' or 'backprop' for gradients with respect to the initial state")
        if not (torch.is_grad_enabled() and angles.requires_grad):  # no backward can follow
            return output(program.run(initial_state, angles))
        if angles.shape[0] != initial_state.shape[0]:
            angles = angles.expand(initial_state.shape[0], -1)
        return ShiftFunction.apply(angles, program, initial_state, output, stencil)

    return engine
