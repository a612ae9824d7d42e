"""The ``adjoint`` engine: reverse-mode gradients in constant memory. Derivation: adjoint.md.

The autograd Function maps angles to the final state without recording a graph. Whatever comes
after it (probabilities, expectation values, variances, a Born machine's MMD loss) is ordinary
torch, so its backward receives ``lambda = dL/dpsi*`` for ANY output and walks the fused plan
(:mod:`qdiff.sim.plan`) in reverse, uncomputing the state with inverse blocks. For a rotating
block ``M(theta)`` on ``k`` qubits it records the ``2**k x 2**k`` cross matrix

    X = sum over the other qubits (and shared batch) of  lambda_out psi_out^H,

and at the end the angle gradient is the VJP of the small operators with cotangent ``X M``
(``X * M`` for diagonals), computed by torch.autograd through the vectorised build of all block
operators at once:

    psi_in = M^H psi_out,   lambda_in = M^H lambda_out.

Both vectors are stacked into one ``(2B, 2**n)`` batch so each inverse block is one kernel call.
A Pauli block ``exp(-i theta g M)`` (``M`` monomial, :mod:`qdiff.sim.monomial_rotation`) records
the scalar ``y = sum lambda_out conj(M psi_out)`` instead of a ``2**k x 2**k`` cross matrix; the
same monomial call that gives ``M psi_out`` also gives the inverse, ``a* pair + b* M pair``.
Extra memory: the stacked pair plus one temporary, independent of depth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from qdiff.errors import DifferentiationError
from qdiff.sim.kernels import MonomialPlan
from qdiff.sim.monomial_rotation import pauli_cross
from qdiff.sim.plan import Built, Operator, TorchPlan, apply_block, cross, rotate_block
from qdiff.sim.plan_vjp import angle_gradient
from qdiff.sim.program import TorchProgram


def _inverse_fixed(plan: TorchPlan) -> list[Operator | None]:
    """Inverse of every fixed block (cached on the plan): conjugate transpose, conjugate
    diagonal, inverse monomial; ``None`` for rotating blocks."""
    cache = plan.__dict__.get("_inverse_fixed")
    if cache is None:
        cache = []
        for block in plan.blocks:
            op = block.fixed
            if op is None:
                cache.append(None)
            elif isinstance(op, MonomialPlan):
                cache.append(op.inverse())
            elif block.kind == "diagonal":
                cache.append(op.conj())
            else:
                cache.append(op.conj().mT.contiguous())
        plan.__dict__["_inverse_fixed"] = cache
    return cache


class AdjointState(torch.autograd.Function):
    """``(angles (B, A), initial (B, 2**n)) -> final state (B, 2**n)`` with an adjoint backward."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, initial: torch.Tensor, program: TorchProgram) -> torch.Tensor:  # type: ignore[override]
        plan = program.plan(initial.shape[0], angles.shape[0])
        with torch.no_grad():
            built = plan.build(angles if angles.shape[1] else None)
            final = program.run(initial, angles, built=built)
        ctx.save_for_backward(angles, final)
        ctx.program, ctx.plan, ctx.built = program, plan, built
        return final

    @staticmethod
    def backward(ctx, grad_state: torch.Tensor):  # type: ignore[override]
        if torch.is_grad_enabled():
            raise DifferentiationError(
                "method='adjoint' gives first derivatives only (its backward cannot be differentiated); "
                "for Hessians use method='param_shift' or 'backprop', or qdiff.hessian")
        return AdjointState._sweep(ctx, grad_state)

    @staticmethod
    def _sweep(ctx, grad_state: torch.Tensor) -> tuple:  # type: ignore[no-untyped-def]
        angles, final = ctx.saved_tensors
        program: TorchProgram = ctx.program
        plan: TorchPlan = ctx.plan
        built: Built = ctx.built
        B = final.shape[0]
        per_sample = angles.shape[0] > 1
        n = plan.num_qubits
        want_angles = ctx.needs_input_grad[0] and angles.shape[1] > 0
        ops = plan.operators(None, built)
        inverse_fixed = _inverse_fixed(plan)
        pair = torch.cat([final, grad_state.to(final.dtype)])  # (2B, N): psi on top, lambda below
        if program.program.global_phase:
            pair = pair * complex(np.exp(-1j * program.program.global_phase))
        crosses: dict[int, torch.Tensor] = {}
        for b in range(len(plan.blocks) - 1, -1, -1):
            block = plan.blocks[b]
            inverse = inverse_fixed[b]
            if block.kind == "pauli":  # one monomial call gives M psi_out (for y) and the inverse
                rotation = ops[b].inverse()
                lam_out = pair[B:]
                pair, moved = rotate_block(pair, rotation.repeat(2) if per_sample else rotation)
                if want_angles:  # y = sum lambda_out conj(M psi_out)
                    crosses[b] = pauli_cross(lam_out, moved[:B], per_sample)
                continue
            if inverse is None:
                if want_angles:  # Y = lambda_out psi_out^H on the block's qubits
                    crosses[b] = cross(pair[B:], pair[:B], block.kind, block.qubits, n, per_sample)
                op = ops[b]
                inverse = op.conj() if block.kind == "diagonal" else op.conj().mT
                if per_sample:
                    inverse = torch.cat([inverse, inverse])
            pair = apply_block(pair, block.kind, inverse, block.qubits, n)
        grad_angles = None
        if want_angles:
            grad_angles = torch.zeros_like(angles)
            if crosses:
                grad_angles = angle_gradient(plan, built, crosses, per_sample, angles.shape[1]).to(angles.dtype)
        return grad_angles, pair[B:], None


def adjoint(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
            output: Callable[[torch.Tensor], torch.Tensor], *, linear: bool = True) -> torch.Tensor:
    """Adjoint engine: the final state from :class:`AdjointState`, then ``output`` by autograd."""
    if angles is None:
        angles = torch.zeros(1, 0, dtype=initial_state.real.dtype, device=initial_state.device)
    return output(AdjointState.apply(angles, initial_state, program))
