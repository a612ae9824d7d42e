"""Expectation values from measured bits: qubit-wise commuting groups of Pauli terms.

A backend that can only sample (a Sampler, or Aer with shots) estimates ``<O>`` for
``O = c_0 I + sum_t c_t P_t`` the standard way:

1. the distinct non-identity Pauli strings of all observables are grouped so that, inside a
   group, every two strings agree on every qubit both act on (qubit-wise commuting); greedy,
   largest support first;
2. each group is one circuit: the circuit, then a basis rotation per measured qubit (``H`` for
   ``X``, ``S^dag`` then ``H`` for ``Y``, nothing for ``Z``), then a measurement of the group's
   qubits;
3. after the rotation a string ``P_t`` of the group is diagonal, with eigenvalue
   ``(-1)^(parity of the measured bits on its qubits)``, so
   ``<P_t> ~= mean over shots of (-1)^(b . m_t)`` with ``m_t`` its 0/1 mask of measured bits;
4. ``<O> ~= c_0 + sum_t c_t <P_t>``.

Each term's estimate has standard deviation ``sqrt(1 - <P_t>^2) / sqrt(shots) <= 1/sqrt(shots)``,
so ``|<O>_est - <O>|`` is at most a few ``sum_t |c_t| / sqrt(shots)``. Pure numpy: no Qiskit, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qdiff.ir.observables import PauliKey, PauliSum

Basis = tuple[tuple[int, str], ...]
"""Measured qubits and the Pauli letter each is measured in, ``((qubit, "X"|"Y"|"Z"), ...)``
sorted by qubit; bit ``i`` of an outcome is qubit ``basis[i][0]``."""


@dataclass(frozen=True)
class MeasurementGroup:
    """One measured circuit: its basis and the strings it estimates.

    Attributes:
        basis: see :data:`Basis`.
        masks: ``(len(basis), T)`` 0/1 int64; column ``t`` marks the measured bits of string ``t``.
        weights: ``(T, K)`` float64: coefficient of string ``t`` in observable ``k``.
    """

    basis: Basis
    masks: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class MeasurementPlan:
    """How to estimate ``K`` observables from measured bits.

    Attributes:
        groups: one :class:`MeasurementGroup` per circuit to sample (none for constant observables).
        constants: ``(K,)`` float64 identity coefficients.
    """

    groups: tuple[MeasurementGroup, ...]
    constants: np.ndarray

    @property
    def bases(self) -> list[Basis]:
        """The basis of every group, in order."""
        return [g.basis for g in self.groups]


def qubit_wise_groups(keys: Sequence[PauliKey]) -> list[list[PauliKey]]:
    """Greedy partition of distinct Pauli strings into qubit-wise commuting groups.

    Strings are placed largest support first (ties in the order given) into the first group
    whose letters agree with theirs on every shared qubit.

    >>> qubit_wise_groups([((0, "Z"),), ((0, "X"),), ((0, "Z"), (1, "Z"))])
    [[((0, 'Z'), (1, 'Z')), ((0, 'Z'),)], [((0, 'X'),)]]
    """
    groups: list[list[PauliKey]] = []
    letters: list[dict[int, str]] = []
    for key in sorted(keys, key=lambda k: -len(k)):
        for group, basis in zip(groups, letters):
            if all(basis.get(q, l) == l for q, l in key):
                group.append(key)
                basis.update(key)
                break
        else:
            groups.append([key])
            letters.append(dict(key))
    return groups


def plan_measurements(observables: Sequence[PauliSum]) -> MeasurementPlan:
    """The :class:`MeasurementPlan` of Hermitian ``observables`` (real parts of coefficients used)."""
    K = len(observables)
    constants = np.zeros(K)
    coeffs: dict[PauliKey, np.ndarray] = {}
    for k, o in enumerate(observables):
        for key, c in o:
            if not key:
                constants[k] += float(np.real(c))
            else:
                coeffs.setdefault(key, np.zeros(K))[k] += float(np.real(c))
    out = []
    for keys in qubit_wise_groups(list(coeffs)):
        basis: Basis = tuple(sorted({q_l for key in keys for q_l in key}))
        bit = {q: i for i, (q, _) in enumerate(basis)}
        masks = np.zeros((len(basis), len(keys)), dtype=np.int64)
        for t, key in enumerate(keys):
            masks[[bit[q] for q, _ in key], t] = 1
        out.append(MeasurementGroup(basis, masks, np.stack([coeffs[key] for key in keys])))
    return MeasurementPlan(tuple(out), constants)


def estimate(plan: MeasurementPlan, bits: Sequence[np.ndarray], num_rows: int) -> np.ndarray:
    """Expectation values ``(N, K)`` float64 from the measured bits of every group.

    Args:
        plan: from :func:`plan_measurements`.
        bits: per group, ``(N, shots, len(basis))`` 0/1 integers (bit ``i`` = qubit ``basis[i][0]``).
        num_rows: ``N``, the number of parameter sets.
    """
    if len(bits) != len(plan.groups):
        raise ValueError(f"expected measured bits of {len(plan.groups)} group(s), got {len(bits)}")
    out = np.broadcast_to(plan.constants, (num_rows, len(plan.constants))).copy()
    for group, b in zip(plan.groups, bits):
        parity = (np.asarray(b, dtype=np.int64) @ group.masks) & 1  # (N, shots, T)
        out += (1.0 - 2.0 * parity.mean(axis=1)) @ group.weights
    return out


def bits_of_ints(outcomes: np.ndarray, num_bits: int) -> np.ndarray:
    """Little-endian integer outcomes ``(N, shots)`` as bits ``(N, shots, num_bits)`` uint8."""
    return ((np.asarray(outcomes, dtype=np.int64)[..., None] >> np.arange(num_bits)) & 1).astype(np.uint8)


__all__ = ["Basis", "MeasurementGroup", "MeasurementPlan", "bits_of_ints", "estimate", "plan_measurements",
           "qubit_wise_groups"]
