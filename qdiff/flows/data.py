"""Data for density estimation: scikit-learn's 8x8 digits, dequantised, and bits per dimension.

The digits (1,797 images, 64 pixels of 17 grey levels 0..16) ship inside scikit-learn, so nothing is
downloaded. A pixel value ``v`` becomes ``y = (v + u) / 17`` with ``u ~ U(0, 1)`` (uniform
dequantisation), so a density ``q`` on ``[0, 1]^64`` bounds the discrete model's NLL:
``bits/dim = (-ln q(y) + D ln 17) / (D ln 2)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LEVELS = 17


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Integer pixel values ``(M_train, 64)`` and ``(M_test, 64)`` (float64), split at random.

    Raises:
        ImportError: scikit-learn is missing (``pip install 'qdiff[flows]'``).
    """
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        raise ImportError("the digits data set ships with scikit-learn: pip install 'qdiff[flows]'") from None
    data = torch.as_tensor(sk_load().data, dtype=torch.float64)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(data)))
    return data[order[n_test:]], data[order[:n_test]]


def dequantize(v: Tensor) -> Tensor:
    """``(v + u) / 17`` with fresh uniform noise ``u``; same shape as ``v``."""
    return (v + torch.rand_like(v)) / LEVELS


def bits_per_dim(nll_nats: float, dim: int) -> float:
    """Bits per dimension of the discrete data from the continuous NLL (nats) of dequantised data.

    >>> round(bits_per_dim(-64 * math.log(17), 64), 6)
    0.0
    """
    return (nll_nats + dim * math.log(LEVELS)) / (dim * math.log(2))
