"""The one interface of every bijector and flow.

A :class:`Bijector` is a torch module with ``forward(z) -> (x, log|det dx/dz|)`` (the generative
direction, latent to data) and ``inverse(x) -> (z, log|det dz/dx|)``. Tensors are flat batches
``(B, D)``; log-determinants are ``(B,)``. ``context`` (a ``(B, C)`` tensor) is an optional
argument for conditional flows, never a subclass; bijectors that ignore it reject a non-``None``
value so a mistake is not silent.

A :class:`Flow` pairs a bijector with a base distribution from ``torch.distributions`` (the
standard normal by default) and gives ``log_prob``, ``sample`` and ``sample_and_log_prob``.

>>> import torch
>>> from qdiff.flows import Flow, RealNVP
>>> flow = Flow(RealNVP(2, layers=2, hidden=8), dim=2)
>>> x, logq = flow.sample_and_log_prob(5)
>>> x.shape, logq.shape
(torch.Size([5, 2]), torch.Size([5]))
>>> torch.allclose(flow.log_prob(x), logq, atol=1e-5)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal


class Bijector(nn.Module):
    """An invertible map with a tractable log-Jacobian; subclasses implement both directions."""

    supports_context = False

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: D401
        """Latent ``z (B, D)`` to data ``x (B, D)`` and ``log|det dx/dz| (B,)``."""
        raise NotImplementedError

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Data ``x (B, D)`` to latent ``z (B, D)`` and ``log|det dz/dx| (B,)``."""
        raise NotImplementedError

    def _check_context(self, context: Tensor | None) -> None:
        if context is not None and not self.supports_context:
            raise ValueError(f"{type(self).__name__} does not take a context; build it with context_dim")


class Chain(Bijector):
    """Bijectors composed in order: ``forward`` applies ``parts[0]`` first, ``inverse`` the reverse.

    >>> import torch
    >>> from qdiff.flows import Chain, Logit
    >>> chain = Chain([Logit(0.05), Logit(0.05)]).double()
    >>> z = torch.randn(3, 4, dtype=torch.float64) * 0.1
    >>> x, ld = chain(z); z2, ld2 = chain.inverse(x)
    >>> torch.allclose(z, z2) and torch.allclose(ld, -ld2)
    True
    """

    def __init__(self, parts: Sequence[Bijector]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.supports_context = any(p.supports_context for p in parts)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for part in self.parts:
            z, ld = part(z, context) if part.supports_context else part(z)
            total = total + ld
        return z, total

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for part in reversed(self.parts):
            x, ld = part.inverse(x, context) if part.supports_context else part.inverse(x)
            total = total + ld
        return x, total


class Logit(Bijector):
    """``x = (sigmoid(z) - a) / (1 - 2a)``: real line to a box slightly larger than ``[0, 1]``.

    The usual pre-processing of image data (``a`` keeps the logit away from infinity at 0 and 1).
    """

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        if not 0 <= alpha < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5), got {alpha}")
        self.alpha = alpha

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        s = torch.sigmoid(z)
        ld = (nn.functional.logsigmoid(z) + nn.functional.logsigmoid(-z)).sum(-1)
        return (s - self.alpha) / (1 - 2 * self.alpha), ld - z.shape[-1] * math.log(1 - 2 * self.alpha)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        y = self.alpha + (1 - 2 * self.alpha) * x
        z = torch.log(y) - torch.log1p(-y)
        ld = (-torch.log(y) - torch.log1p(-y)).sum(-1) + x.shape[-1] * math.log(1 - 2 * self.alpha)
        return z, ld


class Flow(nn.Module):
    """A normalizing flow: ``x = bijector(z)`` with ``z`` from ``base``.

    Args:
        bijector: the map latent -> data.
        dim: the event size ``D`` (used for the default base).
        base: a distribution over ``(D,)`` events; default the standard normal, built on the
            module's device and dtype at each call (so ``.double()`` / ``.to(device)`` just work).
    """

    def __init__(self, bijector: Bijector, dim: int, base: Distribution | None = None):
        super().__init__()
        self.bijector = bijector
        self.dim = dim
        self._base = base
        self.register_buffer("_loc", torch.zeros(dim))

    def base(self) -> Distribution:
        """The base distribution over ``(D,)`` events."""
        if self._base is not None:
            return self._base
        return Independent(Normal(self._loc, torch.ones_like(self._loc)), 1)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``ln q(x)`` for ``x (B, D)``; returns ``(B,)``."""
        z, ld = self.bijector.inverse(x, context) if context is not None else self.bijector.inverse(x)
        return self.base().log_prob(z) + ld

    def sample_and_log_prob(self, n: int, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``n`` reparametrised samples ``(n, D)`` and their ``ln q`` ``(n,)`` from one forward pass."""
        base = self.base()
        z = base.rsample((n,))
        x, ld = self.bijector(z, context) if context is not None else self.bijector(z)
        return x, base.log_prob(z) - ld

    def sample(self, n: int, context: Tensor | None = None) -> Tensor:
        """``n`` samples ``(n, D)``."""
        return self.sample_and_log_prob(n, context)[0]


class Z2Symmetrized(nn.Module):
    """The mixture ``q_s(x) = (q(x) + q(-x)) / 2`` of a flow and its mirror image (NeuralRG's Z2).

    Sampling draws from ``q`` and flips the sign with probability 1/2; ``ln q_s`` needs one more
    inverse pass. Same methods as :class:`Flow`.
    """

    def __init__(self, flow: Flow):
        super().__init__()
        self.flow = flow
        self.dim = flow.dim

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``ln q_s(x)``, ``(B,)``."""
        both = torch.stack([self.flow.log_prob(x, context), self.flow.log_prob(-x, context)])
        return torch.logsumexp(both, 0) - math.log(2.0)

    def sample_and_log_prob(self, n: int, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Samples ``(n, D)`` of ``q_s`` and ``ln q_s`` ``(n,)``."""
        x, logq = self.flow.sample_and_log_prob(n, context)
        mirror = self.flow.log_prob(-x, context)
        sign = torch.randint(0, 2, (n, 1), device=x.device).to(x.dtype) * 2 - 1
        return x * sign, torch.logaddexp(logq, mirror) - math.log(2.0)

    def sample(self, n: int, context: Tensor | None = None) -> Tensor:
        """Samples ``(n, D)``."""
        return self.sample_and_log_prob(n, context)[0]


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.Tanh, zero_last: bool = True) -> nn.Sequential:
    """A plain MLP ``sizes[0] -> ... -> sizes[-1]``; the last layer starts at zero (identity flows)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    if zero_last:
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)
