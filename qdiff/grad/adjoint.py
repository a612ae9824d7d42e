"""The ``adjoint`` engine: reverse-mode gradients in constant memory. Derivation: adjoint.md.

The autograd Function maps angles to the final state without recording a graph. Whatever comes
after it (probabilities, expectation values, variances, a Born machine's MMD loss) is ordinary
torch, so its backward receives ``lambda = dL/dpsi*`` for ANY output and walks the circuit in
reverse, uncomputing the state with inverse gates:

    dL/dtheta_k = 2 Re <lambda_k| (-i G_k) |psi_k>        (torch's complex-gradient convention
                                                           absorbs the factor 2 in lambda)
    psi_{k-1} = U_k^dagger psi_k,   lambda_{k-1} = U_k^dagger lambda_k.

Both vectors are stacked into one ``(2B, 2**n)`` batch so each inverse gate is one kernel call.
Extra memory: the stacked pair plus one temporary, independent of depth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from qdiff.errors import DifferentiationError
from qdiff.sim.kernels import MonomialPlan
from qdiff.sim.program import TorchProgram, apply_step


def _inverse_fixed(program: TorchProgram) -> list[object]:
    """Inverse of every fixed step (conjugate transpose, conjugate diagonal, inverse permutation)."""
    n = program.program.num_qubits
    out: list[object] = []
    for step, op in zip(program.program.steps, program.fixed):
        if step.slot is not None:
            out.append(None)
        elif step.kind == "monomial":
            perm, phases = step.monomial
            inv_perm = [0] * len(perm)
            inv_phases = [0j] * len(perm)
            for j, (p, ph) in enumerate(zip(perm, phases)):
                inv_perm[p] = j
                inv_phases[p] = np.conj(ph)
            out.append(MonomialPlan(inv_perm, inv_phases, step.qubits, n))
        elif step.kind == "diagonal":
            out.append(op.conj())
        else:
            out.append(op.conj().transpose(-1, -2).contiguous())
    return out


def _generators(program: TorchProgram) -> list[torch.Tensor | None]:
    """``-i G`` for every rotation step (a diagonal ``(d,)`` or a matrix ``(d, d)``)."""
    out: list[torch.Tensor | None] = []
    for step in program.program.steps:
        if step.slot is None:
            out.append(None)
            continue
        g = np.diag(step.generator) if step.kind == "diagonal" else step.generator
        out.append(torch.as_tensor(-1j * g, dtype=program.dtype, device=program.device))
    return out


def _adjoint_data(program: TorchProgram) -> tuple[list[object], list[torch.Tensor | None]]:
    cache = program.__dict__.setdefault("_adjoint_cache", None)
    if cache is None:
        cache = (_inverse_fixed(program), _generators(program))
        program.__dict__["_adjoint_cache"] = cache
    return cache


class AdjointState(torch.autograd.Function):
    """``(angles (B, A), initial (B, 2**n)) -> final state (B, 2**n)`` with an adjoint backward."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, initial: torch.Tensor, program: TorchProgram) -> torch.Tensor:  # type: ignore[override]
        with torch.no_grad():
            final = program.run(initial, angles)
        ctx.save_for_backward(angles, final)
        ctx.program = program
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
        steps = program.program.steps
        n = program.program.num_qubits
        inverse_fixed, generators = _adjoint_data(program)
        B = final.shape[0]
        # U(theta)^dagger = U(-theta) for every rotation: all inverses in one vectorised call
        inverses = program.rotation_operators(-angles)
        if angles.shape[0] == 1:  # shared by the whole batch: unbatched operators broadcast
            inverses = [None if op is None else op[0] for op in inverses]
        else:  # per-sample operators, repeated for the stacked (psi, lambda) pair
            inverses = [None if op is None else torch.cat([op, op]) for op in inverses]
        phase = program.program.global_phase
        pair = torch.cat([final, grad_state.to(final.dtype)])  # (2B, N): psi on top, lambda below
        if phase:
            pair = pair * complex(np.exp(-1j * phase))
        slots: list[int] = []
        contributions: list[torch.Tensor] = []
        for i in range(len(steps) - 1, -1, -1):
            step = steps[i]
            if step.slot is None:
                pair = apply_step(pair, step.kind, inverse_fixed[i], step.qubits, n)
                continue
            g_psi = apply_step(pair[:B], step.kind, generators[i], step.qubits, n)
            contributions.append(torch.linalg.vecdot(pair[B:], g_psi).real)  # Re <lambda|-iG|psi>, (B,)
            slots.append(step.slot)
            pair = apply_step(pair, step.kind, inverses[i], step.qubits, n)
        grad_angles = torch.zeros(B, angles.shape[1], dtype=angles.dtype, device=angles.device)
        if slots:
            index = torch.tensor(slots, device=angles.device).expand(B, -1)
            grad_angles.scatter_add_(1, index, torch.stack(contributions, dim=1))
        if angles.shape[0] == 1 and B > 1:  # angles were shared: sum the per-sample contributions
            grad_angles = grad_angles.sum(0, keepdim=True)
        return grad_angles, pair[B:], None


def adjoint(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
            output: Callable[[torch.Tensor], torch.Tensor], *, linear: bool = True) -> torch.Tensor:
    """Adjoint engine: the final state from :class:`AdjointState`, then ``output`` by autograd."""
    if angles is None:
        angles = torch.zeros(1, 0, dtype=initial_state.real.dtype, device=initial_state.device)
    return output(AdjointState.apply(angles, initial_state, program))
