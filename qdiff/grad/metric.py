"""The Fubini-Study metric tensor of a circuit's state, computed exactly on the simulator.

For the state ``|psi(values)>`` the metric (the real part of the quantum geometric tensor) is

    g_ij = Re[<d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi>].

In angle space, step ``a`` applies ``U_a = exp(-i theta_a G_a)``, so

    |d_a psi> = U_{>a} (-i G_a) U_a U_{<a} |psi_0>.

One forward sweep builds every ``|d_a psi>`` at once: the state and the derivative states so far
are stacked into one ``(B * (T + 1), 2**n)`` batch, each step is one kernel call on the stack, and
at a differentiated rotation the new derivative ``(-i G_a)|psi>`` joins the stack. The cost is
about ``T + 1`` circuit runs in ``T + 1`` times the memory of one state; there are no finite
differences. The chain rule to parameters is ``g_params = W^T g_angles W`` (angles are affine in
the values).

Approximations (applied to the angle-space metric, before the chain rule, as PennyLane does on
gate arguments):

* ``"diag"`` keeps ``g_aa`` only;
* ``"block-diag"`` keeps ``g_ab`` for slots ``a, b`` in the same *layer*. Walking the compiled
  steps in order, a layer is a maximal run of consecutive differentiated rotations acting on
  pairwise disjoint qubits: a fixed gate (including a rotation by a constant angle) ends the
  current layer, and a rotation touching a qubit already used in the current layer starts a new
  one. (Composite gates are lowered first, so ``u``'s three rotations fall in three layers.)

When every parameter drives slots of a single layer (no sharing across layers), the approximate
metric equals the full metric on the kept entries and is zero elsewhere.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from qdiff.errors import DifferentiationError
from qdiff.grad.stencils import trainable_slots
from qdiff.sim.program import TorchProgram, apply_step

Approx = Literal["block-diag", "diag"] | None
APPROXIMATIONS = (None, "block-diag", "diag")
"""Values of ``approx`` that :func:`metric_tensor` accepts."""


def _for_stack(op: torch.Tensor, copies: int, B: int, unbatched_dim: int) -> torch.Tensor:
    """A rotation operator ``(B or 1, ...)`` laid out for a stack of ``copies`` batches of ``B``."""
    if op.shape[0] == 1 and B > 1:
        return op[0]
    return op.repeat((copies,) + (1,) * (unbatched_dim))


def derivative_states(program: TorchProgram, angles: torch.Tensor,
                      initial: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The final state and its derivatives with respect to every trainable angle slot.

    The global phase multiplies the state and every derivative alike (it cancels in the metric)
    and is left out.

    Args:
        program: the compiled program.
        angles: ``(B, A)`` angles.
        initial: ``(B, 2**n)`` initial state.
    Returns:
        ``psi`` ``(B, 2**n)``, ``dpsi`` ``(B, T, 2**n)`` with ``dpsi[:, t] = d psi / d angle[slots[t]]``,
        and ``slots`` (the T trainable slots, ascending, which is application order).
    """
    n = program.program.num_qubits
    slots = trainable_slots(program)
    trainable = set(slots)
    B, N = initial.shape
    stack = initial  # rows: psi, then the derivatives created so far, B rows each
    rotations = program.rotation_operators(angles)
    for i, step in enumerate(program.program.steps):
        if step.slot is None:
            stack = apply_step(stack, step.kind, program.fixed[i], step.qubits, n)
            continue
        copies = stack.shape[0] // B
        rank = 1 if step.kind == "diagonal" else 2
        stack = apply_step(stack, step.kind, _for_stack(rotations[i], copies, B, rank), step.qubits, n)
        if step.slot in trainable:
            g = np.diag(step.generator) if step.kind == "diagonal" else step.generator
            minus_i_g = torch.as_tensor(-1j * g, dtype=stack.dtype, device=stack.device)
            stack = torch.cat([stack, apply_step(stack[:B], step.kind, minus_i_g, step.qubits, n)])
    stack = stack.reshape(len(slots) + 1, B, N)
    return stack[0], stack[1:].transpose(0, 1), slots


def layers(program: TorchProgram) -> list[list[int]]:
    """Trainable slots grouped into layers (see the module docstring), in application order."""
    trainable = set(trainable_slots(program))
    groups: list[list[int]] = []
    current: list[int] = []
    used: set[int] = set()
    for step in program.program.steps:
        if step.slot is None or step.slot not in trainable:
            if current:
                groups.append(current)
            current, used = [], set()
            continue
        if used & set(step.qubits):
            groups.append(current)
            current, used = [], set()
        current.append(step.slot)
        used |= set(step.qubits)
    if current:
        groups.append(current)
    return groups


def angle_metric(program: TorchProgram, angles: torch.Tensor, initial: torch.Tensor,
                 approx: Approx = None) -> tuple[torch.Tensor, list[int]]:
    """Metric in angle space over the trainable slots: ``(B, T, T)`` and the slots.

    Raises:
        DifferentiationError: ``approx`` is not one of :data:`APPROXIMATIONS`.
    """
    if approx not in APPROXIMATIONS:
        raise DifferentiationError(f"unknown metric approximation {approx!r}; "
                                   "choose None (full), 'block-diag' or 'diag'")
    psi, dpsi, slots = derivative_states(program, angles, initial)
    overlap = torch.einsum("btn,bsn->bts", dpsi.conj(), dpsi)  # <d_t psi|d_s psi>
    proj = torch.einsum("btn,bn->bt", dpsi.conj(), psi)  # <d_t psi|psi>
    g = (overlap - proj[:, :, None] * proj.conj()[:, None, :]).real
    if approx is not None:
        g = g * _mask(program, slots, approx).to(device=g.device, dtype=g.dtype)
    return g, slots


def _mask(program: TorchProgram, slots: list[int], approx: str) -> torch.Tensor:
    """``(T, T)`` 0/1 mask of the entries an approximation keeps."""
    T = len(slots)
    if approx == "diag":
        return torch.eye(T)
    position = {a: t for t, a in enumerate(slots)}
    mask = torch.zeros(T, T)
    for layer in layers(program):
        idx = torch.tensor([position[a] for a in layer])
        mask[idx[:, None], idx[None, :]] = 1
    return mask


def metric(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
           approx: Approx = None) -> torch.Tensor:
    """Fubini-Study metric with respect to the parameter values.

    Args:
        program: the compiled program.
        angles: ``(B, A)`` angles, or ``None`` without rotations.
        initial_state: ``(B, 2**n)`` normalised state.
        approx: ``None`` (full), ``"block-diag"`` or ``"diag"`` (see the module docstring).
    Returns:
        ``(B, P, P)`` real tensor, symmetric positive semi-definite.
    Raises:
        DifferentiationError: an unknown ``approx``.
    """
    P = program.weights.shape[1]
    B = initial_state.shape[0]
    if angles is None:
        if approx not in APPROXIMATIONS:
            raise DifferentiationError(f"unknown metric approximation {approx!r}; "
                                       "choose None (full), 'block-diag' or 'diag'")
        return torch.zeros(B, P, P, dtype=program.real_dtype, device=initial_state.device)
    g, slots = angle_metric(program, angles, initial_state, approx)
    W = program.weights[slots]  # (T, P)
    return W.T @ g @ W
