"""The 2D Ising model on a periodic ``L x L`` lattice: exact ``ln Z`` and the continuous relaxation.

Exact partition functions (coupling ``J = 1``, ``k_B = 1``, energy ``-sum_<ij> s_i s_j`` over the
``2 L^2`` bonds, so ``L = 2`` counts each neighbour pair twice):

* :func:`ising_log_z` -- Kaufman's closed form for the finite periodic lattice (any ``L``);
* :func:`transfer_matrix_log_z` -- the row-to-row transfer matrix (``L <= 12``);
* :func:`brute_force_log_z` -- enumeration of the ``2^(L^2)`` states (``L <= 4``).

The continuous relaxation (Hubbard-Stratonovich) of the paper is :class:`IsingRelaxation`.

>>> round(ising_log_z(4, 2.269185314) / 16, 5)
0.97012
>>> round(-IsingRelaxation(4).exact_log_z / 16, 5)
-2.33605
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import Tensor

T_CRITICAL = 2.0 / math.log1p(math.sqrt(2.0))  # 2.269185314...


def _signed_logsumexp(terms: list[tuple[float, float]]) -> float:
    """``ln |sum_i s_i exp(a_i)|`` for ``(s_i, a_i)`` pairs (the sum must be positive)."""
    top = max(a for s, a in terms if s != 0)
    total = sum(s * math.exp(a - top) for s, a in terms)
    if total <= 0:
        raise ArithmeticError("the signed sum is not positive")
    return top + math.log(total)


def ising_log_z(L: int, T: float) -> float:
    """``ln Z`` of the periodic ``L x L`` Ising model at temperature ``T`` (Kaufman 1949)."""
    if L < 2 or T <= 0:
        raise ValueError(f"need L >= 2 and T > 0, got L={L}, T={T}")
    K = 1.0 / T
    c = math.cosh(2 * K) / math.tanh(2 * K)

    def gamma(k: int) -> float:
        return 2 * K + math.log(math.tanh(K)) if k == 0 else math.acosh(c - math.cos(math.pi * k / L))

    terms = []
    for odd, fn in ((1, "cosh"), (1, "sinh"), (0, "cosh"), (0, "sinh")):
        sign, log_abs = 1.0, 0.0
        for r in range(L):
            g = L * gamma(2 * r + odd) / 2
            value = 2 * (math.cosh(g) if fn == "cosh" else math.sinh(g))
            if value == 0:
                sign = 0.0
                break
            sign *= math.copysign(1.0, value)
            log_abs += math.log(abs(value))
        terms.append((sign, log_abs))
    return math.log(0.5) + L * L / 2 * math.log(2 * math.sinh(2 * K)) + _signed_logsumexp(terms)


def transfer_matrix_log_z(L: int, T: float) -> float:
    """``ln Z`` from the ``2^L x 2^L`` row transfer matrix (float64 eigenvalues; ``L <= 12``)."""
    if L > 12:
        raise ValueError(f"the transfer matrix has 2^{L} rows; use ising_log_z for L > 12")
    rows = np.array(list(itertools.product((-1, 1), repeat=L)), dtype=np.float64)
    inside = (rows * np.roll(rows, -1, axis=1)).sum(1)
    between = rows @ rows.T
    log_t = (between + (inside[:, None] + inside[None, :]) / 2) / T
    shift = log_t.max()
    eig = np.linalg.eigvalsh(np.exp(log_t - shift))
    top = np.abs(eig).max()
    return float(L * shift + L * np.log(top) + np.log(((eig / top) ** L).sum()))


def brute_force_log_z(L: int, T: float) -> float:
    """``ln Z`` by summing over all ``2^(L*L)`` configurations (``L <= 4``)."""
    if L > 4:
        raise ValueError("brute force enumerates 2^(L*L) states: L <= 4")
    n = L * L
    states = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    s = states.reshape(-1, L, L)
    bonds = (s * np.roll(s, 1, 1)).sum((1, 2)) + (s * np.roll(s, 1, 2)).sum((1, 2))
    a = bonds / T
    return float(a.max() + np.log(np.exp(a - a.max()).sum()))


def adjacency(L: int) -> Tensor:
    """``(N, N)`` float64 adjacency of the periodic ``L x L`` lattice, ``A_ij`` = number of bonds."""
    n = L * L
    A = torch.zeros(n, n, dtype=torch.float64)
    for i in range(L):
        for j in range(L):
            k = i * L + j
            for r in (((i + 1) % L) * L + j, i * L + (j + 1) % L):
                A[k, r] += 1
                A[r, k] += 1
    return A


class IsingRelaxation:
    """``ln pi(x) = -x^T K^-1 x / 2 + sum_i ln cosh x_i`` with ``K = A/T + delta I``,
    ``delta = 0.1 - lambda_min(A/T)`` (so ``K`` is positive definite with smallest eigenvalue 0.1).

    ``ln Z_cont = ln Z_Ising + N (delta + ln 2 pi - ln 4) / 2 + ln det K / 2`` (Gaussian integral
    over each spin sector); :attr:`exact_log_z` holds it.

    Args:
        L: linear size. T: temperature (default ``T_c``).
    """

    def __init__(self, L: int, T: float = T_CRITICAL):
        self.L, self.T, self.dim = L, T, L * L
        self.name = f"ising{L}"
        A = adjacency(L) / T
        self.delta = 0.1 - float(torch.linalg.eigvalsh(A).min())
        K = A + self.delta * torch.eye(self.dim, dtype=torch.float64)
        self.K = K
        self.K_inv = torch.linalg.inv(K)
        self.log_z_ising = ising_log_z(L, T)
        n = self.dim
        self.exact_log_z = (self.log_z_ising + n * (self.delta + math.log(2 * math.pi) - math.log(4)) / 2
                            + float(torch.linalg.slogdet(K)[1]) / 2)

    def log_prob(self, x: Tensor) -> Tensor:
        """Unnormalised ``ln pi(x)`` of ``x (B, N)``; returns ``(B,)``."""
        k_inv = self.K_inv.to(x)
        a = x.abs()
        lncosh = a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)
        return -0.5 * ((x @ k_inv) * x).sum(-1) + lncosh.sum(-1)
