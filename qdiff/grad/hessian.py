"""Second derivatives of circuit outputs: the Hessian with respect to the parameters.

:func:`hessian` maps ``(program, angles, initial_state, output)`` (the engine signature, see
:mod:`qdiff.grad`) to ``d2 output / d values_i d values_j`` of shape ``(B, *out, P, P)``.

``method="param_shift"`` applies each slot's exact shift rule twice, in angle space. For a rule
``f'(a) = sum_m c_m f(a + s_m)`` (exact for every trigonometric polynomial with the generator's
frequencies, and the derivative of such a polynomial is one again)

    d2f / da_i da_j = sum_{m,n} c_m c_n f(angles + s_m e_i + s_n e_j),

also for ``i == j``, where the shifts add (the two-term rule gives ``[f(a+pi) - 2 f(a) +
f(a-pi)] / 4``). Equal shift vectors are evaluated once, and all of them, for every batch element,
form ONE batched :meth:`TorchProgram.run`. The chain rule to parameters is
``H_params = W^T H_angles W`` with ``W`` the program's ``(A, P)`` weights (angles are affine in
the values, so there is no first-derivative term). The result is exact and detached.

``"backprop"`` and ``"finite_diff"`` differentiate their engine twice with torch autograd
(``finite_diff`` with the step ``eps**(1/4)``, the optimum for a nested central difference).
``"adjoint"`` is once-differentiable, so the outer derivative is a central difference of the exact
adjoint gradient, step ``eps**(1/3)``: all ``2P`` displaced gradients are one batched adjoint
pass; the result is symmetrised (error about ``1e-10`` in float64).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qdiff.errors import DifferentiationError
from qdiff.grad.adjoint import adjoint
from qdiff.grad.backprop import backprop
from qdiff.grad.shifts import shift_engine
from qdiff.grad.stencils import FiniteDiffStencil, trainable_slots
from qdiff.sim.program import TorchProgram

Output = Callable[[torch.Tensor], torch.Tensor]

HESSIAN_METHODS = ("param_shift", "backprop", "adjoint", "finite_diff")
"""Methods :func:`hessian` accepts."""

_KEY_DIGITS = 12


def _diff_slots(program: TorchProgram) -> list[tuple[int, tuple[float, ...], tuple[float, ...]]]:
    """``(slot, shifts, coefficients)`` for every trainable slot with a non-empty shift rule."""
    spec = {step.slot: step.spec for step in program.program.steps if step.slot is not None}
    out = []
    for a in trainable_slots(program):
        rule = spec[a].shift_rule
        if len(rule):
            out.append((a, rule.shifts, rule.coefficients))
    return out


def param_shift_stencil(program: TorchProgram) -> tuple[list[int], list[dict[int, float]], list[tuple[int, int, int, float]]]:
    """The two-parameter shift stencil of ``program`` in angle space.

    Returns:
        ``slots`` -- the T differentiated angle slots;
        ``shifts`` -- K distinct sparse shift vectors ``{slot: shift}`` (``{}`` is unshifted);
        ``terms`` -- ``(k, i, j, coefficient)`` with ``i <= j`` indexing ``slots``:
        ``H[i, j] = sum over terms of coefficient * f(angles + shifts[k])``.
    """
    rules = _diff_slots(program)
    index: dict[tuple, int] = {}
    shifts: list[dict[int, float]] = []
    terms: list[tuple[int, int, int, float]] = []

    def row(vector: dict[int, float]) -> int:
        vector = {a: s for a, s in vector.items() if round(s, _KEY_DIGITS) != 0}
        key = tuple(sorted((a, round(s, _KEY_DIGITS)) for a, s in vector.items()))
        if key not in index:
            index[key] = len(shifts)
            shifts.append(vector)
        return index[key]

    for i, (a, sa, ca) in enumerate(rules):
        for j in range(i, len(rules)):
            b, sb, cb = rules[j]
            for s, c in zip(sa, ca):
                for t, d in zip(sb, cb):
                    vector = {a: s + t} if a == b else {a: s, b: t}
                    terms.append((row(vector), i, j, c * d))
    return [r[0] for r in rules], shifts, terms


def _param_shift_hessian(program: TorchProgram, angles: torch.Tensor, initial: torch.Tensor,
                         output: Output) -> torch.Tensor:
    """Angle-space two-parameter shift rule, then ``W^T H W``; ``(B, *out, P, P)``."""
    slots, shifts, terms = param_shift_stencil(program)
    B, A = angles.shape
    K, T = max(len(shifts), 1), len(slots)
    opts = {"dtype": angles.dtype, "device": angles.device}
    S = torch.zeros(K, A, **opts)
    rows = [(k, a, s) for k, vector in enumerate(shifts) for a, s in vector.items()]
    if rows:
        k, a, s = zip(*rows)
        S[list(k), list(a)] = torch.tensor(s, **opts)
    upper = torch.zeros(K, T, T, **opts)  # terms have i <= j; mirror the strict upper part
    if terms:
        k, i, j, c = zip(*terms)
        upper.index_put_((torch.tensor(k), torch.tensor(i), torch.tensor(j)), torch.tensor(c, **opts),
                         accumulate=True)
    C = upper + upper.transpose(1, 2).tril(-1)
    with torch.no_grad():
        shifted = (angles.detach()[:, None, :] + S[None]).reshape(B * K, A)
        outs = output(program.run(initial.repeat_interleave(K, dim=0), shifted))  # ONE run
        outs = outs.reshape((B, K) + tuple(outs.shape[1:]))
        h_angles = torch.einsum("bk...,kij->b...ij", outs.to(C.dtype), C)  # (B, *out, T, T)
        W = program.weights[slots]  # (T, P)
        return W.T @ h_angles @ W


def _autograd_hessian(engine: Callable[..., torch.Tensor], program: TorchProgram, angles: torch.Tensor,
                      initial: torch.Tensor, output: Output) -> torch.Tensor:
    """Differentiate ``engine`` twice with autograd in a displacement ``dv`` of the parameters."""
    W = program.weights
    B, P = angles.shape[0], W.shape[1]
    angles = angles.detach()
    out_shape: list[tuple[int, ...]] = []

    def gradient(dv: torch.Tensor) -> torch.Tensor:
        """Batch-summed first derivatives ``(K, P)``; row ``b`` of ``dv`` only affects sample ``b``."""
        out = engine(program, angles + dv @ W.T, initial, output)
        out_shape.append(tuple(out.shape[1:]))
        out = out.reshape(B, -1).sum(0)
        rows = [torch.autograd.grad(out[k], dv, create_graph=True)[0].sum(0) for k in range(out.shape[0])]
        return torch.stack(rows)

    dv = torch.zeros(B, P, dtype=angles.dtype, device=angles.device)
    jac = torch.autograd.functional.jacobian(gradient, dv)  # (K, P, B, P)
    return jac.permute(2, 0, 1, 3).reshape((B,) + out_shape[0] + (P, P))


def _adjoint_hessian(program: TorchProgram, angles: torch.Tensor, initial: torch.Tensor,
                     output: Output) -> torch.Tensor:
    """Central difference of the exact adjoint gradient, all displacements in one batch."""
    W = program.weights
    B, P = angles.shape[0], W.shape[1]
    h = torch.finfo(angles.dtype).eps ** (1 / 3)
    eye = torch.eye(P, dtype=angles.dtype, device=angles.device)
    dv = torch.cat([h * eye, -h * eye])[:, None, :].expand(2 * P, B, P).reshape(2 * P * B, P)
    dv = dv.clone().requires_grad_(True)
    shifted = angles.detach().repeat(2 * P, 1) + dv @ W.T
    out = adjoint(program, shifted, initial.repeat(2 * P, 1), output)
    out_shape = tuple(out.shape[1:])
    out = out.reshape(2 * P * B, -1)
    grads = torch.stack([torch.autograd.grad(out[:, k].sum(), dv, retain_graph=True)[0]
                         for k in range(out.shape[1])])  # (K, 2P*B, P)
    grads = grads.reshape(-1, 2, P, B, P)
    jac = ((grads[:, 0] - grads[:, 1]) / (2 * h)).permute(2, 0, 1, 3)  # (B, K, i, j)
    return ((jac + jac.transpose(-1, -2)) / 2).reshape((B,) + out_shape + (P, P))


def hessian(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
            output: Output, *, method: str = "param_shift") -> torch.Tensor:
    """Hessian of ``output(final_state)`` with respect to the parameter values.

    Args:
        program: the compiled program.
        angles: ``(B, A)`` angles (``None`` without rotations).
        initial_state: ``(B, 2**n)``.
        output: a function of the final state returning ``(B, *out)`` real values, linear in the
            density matrix for ``"param_shift"`` (probabilities, expectation values).
        method: one of :data:`HESSIAN_METHODS` (see the module docstring).
    Returns:
        ``(B, *out, P, P)`` real tensor, detached from the autograd graph.
    Raises:
        DifferentiationError: an unknown ``method``.
    """
    if method not in HESSIAN_METHODS:
        raise DifferentiationError(f"unknown Hessian method {method!r}; choose one of: {', '.join(HESSIAN_METHODS)}")
    P = program.weights.shape[1]
    if angles is None or P == 0:
        with torch.no_grad():
            out = output(program.run(initial_state, angles))
        return out.new_zeros(tuple(out.shape) + (P, P))
    if method == "param_shift":
        return _param_shift_hessian(program, angles, initial_state, output)
    if method == "adjoint":
        return _adjoint_hessian(program, angles, initial_state, output).detach()
    eps = torch.finfo(angles.dtype).eps
    engine = backprop if method == "backprop" else shift_engine(FiniteDiffStencil(eps ** 0.25), "finite_diff")
    return _autograd_hessian(engine, program, angles, initial_state, output).detach()
