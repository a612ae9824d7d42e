"""Second derivatives and geometry: qdiff.hessian, qdiff.metric_tensor, qdiff.QNGOptimizer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import hessian as autograd_hessian
from torch.autograd.functional import jacobian

import qdiff
from qdiff.execute import prepare
from qdiff.grad.metric import angle_metric, layers
from qdiff.sim.program import TorchProgram


def _mixed_circuit() -> qdiff.Circuit:
    """rx, ry, crz, rzz, u, with a shared parameter (a) and affine expressions."""
    a, b, c, d, e = (qdiff.Parameter(x) for x in "abcde")
    return (qdiff.Circuit(3).rx(a, 0).ry(b, 1).h(2).crz(c, 0, 2).rzz(2 * a + 0.3, 1, 2)
            .u(d, e, a - b, 0).ry(e, 2).cx(2, 1).rx(0.5 * d - 1.0, 1))


OBS = qdiff.Z(0) @ qdiff.Z(1) + 0.5 * qdiff.X(2) + 0.3 * qdiff.Y(0) @ qdiff.X(1)


def _values(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 5, generator=g, dtype=torch.float64) * 4 - 2


def _reference_hessian(circuit: qdiff.Circuit, obs: qdiff.PauliSum, values: torch.Tensor) -> torch.Tensor:
    return torch.stack([autograd_hessian(lambda v: qdiff.expval(circuit, obs, v, method="backprop"), row)
                        for row in values])


def _reference_metric(circuit: qdiff.Circuit, values: torch.Tensor) -> torch.Tensor:
    """Re[<dpsi|dpsi> - <dpsi|psi><psi|dpsi>] from the backprop Jacobian of the statevector."""
    out = []
    for row in values:
        psi = qdiff.state(circuit, row, method="backprop")
        jac = jacobian(lambda v: torch.view_as_real(qdiff.state(circuit, v, method="backprop")), row)
        dpsi = torch.complex(jac[:, 0], jac[:, 1])  # (2**n, P)
        proj = dpsi.conj().T @ psi
        out.append((dpsi.conj().T @ dpsi - proj[:, None] * proj.conj()[None, :]).real)
    return torch.stack(out)


# ----------------------------------------------------------------------------- Hessian


def test_param_shift_hessian_matches_backprop_in_one_run(monkeypatch):
    circuit, values = _mixed_circuit(), _values()
    reference = _reference_hessian(circuit, OBS, values)
    calls = []
    original = TorchProgram.run

    def counting_run(self, state, angles):
        calls.append(state.shape[0])
        return original(self, state, angles)

    monkeypatch.setattr(TorchProgram, "run", counting_run)
    h = qdiff.hessian(circuit, OBS, values, method="param_shift")
    assert len(calls) == 1 and calls[0] > values.shape[0]  # every shifted circuit in ONE batched run
    assert h.shape == (2, 5, 5)
    torch.testing.assert_close(h, reference, atol=1e-8, rtol=0)
    torch.testing.assert_close(h, h.transpose(-1, -2), atol=1e-12, rtol=0)


@pytest.mark.parametrize("method, tol", [("backprop", 1e-10), ("adjoint", 1e-7), ("finite_diff", 1e-5)])
def test_other_hessian_methods_match_backprop(method, tol):
    circuit, values = _mixed_circuit(), _values(seed=1)
    reference = _reference_hessian(circuit, OBS, values)
    torch.testing.assert_close(qdiff.hessian(circuit, OBS, values, method=method), reference, atol=tol, rtol=0)


@pytest.mark.parametrize("method", ["param_shift", "backprop", "adjoint"])
def test_hessian_of_several_observables_and_batch_shape(method):
    circuit = _mixed_circuit()
    values = _values(batch=6, seed=2).reshape(2, 3, 5)
    h = qdiff.hessian(circuit, [OBS, qdiff.Z(2)], values, method=method)
    assert h.shape == (2, 3, 2, 5, 5)
    ref = _reference_hessian(circuit, qdiff.Z(2), values[1, 2:])
    torch.testing.assert_close(h[1, 2, 1], ref[0], atol=1e-7, rtol=0)


def test_hessian_closed_form_and_circuit_without_parameters():
    theta = qdiff.Parameter("theta")
    angles = torch.tensor([[0.0], [0.7], [2.0]], dtype=torch.float64)
    h = qdiff.hessian(qdiff.Circuit(1).ry(theta, 0), qdiff.Z(0), angles)  # <Z> = cos(theta)
    torch.testing.assert_close(h[:, 0, 0], -torch.cos(angles[:, 0]), atol=1e-12, rtol=0)
    assert qdiff.hessian(qdiff.Circuit(1).h(0), qdiff.X(0)).shape == (0, 0)


# ----------------------------------------------------------------------------- metric tensor


def test_metric_matches_statevector_derivatives():
    circuit, values = _mixed_circuit(), _values(batch=3, seed=3)
    g = qdiff.metric_tensor(circuit, values)
    assert g.shape == (3, 5, 5)
    torch.testing.assert_close(g, _reference_metric(circuit, values), atol=1e-8, rtol=0)
    assert torch.linalg.eigvalsh(g).min() > -1e-12


def test_metric_closed_form_ry_rz():
    theta, phi = qdiff.Parameter("theta"), qdiff.Parameter("phi")
    circuit = qdiff.Circuit(1).ry(theta, 0).rz(phi, 0)
    t = torch.tensor([0.0, 0.4, 1.3, 2.9], dtype=torch.float64)
    values = torch.stack([t, torch.full_like(t, 0.8)], dim=-1)
    expected = torch.zeros(4, 2, 2, dtype=torch.float64)
    expected[:, 0, 0] = 0.25
    expected[:, 1, 1] = torch.sin(t) ** 2 / 4
    torch.testing.assert_close(qdiff.metric_tensor(circuit, values), expected, atol=1e-12, rtol=0)


def _layered_circuit() -> qdiff.Circuit:
    p = qdiff.ParameterVector("p", 7)
    return (qdiff.Circuit(3).rx(p[0], 0).ry(p[1], 1).rz(p[2], 2)   # layer {0, 1, 2}
            .ry(p[3], 0)                                          # qubit 0 reused: new layer
            .crz(p[4], 1, 2)                                      # disjoint from {0}: layer {3, 4}
            .cx(0, 1)                                             # fixed gate ends the layer
            .rx(p[5], 0).rzz(p[6], 1, 2))                         # layer {5, 6}


BLOCKS = [[0, 1, 2], [3, 4], [5, 6]]


def test_layers_definition():
    prep = prepare(_layered_circuit(), torch.zeros(7, dtype=torch.float64))
    assert layers(prep.program) == BLOCKS


@pytest.mark.parametrize("approx", ["block-diag", "diag"])
def test_approximations_are_masked_full_metric(approx):
    circuit = _layered_circuit()
    values = torch.rand(2, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 3
    full = qdiff.metric_tensor(circuit, values)
    approximate = qdiff.metric_tensor(circuit, values, approx=approx)
    mask = torch.zeros(7, 7, dtype=torch.bool)
    if approx == "diag":
        mask.fill_diagonal_(True)
    else:
        for block in BLOCKS:
            mask[np.ix_(block, block)] = True
    torch.testing.assert_close(approximate[:, mask], full[:, mask], atol=1e-14, rtol=0)
    assert (approximate[:, ~mask] == 0).all()
    assert full[:, ~mask].abs().max() > 1e-3  # the approximation dropped something real


def test_approximation_acts_on_gate_angles_before_the_chain_rule():
    t = qdiff.Parameter("t")
    circuit = qdiff.Circuit(1).rx(t, 0).ry(2 * t + 0.1, 0)
    values = torch.tensor([[0.3], [1.1]], dtype=torch.float64)
    # angle metric: g_11 = Var(X/2) = 1/4, g_22 = Var(Y/2) on rx(t)|0> = cos(t)^2 / 4
    expected = 0.25 + 4 * torch.cos(values[:, 0]) ** 2 / 4
    torch.testing.assert_close(qdiff.metric_tensor(circuit, values, approx="diag")[:, 0, 0], expected,
                               atol=1e-12, rtol=0)
    prep = prepare(circuit, values)
    g, slots = angle_metric(prep.program, prep.angles, prep.initial)
    w = prep.program.weights[slots]
    torch.testing.assert_close(qdiff.metric_tensor(circuit, values), w.T @ g @ w, atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- QNG


def _vqe():
    t = qdiff.ParameterVector("t", 4)
    circuit = qdiff.Circuit(2).ry(t[0], 0).ry(t[1], 1).cx(0, 1).ry(t[2], 0).ry(t[3], 1)
    hamiltonian = qdiff.Z(0) @ qdiff.Z(1) + 0.5 * (qdiff.X(0) + qdiff.X(1))
    ground = float(np.linalg.eigvalsh(hamiltonian.to_matrix(num_qubits=2)).min())
    return circuit, hamiltonian, ground


def _train(optimizer_factory, circuit, hamiltonian, steps: int) -> list[float]:
    v = torch.tensor([0.1, 0.2, -0.1, 0.3], dtype=torch.float64, requires_grad=True)
    opt = optimizer_factory([v])
    energies = []
    for _ in range(steps):
        opt.zero_grad()
        energy = qdiff.expval(circuit, hamiltonian, v)
        energy.backward()
        opt.step()
        energies.append(energy.item())
    return energies


def test_qng_reaches_ground_energy_faster_than_sgd():
    circuit, hamiltonian, ground = _vqe()
    lr, steps = 0.2, 40
    qng = _train(lambda p: qdiff.QNGOptimizer(p, lr=lr, metric_fn=lambda v: qdiff.metric_tensor(circuit, v)),
                 circuit, hamiltonian, steps)
    sgd = _train(lambda p: torch.optim.SGD(p, lr=lr), circuit, hamiltonian, steps)
    assert qng[-1] - ground < 1e-3
    assert qng[-1] - ground < (sgd[-1] - ground) / 10
    first = next(i for i, e in enumerate(qng) if e - ground < 1e-3)
    assert all(e - ground >= 1e-3 for e in sgd[: first + 1])


def test_qng_closure_and_batched_parameters():
    theta = qdiff.ParameterVector("theta", 2)
    circuit = qdiff.Circuit(1).ry(theta[0], 0).rz(theta[1], 0)
    v = torch.tensor([[0.5, 0.1], [2.0, -0.3]], dtype=torch.float64, requires_grad=True)
    opt = qdiff.QNGOptimizer([v], lr=0.1, metric_fn=lambda p: qdiff.metric_tensor(circuit, p), lam=1e-6)

    def closure():
        opt.zero_grad()
        loss = qdiff.expval(circuit, qdiff.Z(0), v).sum()
        loss.backward()
        return loss

    before = v.detach().clone()
    loss = opt.step(closure)
    # g_00 = 1/4: the natural gradient step on theta_0 is lr * 4 * (-sin theta_0) / (1 + 4 lam)
    expected = before[:, 0] + 0.1 * 4 * torch.sin(before[:, 0]) / (1 + 4e-6)
    torch.testing.assert_close(v.detach()[:, 0], expected, atol=1e-10, rtol=0)
    assert math.isclose(loss.item(), float(torch.cos(before[:, 0]).sum()), abs_tol=1e-12)


# ----------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors():
    circuit = _mixed_circuit()
    with pytest.raises(qdiff.DifferentiationError, match="approximation"):
        qdiff.metric_tensor(circuit, _values(), approx="blockdiag")
    with pytest.raises(qdiff.ParameterError, match=r"shape \(\.\.\., 5\)"):
        qdiff.metric_tensor(circuit, torch.zeros(2, 4))
    with pytest.raises(qdiff.ParameterError, match=r"shape \(\.\.\., 5\)"):
        qdiff.hessian(circuit, OBS, torch.zeros(3))
    with pytest.raises(qdiff.DifferentiationError, match="Hessian method"):
        qdiff.hessian(circuit, OBS, _values(), method="spsa")
    with pytest.raises(qdiff.ObservableError):
        qdiff.hessian(circuit, qdiff.Z(5), _values())
    v = torch.zeros(5, requires_grad=True)
    with pytest.raises(TypeError, match="metric_fn"):
        qdiff.QNGOptimizer([v], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        qdiff.QNGOptimizer([v], lr=-1.0, metric_fn=lambda p: torch.eye(5))
    opt = qdiff.QNGOptimizer([v], lr=0.1, metric_fn=lambda p: torch.eye(4))
    v.grad = torch.ones(5)
    with pytest.raises(qdiff.ParameterError, match="metric_fn returned shape"):
        opt.step()
