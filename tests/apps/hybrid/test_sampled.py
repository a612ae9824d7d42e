"""The shot-based objective: unbiased for the loss and for both gradients (against a closed-form
MMD of a Gaussian conditional model), every shifted circuit sampled in one call, trainable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qdiff
from qdiff.apps.hybrid import HybridBornFlow, RBFMixture, sampled_mmd_objective
from qdiff.apps.hybrid.model import ContextAffine
from qdiff.apps.hybrid.sampled import _flow_samples
from qdiff.apps.hybrid.train import SampledTrainer
from qdiff.apps.qcbm import BornMachine, born_circuit
from qdiff.flows import Chain, Flow

BANDWIDTHS = (0.5, 2.0)


def _gaussian_model(backend=None) -> HybridBornFlow:
    """x | z ~ N(t(z), diag exp(2 s(z))): the MMD of this model has a closed form."""
    affine = ContextAffine(2, 2, init_std=1.0, seed=3).double()
    with torch.no_grad():
        affine.weight[:, :2] = torch.tensor([[0.2, -0.3], [0.1, 0.25]])
    return HybridBornFlow(BornMachine(born_circuit(2, 1, [(0, 1)]), seed=5, backend=backend),
                          Flow(Chain([affine]), dim=2).double())


def _gaussian_kernel_mean(m1, v1, m2, v2):
    """E k(x, x') for independent x ~ N(m1, diag v1), x' ~ N(m2, diag v2), k the RBF mixture."""
    total = 0
    for s in BANDWIDTHS:
        var = s + v1 + v2
        total = total + (torch.sqrt(s / var).prod(-1) * torch.exp(-((m1 - m2) ** 2 / (2 * var)).sum(-1)))
    return total / len(BANDWIDTHS)


def _exact_mmd(model: HybridBornFlow, y: torch.Tensor) -> torch.Tensor:
    p = qdiff.probs(model.prior.circuit, model.prior.weights)  # (4,), adjoint on the simulator
    s, t = model.flow.bijector.parts[0]._scale_shift(model.context(torch.arange(4)))
    v = torch.exp(2 * s)  # (4, 2)
    kzz = _gaussian_kernel_mean(t[:, None], v[:, None], t[None], v[None])  # (4, 4)
    kzy = _gaussian_kernel_mean(t[:, None], v[:, None], y[None], torch.zeros_like(y)[None]).mean(1)  # (4,)
    kernel = RBFMixture(BANDWIDTHS)
    return p @ kzz @ p - 2 * p @ kzy + kernel.mean_offdiagonal(y)


def test_sampled_objective_is_unbiased_for_loss_and_both_gradients():
    model = _gaussian_model()
    # data near one latent state's mean: the circuit gradient is large next to its noise, so a bias shows
    y = torch.tensor([[-0.9, 0.4]], dtype=torch.float64) + 0.2 * torch.randn(
        6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = _exact_mmd(model, y)
    model.zero_grad()
    exact.backward()
    exact_grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    P = model.prior.weights.numel()
    kernel = RBFMixture(BANDWIDTHS)
    generator = torch.Generator().manual_seed(7)
    losses, grads = [], []
    for _ in range(400):
        model.zero_grad()
        objective = sampled_mmd_objective(model, y, kernel, 150, generator, per_state=16)
        objective.loss.backward()
        losses.append(float(objective.loss.detach()))
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    grads = torch.stack(grads)
    assert torch.allclose(grads[-1][:P], objective.circuit_grad)  # the prior's weights come first
    mean, stderr = grads.mean(0), grads.std(0) / math.sqrt(len(grads))
    z = (mean - exact_grads) / stderr.clamp_min(1e-12)
    assert z.abs().max() < 4.5, f"sampled gradient biased: z = {z}"
    assert (grads.std(0) > 0).all()  # every component is a random estimate, none was dropped
    for part in (slice(0, P), slice(P, None)):  # circuit, flow: along the exact gradient (more power)
        direction = exact_grads[part] / exact_grads[part].norm()
        projected = grads[:, part] @ direction
        ratio_z = (projected.mean() - exact_grads[part].norm()) / (projected.std() / math.sqrt(len(grads)))
        assert abs(ratio_z) < 4.5, f"biased along the gradient: z = {float(ratio_z):.2f}"
    loss_z = (np.mean(losses) - float(exact.detach())) / (np.std(losses) / math.sqrt(len(losses)))
    assert abs(loss_z) < 4.5


def test_flow_samples_are_the_flow_with_given_noise():
    model = _gaussian_model()
    z = torch.tensor([0, 1, 2, 3])
    x = _flow_samples(model, z, torch.Generator().manual_seed(1))
    eps = torch.randn(4, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s, t = model.flow.bijector.parts[0]._scale_shift(model.context(z))
    assert torch.allclose(x, eps * torch.exp(s) + t)


class _CountingBackend:
    """Stands in for a Qiskit backend: records every sample call, samples from exact probabilities."""

    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def sample(self, circuit, values, shots, seed=None):
        self.calls.append(tuple(values.shape))
        p = qdiff.probs(circuit, values, method="backprop").detach()
        return torch.multinomial(p, shots, replacement=True, generator=torch.Generator().manual_seed(seed))


def test_every_shifted_circuit_is_sampled_in_one_call_and_training_lowers_the_loss():
    backend = _CountingBackend()
    model = _gaussian_model(backend=backend)
    target = _gaussian_model()
    with torch.no_grad():  # data from a model with another prior and means
        target.prior.weights.add_(1.0)
        target.flow.bijector.parts[0].weight[:, 2:] *= -1.5
    data = target.sample(400, seed=0)
    trainer = SampledTrainer(model, data, shots=64, kernel=RBFMixture(BANDWIDTHS), batch=128, lr=0.03,
                             circuit_lr=0.1, seed=0)
    before = float(_exact_mmd(model, data[:200]).detach())
    records = [trainer.step() for _ in range(40)]
    P = model.prior.circuit.num_parameters
    assert backend.calls == [(1 + 2 * P, P)] * 40  # base + two shifts per parameter: ONE call per step
    assert records[0]["evaluations"] == 1 + 2 * P
    assert float(_exact_mmd(model, data[:200]).detach()) < 0.5 * before


@pytest.mark.parametrize("kwargs, message", [
    ({"shots": 1}, "shots must be an int >= 2"),
    ({"per_state": 0}, "per_state must be >= 1"),
])
def test_bad_arguments_are_rejected_before_sampling(kwargs, message):
    backend = _CountingBackend()
    model = _gaussian_model(backend=backend)
    args = {"shots": 10, "per_state": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        sampled_mmd_objective(model, torch.zeros(4, 2), RBFMixture(), generator=torch.Generator(), **args)
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        sampled_mmd_objective(model, torch.zeros(4, 3), RBFMixture(), 10, torch.Generator())
    assert backend.calls == []


def test_a_flow_with_another_base_is_rejected():
    from torch.distributions import Independent, Normal

    one = torch.ones(2, dtype=torch.float64)
    flow = Flow(Chain([ContextAffine(2, 2).double()]), dim=2, base=Independent(Normal(one, one), 1))
    model = HybridBornFlow(BornMachine(born_circuit(2, 1, [(0, 1)])), flow)
    with pytest.raises(ValueError, match="standard-normal base"):
        sampled_mmd_objective(model, torch.zeros(4, 2), RBFMixture(), 10, torch.Generator())
