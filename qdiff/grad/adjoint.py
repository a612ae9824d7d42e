"""The ``adjoint`` engine: reverse-mode gradients in constant memory. Derivation: adjoint.md.

A small CPU state (:func:`qdiff.sim.tape.tape_for`: up to 14 qubits, any batch, numba installed;
up to 22, a complex64 forward alone excepted, for circuits of one-qubit runs, diagonals on up to
four qubits, Pauli strings and CNOT/SWAP/X networks) runs as a numba tape instead: the forward pass and the whole sweep, with every angle's gradient,
are one compiled call each (:mod:`qdiff.sim.tape_kernels`), where the torch plan below spends its
time dispatching ~180 small torch calls. Everything else is as below.

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
On large states they are updated in place, a slice at a time (:func:`_in_slices`): every block
acts on a few qubits, so the state cuts into slices that the block maps into themselves, and
each slice's cross matrix and inverse use temporaries the size of a slice, not of a state.
The forward pass runs out of place, block after block: on two threads slice by slice in place
took 1.6-3x as long a block (the slices' torch calls ran on one thread, and each slice's result
was copied back), and it held about 2.3 states at its peak, under the sweep's and under the 3
working copies that :func:`qdiff.sim.memory.check_state_fits` admits.
A Pauli block ``exp(-i theta g M)`` (``M`` monomial, :mod:`qdiff.sim.monomial_rotation`) records
the scalar ``y = sum lambda_out conj(M psi_out)`` instead of a ``2**k x 2**k`` cross matrix; the
same monomial call that gives ``M psi_out`` also gives the inverse, ``a* pair + b* M pair``.
Memory, independent of depth: the saved final state and the incoming cotangent (held by autograd
during the call) and a working copy of the cotangent; ``psi`` is uncomputed in the final state's
own memory when nothing else can read it (the output does not share it and the graph is not
kept: see :func:`adjoint`), else in a copy. 3 states (4 for ``qdiff.state`` or a kept graph)
plus slice-sized temporaries. Small circuits (every block's output within :data:`_KEEP_MAX`)
trade that for speed: the forward keeps the outputs and the sweep moves ``lambda`` alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from qdiff.errors import DifferentiationError
from qdiff.sim.kernels import MonomialPlan
from qdiff.sim.monomial_rotation import MonomialRotation, pauli_cross
from qdiff.sim.plan import Built, Operator, TorchPlan, apply_block, cross, layer_crosses, layer_product, rotate_block
from qdiff.sim.plan_vjp import angle_gradient
from qdiff.sim.program import TorchProgram
from qdiff.sim.tape import run_tape, sweep_tape, tape_for


_SLICE = 1 << 16
"""Amplitudes of each part (the state; ``psi`` and ``lambda`` in the sweep, over their rows) that the
in-place passes move at a time (1 MiB of complex128): big enough that the per-slice torch calls
cost little, small enough that slice temporaries stay far below a state from ``n = 17`` on."""

_IN_PLACE_MIN = 1 << 17
"""Amplitudes (over all rows) from which the sweep works in place, slice by slice."""

_IN_PLACE_MIN_ROW = 1 << 12
"""...and amplitudes per row: a batch of small states (1024 rows at n = 8) runs out of place, 2.2x
faster (measured: slices of 64 amplitudes a row re-embed per-row operators for every slice)."""


_KEEP_MAX = 1 << 20
"""Most amplitudes (over all rows and blocks) of the states the forward pass keeps for the sweep
(16 MiB of complex128): small circuits keep every block's output instead of uncomputing it, so
the sweep moves only ``lambda`` (see :meth:`AdjointState._sweep_out_of_place`)."""


def _in_place(rows: int, amplitudes: int) -> bool:
    """Whether a ``(rows, amplitudes)`` state is large enough for the in-place, sliced sweep."""
    return rows * amplitudes >= _IN_PLACE_MIN and amplitudes >= _IN_PLACE_MIN_ROW


def _in_slices(parts: tuple[torch.Tensor, ...], qubits: tuple[int, ...], n: int,
               fn: Callable[[torch.Tensor, tuple[int, ...], int, int], torch.Tensor]) -> bool:
    """Replace the tensors ``parts`` (each ``(rows_i, 2**n)``, stacked along rows) in place, slice by
    slice, by ``fn(slice, qubits', n', shift)``.

    A block on ``qubits`` maps each run of ``2**m`` consecutive amplitudes (``m > qubits[-1]``)
    into itself, and each set of columns of the ``(rows, 2**(n - lo), 2**lo)`` view
    (``lo = qubits[0]``) too; either is a state of ``n'`` qubits on which the block acts on
    ``qubits' = qubits + shift``. ``fn`` gets the slices of all parts stacked into one contiguous
    copy and returns a new tensor. Returns ``False`` (``parts`` untouched) when no slicing gives at
    least 4 slices.
    """
    rows, N = sum(p.shape[0] for p in parts), parts[0].shape[1]
    # amplitudes per row per slice: 2**bits, so that each part's slice holds _SLICE amplitudes
    # (copies of smaller ones run on one thread: torch's grain is 2**15 elements)
    bits = max(_SLICE // max(p.shape[0] for p in parts), 1).bit_length() - 1
    lo, hi = qubits[0], qubits[-1]
    m = max(hi + 1, bits)  # runs of 2**m consecutive amplitudes
    w = 1 << max(0, min(lo, bits - (n - lo)))  # or columns: (2**(n - lo)) * w amplitudes a row
    column_bits = n - lo + w.bit_length() - 1
    # the smaller slices win (temporaries are a few slices: 2**18-amplitude runs of a block on
    # qubits 15-17 cost half a 21-qubit state, its columns 1/32 of one)
    if m <= n - 2 and (m <= column_bits or column_bits > n - 2):
        size = 1 << m
        for s0 in range(0, N, size):
            views = [p[:, s0:s0 + size] for p in parts]
            _write_back(views, fn(_stacked(views), qubits, m, 0))
        return True
    if column_bits <= n - 2:
        grids = [p.view(p.shape[0], N >> lo, 1 << lo) for p in parts]
        shift = w.bit_length() - 1 - lo
        moved = tuple(q + shift for q in qubits)
        n2 = n + shift
        for c0 in range(0, 1 << lo, w):
            views = [g[:, :, c0:c0 + w] for g in grids]
            out = fn(_stacked(views).view(rows, -1), moved, n2, shift)
            _write_back(views, out.view((rows,) + views[0].shape[1:]))
        return True
    return False


def _stacked(views: list[torch.Tensor]) -> torch.Tensor:
    """The views stacked along their first axis, as one contiguous copy."""
    return views[0].contiguous() if len(views) == 1 else torch.cat(views)


def _write_back(views: list[torch.Tensor], out: torch.Tensor) -> None:
    """Copy the rows of ``out`` back into ``views`` in turn."""
    r0 = 0
    for v in views:
        v.copy_(out[r0:r0 + v.shape[0]])
        r0 += v.shape[0]


def _moved(op: Operator, shift: int, n: int) -> Operator:
    """A block operator for a slice: monomial plans re-placed (:meth:`MonomialPlan.moved`), tensors as they are."""
    if isinstance(op, MonomialPlan):
        return op.moved(shift, n)
    if isinstance(op, MonomialRotation):
        return MonomialRotation(op.monomial.moved(shift, n), op.coeffs)
    return op


def _pair_rotation(op: MonomialRotation, per_sample: bool) -> MonomialRotation:
    """The inverse of a ``"pauli"`` block's rotation for the stacked pair (coefficients repeated
    for its two halves when they are per-row)."""
    rotation = op.inverse()
    return rotation.repeat(2) if per_sample else rotation


def _step_back(pair: torch.Tensor, B: int, kind: str, qubits: tuple[int, ...], n: int, inverse: Operator | None,
               rotation: MonomialRotation | None, per_sample: bool,
               need_cross: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One block backwards on the stacked pair ``(psi_out; lambda_out)`` (``2B`` rows): the pair
    before the block, and the block's cross matrix when ``need_cross``: ``Y = lambda_out psi_out^H``
    on its qubits, or for a ``"pauli"`` block (``rotation`` given) the scalar
    ``y = sum lambda_out conj(M psi_out)``, from the same monomial call as the inverse."""
    if rotation is not None:
        out, moved = rotate_block(pair, rotation)
        return out, (pauli_cross(pair[B:], moved[:B], per_sample) if need_cross else None)
    y = cross(pair[B:], pair[:B], kind, qubits, n, per_sample) if need_cross else None
    return apply_block(pair, kind, inverse, qubits, n), y


def _graph_kept() -> bool:
    """Whether the backward now running keeps the graph (``retain_graph``/``create_graph``), so that
    saved tensors will be read again; ``True`` when this torch cannot tell."""
    probe = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if probe is None else bool(probe())


def _final_is_free(ctx) -> bool:  # type: ignore[no-untyped-def]
    """Whether the sweep may overwrite the saved final state: the output does not share it (see
    :func:`adjoint`) and the backward now running does not keep the graph."""
    return getattr(ctx, "owns_final", False) and not _graph_kept()


class AdjointState(torch.autograd.Function):
    """``(angles (B, A), initial (B, 2**n)) -> final state (B, 2**n)`` with an adjoint backward."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, initial: torch.Tensor, program: TorchProgram,  # type: ignore[override]
                keep: bool) -> torch.Tensor:
        tape = tape_for(program.program, initial, forward_only=not keep)
        ctx.tape = tape
        if tape is not None:  # a small CPU state: the forward and the sweep are one numba call each
            final = run_tape(tape, initial, angles)
            ctx.save_for_backward(angles, final)
            return final
        plan = program.plan(initial.shape[0], angles.shape[0])
        with torch.no_grad():
            built = plan.build(angles if angles.shape[1] else None)
            run_angles = angles if angles.shape[1] else None
            kept: list[torch.Tensor] | None = None
            row_major = not plan.batch_last(initial, run_angles)
            if keep and initial.numel() * len(plan.blocks) <= _KEEP_MAX and row_major:
                kept = []  # every block's output, for a sweep that moves lambda alone
                final = program.run(initial, angles, built=built, keep=kept)
            else:
                final = program.run(initial, angles, built=built)
        ctx.save_for_backward(angles, final)
        ctx.program, ctx.plan, ctx.built, ctx.kept = program, plan, built, kept
        return final

    @staticmethod
    def backward(ctx, grad_state: torch.Tensor):  # type: ignore[override]
        if torch.is_grad_enabled():
            raise DifferentiationError(
                "method='adjoint' gives first derivatives only (its backward cannot be differentiated); "
                "for Hessians use method='param_shift' or 'backprop', or qdiff.hessian")
        return AdjointState._sweep(ctx, grad_state)

    @staticmethod
    def _sweep_out_of_place(plan: TorchPlan, ops: list, inverses: list, state: torch.Tensor, B: int, n: int,
                            per_sample: bool, want_angles: bool,
                            kept: list[torch.Tensor] | None = None) -> tuple[dict, torch.Tensor]:
        """The sweep on a small state, one out-of-place kernel call per block. ``state`` is the
        stacked pair ``(psi; lambda)`` (``2B`` rows), uncomputed block by block; or, when the
        forward ``kept`` every block's output, ``lambda`` alone, each cross matrix pairing it with
        the kept output. Returns the crosses and the final ``state`` (its ``lambda`` rows are the
        initial state's cotangent)."""
        crosses: dict[int, torch.Tensor] = {}
        # layers the forward ran as one product (kept: their output, twice): both crosses from the
        # pair after the layer, then one product of the inverses (see TorchPlan.paired)
        pairs = plan.paired(B, 2 if per_sample else 1) if kept is not None else {}
        b = len(plan.blocks) - 1
        while b >= 0:
            if b - 1 in pairs:
                if want_angles:
                    low, high = layer_crosses(state, kept[b], inverses[b - 1].shape[-1])
                    for c, y in ((b - 1, low), (b, high)):
                        if plan.blocks[c].fixed is None:
                            crosses[c] = y
                state = layer_product(state, inverses[b - 1], inverses[b])
                b -= 2
                continue
            block = plan.blocks[b]
            need_cross = want_angles and block.fixed is None
            rotation = _pair_rotation(ops[b], per_sample) if block.kind == "pauli" else None
            if kept is None:
                state, y = _step_back(state, B, block.kind, block.qubits, n, inverses[b], rotation,
                                      per_sample, need_cross)
            elif rotation is not None:  # the kept output joins lambda for the one monomial call
                pair, y = _step_back(torch.cat([kept[b], state]), B, block.kind, block.qubits, n, None, rotation,
                                     per_sample, need_cross)
                state = pair[B:]
            else:  # Y = lambda_out psi_out^H on the block's qubits; lambda alone goes back
                y = cross(state, kept[b], block.kind, block.qubits, n, per_sample) if need_cross else None
                state = apply_block(state, block.kind, inverses[b], block.qubits, n)
            if y is not None:
                crosses[b] = y
            b -= 1
        return crosses, state

    @staticmethod
    def _sweep(ctx, grad_state: torch.Tensor) -> tuple:  # type: ignore[no-untyped-def]
        angles, final = ctx.saved_tensors
        if ctx.tape is not None:
            grad_angles, lam = sweep_tape(ctx.tape, final, grad_state, angles, _final_is_free(ctx))
            return (grad_angles if ctx.needs_input_grad[0] else None), \
                (lam if ctx.needs_input_grad[1] else None), None, None
        program: TorchProgram = ctx.program
        plan: TorchPlan = ctx.plan
        built: Built = ctx.built
        B, N = final.shape
        per_sample = angles.shape[0] > 1
        n = plan.num_qubits
        want_angles = ctx.needs_input_grad[0] and angles.shape[1] > 0
        ops = plan.operators(None, built)
        kept = ctx.kept
        inverses = plan.inverse_operators(built, 2 if per_sample and kept is None else 1)
        in_place = _in_place(B, N)
        # the sweep starts from the state before the global phase: psi and lambda times its conjugate
        back = complex(np.exp(-1j * program.program.global_phase)) if program.program.global_phase else None
        if kept is not None:
            lam = grad_state.to(final.dtype)
            del final
            if back is not None:
                lam = lam * back
            crosses, lam = AdjointState._sweep_out_of_place(plan, ops, inverses, lam, B, n, per_sample, want_angles,
                                                            kept)
        elif not in_place:  # small states: the stacked pair, one out-of-place kernel call per block
            pair = torch.cat([final, grad_state.to(final.dtype)])
            del final, grad_state
            if back is not None:
                pair = pair * back
            crosses, pair = AdjointState._sweep_out_of_place(plan, ops, inverses, pair, B, n, per_sample, want_angles)
            lam = pair[B:]  # the initial state's gradient
        else:
            # psi and lambda updated in place: psi in the final state's own memory when nothing else
            # can read it any more (see adjoint()), else in a copy; lambda always in a copy (the
            # incoming gradient may be the caller's tensor)
            psi = final if _final_is_free(ctx) else final.clone(memory_format=torch.contiguous_format)
            lam = grad_state.to(final.dtype).clone(memory_format=torch.contiguous_format)
            del final, grad_state
            if back is not None:
                psi.mul_(back)
                lam.mul_(back)
            crosses: dict[int, torch.Tensor] = {}
            for b in range(len(plan.blocks) - 1, -1, -1):
                block = plan.blocks[b]
                inverse = inverses[b]
                kind, qubits = block.kind, block.qubits
                rotation = _pair_rotation(ops[b], per_sample) if kind == "pauli" else None
                need_cross = want_angles and block.fixed is None
                parts: list[torch.Tensor] = []

                def step(sub: torch.Tensor, q: tuple[int, ...], m: int, shift: int) -> torch.Tensor:
                    out, y = _step_back(sub, B, kind, q, m, _moved(inverse, shift, m),
                                        None if rotation is None else _moved(rotation, shift, m), per_sample, need_cross)
                    if y is not None:
                        parts.append(y)
                    return out

                if not _in_slices((psi, lam), qubits, n, step):  # whole pair, out of place
                    _write_back([psi, lam], step(torch.cat([psi, lam]), qubits, n, 0))
                if need_cross:
                    crosses[b] = parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)
        grad_angles = None
        if want_angles:
            grad_angles = angle_gradient(plan, built, crosses, per_sample, angles.shape[1]).to(angles.dtype) \
                if crosses else torch.zeros_like(angles)
        return grad_angles, (lam if ctx.needs_input_grad[1] else None), None, None


class _NoGraph:
    """Autograd's context for :meth:`AdjointState.forward` when no graph is recorded: the forward
    runs as is, and what it would keep for a backward is dropped."""

    def save_for_backward(self, *tensors: torch.Tensor) -> None:
        pass


def adjoint(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
            output: Callable[[torch.Tensor], torch.Tensor], *, linear: bool = True) -> torch.Tensor:
    """Adjoint engine: the final state from :class:`AdjointState`, then ``output`` by autograd."""
    if angles is None:
        angles = torch.zeros(1, 0, dtype=initial_state.real.dtype, device=initial_state.device)
    # a backward may follow: small circuits keep every block's output for it (see _KEEP_MAX)
    keep = torch.is_grad_enabled() and (angles.requires_grad or initial_state.requires_grad)
    if keep:
        final = AdjointState.apply(angles, initial_state, program, keep)
    else:  # no backward can follow: the forward alone, without autograd.Function's ~5-10 us a call
        final = AdjointState.forward(_NoGraph(), angles, initial_state, program, keep)
    del initial_state  # freed here unless the caller holds it (execute hands over its only reference)
    out = output(final)
    if final.grad_fn is not None and isinstance(out, torch.Tensor) and \
            out.untyped_storage().data_ptr() != final.untyped_storage().data_ptr():
        # the caller gets only ``out``, which does not share the state's memory: once the nodes
        # between them have run their backward (and freed what they saved, unless the graph is
        # kept), the sweep may overwrite the final state instead of copying it (one state less)
        final.grad_fn.owns_final = True
    return out
