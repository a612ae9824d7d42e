"""QiskitBackend on qiskit-ibm-runtime's local testing mode (fake devices) and on Qiskit primitives."""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff.backends import QiskitBackend

from ._helpers import OBSERVABLES, mixed_circuit, values

fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
executor_estimator = pytest.importorskip("qiskit_ibm_runtime.executor_estimator")
executor_sampler = pytest.importorskip("qiskit_ibm_runtime.executor_sampler")
primitives = pytest.importorskip("qiskit.primitives")


@pytest.fixture(scope="module")
def manila() -> QiskitBackend:
    """FakeManilaV2 in local testing mode, with an Estimator at resilience level 0: IBM's default
    level 1 (TREX, twirled measurements) simulates many randomized circuits per job, several
    seconds each here; one test below runs the default."""
    device = fake_provider.FakeManilaV2()
    estimator = executor_estimator.Estimator(mode=device, options={"resilience_level": 0})
    return QiskitBackend(device, estimator=estimator, shots=4000, seed=11)


def test_noisy_expectation_values_agree_with_exact_on_manila():
    manila = QiskitBackend(fake_provider.FakeManilaV2(), shots=4000, seed=11)  # IBM's default options
    assert type(manila.estimator).__module__.startswith("qiskit_ibm_runtime.executor_estimator")
    assert type(manila.sampler).__module__.startswith("qiskit_ibm_runtime.executor_sampler")
    c, v = mixed_circuit(), values(3)
    out = manila.expval(c, OBSERVABLES, v)
    assert manila.jobs_submitted == 1 and out.shape == (3, 3)
    assert (out - qdiff.expval(c, OBSERVABLES, v)).abs().max() < 0.2


def test_param_shift_gradient_on_manila_is_one_job_and_agrees_with_adjoint(manila):
    c = mixed_circuit()
    v, ref = values(2, seed=4).requires_grad_(), values(2, seed=4).requires_grad_()
    before = manila.jobs_submitted
    manila.expval(c, OBSERVABLES[1], v).sum().backward()
    assert manila.jobs_submitted == before + 1  # forward and all shifted sets of the batch: one job
    qdiff.expval(c, OBSERVABLES[1], ref, method="adjoint").sum().backward()
    # shot noise (4000 shots, ~20 shifted terms) plus Manila's noise, which damps the gradient
    assert (v.grad - ref.grad).abs().max() < 0.3
    assert torch.nn.functional.cosine_similarity(v.grad.flatten(), ref.grad.flatten(), dim=0) > 0.9


def test_sampler_probs_and_samples_on_manila(manila):
    c, v = mixed_circuit(), values(2)
    before = manila.jobs_submitted
    p = manila.probs(c, v, qubits=[2, 0])
    assert (p - qdiff.probs(c, v, qubits=[2, 0])).abs().max() < 0.15
    s = manila.sample(c, v, shots=100, seed=3)
    assert s.shape == (2, 100) and s.dtype == torch.int64 and 0 <= int(s.min()) and int(s.max()) < 8
    assert manila.jobs_submitted == before + 2


def test_transpiles_once_per_circuit_and_backend(manila, monkeypatch):
    c, v = mixed_circuit(), values(1)
    manila.expval(c, OBSERVABLES[0], v)
    calls = []
    run = manila._pass_manager.run
    monkeypatch.setattr(manila._pass_manager, "run", lambda qc: calls.append(1) or run(qc))
    manila.expval(c, OBSERVABLES[0], v)
    manila.expval(c, OBSERVABLES[2], values(3))
    assert calls == []
    manila.expval(c.copy().h(0), OBSERVABLES[0], v)  # a new circuit is transpiled
    assert calls == [1]


def _fez_with_light_noise():
    """FakeFez (156 qubits, Heron, CZ) as an ``AerSimulator`` with a depolarizing + readout noise
    model built from its own calibrated error rates. Runtime's local mode simulates a fake device
    with its full default model (thermal relaxation on all 156 qubits: ~8 s to build, tens of
    seconds per job here); given an ``AerSimulator`` it uses that simulator and its noise model."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    fez = fake_provider.FakeFez()
    noise = NoiseModel(basis_gates=["cz", "sx", "x", "rz"])
    for name in ("sx", "x", "cz"):
        for qargs, props in fez.target[name].items():
            if props is not None and props.error:
                noise.add_quantum_error(depolarizing_error(min(props.error, 0.5), len(qargs)), name, qargs)
    for (q,), props in fez.target["measure"].items():
        if props is not None and props.error:
            e = props.error
            noise.add_readout_error(ReadoutError([[1 - e, e], [e, 1 - e]]), [q])
    return AerSimulator.from_backend(fez, noise_model=noise)


def test_a_156_qubit_cz_device_runs_with_its_layout():
    """The 3-qubit circuit lands on physical qubits the transpiler picks among 156; measured bits
    follow the layout; noisy values agree with exact ones; one job. It goes through runtime's
    Sampler: the client-side Estimator measures every qubit of the device, which local mode
    cannot simulate on 156 qubits."""
    from qdiff.backends.lowering import lower

    device = _fez_with_light_noise()
    sampler = executor_sampler.Sampler(mode=device, options={"simulator": {"seed_simulator": 2}})
    backend = QiskitBackend(sampler, shots=2000, seed=2, optimization_level=1)
    c, v = mixed_circuit(), values(2)
    out = backend.expval(c, OBSERVABLES, v)
    assert backend.jobs_submitted == 1 and backend.num_qubits == 156
    assert (out - qdiff.expval(c, OBSERVABLES, v)).abs().max() < 0.2
    isa, _ = backend._isa(lower(c), None)
    assert isa.num_qubits == 156 and set(isa.count_ops()) <= {"rz", "sx", "x", "cz", "barrier"}


def test_statevector_primitives_as_targets():
    c, v = mixed_circuit(), values(3)
    exact = QiskitBackend(primitives.StatevectorEstimator())
    torch.testing.assert_close(exact.expval(c, OBSERVABLES, v), qdiff.expval(c, OBSERVABLES, v), atol=1e-10, rtol=0)
    g, ref = values(3).requires_grad_(), values(3).requires_grad_()
    exact.expval(c, OBSERVABLES[0], g).sum().backward()
    qdiff.expval(c, OBSERVABLES[0], ref).sum().backward()
    torch.testing.assert_close(g.grad, ref.grad, atol=1e-10, rtol=0)
    sampler = QiskitBackend(primitives.StatevectorSampler(seed=1), shots=4000)
    assert (sampler.probs(c, v) - qdiff.probs(c, v)).abs().max() < 0.04
    with pytest.raises(qdiff.BackendError, match="Sampler"):
        exact.probs(c, v)
    # a Sampler alone estimates expectation values from counts (tests/backends/test_sampled_expval.py)
    assert (sampler.expval(c, OBSERVABLES[0], v) - qdiff.expval(c, OBSERVABLES[0], v)).abs().max() < 0.1


def test_aer_primitives_as_targets():
    aer_primitives = pytest.importorskip("qiskit_aer.primitives")
    c, v = mixed_circuit(), values(2)
    backend = QiskitBackend(aer_primitives.EstimatorV2(), sampler=aer_primitives.SamplerV2(seed=4), shots=4000)
    torch.testing.assert_close(backend.expval(c, OBSERVABLES, v), qdiff.expval(c, OBSERVABLES, v), atol=0.1, rtol=0)
    assert (backend.probs(c, v) - qdiff.probs(c, v)).abs().max() < 0.04
