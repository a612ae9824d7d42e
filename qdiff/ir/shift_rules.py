"""Parameter-shift rules derived from a generator's spectrum.

For ``U(theta) = exp(-i theta G)`` with distinct eigenvalues ``lambda_e`` of ``G``, any
expectation-like output ``f(theta) = <psi| U^dagger O U |psi>`` is a trigonometric polynomial
whose frequencies are the distinct positive differences ``Omega_r = lambda_a - lambda_b``:

    f(theta) = a_0 + sum_r [a_r cos(Omega_r theta) + b_r sin(Omega_r theta)].

Its odd part around ``theta`` gives ``f(theta + s) - f(theta - s) = 2 sum_r c_r sin(Omega_r s)``
with ``f'(theta) = sum_r Omega_r c_r``. Choosing R shifts ``s_mu`` and solving the R x R system
``2 S^T w = Omega`` with ``S[mu, r] = sin(Omega_r s_mu)`` gives weights such that

    f'(theta) = sum_mu w_mu [f(theta + s_mu) - f(theta - s_mu)]

exactly. One frequency (Pauli rotations, ``p``) gives the familiar two-term rule
``f' = [f(theta + pi/2) - f(theta - pi/2)] / 2``; the controlled rotations (frequencies 1/2 and 1)
give a four-term rule. For equidistant frequencies ``Omega_r = r omega`` the shifts
``s_mu = (2 mu - 1) pi / (2 R omega)`` are used (Wierichs et al., Quantum 6, 677 (2022)).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class ShiftRule:
    """``f'(theta) = sum_i coefficients[i] * f(theta + shifts[i])``; also the spectrum's frequencies."""

    shifts: tuple[float, ...]
    coefficients: tuple[float, ...]
    frequencies: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.shifts)


def frequencies_of(eigenvalues: np.ndarray) -> tuple[float, ...]:
    """Distinct positive differences of the eigenvalues, ascending."""
    diffs: list[float] = []
    for a in eigenvalues:
        for b in eigenvalues:
            d = float(a - b)
            if d > 1e-9 and not any(abs(d - x) < 1e-9 for x in diffs):
                diffs.append(d)
    return tuple(sorted(diffs))


def _common_base(freqs: tuple[float, ...]) -> float | None:
    """The largest omega with every frequency an integer multiple of it, if small rationals."""
    ratios = [Fraction(f / freqs[0]).limit_denominator(16) for f in freqs]
    if any(abs(float(r) * freqs[0] - f) > 1e-9 for r, f in zip(ratios, freqs)):
        return None
    denominator = int(np.lcm.reduce([r.denominator for r in ratios]))
    return freqs[0] / denominator


def shift_rule_from_spectrum(eigenvalues: np.ndarray) -> ShiftRule:
    """Build the exact shift rule for a generator with these eigenvalues."""
    freqs = frequencies_of(np.asarray(eigenvalues, dtype=float))
    if not freqs:  # a constant phase: the derivative of any expectation value is zero
        return ShiftRule((), (), ())
    R = len(freqs)
    base = _common_base(freqs)
    if base is not None and all(abs(f / base - round(f / base)) < 1e-9 for f in freqs) and (
        [round(f / base) for f in freqs] == list(range(1, R + 1))
    ):
        shifts = np.array([(2 * mu - 1) * np.pi / (2 * R * base) for mu in range(1, R + 1)])
    else:
        shifts = np.array([(2 * mu - 1) * np.pi / (2 * R * max(freqs)) for mu in range(1, R + 1)])
    S = np.sin(np.outer(shifts, freqs))
    weights = np.linalg.solve(2 * S.T, np.array(freqs))
    all_shifts = tuple(float(s) for s in shifts) + tuple(float(-s) for s in shifts)
    all_coeffs = tuple(float(w) for w in weights) + tuple(float(-w) for w in weights)
    return ShiftRule(all_shifts, all_coeffs, freqs)
