"""A hybrid generative model: a Born-machine prior over latent bits and a conditional flow.

    p(x) = sum_z p_theta(z) p_phi(x | z),   p_theta(z) = |<z|U(theta)|0>|**2,

with ``z`` the ``k`` measured bits of any qdiff circuit (a :class:`~qdiff.apps.qcbm.BornMachine`)
and ``p_phi(x | z)`` a :class:`~qdiff.flows.Flow` whose bijector takes the bits as context
(``RealNVP(D, ..., context_dim=k)``). The exact log-likelihood is a log-sum-exp over all ``2**k``
latent states (``k`` up to about 12), so one ``loss.backward()`` sends gradients into the circuit
through the probabilities (the machine's engine: adjoint on the simulator) and into the flow by
backprop.

>>> import torch
>>> from qdiff.apps.hybrid import HybridBornFlow, conditional_realnvp
>>> from qdiff.apps.qcbm import BornMachine, born_circuit
>>> model = HybridBornFlow(BornMachine(born_circuit(2, 1, [(0, 1)]), seed=0), conditional_realnvp(3, 2, hidden=8))
>>> x = model.sample(4, seed=0)
>>> tuple(x.shape), tuple(model.log_prob(x).shape), tuple(model.posterior(x).shape)
((4, 3), (4,), (4, 4))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qdiff.apps.hybrid.data import index_to_bits
from qdiff.apps.qcbm.model import BornMachine
from qdiff.flows import Bijector, Chain, Flow, Logit, RealNVP

TINY = 1e-300
"""Probabilities below this count as zero in ``ln p_theta(z)`` (keeps gradients finite)."""


class ContextAffine(Bijector):
    """``x = z * exp(s) + t`` with ``(s, t) = c @ W + b`` linear in the context ``c`` ``(B, C)``.

    Placed first (on the base noise) it gives every latent state its own Gaussian base,
    ``N(t(c), diag(exp(2 s(c))))``. ``W`` starts random (normal, std ``init_std``, from ``seed``) so
    that different latent states start at different places: with the couplings' context weights at
    zero, as RealNVP starts, every state would otherwise have the same density, a symmetric saddle
    the gradient cannot leave.
    """

    supports_context = True

    def __init__(self, dim: int, context_dim: int, init_std: float = 1.0, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(int(seed))
        weight = torch.zeros(context_dim, 2 * dim)
        weight[:, dim:] = torch.randn(context_dim, dim, generator=generator) * init_std
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(2 * dim))
        self.dim = dim

    def _scale_shift(self, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if context is None or context.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"ContextAffine needs a context of size {self.weight.shape[0]}")
        s, t = (context.to(self.weight.dtype) @ self.weight + self.bias).split(self.dim, -1)
        return s, t

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(context)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(context)
        return (x - t) * torch.exp(-s), -s.sum(-1)


def conditional_realnvp(dim: int, latent_bits: int, hidden: int = 32, layers: int = 4, depth: int = 2,
                        unit_box: bool = False, seed: int = 0) -> Flow:
    """A float64 conditional flow ``p(x | z)`` over ``R**dim`` (or ``(0, 1)**dim`` with ``unit_box``: a
    final sigmoid) given ``latent_bits`` bits: a :class:`ContextAffine` base layer (``seed`` fixes its
    random start), then ``RealNVP(dim, layers, hidden, depth, context_dim=latent_bits)``.
    ``latent_bits=0`` gives an unconditional RealNVP.

    The torch seed (``torch.manual_seed``) initialises the couplings' networks as usual.
    """
    parts: list = []
    if latent_bits:
        parts.append(ContextAffine(dim, latent_bits, seed=seed))
    parts.append(RealNVP(dim, layers=layers, hidden=hidden, depth=depth, context_dim=latent_bits))
    if unit_box:
        parts.append(Logit(0.0))
    return Flow(Chain(parts), dim=dim).double()


class HybridBornFlow(nn.Module):
    """A Born machine prior over ``k`` latent bits and a conditional flow ``p(x | z)`` over ``R**D``.

    Args:
        prior: the Born machine (any circuit, any backend); ``k = prior.num_qubits``.
        flow: a flow over ``D`` dimensions whose bijector takes a context of size ``k``; the
            context of ``z`` is its bits as ``+-1`` (bit ``j`` of ``z`` is context column ``j``).
        chunk: latent states evaluated together in :meth:`joint_log_prob` (bounds memory at
            ``B * chunk`` flow evaluations; the result does not depend on it).

    Raises:
        ValueError: ``k > 12`` (the exact sum has ``2**k`` terms), or a flow without a context of size ``k``.
    """

    def __init__(self, prior: BornMachine, flow: Flow, chunk: int = 4096):
        super().__init__()
        k = prior.num_qubits
        if k > 12:
            raise ValueError(f"the exact likelihood sums over 2**k latent states; k = {k} qubits is too many "
                             f"(at most 12): use fewer latent qubits")
        if not getattr(flow.bijector, "supports_context", False):
            raise ValueError(f"the flow must take the {k} latent bits as context: build it with "
                             f"conditional_realnvp(D, {k}) or RealNVP(D, ..., context_dim={k})")
        self.prior = prior
        self.flow = flow
        self.chunk = int(chunk)
        self.register_buffer("_states", torch.arange(2**k), persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        """The flow's floating dtype (that of ``log_prob``; the prior's probabilities are float64)."""
        return next(self.flow.parameters()).dtype

    @property
    def latent_bits(self) -> int:
        """``k``: qubits of the prior."""
        return self.prior.num_qubits

    @property
    def dim(self) -> int:
        """``D``: dimension of the data."""
        return self.flow.dim

    def context(self, z: Tensor) -> Tensor:
        """The flow's context ``(..., k)`` (``+-1`` in the flow's dtype) of integer states ``z`` ``(...,)``."""
        return index_to_bits(z, self.latent_bits).to(self.dtype) * 2 - 1

    def _check_x(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}), got {tuple(x.shape)}")
        return x.to(self.dtype)

    def log_prior(self) -> Tensor:
        """``ln p_theta(z)`` for every latent state: ``(2**k,)`` float64, differentiable."""
        return torch.log(self.prior.probs().clamp_min(TINY))

    def conditional_log_prob(self, x: Tensor) -> Tensor:
        """``ln p_phi(x | z)`` for every ``x`` ``(B, D)`` and every latent state: ``(B, 2**k)``."""
        x = self._check_x(x)
        B, K = x.shape[0], 2**self.latent_bits
        columns = []
        for start in range(0, K, self.chunk):
            z = self._states[start:start + self.chunk]
            xs = x[:, None, :].expand(B, len(z), self.dim).reshape(-1, self.dim)
            ctx = self.context(z)[None].expand(B, len(z), self.latent_bits).reshape(-1, self.latent_bits)
            columns.append(self.flow.log_prob(xs, ctx).reshape(B, len(z)))
        return torch.cat(columns, 1)

    def joint_log_prob(self, x: Tensor) -> Tensor:
        """``ln p_theta(z) + ln p_phi(x | z)``: ``(B, 2**k)``."""
        return self.conditional_log_prob(x) + self.log_prior().to(self.dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        """The exact ``ln p(x) = logsumexp_z [ln p_theta(z) + ln p_phi(x | z)]`` of ``x`` ``(B, D)``: ``(B,)``."""
        return torch.logsumexp(self.joint_log_prob(x), -1)

    forward = log_prob

    def posterior(self, x: Tensor) -> Tensor:
        """``p(z | x)`` for each row of ``x`` ``(B, D)``: ``(B, 2**k)``, rows summing to one."""
        return torch.softmax(self.joint_log_prob(x), -1)

    def sample_posterior(self, x: Tensor, n: int = 1, seed: int | None = None) -> Tensor:
        """``n`` latent states ``z ~ p(z | x)`` per row of ``x``: int64 ``(B, n)``."""
        with torch.no_grad():
            post = self.posterior(x)
        generator = None if seed is None else torch.Generator(device=post.device).manual_seed(int(seed))
        return torch.multinomial(post, n, replacement=True, generator=generator)

    def sample_given(self, z: Tensor, seed: int | None = None) -> Tensor:
        """One ``x ~ p_phi(x | z)`` per integer state in ``z`` ``(n,)``: ``(n, D)`` (reparametrised: differentiable
        in the flow's parameters)."""
        z = torch.as_tensor(z, dtype=torch.long, device=self._states.device).reshape(-1)
        if z.numel() and (z.min() < 0 or z.max() >= 2**self.latent_bits):
            raise ValueError(f"latent states must lie in 0..{2**self.latent_bits - 1} for {self.latent_bits} bits")
        if seed is None:
            return self.flow.sample(len(z), self.context(z))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return self.flow.sample(len(z), self.context(z))

    def sample(self, n: int, seed: int | None = None, return_latent: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """``n`` samples ``(n, D)``: ``z`` from the circuit (its backend's sampler), then ``x ~ p_phi(x | z)``.

        With ``return_latent`` also the states ``z`` ``(n,)``. Not differentiable (use :meth:`sample_given`).
        """
        z = self.prior.sample(int(n), seed=seed).to(torch.long).to(self._states.device)
        with torch.no_grad():
            x = self.sample_given(z, seed=None if seed is None else seed + 1)
        return (x, z) if return_latent else x
