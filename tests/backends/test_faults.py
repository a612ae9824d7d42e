"""Faults and validation: retries with backoff, BackendError with the job id, checks before any
submission, fractional-gate limits, splitting at the execution limit, ibm_backend offline."""

from __future__ import annotations

import math
import sys

import pytest
import torch

import qdiff
from qdiff.backends import AerBackend, QiskitBackend, ibm_backend

from ._helpers import OBSERVABLES, mixed_circuit, values

primitives = pytest.importorskip("qiskit.primitives")
fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider")


class _FailedJob:
    def __init__(self, job_id: str):
        self._id = job_id

    def job_id(self) -> str:
        return self._id

    def result(self):
        raise RuntimeError("job was cancelled")


class FlakyEstimator(primitives.BaseEstimatorV2):
    """A StatevectorEstimator whose first ``failures`` jobs fail."""

    def __init__(self, failures: int):
        self.inner = primitives.StatevectorEstimator()
        self.failures = failures
        self.calls = 0

    def run(self, pubs, *, precision=None):
        self.calls += 1
        if self.calls <= self.failures:
            return _FailedJob(f"job-{self.calls}")
        return self.inner.run(pubs, precision=precision)


def test_a_failed_job_is_retried_with_backoff(monkeypatch):
    sleeps = []
    monkeypatch.setattr("qdiff.backends.base.time.sleep", sleeps.append)
    backend = QiskitBackend(FlakyEstimator(failures=2), max_retries=3, backoff=0.5)
    c, v = mixed_circuit(), values(2)
    torch.testing.assert_close(backend.expval(c, OBSERVABLES[0], v), qdiff.expval(c, OBSERVABLES[0], v),
                               atol=1e-10, rtol=0)
    assert backend.jobs_submitted == 3 and sleeps == [0.5, 1.0]


def test_backend_error_carries_the_job_id_after_the_last_retry(monkeypatch):
    monkeypatch.setattr("qdiff.backends.base.time.sleep", lambda s: None)
    backend = QiskitBackend(FlakyEstimator(failures=10), max_retries=2)
    with pytest.raises(qdiff.BackendError, match="job-3 failed 3 time") as info:
        backend.expval(mixed_circuit(), OBSERVABLES[0], values(1))
    assert info.value.job_id == "job-3" and backend.jobs_submitted == 3
    assert "cancelled" in str(info.value)


def test_invalid_input_fails_before_anything_is_submitted():
    backend = QiskitBackend(fake_provider.FakeManilaV2(), shots=100)
    c = mixed_circuit()
    with pytest.raises(qdiff.BackendError, match="6 qubits but the device has only 5"):
        backend.expval(qdiff.Circuit(6).h(5), qdiff.Z(0))
    with pytest.raises(qdiff.ObservableError, match="qubit 3"):
        backend.expval(c, qdiff.Z(3), values(1))
    with pytest.raises(qdiff.ParameterError, match=r"\(\.\.\., 3\)"):
        backend.expval(c, qdiff.Z(0), torch.zeros(2, 4))
    with pytest.raises(qdiff.ParameterError, match="no values"):
        backend.probs(c)
    with pytest.raises(qdiff.QubitError):
        backend.probs(c, values(1), qubits=[0, 7])
    with pytest.raises(qdiff.ShotsError):
        backend.sample(c, values(1), shots=0)
    with pytest.raises(qdiff.DifferentiationError, match="param_shift"):
        backend.expval(c, qdiff.Z(0), values(1), method="adjoint")
    with pytest.raises(qdiff.ObservableError, match="Hermitian"):
        backend.expval(c, 1j * qdiff.Z(0), values(1))
    assert backend.jobs_submitted == 0


def _fractional_device():
    """A 2-qubit device whose ``rzz`` is a fractional gate limited to [0, pi/2], like IBM's."""
    from qiskit.circuit import Measure, Parameter
    from qiskit.circuit.library import CZGate, RZGate, RZZGate, SXGate, XGate
    from qiskit.providers import BackendV2, Options
    from qiskit.transpiler import Target

    target = Target(num_qubits=2)
    theta = Parameter("theta")
    for gate in (RZGate(theta), SXGate(), XGate(), Measure()):
        target.add_instruction(gate, {(q,): None for q in range(2)})
    target.add_instruction(CZGate(), {(0, 1): None, (1, 0): None})
    target.add_instruction(RZZGate(theta), {(0, 1): None, (1, 0): None}, angle_bounds=[(0, math.pi / 2)])

    class Fractional(BackendV2):
        @property
        def target(self):
            return target

        @property
        def max_circuits(self):
            return None

        @classmethod
        def _default_options(cls):
            return Options()

        def run(self, run_input, **options):
            raise AssertionError("nothing may be submitted")

    return Fractional(name="fractional")


def test_fractional_gate_limits_are_checked_before_submission():
    backend = QiskitBackend(_fractional_device(), optimization_level=1)
    a = qdiff.Parameter("a")
    c = qdiff.Circuit(2).h(0).h(1).rzz(a, 0, 1)
    with pytest.raises(qdiff.BackendError, match="fractional gate.*-0.5.*use_fractional_gates=False"):
        backend.expval(c, qdiff.Z(0), torch.tensor([[0.3], [-0.5]]))
    assert backend.jobs_submitted == 0


def test_sampler_batches_split_only_at_the_execution_limit():
    c, v = mixed_circuit(), values(6)
    roomy = QiskitBackend(primitives.StatevectorSampler(seed=1), shots=10)
    assert roomy.sample(c, v).shape == (6, 10) and roomy.jobs_submitted == 1
    tight = QiskitBackend(primitives.StatevectorSampler(seed=1), shots=10, max_executions=25)
    out = tight.sample(c, v)
    assert out.shape == (6, 10) and tight.jobs_submitted == 3  # 2 parameter sets x 10 shots per job


def test_runtime_primitives_get_ibms_sampler_limit():
    backend = QiskitBackend(fake_provider.FakeManilaV2())
    assert backend.max_executions == 10_000_000


class _FakeService:
    instances: list[dict] = []

    def __init__(self, **options):
        if options.get("token") == "bad-secret-token-123":
            raise RuntimeError("401 unauthorized for token bad-secret-token-123")
        self.instances.append(options)

    def backend(self, name, use_fractional_gates=False):
        if name != "ibm_manila":
            raise KeyError(f"no backend {name}")
        return fake_provider.FakeManilaV2()

    def least_busy(self, min_num_qubits=None, **filters):
        assert filters["operational"] and not filters["simulator"]
        return fake_provider.FakeManilaV2()


def test_ibm_backend_with_a_monkeypatched_service(monkeypatch):
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    monkeypatch.setattr(runtime, "QiskitRuntimeService", _FakeService)
    named = ibm_backend("ibm_manila", channel="ibm_quantum_platform", backend_options={"shots": 64})
    assert isinstance(named, QiskitBackend) and named.shots == 64 and named.num_qubits == 5
    assert _FakeService.instances[-1] == {"channel": "ibm_quantum_platform"}
    assert ibm_backend(min_num_qubits=5).device.name == "fake_manila"
    with pytest.raises(qdiff.BackendError, match="ibm_nowhere"):
        ibm_backend("ibm_nowhere")
    with pytest.raises(qdiff.BackendError) as info:
        ibm_backend("ibm_manila", token="bad-secret-token-123")
    assert "bad-secret-token-123" not in str(info.value) and info.value.__cause__ is None


def test_missing_qiskit_aer_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "qiskit_aer", None)
    with pytest.raises(ImportError, match=r"qdiff\[qiskit\]"):
        AerBackend().probs(qdiff.Circuit(1).h(0))


def test_non_primitives_are_refused():
    with pytest.raises(TypeError, match="V2 Estimator"):
        QiskitBackend(object())
