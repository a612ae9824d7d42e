"""Pauli-sum kernels: expectation values and ``O|psi>`` without any ``2**n x 2**n`` matrix.

A Pauli string is ``P = i**ny X^x Z^z`` (bit masks ``x``, ``z``; ``ny`` the number of Y), so
``P|j> = i**ny (-1)**|j & z| |j ^ x>``. Hence

    <psi|P|psi> = i**ny sum_j conj(psi[j ^ x]) (-1)**|j & z| psi[j].

Small states gather every group's flipped amplitudes in one call; wider CPU states make ``O psi``
(the backward needs it too) and the value in one numba pass over chunks of the state, each
group's diagonal built per chunk from its terms' signs; elsewhere (GPU, no numba) torch builds
``O psi`` with each group's ``Z`` part cached as a ``2**n`` diagonal up to 16 qubits and added
term by term in place above. Memory stays at a constant number of state
vectors whatever the number of terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from qdiff.ir.observables import PauliSum
from qdiff.sim.born_rule import probabilities
from qdiff.sim.jit import kernels, owns_thread_pool, threaded
from qdiff.sim.kernels import apply_diagonal, split_shape


@dataclass(frozen=True)
class PauliGroup:
    """Terms sharing the qubits flipped by X/Y: ``flip`` qubits and ``(z_qubits, coeff * i**ny)``.
    Its hash is computed once: every expectation value looks its groups up in a cache."""

    flip: tuple[int, ...]
    terms: tuple[tuple[tuple[int, ...], complex], ...]
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.flip, self.terms)))

    def __hash__(self) -> int:
        return self._hash


def group_terms(observable: PauliSum) -> tuple[PauliGroup, ...]:
    """Group an observable's terms by their X/Y support (computed once per observable)."""
    return observable.derived("pauli_groups", _group_terms)


def _group_terms(observable: PauliSum) -> tuple[PauliGroup, ...]:
    groups: dict[tuple[int, ...], list[tuple[tuple[int, ...], complex]]] = {}
    for key, coeff in observable:
        flip = tuple(q for q, l in key if l in "XY")
        zq = tuple(q for q, l in key if l in "ZY")
        ny = sum(1 for _, l in key if l == "Y")
        groups.setdefault(flip, []).append((zq, coeff * (1j**ny)))
    return tuple(PauliGroup(f, tuple(t)) for f, t in groups.items())


def _flip(state: torch.Tensor, qubits: tuple[int, ...], num_qubits: int) -> torch.Tensor:
    """``X`` on every qubit in ``qubits``: reverse those size-2 axes."""
    if not qubits:
        return state
    B = state.shape[0]
    shape, axes = split_shape(num_qubits, sorted(qubits))
    return state.view([B] + shape).flip([1 + a for a in axes]).reshape(state.shape)


_GATHERED_MAX = 1 << 16
"""Most gathered amplitudes (rows x groups x ``2**n``) for which torch builds ``O psi`` in one
gather (a temporary of that size); beyond, group by group (:func:`_apply_groups`)."""

NUMBA_MAX_QUBITS = 12
"""Widest state whose ``O psi`` the numba kernel builds on the CPU, any batch (no temporary). Its
cached tables take groups x ``2**n`` x 24 bytes per observable (8 MiB for LiH's 84 groups at 12
qubits, where the kernel made the UCCSD energy gradient 13 % faster: 33-35 against 38-43 ms);
wider CPU states take the chunked kernel (:func:`_wide_o_psi`), other devices torch
(:func:`_apply_groups`)."""


@lru_cache(maxsize=64)
def _gathered(groups: tuple[PauliGroup, ...], num_qubits: int, dtype: torch.dtype,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index (G * 2**n,), weights (G, 2**n))``: ``index[g, j] = j ^ x_g`` and the conjugate of
    ``D_g[j] = sum_terms coeff (-1)**|j & z|``, so that ``O psi = sum_g conj(weights_g) * psi[index_g]``
    up to the conjugation convention used in :func:`expectation`."""
    j = np.arange(1 << num_qubits)
    index = np.empty((len(groups), len(j)), dtype=np.int64)
    weights = np.zeros((len(groups), len(j)), dtype=complex)
    for g, group in enumerate(groups):
        index[g] = j ^ sum(1 << q for q in group.flip)
        for zq, coeff in group.terms:
            parity = np.zeros_like(j)
            for q in zq:
                parity ^= (j >> q) & 1
            weights[g] += coeff * (1 - 2 * parity)
    return (torch.as_tensor(index.reshape(-1), device=device),
            torch.as_tensor(weights.conj(), dtype=dtype, device=device))


def expectation(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:
    """Real ``<psi|O|psi>`` for a Hermitian ``O`` given as groups; ``state`` ``(B, 2**n)`` -> ``(B,)``.

    Small states gather every group's flipped amplitudes at once (:func:`_gathered_o_psi`: one
    numba call on the CPU up to :data:`NUMBA_MAX_QUBITS` qubits, any batch; else three torch calls
    while the gather fits :data:`_GATHERED_MAX`); wider CPU states take one numba pass over chunks
    (:func:`_wide_o_psi`), others build ``O psi`` group by group with torch; when a
    gradient may follow, :class:`_Expectation` keeps ``O psi`` for a one-multiply backward (autograd
    through the gather took about eight calls).
    """
    B = state.shape[0]
    if not groups:
        return torch.zeros(B, dtype=state.real.dtype, device=state.device)
    no_backward = not torch.is_grad_enabled() or not state.requires_grad
    wide = _wide_kernels(state, num_qubits)
    if wide is not None:
        if no_backward:
            return _wide_o_psi(state, groups, num_qubits, wide, want_o_psi=False)[1]
    elif _gathers(state, groups, num_qubits) and no_backward:
        return _gathered_o_psi(state, groups, num_qubits, want_o_psi=False)[1]
    return _Expectation.apply(state, groups, num_qubits)


DIAGONAL_MATRIX_MAX = 1 << 22
"""Most entries (``2**n`` x observables) of the matrix with which :func:`expectations` turns the
probabilities into the expectation values of several diagonal observables at once (32 MiB in
float64); beyond, each observable is taken on its own."""


def expectations(state: torch.Tensor, observables: list[tuple[PauliGroup, ...]], num_qubits: int) -> torch.Tensor:
    """Real ``<psi|O_k|psi>`` of several Hermitian observables (each as groups): ``(B, 2**n)`` ->
    ``(B, K)``.

    The diagonal ones (only Z and identity factors, e.g. ``Z(q)`` on every qubit, the usual
    read-out of a quantum layer) come together from the probabilities, ``|psi|**2 @ D`` with ``D``
    ``(2**n, K)`` cached per observable list: one product forward and one backward, where one
    :func:`expectation` per observable made about five torch calls and an autograd node each. The
    others, or all of them when ``D`` would pass :data:`DIAGONAL_MATRIX_MAX` entries, are taken one
    by one."""
    diagonal = [k for k, groups in enumerate(observables) if _is_diagonal(groups)]
    if len(diagonal) < 2 or len(diagonal) << num_qubits > DIAGONAL_MATRIX_MAX:
        return torch.stack([expectation(state, groups, num_qubits) for groups in observables], dim=-1)
    matrix = _diagonal_matrix(tuple(observables[k] for k in diagonal), num_qubits, state.real.dtype, state.device)
    together = probabilities(state) @ matrix
    if len(diagonal) == len(observables):
        return together
    columns = dict(zip(diagonal, together.unbind(-1)))
    return torch.stack([columns[k] if k in columns else expectation(state, groups, num_qubits)
                        for k, groups in enumerate(observables)], dim=-1)


def _is_diagonal(groups: tuple[PauliGroup, ...]) -> bool:
    return all(not group.flip for group in groups)


@lru_cache(maxsize=16)
def _diagonal_matrix(observables: tuple[tuple[PauliGroup, ...], ...], num_qubits: int, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """``D`` ``(2**n, K)``: column ``k`` the (real) diagonal of the ``k``-th diagonal observable."""
    matrix = np.zeros((1 << num_qubits, len(observables)))
    for k, groups in enumerate(observables):
        for group in groups:  # a diagonal observable has at most one group, with no flip
            d = _group_diagonal(group, num_qubits, torch.complex128, torch.device("cpu"))
            matrix[:, k] += d.real.numpy() if isinstance(d, torch.Tensor) else complex(d).real
    return torch.as_tensor(matrix, dtype=dtype, device=device)


def _numba_kernels(state: torch.Tensor, num_qubits: int):  # type: ignore[no-untyped-def]
    """:mod:`qdiff.sim.pauli_kernels` when they suit ``state`` (CPU, at most
    :data:`NUMBA_MAX_QUBITS` qubits, numba installed), else ``None``."""
    if state.device.type != "cpu" or num_qubits > NUMBA_MAX_QUBITS:
        return None
    return kernels("pauli_kernels")


def _gathers(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> bool:
    """Whether ``O psi`` comes from :func:`_gathered_o_psi` (numba, or a small torch gather)."""
    return _numba_kernels(state, num_qubits) is not None or \
        state.shape[0] * len(groups) * state.shape[-1] <= _GATHERED_MAX


def _gathered_o_psi(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int,
                    want_o_psi: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(O psi, <psi|O|psi>)`` of a small state from every group's flipped amplitudes,
    ``t[j] = sum_g conj(D_g[j]) psi[j ^ x_g]``, which is ``(O psi)[j]`` for a Hermitian ``O``: one
    numba call on the CPU, the expectation values from the same pass (rows over threads from
    :data:`~qdiff.sim.jit.THREADED_MIN_ROWS`; an 8-qubit energy took 3 torch calls, and 16 for 256
    rows), else one torch gather and :func:`real_inner`. Without ``want_o_psi`` the numba kernel
    makes the values alone (``O psi`` ``None``: 1024 rows at n = 8 0.32 -> 0.16 ms)."""
    index, weights = _gathered(groups, num_qubits, state.dtype, state.device)
    numba_kernels = _numba_kernels(state, num_qubits)
    if numba_kernels is None:
        o_psi = (state.index_select(-1, index).view(state.shape[0], len(groups), -1) * weights).sum(1)
        return o_psi, real_inner(state, o_psi)
    psi = state.detach().resolve_conj().contiguous()
    values = torch.empty(psi.shape[0], dtype=psi.real.dtype)
    index_rows = index.numpy().reshape(len(groups), -1)
    if not want_o_psi:
        run = numba_kernels.expectation_values_rows if threaded(psi.shape[0]) else numba_kernels.expectation_values
        run(psi.numpy(), index_rows, weights.numpy(), values.numpy())
        return None, values
    out = torch.empty_like(psi)
    run = numba_kernels.o_psi_rows if threaded(psi.shape[0]) else numba_kernels.o_psi
    run(psi.numpy(), index_rows, weights.numpy(), out.numpy(), values.numpy())
    return out, values


_WIDE_LOW = 10
"""Chunks of ``2**_WIDE_LOW`` amplitudes for :func:`_wide_o_psi` (its sign table: terms x 8 KiB)."""


def _wide_kernels(state: torch.Tensor, num_qubits: int):  # type: ignore[no-untyped-def]
    """:mod:`qdiff.sim.pauli_kernels` for a CPU state wider than :data:`NUMBA_MAX_QUBITS` (numba
    installed), else ``None``."""
    if num_qubits <= NUMBA_MAX_QUBITS or state.device.type != "cpu":  # the integer test first: ~1 us
        return None
    return kernels("pauli_kernels")


@lru_cache(maxsize=64)
def _wide_data(groups: tuple[PauliGroup, ...], low: int) -> tuple[np.ndarray, ...]:
    """``(flips (G,), tstart (G + 1,), zmasks (T,), coeffs (T,), signs (T, 2**low))`` for
    :func:`qdiff.sim.pauli_kernels.o_psi_wide`: each group's flip mask and the range of its terms,
    each term's Z mask and coefficient, and its sign on the low bits, ``(-1)**|l & z|``."""
    flips = np.array([sum(1 << q for q in group.flip) for group in groups], dtype=np.int64)
    tstart = np.cumsum([0] + [len(group.terms) for group in groups]).astype(np.int64)
    zmasks = np.array([sum(1 << q for q in zq) for group in groups for zq, _ in group.terms], dtype=np.int64)
    coeffs = np.array([complex(c) for group in groups for _, c in group.terms], dtype=np.complex128)
    low_bits = np.arange(1 << low, dtype=np.int64)
    parity = np.zeros((len(zmasks), 1 << low), dtype=np.int64)
    for q in range(low):
        parity ^= ((zmasks[:, None] >> q) & 1) & ((low_bits[None, :] >> q) & 1)
    return flips, tstart, zmasks, coeffs, 1.0 - 2.0 * parity


def _wide_o_psi(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int, numba_kernels,  # type: ignore[no-untyped-def]
                want_o_psi: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(O psi, <psi|O|psi>)`` of a wide CPU state ``(B, 2**n)`` in one numba pass over
    ``2**10``-amplitude chunks, each group's diagonal made per chunk from the terms' signs (no
    ``2**n`` table; :func:`qdiff.sim.pauli_kernels.o_psi_wide`); without ``want_o_psi`` only the
    values (``O psi`` ``None``). Torch added ``O psi`` term by term, one pass and ``2**k`` strided
    adds each (:func:`_add_term`)."""
    low = min(_WIDE_LOW, num_qubits)
    flips, tstart, zmasks, coeffs, signs = _wide_data(groups, low)
    psi = state.detach().resolve_conj().contiguous()
    B, N = psi.shape
    out = torch.empty_like(psi) if want_o_psi else psi[:1, :1]
    partial = np.empty(B * (N >> low))
    run = numba_kernels.o_psi_wide_threads if owns_thread_pool() else numba_kernels.o_psi_wide
    run(psi.numpy(), out.numpy(), partial, flips, tstart, zmasks, coeffs, signs, low, want_o_psi)
    values = torch.from_numpy(partial.reshape(B, -1).sum(1)).to(psi.real.dtype)
    return (out if want_o_psi else None), values


def real_inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Re sum_j conj(a[..., j]) b[..., j]`` for ``(B, N)`` complex tensors -> ``(B,)``: for large
    states one real batched dot product of the ``(re, im)`` views (no temporaries; ``vecdot`` makes
    two of a state's size), for small ones ``vecdot`` (two torch calls instead of six)."""
    B = a.shape[0]
    if a.numel() <= _GATHERED_MAX:  # small: two calls, the temporaries do not matter
        return torch.linalg.vecdot(a, b).real
    ra = torch.view_as_real(a.resolve_conj()).reshape(B, 1, -1)
    rb = torch.view_as_real(b.resolve_conj()).reshape(B, -1, 1)
    return torch.bmm(ra, rb).view(B)


_DIAGONAL_MAX_QUBITS = 16
"""Up to this width a group's Z part is cached as one ``2**n`` vector (:func:`_group_diagonals`: one
pass per group); above it, where that vector would cost half a state for good, ``O psi`` is added
up term by term in place (:func:`_add_term`: one pass per term, no state-sized temporary)."""

_TERM_QUBITS_MAX = 6
"""A term touching at most this many qubits (X/Y and Z/Y together) is added as ``2**k`` strided
in-place adds; a longer one goes through two state-sized temporaries (:func:`apply_pauli_sum`)."""


@lru_cache(maxsize=64)
def _group_diagonals(groups: tuple[PauliGroup, ...], num_qubits: int, dtype: torch.dtype,
                     device: torch.device) -> tuple[torch.Tensor | complex, ...]:
    """:func:`_group_diagonal` of every group of an observable, cached per observable (cached per
    group, 64 entries, an observable of more groups, such as LiH's 84, rebuilt all of them at
    every call: 52 of a 92 ms energy gradient)."""
    return tuple(_group_diagonal(group, num_qubits, dtype, device) for group in groups)


def _group_diagonal(group: PauliGroup, num_qubits: int, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor | complex:
    """``D[j] = sum_terms coeff (-1)**|j & z|`` as a ``(2**n,)`` tensor (real when possible), or the
    plain coefficient sum when no term has a Z part."""
    if all(not zq for zq, _ in group.terms):
        return complex(sum(c for _, c in group.terms))
    n = num_qubits
    real = all(complex(c).imag == 0 for _, c in group.terms)
    d = np.zeros(1 << n, dtype=float if real else complex)
    view = d.reshape((2,) * n)  # axis n - 1 - q holds bit q
    for zq, coeff in group.terms:  # += coeff * (product of Z signs), broadcast: no 2**n temporary
        sign = np.ones((1,) * n)
        for q in zq:
            z = np.array([1.0, -1.0]).reshape([2 if a == n - 1 - q else 1 for a in range(n)])
            sign = sign * z
        view += (complex(coeff).real if real else complex(coeff)) * sign
    if not real and np.abs(d.imag).max() == 0:
        d = np.ascontiguousarray(d.real)
    if d.dtype == float:
        return torch.as_tensor(d, dtype=dtype.to_real(), device=device)
    return torch.as_tensor(d, dtype=dtype, device=device)


def _apply_groups(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:
    """``O|psi>``: with each group's diagonal cached up to ``_DIAGONAL_MAX_QUBITS`` qubits,
    ``(O psi)[j ^ x] += D[j] psi[j]``, above it term by term (:func:`_add_term`).

    A group flipping one qubit adds into the two halves of the output in place (no flipped
    copy); about one pass over the state per group (per term above the cache width).
    """
    B = state.shape[0]
    if num_qubits > _DIAGONAL_MAX_QUBITS:
        out = torch.zeros_like(state)
        for group in groups:
            for zq, coeff in group.terms:
                _add_term(out, state, group.flip, zq, coeff, num_qubits)
        return out
    out: torch.Tensor | None = None
    for group, d in zip(groups, _group_diagonals(groups, num_qubits, state.dtype, state.device)):
        if not group.flip:
            term = state * d
            out = term if out is None else out.add_(term)
            continue
        if out is None:
            out = torch.zeros_like(state)
        if len(group.flip) == 1 and not isinstance(d, torch.Tensor):
            q = group.flip[0]
            src = state.view(B, -1, 2, 1 << q)
            dst = out.view(B, -1, 2, 1 << q)
            dst[:, :, 0].add_(src[:, :, 1], alpha=d)
            dst[:, :, 1].add_(src[:, :, 0], alpha=d)
        else:
            out.add_(_flip(state * d, group.flip, num_qubits))
    assert out is not None
    return out


def _add_term(out: torch.Tensor, state: torch.Tensor, flip: tuple[int, ...], zq: tuple[int, ...],
              coeff: complex, num_qubits: int) -> None:
    """``out += coeff X_flip Z_zq state`` in place (``(B, 2**n)`` both).

    ``(X_x Z_z psi)[j] = (-1)**|(j ^ x) & z| psi[j ^ x]``: over the ``k`` qubits the term touches,
    every block of the output (one setting ``a`` of their bits) receives the block ``a ^ x`` of the
    state times a sign, so ``2**k`` strided adds and no temporary. Terms on more than
    ``_TERM_QUBITS_MAX`` qubits go through :func:`apply_pauli_sum` instead.
    """
    qubits = sorted(set(flip) | set(zq))
    alpha = coeff.real if complex(coeff).imag == 0 else coeff
    if not qubits:
        out.add_(state, alpha=alpha)
        return
    if len(qubits) > _TERM_QUBITS_MAX:
        out.add_(apply_pauli_sum(state, (PauliGroup(tuple(flip), ((tuple(zq), coeff),)),), num_qubits))
        return
    B = state.shape[0]
    shape, axes = split_shape(num_qubits, qubits)
    src, dst = state.view([B] + shape), out.view([B] + shape)
    xmask = sum(1 << qubits.index(q) for q in flip)
    zmask = sum(1 << qubits.index(q) for q in zq)

    def block(bits: int) -> tuple:
        index: list = [slice(None)] * (len(shape) + 1)
        for i, a in enumerate(axes):
            index[1 + a] = (bits >> i) & 1
        return tuple(index)

    for a in range(1 << len(qubits)):
        b = a ^ xmask
        sign = -1.0 if bin(b & zmask).count("1") % 2 else 1.0
        dst[block(a)].add_(src[block(b)], alpha=sign * alpha)


class _Expectation(torch.autograd.Function):
    """``<psi|O|psi>`` from ``O psi`` (computed once, kept for the backward ``2 g O psi``)."""

    @staticmethod
    def forward(ctx, state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:  # type: ignore[override]
        wide = _wide_kernels(state, num_qubits)
        if wide is not None:
            o_psi, values = _wide_o_psi(state, groups, num_qubits, wide)
        elif _gathers(state, groups, num_qubits):
            o_psi, values = _gathered_o_psi(state, groups, num_qubits)
        else:
            o_psi = _apply_groups(state, groups, num_qubits)
            values = real_inner(state, o_psi)
        ctx.save_for_backward(state, o_psi)
        ctx.groups, ctx.num_qubits = groups, num_qubits
        return values

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        state, o_psi = ctx.saved_tensors
        if torch.is_grad_enabled():  # differentiable again: O psi from the state, by linear ops
            o_psi = _Expectation.apply_differentiable(state, ctx.groups, ctx.num_qubits)
        return 2 * grad[:, None] * o_psi, None, None

    @staticmethod
    def apply_differentiable(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:
        """``O psi`` with out-of-place ops only (for second derivatives)."""
        if num_qubits > _DIAGONAL_MAX_QUBITS:
            return apply_pauli_sum(state, groups, num_qubits)
        out = torch.zeros_like(state)
        for group, d in zip(groups, _group_diagonals(groups, num_qubits, state.dtype, state.device)):
            out = out + _flip(state * d, group.flip, num_qubits)
        return out


def apply_pauli_sum(state: torch.Tensor, groups: tuple[PauliGroup, ...], num_qubits: int) -> torch.Tensor:
    """``O|psi>`` for ``state`` ``(B, 2**n)``: signs per term, then one flip per group."""
    out = torch.zeros_like(state)
    for group in groups:
        acc = torch.zeros_like(state)
        for zq, coeff in group.terms:
            if zq:
                diag = _z_diagonal(len(zq), coeff, state)
                acc = acc + apply_diagonal(state, diag, sorted(zq), num_qubits)
            else:
                acc = acc + coeff * state
        out = out + _flip(acc, group.flip, num_qubits)
    return out


def _z_diagonal(k: int, coeff: complex, like: torch.Tensor) -> torch.Tensor:
    """``coeff * diag(Z (x) ... (x) Z)`` on ``k`` qubits as a ``(2**k,)`` tensor."""
    z = torch.tensor([1.0, -1.0], dtype=like.real.dtype, device=like.device)
    d = torch.ones(1, dtype=like.real.dtype, device=like.device)
    for _ in range(k):
        d = torch.outer(d, z).flatten()
    return (d * coeff).to(like.dtype)
