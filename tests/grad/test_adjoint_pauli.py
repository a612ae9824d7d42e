"""Gradients through ``"pauli"`` steps: every exact engine against float64 finite differences.

The adjoint sweep gets a Pauli block's angle gradient from ``y = sum lambda conj(M psi)`` (no
``2**k x 2**k`` cross matrix); backprop differentiates ``a psi + M (b psi)`` with torch; parameter
shift uses the two-term rule of the ``+-1/2`` spectrum. Shared and per-sample angles, row-major
and batch-last batches, any output (state, probabilities, expectation values, variances).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qdiff
from qdiff import Circuit, ParameterVector, X, Y, Z
from qdiff.sim.program import compile_circuit

from ._helpers import cotangent, engine_gradient, fd_gradient


def pauli_ansatz(n: int = 5, seed: int = 0) -> Circuit:
    """Pauli rotations on 1..5 qubits (shared parameters, affine angles) between fixed gates."""
    rng = np.random.default_rng(seed)
    w = ParameterVector("w", 4)
    c = Circuit(n, global_phase=0.3)
    c.h(list(range(n)))
    angles = [w[0], 2 * w[1] - 0.4, w[2] - w[0], -w[3], 0.5 * w[1] + w[3], w[2]]
    for i, k in enumerate((3, 5, 1, 4, 2, 3)):
        k = min(k, n)
        label = "".join(rng.choice(list("XYZ"), k))
        c.pauli_rot(label, [int(q) for q in rng.choice(n, k, replace=False)], angles[i])
        c.cx(i % n, (i + 2) % n).ry(w[i % 4], (i + 1) % n)
    return c


def _values(circuit: Circuit, batch: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(batch + (circuit.num_parameters,), generator=g, dtype=torch.float64) - 1) * 2


OUTPUTS = {
    "state": lambda c, v, m: qdiff.state(c, v, method=m),
    "probs": lambda c, v, m: qdiff.probs(c, v, method=m),
    "expval": lambda c, v, m: qdiff.expval(c, [X(0) @ Y(2) @ Z(4), Z(1) + 0.5 * X(3)], v, method=m),
    "var": lambda c, v, m: qdiff.var(c, X(0) @ X(1) - Y(3), v, method=m),
}


def test_ansatz_has_pauli_steps():
    kinds = [s.kind for s in compile_circuit(pauli_ansatz()).steps]
    assert kinds.count("pauli") >= 3


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("batch", [(), (3,)], ids=["shared", "per_sample"])
def test_engines_agree_with_finite_differences(output, batch):
    c = pauli_ansatz()
    values = _values(c, batch, 1)
    fn = OUTPUTS[output]
    with torch.no_grad():
        out = fn(c, values, "backprop")
    cot = cotangent(out, 3)
    reference = fd_gradient(lambda v: fn(c, v, "backprop"), values, cot)
    methods = ("adjoint", "backprop") if output == "state" else ("adjoint", "backprop", "param_shift")
    for method in methods:
        got_out, grad = engine_gradient(lambda v: fn(c, v, method), values, cot)
        torch.testing.assert_close(got_out, out, atol=1e-12, rtol=0)
        torch.testing.assert_close(grad, reference, atol=1e-8, rtol=0, msg=method)


def test_batch_last_per_sample_adjoint_equals_backprop():
    """B >= 32 runs batch-last: per-row coefficients, the pair stacked to 2B rows."""
    c = pauli_ansatz(6, seed=4)
    values = _values(c, (40,), 2)
    obs = X(0) @ Y(2) @ Z(5) - 0.7 * Z(1) @ X(3)
    grads = {}
    for method in ("adjoint", "backprop"):
        v = values.clone().requires_grad_(True)
        e = qdiff.expval(c, obs, v, method=method)
        (grads[method],) = torch.autograd.grad(e.sum(), v)
    torch.testing.assert_close(grads["adjoint"], grads["backprop"], atol=1e-12, rtol=0)
    # and against the row-major path (rows one at a time)
    v = values[:2].clone().requires_grad_(True)
    (row,) = torch.autograd.grad(qdiff.expval(c, obs, v, method="adjoint").sum(), v)
    torch.testing.assert_close(grads["adjoint"][:2], row, atol=1e-12, rtol=0)


def test_complex64_adjoint_matches_complex128():
    c = pauli_ansatz()
    values = _values(c, (2,), 5)
    grads = []
    for dtype in (torch.complex128, torch.complex64):
        v = values.clone().requires_grad_(True)
        e = qdiff.expval(c, Z(0) @ X(4), v, method="adjoint", dtype=dtype)
        (g,) = torch.autograd.grad(e.sum(), v)
        grads.append(g.double())
    torch.testing.assert_close(grads[1], grads[0], atol=2e-5, rtol=0)


def test_metric_tensor_still_handles_pauli_steps():
    """The metric sweep reads ``rotation_operators`` and ``Step.generator`` (dense on demand)."""
    c = pauli_ansatz(4, seed=2)
    values = _values(c, (), 7)
    g = qdiff.metric_tensor(c, values)
    # g_ij = Re[<d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi>] from the autograd Jacobian
    jac = torch.autograd.functional.jacobian(lambda v: torch.view_as_real(qdiff.state(c, v, method="backprop")), values)
    jac = torch.complex(jac[:, 0], jac[:, 1])  # (2**n, P)
    psi = qdiff.state(c, values).detach()
    overlap = psi.conj() @ jac
    expected = (jac.conj().T @ jac - overlap.conj()[:, None] * overlap[None, :]).real
    torch.testing.assert_close(g, expected, atol=1e-10, rtol=0)

