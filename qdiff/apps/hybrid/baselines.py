"""The two baselines of the hybrid model, each a proper density on the unit box ``(0, 1)**D``.

* Flow only: an unconditional RealNVP with a final sigmoid (:func:`flow_only`).
* Born only: a Born machine over the data discretised to ``b`` bits per pixel,
  ``D * b`` qubits; the density of ``x`` is the probability of its bin divided by the bin's volume,
  ``p(x) = P(bin(x)) * 2**(D b)``, and sampling draws a bin, then a uniform point inside it
  (:class:`DiscretizedBorn`).

>>> import torch
>>> from qdiff.apps.qcbm import BornMachine, born_circuit
>>> model = DiscretizedBorn(BornMachine(born_circuit(4, 1, [(0, 1), (2, 3)]), seed=0), dim=2, bits=2)
>>> x = torch.tensor([[0.1, 0.9]], dtype=torch.float64)
>>> int(model.bins(x)[0]) == 0 + (3 << 2)
True
>>> bool(torch.isclose(model.log_prob(x), model.prior.probs()[12].log() + 4 * torch.log(torch.tensor(2.0))))
True
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from qdiff.apps.hybrid.data import index_to_bits
from qdiff.apps.hybrid.model import TINY, conditional_realnvp
from qdiff.apps.qcbm.model import BornMachine
from qdiff.flows import Flow


def flow_only(dim: int, hidden: int = 32, layers: int = 4, depth: int = 2) -> Flow:
    """An unconditional float64 RealNVP on ``(0, 1)**dim`` (final sigmoid)."""
    return conditional_realnvp(dim, 0, hidden=hidden, layers=layers, depth=depth, unit_box=True)


def born_only_depth(num_qubits: int, parameters: int) -> int:
    """The depth of :func:`~qdiff.apps.qcbm.born_circuit` on ``num_qubits`` whose ``(3 d + 1) n``
    parameters come closest to ``parameters`` (at least 1).

    >>> born_only_depth(8, 1000)
    41
    """
    return max(1, round((parameters / num_qubits - 1) / 3))


def parameter_count(module: nn.Module) -> int:
    """Trainable scalars of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class DiscretizedBorn(nn.Module):
    """A Born machine over ``dim * bits`` qubits read as a piecewise-constant density on ``(0, 1)**dim``.

    Pixel ``i`` of ``x`` goes to bin ``floor(x_i 2**bits)``, whose bits are qubits
    ``i * bits .. i * bits + bits - 1`` (least significant first).

    Args:
        prior: the Born machine; it must have ``dim * bits`` qubits.
        dim: ``D``.
        bits: ``b``, bits per pixel.

    Raises:
        ValueError: the machine's qubit count is not ``dim * bits``.
    """

    def __init__(self, prior: BornMachine, dim: int, bits: int):
        super().__init__()
        if prior.num_qubits != dim * bits:
            raise ValueError(f"a Born machine for {dim} pixels at {bits} bits each needs {dim * bits} qubits, "
                             f"got {prior.num_qubits}")
        self.prior = prior
        self.dim = int(dim)
        self.bits = int(bits)

    def bins(self, x: Tensor) -> Tensor:
        """Bin index ``(B,)`` int64 of each row of ``x`` ``(B, D)`` in ``[0, 1]**D``."""
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}), got {tuple(x.shape)}")
        level = (x * 2**self.bits).floor().clamp(0, 2**self.bits - 1).to(torch.long)  # (B, D)
        return (level << (self.bits * torch.arange(self.dim, device=x.device))).sum(-1)

    def log_prob(self, x: Tensor) -> Tensor:
        """``ln p(x) = ln P(bin) + D b ln 2`` of rows ``(B, D)``: ``(B,)`` float64 (differentiable in the weights)."""
        p = self.prior.probs().clamp_min(TINY)
        return torch.log(p[self.bins(x)]) + self.dim * self.bits * math.log(2)

    forward = log_prob

    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """``n`` points ``(n, D)``: a bin from the circuit, then uniform inside it."""
        index = self.prior.sample(int(n), seed=seed).to(torch.long)
        bits = index_to_bits(index, self.dim * self.bits).reshape(-1, self.dim, self.bits)
        level = (bits << torch.arange(self.bits)).sum(-1).double()  # (n, D)
        generator = None if seed is None else torch.Generator().manual_seed(int(seed) + 1)
        u = torch.rand(level.shape, generator=generator, dtype=torch.float64)
        return (level + u) / 2**self.bits
