"""Training from samples of the circuit: an unbiased MMD objective on ``x``, with the gradient into
the circuit by the parameter-shift rule through the latent distribution, every shifted circuit in
one batched sample call.

The model's distribution is ``Q``: ``z ~ p_theta``, ``x = f_phi(eps; z)``, ``eps ~ N(0, I)``. The
loss is ``L = MMD**2(Q, P) = E k(x, x') - 2 E k(x, y) + E k(y, y')`` (``y`` data). With
``K(z) = E_{x ~ p(.|z)} [E_{x' ~ Q} k(x, x') - E_y k(x, y)]`` and an exact shift rule
``d p_theta(z) / d a = sum_r c_r p_{a + s_r}(z)`` (angle ``a``),

    dL/da = 2 sum_z dp(z)/da K(z) = 2 sum_r c_r E_{z ~ p_{a + s_r}} K(z).

Estimates, all independent of each other, hence an unbiased product:
* ``p_{a + s_r}``: histograms of ``shots`` samples of every shifted circuit (one call, shared with
  the base circuit: :func:`qdiff.apps.qcbm.sampled.sample_shifted`);
* ``K(z)``: for each latent state ``z`` seen in a shifted histogram, ``per_state`` fresh draws
  ``x ~ p(.|z)`` against the base samples ``x'`` and the data batch ``y``;
* ``dL/dphi``: the U-statistics ``mean_{i != j} k(x_i, x_j) - 2 mean k(x_i, y_l)`` of the base
  samples ``x_i = f_phi(eps_i; z_i)`` (reparametrised), differentiated by backprop.

The returned surrogate has the loss estimate as its value and both gradients as its gradient, so
one ``loss.backward()`` trains the circuit and the flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from qdiff.apps.hybrid.kernels import RBFMixture
from qdiff.apps.hybrid.model import HybridBornFlow
from qdiff.apps.qcbm.sampled import sample_shifted


@dataclass(frozen=True)
class SampledObjective:
    """One shot-based estimate.

    Attributes:
        loss: the surrogate: value = unbiased ``MMD**2`` estimate, gradient = unbiased gradient
            estimate for the flow's parameters and the circuit's weights (call ``loss.backward()``).
        circuit_grad: ``(P,)`` the estimate of ``dL/dweights`` (also what ``backward`` puts into the weights).
        evaluations: circuits sampled in the one batched call (1 + number of shifts).
    """

    loss: Tensor
    circuit_grad: Tensor
    evaluations: int


def _flow_samples(model: HybridBornFlow, z: Tensor, generator: torch.Generator) -> Tensor:
    """``x = f_phi(eps; z)`` with ``eps`` from ``generator`` (reparametrised), ``(len(z), D)``."""
    eps = torch.randn(len(z), model.dim, generator=generator, dtype=torch.float64).to(model.dtype)
    eps = eps.to(model._states.device)
    return model.flow.bijector(eps, model.context(z))[0]


def sampled_mmd_objective(model: HybridBornFlow, data: Tensor, kernel: RBFMixture, shots: int,
                          generator: torch.Generator, per_state: int = 4) -> SampledObjective:
    """The shot-based MMD objective of ``model`` against a batch of ``data`` ``(M, D)`` (see the module docstring).

    Args:
        model: the hybrid model; its prior's ``backend`` (``None`` = torch simulator) draws the samples.
        data: data rows ``(M, D)``, ``M >= 2`` (a minibatch gives an unbiased estimate for the full set).
        kernel: the kernel on ``x``.
        shots: samples of the base circuit and of every shifted circuit (``>= 2``).
        generator: the only source of randomness (circuit samples and flow noise).
        per_state: draws of ``x ~ p(x | z)`` per latent state in the circuit-gradient term.

    Raises:
        ValueError: bad ``shots``, ``per_state`` or data shape, before any circuit is run.
    """
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 2:
        raise ValueError(f"shots must be an int >= 2 (the unbiased estimate pairs distinct samples), got {shots!r}")
    if per_state < 1:
        raise ValueError(f"per_state must be >= 1, got {per_state}")
    base = model.flow.base()
    if not (isinstance(base, Independent) and isinstance(base.base_dist, Normal)
            and bool((base.mean == 0).all() and (base.stddev == 1).all())):
        raise ValueError("the sampled objective draws eps ~ N(0, I) itself; build the flow with the default "
                         "standard-normal base")
    y = model._check_x(data)
    if y.shape[0] < 2:
        raise ValueError("the sampled objective needs at least 2 data rows")
    machine = model.prior
    h, coefficients, slot_weights = sample_shifted(machine.circuit, machine.weights.detach(), shots, generator,
                                                   machine.backend)
    counts = np.rint(h[0].cpu().numpy() * shots).astype(np.int64)
    states = torch.arange(h.shape[1])
    z_base = torch.as_tensor(np.repeat(np.arange(h.shape[1]), counts)).to(model._states.device)
    x_base = _flow_samples(model, z_base, generator)  # (shots, D), differentiable in phi
    flow_loss = kernel.mean_offdiagonal(x_base) - 2 * kernel(x_base, y).mean() + kernel.mean_offdiagonal(y)

    seen = states[(h[1:] > 0).any(0)]  # latent states any shifted circuit produced
    with torch.no_grad():
        z_rep = seen[:, None].expand(len(seen), per_state).reshape(-1).to(model._states.device)
        x_state = _flow_samples(model, z_rep, generator)
        # K(z): against the base samples (an independent draw of Q) and the data
        k_of_z = (kernel(x_state, x_base).mean(1) - kernel(x_state, y).mean(1)).reshape(len(seen), per_state).mean(1)
        per_shift = 2 * (h[1:, seen].to(k_of_z) @ k_of_z)  # (R,)
        grad = (per_shift.double() @ coefficients) @ slot_weights.to(torch.float64)  # (P,)
    weights = machine.weights
    attach = ((weights - weights.detach()) * grad.to(weights.dtype)).sum()  # value 0, gradient grad
    return SampledObjective(flow_loss + attach.to(flow_loss.dtype), grad, int(h.shape[0]))
