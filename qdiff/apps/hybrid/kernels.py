"""A mixture of Gaussian (RBF) kernels on ``R**D`` and the unbiased MMD estimate between samples.

``k(x, y) = (1/c) sum_i exp(-|x - y|**2 / (2 s_i))`` with the bandwidths ``s_i`` in the variance
position (the convention of :class:`qdiff.apps.qcbm.MixtureKernel`).

>>> import torch
>>> kernel = RBFMixture((1.0,))
>>> x = torch.zeros(1, 2, dtype=torch.float64); y = torch.ones(1, 2, dtype=torch.float64)
>>> round(float(kernel(x, y)), 6) == round(float(torch.exp(torch.tensor(-1.0))), 6)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

DEFAULT_BANDWIDTHS = (0.01, 0.1, 1.0)


class RBFMixture:
    """``k(x, y)`` for rows of ``x`` ``(N, D)`` and ``y`` ``(M, D)``: the Gram matrix ``(N, M)`` (differentiable).

    Raises:
        ValueError: an empty or non-positive list of bandwidths.
    """

    def __init__(self, bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS):
        values = tuple(float(s) for s in bandwidths)
        if not values or any(s <= 0 for s in values):
            raise ValueError(f"kernel bandwidths must be positive numbers, got {list(bandwidths)}")
        self.bandwidths = values

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        d2 = (x[:, None, :] - y[None, :, :]).square().sum(-1)
        return sum(torch.exp(-d2 / (2 * s)) for s in self.bandwidths) / len(self.bandwidths)

    def mean_offdiagonal(self, x: Tensor) -> Tensor:
        """``mean_{i != j} k(x_i, x_j)``: the unbiased estimate of ``E k(x, x')`` (needs ``N >= 2``)."""
        n = x.shape[0]
        if n < 2:
            raise ValueError("the unbiased estimate of E k(x, x') needs at least 2 samples")
        gram = self(x, x)
        return (gram.sum() - gram.diagonal().sum()) / (n * (n - 1))


def sample_mmd(x: Tensor, y: Tensor, kernel: RBFMixture) -> Tensor:
    """Unbiased estimate (U-statistic) of ``MMD**2`` between the distributions of ``x`` ``(N, D)`` and
    ``y`` ``(M, D)``; may be slightly negative when they agree."""
    return kernel.mean_offdiagonal(x) + kernel.mean_offdiagonal(y) - 2 * kernel(x, y).mean()
