"""Potentials ``phi(x)`` of the Monge-Ampere flow, with their gradient and Laplacian.

Every potential maps ``x (B, D)`` to ``phi (B,)`` and offers ``grad_and_laplacian(x)`` returning
``(grad (B, D), laplacian (B,))``:

* :class:`MLPPotential` -- ``phi = w2 . a(W1 x + b1)``: closed forms with ``h = W1 x + b1``,
  ``grad = W1^T (w2 * a'(h))`` and ``laplacian = sum_j w2_j a''(h_j) |W1[j, :]|^2`` (exact, no
  autograd loop). With ``activation="lncosh"`` and ``bias=False`` it is even, ``phi(-x) = phi(x)``,
  so the flow it drives is Z2-equivariant (the Ising set-up of the paper).
* :class:`NetPotential` -- any network; gradient by autograd, Laplacian exactly (``D`` backward
  passes) or by Hutchinson's estimator ``E_v[v^T H v]`` with Gaussian probes.
* :class:`SymmetrizedPotential` -- ``phi_s(x) = mean_g phi(g x)`` over site permutations ``g``
  (lattice translations / transposition): ``grad phi_s = mean_g g^T grad phi(g x)`` and, ``g``
  being orthogonal, ``laplacian phi_s = mean_g laplacian phi (g x)``.

>>> import torch
>>> phi = MLPPotential(3, 8, activation="lncosh", bias=False).double()
>>> x = torch.randn(4, 3, dtype=torch.float64)
>>> torch.allclose(phi(x), phi(-x))
True
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _lncosh(h: Tensor) -> Tensor:
    a = h.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


# activation -> (a, a', a'')
_ACTIVATIONS = {
    "tanh": (torch.tanh, lambda h: 1 - torch.tanh(h) ** 2,
             lambda h: -2 * torch.tanh(h) * (1 - torch.tanh(h) ** 2)),
    "softplus": (nn.functional.softplus, torch.sigmoid, lambda h: torch.sigmoid(h) * (1 - torch.sigmoid(h))),
    "lncosh": (_lncosh, torch.tanh, lambda h: 1 - torch.tanh(h) ** 2),
}


def divergence(v: Tensor, x: Tensor, noise: Tensor | None = None, probes: bool = False) -> Tensor:
    """``div v = sum_i dv_i/dx_i`` per sample, ``(B,)``, for ``v = f(x)`` of shape ``(B, D)`` built
    with ``x.requires_grad``; differentiable (``create_graph``).

    Exact (``D`` backward passes) unless ``probes``: then Hutchinson's unbiased estimate
    ``mean_k e_k^T (dv/dx) e_k`` over the rows of ``noise`` ``(K, B, D)`` (one Gaussian probe
    drawn when ``noise`` is ``None``).
    """
    if probes:
        if noise is None:
            noise = torch.randn((1, *x.shape), dtype=x.dtype, device=x.device)
        total = x.new_zeros(x.shape[0])
        for e in noise:
            (ej,) = torch.autograd.grad((v * e).sum(), x, create_graph=True)
            total = total + (ej * e).sum(-1)
        return total / noise.shape[0]
    total = x.new_zeros(x.shape[0])
    for i in range(x.shape[1]):
        (row,) = torch.autograd.grad(v[:, i].sum(), x, create_graph=True)
        total = total + row[:, i]
    return total


class Potential(nn.Module):
    """Interface: ``forward(x) -> (B,)`` and ``grad_and_laplacian(x, noise=None)``."""

    def grad_and_laplacian(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(grad (B, D), laplacian (B,))``; ``noise (P, B, D)`` are Hutchinson probes if used."""
        raise NotImplementedError

    @property
    def stochastic(self) -> bool:
        """Whether ``grad_and_laplacian`` uses Hutchinson probes (``noise``)."""
        return False


class MLPPotential(Potential):
    """``phi(x) = w2 . a(W1 x + b1)`` with closed-form gradient and Laplacian.

    Args:
        dim: ``D``. hidden: ``H``. activation: ``tanh``, ``softplus`` or ``lncosh``.
        bias: include ``b1`` (``False`` with ``lncosh`` gives a Z2-symmetric potential).
        init_scale: std of the initial ``w2`` (0 starts the flow at the identity map).
    """

    def __init__(self, dim: int, hidden: int, activation: str = "tanh", bias: bool = True,
                 init_scale: float = 0.0):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; use {', '.join(_ACTIVATIONS)}")
        self.activation = activation
        self.a, self.da, self.dda = _ACTIVATIONS[activation]
        self.W1 = nn.Parameter(torch.randn(hidden, dim) / math.sqrt(dim))
        self.b1 = nn.Parameter(torch.zeros(hidden)) if bias else None
        self.w2 = nn.Parameter(torch.randn(hidden) * init_scale)

    def _h(self, x: Tensor) -> Tensor:
        h = x @ self.W1.T
        return h + self.b1 if self.b1 is not None else h

    def forward(self, x: Tensor) -> Tensor:
        return self.a(self._h(x)) @ self.w2

    def grad_and_laplacian(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self._h(x)
        grad = (self.da(h) * self.w2) @ self.W1
        lap = self.dda(h) @ (self.w2 * (self.W1 ** 2).sum(1))
        return grad, lap


class NetPotential(Potential):
    """A general network ``net: (B, D) -> (B,)`` or ``(B, 1)``, differentiated by autograd.

    Args:
        net: the network.
        hutchinson: estimate the Laplacian as ``mean_p v_p^T H v_p`` over the probes passed as
            ``noise (P, B, D)`` (unbiased for probes with identity covariance); else exact.
    """

    def __init__(self, net: nn.Module, hutchinson: bool = True):
        super().__init__()
        self.net = net
        self.hutchinson = hutchinson

    @property
    def stochastic(self) -> bool:
        return self.hutchinson

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).reshape(x.shape[0])

    def grad_and_laplacian(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            x = x if x.requires_grad else x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(x).sum(), x, create_graph=True)
            return grad, divergence(grad, x, noise, probes=self.hutchinson)


class SymmetrizedPotential(Potential):
    """``phi_s(x) = mean_g phi(x[:, perms[g]])`` over a group of site permutations ``perms (G, D)``."""

    def __init__(self, potential: Potential, perms: Tensor):
        super().__init__()
        self.potential = potential
        self.register_buffer("perms", perms.long())

    @property
    def stochastic(self) -> bool:
        return self.potential.stochastic

    def _orbit(self, x: Tensor) -> Tensor:
        return x[:, self.perms].reshape(-1, x.shape[1])  # (B*G, D)

    def forward(self, x: Tensor) -> Tensor:
        return self.potential(self._orbit(x)).reshape(x.shape[0], -1).mean(1)

    def grad_and_laplacian(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, g = x.shape[0], self.perms.shape[0]
        if noise is not None:
            noise = noise.repeat_interleave(g, dim=1)
        grad_y, lap = self.potential.grad_and_laplacian(self._orbit(x), noise)
        grad_y = grad_y.reshape(b, g, -1)
        grad = torch.zeros_like(grad_y).scatter_(2, self.perms.expand(b, -1, -1), grad_y).mean(1)
        return grad, lap.reshape(b, g).mean(1)


def lattice_symmetries(rows: int, cols: int, translations: bool = True, transpose: bool = True) -> Tensor:
    """Site permutations ``(G, rows*cols)`` of a periodic row-major lattice: all translations, and
    (square lattices) the transposition; ``perms[g][k]`` is the site that ``g`` moves to site ``k``.

    >>> lattice_symmetries(2, 2).shape
    torch.Size([8, 4])
    """
    idx = torch.arange(rows * cols).reshape(rows, cols)
    shifts = [(a, b) for a in range(rows) for b in range(cols)] if translations else [(0, 0)]
    perms = [torch.roll(idx, s, (0, 1)).reshape(-1) for s in shifts]
    if transpose and rows == cols:
        perms += [p.reshape(rows, cols).T.reshape(-1) for p in perms]
    return torch.stack(perms)
