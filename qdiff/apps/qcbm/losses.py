"""Losses and metrics for Born machines: MMD with a mixture of Gaussian kernels, KL divergence,
negative log-likelihood, total variation and the valid-state rate.

Kernel convention (Liu & Wang, stated explicitly): ``K(x, y) = (1/c) sum_i exp(-d(x, y) / (2 sigma_i))``
with ``d`` the Hamming distance for bitstrings (``"bits"`` encoding) or the squared integer
difference (``"integer"``), and ``c`` the number of bandwidths; ``sigma`` sits in the variance
position as written. ``normalize=False`` drops the ``1/c`` as the paper's code does.

``MMD(p, q) = (p - q)^T K (p - q)``: the squared maximum mean discrepancy, zero iff ``p = q``
for these (characteristic) kernels.

>>> import torch
>>> kernel = MixtureKernel(2, (1.0,))
>>> p = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64); q = torch.tensor([0, 1.0, 0, 0], dtype=torch.float64)
>>> round(float(mmd(p, q, kernel)), 6) == round(2 - 2 * float(torch.exp(torch.tensor(-0.5))), 6)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from qdiff.apps.qcbm.data import Encoding

DENSE_LIMIT = 12
"""Largest number of bits for which the kernel is stored as a dense ``2**n x 2**n`` matrix."""


class MixtureKernel:
    """A mixture of Gaussian kernels over the ``2**num_bits`` basis states.

    Args:
        num_bits: number of bits of each state.
        sigmas: bandwidths (variance position, see the module docstring).
        encoding: ``"bits"`` (Hamming distance) or ``"integer"`` (squared difference).
        normalize: divide by the number of bandwidths (default) or not (the paper's code).

    ``apply(v)`` computes ``K v`` for ``v`` of shape ``(..., 2**n)``. Up to :data:`DENSE_LIMIT`
    bits ``K`` is a dense matrix (one matmul); above it, the Hamming kernel is applied as the
    tensor product it is (``exp(-d/2s) = prod_k exp(-(x_k xor y_k)/2s)``, ``O(n 2**n)``), and
    the integer kernel as a convolution via FFT (``O(2**n log 2**n)``).
    """

    def __init__(self, num_bits: int, sigmas: Sequence[float], encoding: Encoding = "bits",
                 normalize: bool = True):
        sig = [float(s) for s in sigmas]
        if not sig or any(s <= 0 for s in sig):
            raise ValueError(f"kernel bandwidths must be a non-empty list of positive numbers, got {list(sigmas)}")
        if encoding not in ("bits", "integer"):
            raise ValueError(f"encoding must be 'bits' or 'integer', got {encoding!r}")
        self.num_bits = int(num_bits)
        self.sigmas = tuple(sig)
        self.encoding = encoding
        self.normalize = normalize
        self._cache: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    @property
    def scale(self) -> float:
        """The factor in front of the sum over bandwidths."""
        return 1 / len(self.sigmas) if self.normalize else 1.0

    def _distances(self) -> np.ndarray:
        x = np.arange(2**self.num_bits)
        if self.encoding == "integer":
            return (x[:, None] - x[None, :]).astype(float) ** 2
        xor = x[:, None] ^ x[None, :]
        return np.array([bin(v).count("1") for v in range(2**self.num_bits)], dtype=float)[xor]

    def matrix(self, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
        """The dense kernel matrix ``(2**n, 2**n)`` (cached per dtype and device)."""
        key = (dtype, torch.device(device))
        if key not in self._cache:
            if self.num_bits > DENSE_LIMIT:
                raise ValueError(f"a dense kernel over {self.num_bits} bits would take "
                                 f"{4**self.num_bits * 8 / 2**30:.0f} GiB; use apply() instead")
            d = self._distances()
            k = self.scale * sum(np.exp(-d / (2 * s)) for s in self.sigmas)
            self._cache[key] = torch.as_tensor(k, dtype=dtype, device=device)
        return self._cache[key]

    def apply(self, v: torch.Tensor) -> torch.Tensor:
        """``K v`` for ``v`` of shape ``(..., 2**n)`` (differentiable)."""
        if self.num_bits <= DENSE_LIMIT:
            return v @ self.matrix(v.dtype, v.device)  # K is symmetric
        if self.encoding == "bits":
            return self.scale * sum(self._apply_product(v, s) for s in self.sigmas)
        return self._apply_convolution(v)

    def _apply_product(self, v: torch.Tensor, sigma: float) -> torch.Tensor:
        a = float(np.exp(-1 / (2 * sigma)))
        factor = torch.tensor([[1.0, a], [a, 1.0]], dtype=v.dtype, device=v.device)
        lead = v.shape[:-1]
        t = v.reshape(lead + (2,) * self.num_bits)
        for axis in range(len(lead), len(lead) + self.num_bits):
            t = torch.movedim(torch.tensordot(t, factor, dims=([axis], [0])), -1, axis)
        return t.reshape(v.shape)

    def _apply_convolution(self, v: torch.Tensor) -> torch.Tensor:
        size = 2**self.num_bits
        offsets = torch.arange(-(size - 1), size, dtype=v.dtype, device=v.device)
        g = self.scale * sum(torch.exp(-offsets.square() / (2 * s)) for s in self.sigmas)  # (2 size - 1,)
        length = 4 * size
        spectrum = torch.fft.rfft(v, n=length) * torch.fft.rfft(g, n=length)
        return torch.fft.irfft(spectrum, n=length)[..., size - 1: 2 * size - 1]

    def expectation(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``E K(x, y)`` for two independent sample sets, given as histograms ``(..., 2**n)``
        normalised to one: ``h_x^T K h_y``."""
        return (self.apply(x) * y).sum(-1)


def mmd(p: torch.Tensor, q: torch.Tensor, kernel: MixtureKernel) -> torch.Tensor:
    """Squared MMD ``(p - q)^T K (p - q)`` between distributions ``(..., 2**n)``; shape ``(...)``."""
    diff = p - q
    return (kernel.apply(diff) * diff).sum(-1)


def kl_divergence(target: torch.Tensor, model: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``KL(target || model) = sum_x target(x) log(target(x) / model(x))`` (nats), with the model
    clamped at ``eps`` so that a zero where the target has mass gives a large finite value."""
    mask = target > 0
    safe = torch.where(mask, target, torch.ones_like(target))
    terms = safe * (torch.log(safe) - torch.log(model.clamp_min(eps)))
    return torch.where(mask, terms, torch.zeros_like(terms)).sum(-1)


def nll(model: torch.Tensor, samples: torch.Tensor | np.ndarray, eps: float = 1e-12) -> torch.Tensor:
    """Mean negative log-likelihood (nats) of integer ``samples`` ``(K,)`` under ``model`` ``(2**n,)``."""
    index = torch.as_tensor(np.asarray(samples), dtype=torch.long, device=model.device)
    return -torch.log(model[index].clamp_min(eps)).mean()


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``(1/2) sum_x |p(x) - q(x)|``, in [0, 1]."""
    return 0.5 * (p - q).abs().sum(-1)


def valid_rate(model: torch.Tensor, valid: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Probability mass the model puts on valid states (e.g. bars-and-stripes images)."""
    mask = torch.as_tensor(np.asarray(valid), dtype=torch.bool, device=model.device)
    return model[..., mask].sum(-1)
