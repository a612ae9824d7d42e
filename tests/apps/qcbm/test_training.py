"""Born-machine training: exact steps lower the loss, the sampled MMD gradient is unbiased and
takes one batched call, resuming from a state dict reproduces an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qdiff
from qdiff.apps.qcbm import (
    BornMachine,
    MixtureKernel,
    Trainer,
    bars_and_stripes,
    born_circuit,
    chow_liu_tree,
    mmd,
    sampled_mmd_gradient,
)


def _machine(data, depth=2, seed=0, **kwargs):
    return BornMachine(born_circuit(data.num_bits, depth, chow_liu_tree(data, seed)), seed=seed, **kwargs)


def test_born_circuit_has_the_papers_layout():
    circuit = born_circuit(3, 2, [(0, 1), (2, 1)])
    names = [op.name for op in circuit.ops]
    assert circuit.num_parameters == (3 * 2 + 1) * 3
    assert names[:6] == ["rx", "rz"] * 3 and names[6:8] == ["cx", "cx"]
    assert names[8:17] == ["rz", "rx", "rz"] * 3 and names[-6:] == ["rz", "rx"] * 3
    assert [op.qubits for op in circuit.ops if op.name == "cx"] == [(0, 1), (2, 1)] * 2


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_exact_training_lowers_the_loss(optimizer):
    data = bars_and_stripes(2, 2)
    trainer = Trainer(_machine(data), data, optimizer=optimizer)
    before = trainer.evaluate()
    for _ in range(25):
        trainer.step()
    after = trainer.evaluate()
    assert after["mmd"] < 0.5 * before["mmd"] and after["valid_rate"] > before["valid_rate"]


def test_kl_training_uses_the_exact_gradient():
    data = bars_and_stripes(2, 2)
    trainer = Trainer(_machine(data), data, loss="kl", optimizer="lbfgs")
    first = trainer.step()["loss"]
    for _ in range(20):
        last = trainer.step()["loss"]
    assert last < 0.5 * first


def test_sampled_gradient_is_unbiased():
    data = bars_and_stripes(1, 3)
    machine = _machine(data, depth=1, seed=2)
    kernel = MixtureKernel(3, (0.5, 2.0))
    target = torch.tensor(data.probs)
    weights = machine.weights.detach().clone().requires_grad_()
    exact_loss = mmd(qdiff.probs(machine.circuit, weights), target, kernel)
    exact, = torch.autograd.grad(exact_loss, weights)
    generator = torch.Generator().manual_seed(11)
    estimates = torch.stack([sampled_mmd_gradient(machine.circuit, weights.detach(), target, kernel, 50,
                                                  generator).grad for _ in range(600)])
    mean, stderr = estimates.mean(0), estimates.std(0) / np.sqrt(len(estimates))
    z = (mean - exact) / stderr
    assert z.abs().max() < 4.5, f"sampled gradient biased: z = {z}"
    assert (estimates.std(0) > 0).all()  # it really is a random estimate


class _CountingBackend:
    """Stands in for a Qiskit backend: records every sample call and samples from exact probabilities."""

    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def sample(self, circuit, values, shots, seed=None):
        self.calls.append(tuple(values.shape))
        p = qdiff.probs(circuit, values, method="backprop").detach()
        return torch.multinomial(p, shots, replacement=True, generator=torch.Generator().manual_seed(seed))


def test_shot_based_step_samples_every_shifted_circuit_in_one_call():
    data = bars_and_stripes(2, 2)
    backend = _CountingBackend()
    machine = _machine(data, backend=backend)
    trainer = Trainer(machine, data, shots=100)
    for _ in range(3):
        trainer.step()
    P = machine.circuit.num_parameters
    assert backend.calls == [(1 + 2 * P, P)] * 3  # base + two shifts per parameter, one call per step


def test_shot_based_backend_values_reproduce_the_shifted_angles():
    data = bars_and_stripes(2, 2)
    backend = _CountingBackend()
    machine = _machine(data)
    kernel = MixtureKernel(4, (0.5, 1.0, 2.0, 4.0))
    target = torch.tensor(data.probs)
    a = sampled_mmd_gradient(machine.circuit, machine.weights.detach(), target, kernel, 20000,
                             torch.Generator().manual_seed(0), backend)
    weights = machine.weights.detach().clone().requires_grad_()
    exact, = torch.autograd.grad(mmd(qdiff.probs(machine.circuit, weights), target, kernel), weights)
    assert torch.allclose(a.grad, exact, atol=0.02)  # 20000 shots: statistical error ~ 5e-3


@pytest.mark.parametrize("optimizer, shots", [("adam", None), ("lbfgs", None), ("adam", 64)])
def test_resuming_from_a_state_dict_matches_an_uninterrupted_run(optimizer, shots):
    data = bars_and_stripes(2, 2)
    straight = Trainer(_machine(data), data, optimizer=optimizer, shots=shots, seed=5)
    for _ in range(8):
        straight.step()
    first = Trainer(_machine(data), data, optimizer=optimizer, shots=shots, seed=5)
    for _ in range(4):
        first.step()
    saved = first.state_dict()
    fresh = BornMachine(straight.machine.circuit, seed=9)  # other initial angles: the checkpoint must win
    resumed = Trainer(fresh, data, optimizer=optimizer, shots=shots, seed=5)
    resumed.load_state_dict(saved)
    for _ in range(4):
        resumed.step()
    assert resumed.step_count == 8
    assert torch.equal(resumed.machine.weights, straight.machine.weights)


def test_trainer_rejects_mismatched_data_and_bad_settings():
    data = bars_and_stripes(2, 2)
    with pytest.raises(ValueError, match="4 bits but the circuit has 3 qubits"):
        Trainer(BornMachine(born_circuit(3, 1, [(0, 1)])), data)
    with pytest.raises(ValueError, match="shots must be a positive int"):
        Trainer(_machine(data), data, shots=0)
    with pytest.raises(ValueError, match="optimizer='adam'"):
        Trainer(_machine(data), data, shots=10, optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown optimizer"):
        Trainer(_machine(data), data, optimizer="sgd")


def test_sample_and_log_prob():
    data = bars_and_stripes(2, 2)
    machine = _machine(data)
    samples = machine.sample(500, seed=1)
    assert samples.shape == (500,) and samples.dtype == torch.long
    assert torch.equal(samples, machine.sample(500, seed=1))
    p = machine.probs().detach()
    assert torch.allclose(machine.log_prob(torch.tensor([0, 3])), p[[0, 3]].log())
    with pytest.raises(ValueError, match="0..15"):
        machine.log_prob([16])


def test_shot_based_training_on_a_fake_ibm_device_submits_one_job_per_step():
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    data = bars_and_stripes(2, 2)
    backend = qdiff.QiskitBackend(FakeManilaV2(), shots=100, seed=1)
    trainer = Trainer(_machine(data, depth=1, backend=backend), data, shots=100)
    losses = [trainer.step()["loss"] for _ in range(2)]
    assert backend.jobs_submitted == 2 and all(np.isfinite(losses))


def test_embedding_into_a_deeper_circuit_keeps_the_distribution():
    from qdiff.apps.qcbm.circuit import embed_weights

    data = bars_and_stripes(2, 2)
    edges = chow_liu_tree(data, 1)
    shallow = BornMachine(born_circuit(4, 2, edges), seed=3)
    grown = embed_weights(shallow.weights.detach(), 4, 2, 5)
    deep = BornMachine(born_circuit(4, 5, edges), weights=grown)
    assert grown.shape == (16 * 4,)
    assert torch.allclose(deep.probs(), shallow.probs(), atol=1e-12)
    with pytest.raises(qdiff.GateError, match="deeper"):
        embed_weights(grown, 4, 5, 2)
