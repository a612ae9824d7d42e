"""Neural network renormalization group (Li & Wang, PRL 121, 260601, 2018).

A hierarchical, MERA-like bijector on a periodic ``L x L`` lattice (``L`` a power of two). At scale
``l`` (dilation ``d = 2^l``) the surviving sites are those on the ``d``-spaced sub-lattice; a
*disentangler* layer applies a small RealNVP *kernel* to every 2x2 block of them with origin at
``(d, d) + 2d Z^2``, then a *decimator* layer applies another kernel to the blocks with origin at
``2d Z^2``; only the block origins (the ``2d``-spaced sites) go on to scale ``l + 1``, the other
variables are latent at scale ``l``. One kernel is shared by all blocks of a layer (translation
invariance). In the renormalisation direction (data -> latent, :meth:`inverse`) the layers run fine
to coarse; the generative direction (:meth:`forward`) runs coarse to fine. The paper's Z2
symmetrisation is :class:`~qdiff.flows.Z2Symmetrized` around the flow.

>>> import torch
>>> f = NeuralRG(4, hidden=8).double()
>>> len(f.layers), f.layers[0].blocks.shape
(3, torch.Size([4, 4]))
>>> z = torch.randn(2, 16, dtype=torch.float64)
>>> x, ld = f(z); z2, ld2 = f.inverse(x)
>>> torch.allclose(z, z2), torch.allclose(ld, -ld2)
(True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qdiff.flows.base import Bijector
from qdiff.flows.realnvp import RealNVP


def block_indices(L: int, dilation: int, offset: int) -> Tensor:
    """``(nblocks, 4)`` site indices (row-major) of the 2x2 blocks with spacing ``dilation`` and origins
    at ``offset + 2*dilation*Z^2`` (periodic); each row lists origin, right, down, down-right.

    >>> block_indices(4, 1, 0).tolist()[0]
    [0, 1, 4, 5]
    """
    step = 2 * dilation
    rows = []
    for i in range(offset, L + offset, step):
        for j in range(offset, L + offset, step):
            rows.append([((i + a) % L) * L + (j + b) % L for a in (0, dilation) for b in (0, dilation)])
    return torch.tensor(rows, dtype=torch.long)


class BlockLayer(Bijector):
    """One kernel bijector applied to every block of ``blocks (nblocks, 4)`` (disjoint blocks)."""

    def __init__(self, blocks: Tensor, kernel: Bijector):
        super().__init__()
        self.register_buffer("blocks", blocks)
        self.kernel = kernel

    def _blockwise(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        b, nb = x.shape[0], self.blocks.shape[0]
        flat = self.blocks.reshape(-1)
        y, ld = (self.kernel.inverse if inverse else self.kernel)(x[:, flat].reshape(b * nb, 4))
        out = x.clone()
        out[:, flat] = y.reshape(b, nb * 4)
        return out, ld.reshape(b, nb).sum(1)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        return self._blockwise(z, inverse=False)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        return self._blockwise(x, inverse=True)


class NeuralRG(Bijector):
    """The hierarchical bijector on ``L x L`` sites, ``D = L*L`` (row-major).

    Args:
        L: linear size, a power of two >= 2.
        depth: (disentangler, decimator) pairs per scale (the top scale has decimators only).
        kernel_layers: affine couplings in each 2x2 kernel (checkerboard masks within the block).
        hidden: width of the kernels' conditioners (two hidden layers).
    """

    def __init__(self, L: int, depth: int = 1, kernel_layers: int = 4, hidden: int = 32):
        super().__init__()
        if L < 2 or L & (L - 1):
            raise ValueError(f"NeuralRG needs L a power of two >= 2, got {L}")
        self.L = L
        layers: list[BlockLayer] = []  # renormalisation order: fine -> coarse
        d = 1
        while 2 * d <= L:
            for _ in range(depth):
                if 2 * d < L:
                    layers.append(BlockLayer(block_indices(L, d, d), self._kernel(kernel_layers, hidden)))
                layers.append(BlockLayer(block_indices(L, d, 0), self._kernel(kernel_layers, hidden)))
            d *= 2
        self.layers = nn.ModuleList(layers)

    @staticmethod
    def _kernel(layers: int, hidden: int) -> RealNVP:
        return RealNVP(4, layers=layers, hidden=hidden, mask="checkerboard", shape=(2, 2))

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        total = z.new_zeros(z.shape[0])
        for layer in reversed(self.layers):
            z, ld = layer(z)
            total = total + ld
        return z, total

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        total = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer.inverse(x)
            total = total + ld
        return x, total
