"""Expectation values and variances from counts (qubit-wise commuting groups, basis rotations,
parities), on a Sampler-only target: within shot-noise bounds, one job per evaluation, and
parameter-shift gradients through it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qdiff
from qdiff.backends import QiskitBackend
from qdiff.backends.lowering import lower
from qdiff.backends.pauli_groups import bits_of_ints, estimate, plan_measurements

from ._helpers import OBSERVABLES, SIGMAS, expval_bounds, mixed_circuit, norm1, values, var_bounds

primitives = pytest.importorskip("qiskit.primitives")

class CountingSampler(primitives.BaseSamplerV2):
    """A StatevectorSampler that records every ``run``: its PUBs' binding-array shapes."""

    def __init__(self, seed: int):
        self.inner = primitives.StatevectorSampler(seed=seed)
        self.runs: list[list[tuple[int, ...]]] = []

    def run(self, pubs, *, shots=None):
        pubs = list(pubs)
        self.runs.append([tuple(np.shape(p[1])) if len(p) > 1 else () for p in pubs])
        return self.inner.run(pubs, shots=shots)


def test_the_plan_groups_strings_qubit_wise_and_keeps_coefficients():
    obs = OBSERVABLES + [qdiff.X(0) @ qdiff.X(1) + 0.25 * qdiff.Y(0) @ qdiff.Y(1) + 3 * qdiff.I()]
    plan = plan_measurements(obs)
    seen = {}
    for g in plan.groups:
        letters = dict(g.basis)
        assert len(letters) == len(g.basis) and [q for q, _ in g.basis] == sorted(letters)
        for t in range(g.masks.shape[1]):
            key = tuple((q, letters[q]) for i, (q, _) in enumerate(g.basis) if g.masks[i, t])
            assert key not in seen
            seen[key] = g.weights[t]
    for k, o in enumerate(obs):
        assert {key: float(c.real) for key, c in o if key} == {key: w[k] for key, w in seen.items() if w[k]}
    assert plan.constants.tolist() == [0, 0, 0, 3]
    assert len(plan.groups) < len(seen)  # Z0 X2 and Z0 share a group, for instance


def test_parities_of_known_outcomes():
    obs = [qdiff.Z(0) @ qdiff.Z(1) + 2 * qdiff.I() - 0.5 * qdiff.Z(1)]
    plan = plan_measurements(obs)
    assert plan.bases == [((0, "Z"), (1, "Z"))]
    outcomes = np.array([[0b00, 0b01], [0b11, 0b10]])  # row 0: ZZ = +1, -1; row 1: +1, -1
    out = estimate(plan, [bits_of_ints(outcomes, 2)], 2)
    # row 0: <ZZ> = 0, <Z1> = 1; row 1: <ZZ> = 0, <Z1> = -1
    np.testing.assert_allclose(out, [[2 - 0.5], [2 + 0.5]])


def test_expval_and_var_on_a_sampler_only_target_are_within_shot_noise_in_one_job():
    shots = 4000
    sampler = CountingSampler(seed=3)
    backend = QiskitBackend(sampler, shots=shots)
    c, v = mixed_circuit(), values(5)
    out = backend.expval(c, OBSERVABLES, v)
    groups = len(plan_measurements(OBSERVABLES).groups)
    # one job: one PUB per group, all 5 parameter sets in each
    assert backend.jobs_submitted == 1 and len(sampler.runs) == 1 and len(sampler.runs[0]) == groups
    assert all(shape[0] == 5 for shape in sampler.runs[0])
    exact = qdiff.expval(c, OBSERVABLES, v)
    bound = expval_bounds(OBSERVABLES, shots)
    err = (out - exact).abs()
    assert (err <= bound).all(), (err, bound)
    assert err.max() > 1e-4  # an estimate from counts, not the exact value

    var = backend.var(c, OBSERVABLES, v)
    assert backend.jobs_submitted == 2  # <O> and <O^2> of all observables: one job
    assert ((var - qdiff.var(c, OBSERVABLES, v)).abs() <= var_bounds(OBSERVABLES, shots)).all()


def _gradient_bound(circuit: qdiff.Circuit, observable: qdiff.PauliSum, shots: int) -> torch.Tensor:
    """Per parameter: ``SIGMAS * sum_a |W[a, p]| * sum_k |C[k, a]| * std(f)`` with ``std(f) <=
    sum|c| / sqrt(shots)`` (each shifted evaluation is an independent estimate)."""
    slots = lower(circuit)
    per_slot = np.array([sum(abs(c) for c in rule.coefficients) for rule in slots.rules])
    sigma = norm1(observable) / math.sqrt(shots)
    return torch.as_tensor(SIGMAS * sigma * (np.abs(slots.weights).T @ per_slot))


@pytest.mark.parametrize("prefetch, jobs", [(True, 1), (False, 2)])
def test_param_shift_gradient_through_counts(prefetch, jobs):
    shots = 4000
    backend = QiskitBackend(primitives.StatevectorSampler(seed=5), shots=shots, prefetch_gradients=prefetch)
    c, obs = mixed_circuit(), OBSERVABLES[2]
    v, ref = values(2, seed=4).requires_grad_(), values(2, seed=4).requires_grad_()
    backend.expval(c, obs, v).sum().backward()
    assert backend.jobs_submitted == jobs  # forward and every shifted set of the batch: one job
    qdiff.expval(c, obs, ref, method="adjoint").sum().backward()
    err = (v.grad - ref.grad).abs()
    assert (err <= _gradient_bound(c, obs, shots)).all(), (err, _gradient_bound(c, obs, shots))
    assert err.max() > 1e-4


def test_constant_observables_need_no_job_and_circuits_without_parameters_work():
    backend = QiskitBackend(primitives.StatevectorSampler(seed=1), shots=2000)
    c = qdiff.Circuit(2).h(0).cx(0, 1)
    assert float(backend.expval(c, 2 * qdiff.I())) == 2.0 and backend.jobs_submitted == 0
    out = backend.expval(c, [qdiff.Z(0) @ qdiff.Z(1), qdiff.X(0) @ qdiff.X(1), qdiff.Y(0) @ qdiff.Y(1)])
    torch.testing.assert_close(out, torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))  # Bell state
    assert backend.jobs_submitted == 1


def test_sampled_jobs_split_only_at_the_execution_limit():
    c, v = mixed_circuit(), values(4)
    groups = len(plan_measurements(OBSERVABLES).groups)
    tight = QiskitBackend(primitives.StatevectorSampler(seed=1), shots=10, max_executions=2 * 10 * groups)
    assert tight.expval(c, OBSERVABLES, v).shape == (4, 3)
    assert tight.jobs_submitted == 2  # 2 parameter sets x all groups x 10 shots per job


def test_a_sampler_on_a_device_measures_through_the_layout():
    fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
    aer = pytest.importorskip("qiskit_aer")
    aer_primitives = pytest.importorskip("qiskit_aer.primitives")
    device = fake_provider.FakeManilaV2()
    sampler = aer_primitives.SamplerV2.from_backend(aer.AerSimulator.from_backend(device), seed=2)
    backend = QiskitBackend(sampler, shots=4000, seed=2)
    c, v = mixed_circuit(), values(2)
    out = backend.expval(c, OBSERVABLES, v)
    assert backend.jobs_submitted == 1 and backend.num_qubits == 5
    assert (out - qdiff.expval(c, OBSERVABLES, v)).abs().max() < 0.2  # shot noise and Manila's noise
