"""Angle gradients of a fused plan from the cross matrices of its rotating blocks (no autograd).

For a rotating block with output ``psi_out`` and cotangent ``lambda_out`` the adjoint sweep records
the cross matrix ``Y = sum lambda_out psi_out^H`` over every qubit outside the block (and over a
shared batch). For any angle ``theta`` of a gate ``exp(-i theta G)`` inside the block,

    dL/dtheta = Re tr(Y_g^H (-i G)),

where ``Y_g`` is the cross matrix right after that gate, restricted to the gate's qubits
(derivation: ``qdiff/grad/adjoint.md``). Restricting is a partial trace, and moving back through a
run of single-qubit gates ``T`` is ``Y <- T^H Y T``, so all of it happens in ``2**k`` space:

* a kept multi-qubit rotation: ``Y`` itself, one multiply-and-sum per group of rotations;
* a Pauli block (``G = g M``, :mod:`qdiff.sim.monomial_rotation`): the sweep records the scalar
  ``y = sum lambda_out conj(M psi_out)`` instead of a ``2**k x 2**k`` matrix, and
  ``Re tr(Y^H (-i G)) = Re(conj(y) (-i g))``;
* a chunk: the partial trace onto each of its qubits, then for every run the walk back through
  its ``L`` positions, all runs at once (``L`` steps of batched ``2 x 2`` products).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from qdiff.sim.plan import Built, TorchPlan


@lru_cache(maxsize=64)
def _trace_selector(k: int, diagonal: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``S`` with ``Y.flatten() @ S`` = the partial traces of ``Y`` onto each of ``k`` qubits.

    Dense: ``(d*d, k*4)``, entry ``((r, c), (j, a, b))`` is 1 where bit ``j`` of ``r`` is ``a``, of
    ``c`` is ``b``, and all other bits of ``r`` and ``c`` agree. Diagonal: ``(d, k*2)``, 1 where
    bit ``j`` of ``r`` is ``a``.
    """
    d = 1 << k
    r = np.arange(d)
    if diagonal:
        sel = np.zeros((d, k, 2))
        for j in range(k):
            sel[r, j, (r >> j) & 1] = 1
        return torch.as_tensor(sel.reshape(d, 2 * k), dtype=dtype, device=device)
    sel = np.zeros((d, d, k, 2, 2))
    rr, cc = np.meshgrid(r, r, indexing="ij")
    for j in range(k):
        same = ((rr ^ cc) & ~(1 << j)) == 0
        sel[rr[same], cc[same], j, (rr[same] >> j) & 1, (cc[same] >> j) & 1] = 1
    return torch.as_tensor(sel.reshape(d * d, 4 * k), dtype=dtype, device=device)


def _partial_traces(y: torch.Tensor, k: int, diagonal: bool) -> torch.Tensor:
    """``(Bg, G, d, d)`` (or diagonals ``(Bg, G, d)``) -> ``(Bg, G, k, 2, 2)`` reduced onto each qubit,
    lowest qubit first (the local index of ``y`` is ``sum_j bit_j 2**j``), in one matmul."""
    Bg, G = y.shape[:2]
    sel = _trace_selector(k, diagonal, y.dtype, y.device)
    if diagonal:
        return torch.diag_embed((y @ sel).view(Bg, G, k, 2))
    return (y.reshape(Bg, G, -1) @ sel).view(Bg, G, k, 2, 2)


def angle_gradient(plan: TorchPlan, built: Built, crosses: dict[int, torch.Tensor], per_sample: bool,
                   num_slots: int) -> torch.Tensor:
    """``dL/dangles`` ``(B or 1, num_slots)`` from each rotating block's cross matrix ``crosses[b]``
    (``(d, d)`` / diagonal ``(d,)``, or with a leading batch axis when ``per_sample``)."""
    taken = built.taken
    real = plan.program.real_dtype
    first = next(iter(crosses.values()))
    Bg = first.shape[0] if per_sample else 1
    grad = torch.zeros(Bg, num_slots, dtype=real, device=first.device)
    run_parts = []
    for _, members, key in built.bases:
        y = torch.stack([crosses[b] for b in members], dim=1 if per_sample else 0)
        if not per_sample:
            y = y[None]
        if key[0] == "rot":
            slots, minus_i_g = plan.table_generators[key[1]]
            part = (y.conj() * minus_i_g).real
            if key[1][0] != "pauli":  # a Pauli block's y is already the contraction with M
                part = part.sum((-1,) if key[1][0] == "diagonal" else (-2, -1))
            grad.index_add_(1, slots, part)
        else:
            k, diagonal = key[1]
            run_parts.append(_partial_traces(y, k, diagonal).flatten(1, 2))
    if run_parts:
        y = torch.cat(run_parts, dim=1)[:, plan.run_order]  # (Bg, R, 2, 2), after each run
        gen = plan.run_gen
        L = gen.shape[1]
        parts = [torch.empty(0)] * L
        for pos in range(L - 1, -1, -1):
            parts[pos] = (y.conj() * gen[:, pos]).real.sum((-2, -1))  # (Bg, R)
            if pos:
                t = taken[:, :, pos]
                y = t.mH @ y @ t
        grad.index_add_(1, plan.run_slots, torch.stack(parts, dim=2).reshape(Bg, -1))
    return grad
