"""RealNVP (Dinh et al. 2017): affine coupling layers with binary masks and MLP conditioners.

A coupling layer keeps the masked variables and transforms the others,
``x = m*z + (1-m)*(z*exp(s) + t)`` with ``(s, t) = MLP(m*z [, context])``; ``log|det| = sum (1-m) s``.

>>> import torch
>>> from qdiff.flows import RealNVP, checkerboard_mask
>>> checkerboard_mask(2, 2).tolist()
[1.0, 0.0, 0.0, 1.0]
>>> f = RealNVP(4, layers=4, hidden=16, mask="checkerboard", shape=(2, 2)).double()
>>> z = torch.randn(3, 4, dtype=torch.float64)
>>> x, ld = f(z); z2, ld2 = f.inverse(x)
>>> torch.allclose(z, z2), torch.allclose(ld, -ld2)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from qdiff.flows.base import Bijector, Chain, mlp


def alternating_mask(dim: int, parity: int = 0) -> Tensor:
    """``(D,)`` float mask ``1, 0, 1, 0, ...`` (``parity=1`` flips it)."""
    return ((torch.arange(dim) + parity) % 2 == 0).to(torch.get_default_dtype())


def half_mask(dim: int, parity: int = 0) -> Tensor:
    """``(D,)`` mask keeping the first half (``parity=1``: the second half)."""
    m = (torch.arange(dim) < dim // 2).to(torch.get_default_dtype())
    return 1 - m if parity else m


def checkerboard_mask(rows: int, cols: int, parity: int = 0) -> Tensor:
    """``(rows*cols,)`` checkerboard mask of a row-major lattice (``parity=1`` flips it)."""
    i, j = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    return ((i + j + parity) % 2 == 0).reshape(-1).to(torch.get_default_dtype())


class AffineCoupling(Bijector):
    """One affine coupling layer.

    Args:
        mask: ``(D,)`` of 0/1; the variables with ``mask == 1`` condition the others.
        hidden: widths of the conditioner's hidden layers.
        context_dim: size of an optional context appended to the conditioner input.
        scale_bound: ``s = scale_bound * tanh(raw)`` keeps the log-scales bounded (stable training).
    """

    def __init__(self, mask: Tensor, hidden: Sequence[int] = (64, 64), context_dim: int = 0,
                 scale_bound: float = 2.0):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.reshape(-1).clone())
        self.context_dim = context_dim
        self.supports_context = context_dim > 0
        self.scale_bound = scale_bound
        self.net = mlp([dim + context_dim, *hidden, 2 * dim], activation=nn.SiLU)

    def _scale_shift(self, kept: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if self.context_dim:
            if context is None or context.shape[-1] != self.context_dim:
                raise ValueError(f"this coupling layer needs a context of size {self.context_dim}")
            kept = torch.cat([kept, context.to(kept.dtype)], -1)
        elif context is not None:
            self._check_context(context)
        s, t = self.net(kept).chunk(2, -1)
        free = 1 - self.mask
        return self.scale_bound * torch.tanh(s / self.scale_bound) * free, t * free

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(z * self.mask, context)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(x * self.mask, context)
        return (x - t) * torch.exp(-s), -s.sum(-1)


class RealNVP(Chain):
    """A stack of affine couplings with alternating masks.

    Args:
        dim: ``D``.
        layers: coupling layers (masks alternate between parity 0 and 1).
        hidden: width of the conditioners (``depth`` hidden layers each).
        mask: ``"alternating"`` (1,0,1,0...), ``"half"`` (first/second half) or ``"checkerboard"``
            (needs ``shape=(rows, cols)`` with ``rows*cols == dim``).
        context_dim: optional context size of every conditioner.
    """

    def __init__(self, dim: int, layers: int = 4, hidden: int = 64, depth: int = 2, mask: str = "alternating",
                 shape: tuple[int, int] | None = None, context_dim: int = 0, scale_bound: float = 2.0):
        if dim < 2:
            raise ValueError(f"a coupling layer needs dim >= 2, got {dim}")
        if mask == "checkerboard":
            if shape is None or shape[0] * shape[1] != dim:
                raise ValueError(f"mask='checkerboard' needs shape=(rows, cols) with rows*cols == {dim}")
            masks = [checkerboard_mask(*shape, parity=k % 2) for k in range(layers)]
        elif mask == "alternating":
            masks = [alternating_mask(dim, k % 2) for k in range(layers)]
        elif mask == "half":
            masks = [half_mask(dim, k % 2) for k in range(layers)]
        else:
            raise ValueError(f"unknown mask {mask!r}; use alternating, half or checkerboard")
        super().__init__([AffineCoupling(m, [hidden] * depth, context_dim, scale_bound) for m in masks])
