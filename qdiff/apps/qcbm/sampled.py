"""Shot-based MMD gradients: Liu & Wang's unbiased estimator, with every shifted circuit in one batch.

For an exact shift rule ``d p(x) / d a = sum_r c_r p_{a + s_r}(x)`` (two-term ``c = +-1/2`` at
``s = +-pi/2`` for rx/rz; the general rules of :mod:`qdiff.ir.shift_rules` otherwise),

    dL/da = 2 sum_x dp(x)/da [K (p - pi)](x) = 2 sum_r c_r E_{x ~ p_{a+s_r}} [K (p - pi)](x),

and ``K (p - pi)`` is estimated from independent samples of ``p`` and of the data ``pi``. Every
factor is an independent unbiased estimate, so the product is unbiased. The base circuit and all
``R`` shifted circuits are sampled in ONE batched call (one simulator pass; one job on a Qiskit
backend). Samples enter only through histograms ``h`` (counts / shots), so
``E K(x, y) = h_x^T K h_y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qdiff.apps.qcbm.losses import MixtureKernel
from qdiff.errors import DifferentiationError
from qdiff.execute import prepare
from qdiff.grad.stencils import ParamShiftStencil
from qdiff.ir.circuit import Circuit
from qdiff.sim.born_rule import probabilities


@dataclass(frozen=True)
class SampledGradient:
    """One shot-based estimate.

    Attributes:
        loss: the (biased, V-statistic) MMD estimate from the base samples and the data samples.
        grad: ``(P,)`` unbiased estimate of dMMD/dweights.
        evaluations: circuits sampled in the one batched call (1 + number of shifts).
    """

    loss: float
    grad: torch.Tensor
    evaluations: int


def _slot_values(angle_batch: torch.Tensor, slot_weights: torch.Tensor, slot_offsets: torch.Tensor) -> torch.Tensor:
    """Parameter values ``(B, P)`` that produce ``angle_batch`` ``(B, A)``, for backends that take
    values. Possible when every parameter drives exactly one angle (as in Liu & Wang's circuit)."""
    nonzero = slot_weights != 0
    if not (nonzero.sum(0) == 1).all() or not (nonzero.sum(1) <= 1).all():
        raise DifferentiationError(
            "shot-based training on a Qiskit backend needs every parameter to drive exactly one rotation "
            "angle (as in born_circuit); use exact training or the torch simulator for this circuit")
    slot_of = nonzero.float().argmax(0)  # (P,)
    coeff = slot_weights[slot_of, torch.arange(len(slot_of))]
    return (angle_batch[:, slot_of] - slot_offsets[slot_of]) / coeff


def sample_shifted(circuit: Circuit, weights: torch.Tensor, shots: int, generator: torch.Generator,
                   backend: object | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample the base circuit and every parameter-shifted circuit in one batched call.

    Returns:
        histograms ``(1 + R, 2**n)`` (row 0: the base circuit), coefficients ``(R, A)`` of the
        shift rule in angle space, and the angle-to-parameter weights ``(A, P)``.
    """
    prep = prepare(circuit, weights.detach())
    program = prep.program
    if prep.angles is None:
        raise DifferentiationError("the circuit has no rotation angles to train")
    shifts, coefficients = ParamShiftStencil()(program, prep.angles)
    angle_batch = torch.cat([prep.angles, prep.angles + shifts])  # (1 + R, A)
    n = circuit.num_qubits
    if backend is None:
        with torch.no_grad():
            initial = prep.initial.expand(angle_batch.shape[0], -1)
            state = program.run(initial, angle_batch)
            p = probabilities(state).clamp_min(0).double()
        counts = multinomial_counts(p, shots, generator)
    else:
        values = _slot_values(angle_batch, program.weights, program.offsets)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        outcomes = backend.sample(circuit, values, int(shots), seed=seed).to(torch.long)
        counts = torch.zeros(outcomes.shape[0], 2**n, dtype=torch.float64)
        counts.scatter_add_(1, outcomes, torch.ones(outcomes.shape, dtype=torch.float64))
    return counts / shots, coefficients, program.weights


def multinomial_counts(p: torch.Tensor, shots: int, generator: torch.Generator) -> torch.Tensor:
    """Counts ``(B, K)`` of ``shots`` draws from each row of probabilities ``p`` ``(B, K)``.

    Drawn as multinomial counts directly (numpy, ``O(K)`` per row instead of ``O(shots)``), which
    has exactly the distribution of the histogram of ``shots`` independent samples; the numpy
    seed comes from ``generator``, so torch's generator state is the only state to checkpoint.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    rows = p.detach().cpu().numpy()
    rows = rows / rows.sum(axis=-1, keepdims=True)
    counts = np.random.default_rng(seed).multinomial(int(shots), rows)
    return torch.as_tensor(counts, dtype=torch.float64, device=p.device)


def sampled_mmd_gradient(circuit: Circuit, weights: torch.Tensor, target: torch.Tensor, kernel: MixtureKernel,
                         shots: int, generator: torch.Generator, backend: object | None = None) -> SampledGradient:
    """Unbiased shot-based estimate of the MMD gradient with ``shots`` samples per distribution.

    Args:
        circuit: the Born machine's circuit.
        weights: ``(P,)`` current parameter values.
        target: ``(2**n,)`` data distribution; ``shots`` samples of it are drawn with ``generator``.
        kernel: the MMD kernel.
        shots: samples per distribution (base circuit, each shifted circuit, and the data).
        generator: the source of randomness (the data samples and the simulator's samples).
        backend: ``None`` for the torch simulator, or a Qiskit backend with ``sample``.
    """
    if isinstance(shots, bool) or not isinstance(shots, int) or shots <= 0:
        raise ValueError(f"shots must be a positive int, got {shots!r}")
    h, coefficients, slot_weights = sample_shifted(circuit, weights, shots, generator, backend)
    h_data = multinomial_counts(target[None].to(torch.float64), shots, generator)[0] / shots
    residual = kernel.apply(h[0] - h_data)  # K (p - pi), estimated: (2**n,)
    per_shift = 2 * (h[1:] @ residual)  # (R,)
    grad_angles = per_shift @ coefficients  # (A,)
    grad = grad_angles @ slot_weights.to(grad_angles.dtype)  # (P,)
    loss = float(((h[0] - h_data) * residual).sum())
    return SampledGradient(loss, grad, int(h.shape[0]))
