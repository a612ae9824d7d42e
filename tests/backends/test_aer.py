"""AerBackend: exact results equal the torch simulator; gradients; one job per call; sampling."""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff.backends import SPSA, AerBackend

from ._helpers import OBSERVABLES, expval_bounds, mixed_circuit, values, var_bounds

pytest.importorskip("qiskit_aer")


@pytest.fixture(scope="module")
def aer() -> AerBackend:
    return AerBackend(seed=7)


def test_exact_results_equal_the_torch_simulator(aer):
    c, v = mixed_circuit(), values()
    torch.testing.assert_close(aer.probs(c, v), qdiff.probs(c, v), atol=1e-10, rtol=0)
    torch.testing.assert_close(aer.probs(c, v, qubits=[2, 0]), qdiff.probs(c, v, qubits=[2, 0]), atol=1e-10, rtol=0)
    torch.testing.assert_close(aer.expval(c, OBSERVABLES, v), qdiff.expval(c, OBSERVABLES, v), atol=1e-10, rtol=0)
    torch.testing.assert_close(aer.var(c, OBSERVABLES[1], v), qdiff.var(c, OBSERVABLES[1], v), atol=1e-10, rtol=0)
    # the state, global phase included
    torch.testing.assert_close(aer.state(c, v), qdiff.state(c, v), atol=1e-10, rtol=0)


def test_execute_functions_dispatch_to_the_backend(aer):
    c, v = mixed_circuit(), values(2)
    before = aer.jobs_submitted
    out = qdiff.expval(c, OBSERVABLES[0], v, backend=aer)
    assert aer.jobs_submitted == before + 1 and out.shape == (2,)
    torch.testing.assert_close(out, qdiff.expval(c, OBSERVABLES[0], v), atol=1e-10, rtol=0)
    torch.testing.assert_close(qdiff.state(c, v, backend=aer), qdiff.state(c, v), atol=1e-10, rtol=0)
    torch.testing.assert_close(qdiff.probs(c, {p: v[:, i] for i, p in enumerate(c.parameters)}, backend=aer),
                               qdiff.probs(c, v), atol=1e-10, rtol=0)
    assert qdiff.probs(c, v, backend=aer, dtype=torch.complex64).dtype == torch.float32
    s = qdiff.sample(c, v, 16, seed=1, backend=aer)
    assert s.shape == (2, 16) and s.dtype == torch.int64
    with pytest.raises(qdiff.BackendError, match="initial_state"):
        qdiff.probs(c, v, initial_state=1, backend=aer)
    with pytest.raises(TypeError, match="backend="):
        qdiff.probs(c, v, backend="aer")


def test_batch_shapes_are_kept(aer):
    c = mixed_circuit()
    v = values(6).reshape(2, 3, 3)
    assert aer.expval(c, OBSERVABLES, v).shape == (2, 3, 3)
    assert aer.probs(c, v[0, 0]).shape == (8,)
    assert aer.probs(qdiff.Circuit(2).h(0)).shape == (4,)


@pytest.mark.parametrize("prefetch, jobs", [(True, 1), (False, 2)])
def test_param_shift_gradient_is_exact_and_costs_one_job_per_pass(prefetch, jobs):
    aer = AerBackend(prefetch_gradients=prefetch)
    c = mixed_circuit()
    v = values(3).requires_grad_()
    w = torch.randn(3, len(OBSERVABLES), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (aer.expval(c, OBSERVABLES, v) * w).sum().backward()
    assert aer.jobs_submitted == jobs  # forward (+ backward): every shifted set of the batch in one job
    ref = values(3).requires_grad_()
    (qdiff.expval(c, OBSERVABLES, ref, method="adjoint") * w).sum().backward()
    torch.testing.assert_close(v.grad, ref.grad, atol=1e-10, rtol=0)


def test_probs_and_var_gradients_through_the_chain_rule():
    aer = AerBackend()
    c = mixed_circuit()
    v, ref = values(2).requires_grad_(), values(2).requires_grad_()
    target = torch.linspace(0, 1, 8, dtype=torch.float64)
    loss = (aer.probs(c, v) * target).sum() + aer.var(c, OBSERVABLES[2], v).sum()
    loss.backward()
    ((qdiff.probs(c, ref) * target).sum() + qdiff.var(c, OBSERVABLES[2], ref).sum()).backward()
    torch.testing.assert_close(v.grad, ref.grad, atol=1e-9, rtol=0)
    assert aer.jobs_submitted == 2


def test_spsa_gradient_is_an_estimate_in_one_job():
    aer = AerBackend()
    c = mixed_circuit()
    v = values(1).requires_grad_()
    aer.expval(c, OBSERVABLES[0], v, method=SPSA(samples=64, epsilon=0.05, seed=3)).sum().backward()
    ref = values(1).requires_grad_()
    qdiff.expval(c, OBSERVABLES[0], ref).sum().backward()
    assert aer.jobs_submitted == 1
    cosine = torch.nn.functional.cosine_similarity(v.grad.flatten(), ref.grad.flatten(), dim=0)
    assert cosine > 0.8


def test_shots_sampling_is_seeded_and_close_to_exact():
    c, v = mixed_circuit(), values(2)
    aer = AerBackend(shots=4000, seed=5)
    p = aer.probs(c, v)
    assert (p - qdiff.probs(c, v)).abs().max() < 0.04
    s1, s2 = aer.sample(c, v, 50, seed=9), aer.sample(c, v, 50, seed=9)
    assert torch.equal(s1, s2) and s1.shape == (2, 50) and int(s1.max()) < 8
    marg = aer.sample(c, v, 50, seed=9, qubits=[2])
    assert set(marg.unique().tolist()) <= {0, 1}


def test_noisy_density_matrix_from_a_fake_device():
    fake = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
    noisy = AerBackend.from_backend(fake.FakeManilaV2())
    assert noisy.method == "density_matrix" and noisy.num_qubits == 5
    c, v = mixed_circuit(), values(2)
    dev = (noisy.expval(c, OBSERVABLES, v) - qdiff.expval(c, OBSERVABLES, v)).abs().max()
    assert 1e-4 < dev < 0.25  # noise is visible but modest
    with pytest.raises(qdiff.BackendError, match="statevector"):
        noisy.state(c, v)


def test_options_are_checked_and_passed_to_aer():
    with pytest.raises(ValueError, match="blocking_qubits"):
        AerBackend(blocking_enable=True)
    with pytest.raises(ValueError, match="method"):
        AerBackend(method="stabilizer")
    with pytest.raises(qdiff.BackendError, match="density_matrix"):
        AerBackend(noise_model=object())
    sim = AerBackend(method="matrix_product_state", precision="single", blocking_enable=True,
                     blocking_qubits=2).simulator
    assert sim.options.method == "matrix_product_state" and sim.options.precision == "single"
    assert sim.options.blocking_enable is True and sim.options.blocking_qubits == 2


def test_matrix_product_state_agrees():
    c, v = mixed_circuit(), values(2)
    mps = AerBackend(method="matrix_product_state")
    torch.testing.assert_close(mps.expval(c, OBSERVABLES, v), qdiff.expval(c, OBSERVABLES, v), atol=1e-9, rtol=0)


def test_expval_and_var_with_shots_are_estimated_from_counts():
    """``shots=...`` gives shot noise within bounds (one Aer job per call, gradients included);
    ``shots=None`` stays exact."""
    shots = 4000
    c, v = mixed_circuit(), values(4)
    noisy = AerBackend(shots=shots, seed=5)
    out, exact = noisy.expval(c, OBSERVABLES, v), qdiff.expval(c, OBSERVABLES, v)
    err = (out - exact).abs()
    assert (err <= expval_bounds(OBSERVABLES, shots)).all() and err.max() > 1e-4  # noisy, within bounds
    assert noisy.jobs_submitted == 1
    torch.testing.assert_close(noisy.expval(c, OBSERVABLES, v), out)  # seeded
    assert not torch.equal(AerBackend(shots=shots, seed=6).expval(c, OBSERVABLES, v), out)
    var = noisy.var(c, OBSERVABLES, v)
    assert ((var - qdiff.var(c, OBSERVABLES, v)).abs() <= var_bounds(OBSERVABLES, shots)).all()
    g = values(4).requires_grad_()
    noisy.expval(c, OBSERVABLES[1], g).sum().backward()
    assert noisy.jobs_submitted == 4 and torch.isfinite(g.grad).all()  # forward + shifted sets: one job
    torch.testing.assert_close(AerBackend().expval(c, OBSERVABLES, v), exact, atol=1e-10, rtol=0)


def test_shots_on_a_noisy_device_model_estimate_from_counts():
    fake = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
    noisy = AerBackend.from_backend(fake.FakeManilaV2(), shots=2000, seed=3)
    assert noisy.method == "statevector"
    c, v = mixed_circuit(), values(2)
    out = noisy.expval(c, OBSERVABLES, v)
    assert noisy.jobs_submitted == 1 and (out - qdiff.expval(c, OBSERVABLES, v)).abs().max() < 0.25
