"""Noisy bars-and-stripes images: data whose structure is discrete and continuous at once.

The construction (every number is a field of :class:`NoisyBAS`):

* a latent image ``z`` is drawn uniformly from the ``2**rows + 2**cols - 2`` valid
  bars-and-stripes images of ``rows x cols`` pixels (pixel ``r * cols + c`` is bit ``k``,
  little-endian like :func:`qdiff.apps.qcbm.bars_and_stripes`); ``s = 2 z - 1`` is its sign pattern;
* a logit ``y = s (mu + a eta) + sigma eps`` with one ``eta ~ Exponential(1)`` per image (a
  skewed "contrast" shared by all pixels: on pixels get brighter together while off pixels get
  darker) and ``eps ~ N(0, I)`` per pixel;
* the observed intensities are ``x = sigmoid(y)`` in ``(0, 1)**D``, ``D = rows * cols``.

Given ``z`` the data are a skewed, correlated, non-Gaussian cloud (what a conditional flow must
learn); across images they form ``2**rows + 2**cols - 2`` well separated clusters whose occupancy
follows bars-and-stripes (what the Born machine must learn). The exact density is known in closed
form (:meth:`NoisyBAS.log_prob`), so the entropy of the data is a reference for every model's NLL:
with ``r = y - mu s``, ``B = a s.r``, ``A = D a**2 / (2 sigma**2)``, ``beta = B / sigma**2 - 1``,

    p(y | z) = (2 pi sigma**2)**(-D/2) exp(-|r|**2 / (2 sigma**2)) int_0^inf exp(-A t**2 + beta t) dt
    int_0^inf exp(-A t**2 + beta t) dt = sqrt(pi / A) exp(beta**2 / (4 A)) Phi(beta / sqrt(2 A)),

and ``ln p(x) = logsumexp_z [ln pi(z) + ln p(y | z)] - sum_i ln(x_i (1 - x_i))``.

>>> data = NoisyBAS(2, 2)
>>> x, z = data.sample(5, seed=0)
>>> tuple(x.shape), tuple(z.shape), data.num_patterns
((5, 4), (5,), 6)
>>> bool(((x > 0) & (x < 1)).all())
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from qdiff.apps.qcbm.data import Distribution, bars_and_stripes


def index_to_bits(index: torch.Tensor, num_bits: int) -> torch.Tensor:
    """Integer states ``(...,)`` to bits ``(..., num_bits)`` (int64; column ``k`` = bit ``k``)."""
    return (index[..., None] >> torch.arange(num_bits, device=index.device)) & 1


def bits_to_index(bits: torch.Tensor) -> torch.Tensor:
    """Bits ``(..., n)`` (column ``k`` = bit ``k``) to integer states ``(...,)`` (int64)."""
    n = bits.shape[-1]
    return (bits.to(torch.long) << torch.arange(n, device=bits.device)).sum(-1)


@dataclass(frozen=True)
class NoisyBAS:
    """Noisy bars-and-stripes images (see the module docstring for the construction).

    Attributes:
        rows, cols: image size; ``D = rows * cols`` pixels and latent bits.
        mu: distance of a pixel's logit from 0 (``+mu`` on, ``-mu`` off).
        contrast: ``a``, the scale of the shared exponential contrast ``eta``.
        sigma: per-pixel Gaussian noise of the logit.
    """

    rows: int = 2
    cols: int = 2
    mu: float = 1.5
    contrast: float = 1.0
    sigma: float = 0.35

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1 or self.rows * self.cols < 2:
            raise ValueError(f"NoisyBAS needs at least 2 pixels, got {self.rows}x{self.cols}")
        if self.rows * self.cols > 12:
            raise ValueError(f"NoisyBAS {self.rows}x{self.cols} has {self.rows * self.cols} latent bits; the exact "
                             f"likelihood sums over 2**bits states, so at most 12 are supported")
        if self.sigma <= 0 or self.contrast <= 0:
            raise ValueError(f"sigma and contrast must be positive, got {self.sigma}, {self.contrast}")

    @property
    def name(self) -> str:
        """``"bas<rows>x<cols>"``."""
        return f"bas{self.rows}x{self.cols}"

    @property
    def dim(self) -> int:
        """``D``: pixels of an image, bits of its latent pattern."""
        return self.rows * self.cols

    @property
    def latent(self) -> Distribution:
        """The distribution of ``z``: uniform over the valid images (a qcbm :class:`Distribution`)."""
        return bars_and_stripes(self.rows, self.cols)

    @property
    def num_patterns(self) -> int:
        """Number of valid images (clusters)."""
        return int(self.latent.valid.sum())

    def sample(self, n: int, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` images ``x`` ``(n, D)`` float64 in ``(0, 1)`` and their latent states ``z`` ``(n,)`` int64."""
        rng = np.random.default_rng(seed)
        z = torch.as_tensor(self.latent.sample(n, rng), dtype=torch.long)
        s = index_to_bits(z, self.dim).double() * 2 - 1
        eta = torch.as_tensor(rng.exponential(1.0, (n, 1)))
        eps = torch.as_tensor(rng.standard_normal((n, self.dim)))
        y = s * (self.mu + self.contrast * eta) + self.sigma * eps
        # float64 sigmoid stays strictly inside (0, 1) for |y| < 36; clamp the (astronomically rare) rest
        return torch.sigmoid(y).clamp(1e-15, 1 - 1e-15), z

    def log_prob_given(self, x: torch.Tensor) -> torch.Tensor:
        """``ln p(x | z)`` for every valid ``z``: ``(B, K)``, columns in the order of :meth:`patterns`."""
        x = torch.as_tensor(x, dtype=torch.float64)
        y = torch.log(x) - torch.log1p(-x)  # (B, D)
        s = index_to_bits(self.patterns(), self.dim).double() * 2 - 1  # (K, D)
        D, a, sig2 = self.dim, self.contrast, self.sigma**2
        r = y[:, None, :] - self.mu * s[None]  # (B, K, D)
        B = a * (r * s[None]).sum(-1)
        A = D * a**2 / (2 * sig2)
        beta = B / sig2 - 1
        log_integral = (0.5 * math.log(math.pi / A) + beta.square() / (4 * A)
                        + torch.special.log_ndtr(beta / math.sqrt(2 * A)))
        log_py = -0.5 * D * math.log(2 * math.pi * sig2) - r.square().sum(-1) / (2 * sig2) + log_integral
        return log_py - (torch.log(x) + torch.log1p(-x)).sum(-1, keepdim=True)

    def patterns(self) -> torch.Tensor:
        """The valid latent states ``(K,)`` int64 (ascending)."""
        return torch.as_tensor(np.flatnonzero(self.latent.valid), dtype=torch.long)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The exact ``ln p(x)`` of images ``(B, D)``: ``(B,)`` float64."""
        return torch.logsumexp(self.log_prob_given(x), -1) - math.log(self.num_patterns)


def split(data: NoisyBAS, train: int, test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent training ``(train, D)`` and test ``(test, D)`` images from one seed."""
    x, _ = data.sample(train + test, seed=seed)
    return x[:train], x[train:]
