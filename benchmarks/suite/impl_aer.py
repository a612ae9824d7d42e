"""qiskit-aer's side: statevector simulation, parameter-shift gradients with every binding in one call.

Each rotation of the spec gets its own Qiskit parameter; the gradient over the rotation angles is
the two-term shift rule ``(f(a + pi/2 e_j) - f(a - pi/2 e_j)) / 2`` (all rotations are
``exp(-i a P / 2)`` with ``P**2 = 1``), evaluated for all ``2 R + 1`` bindings (R rotations, plus
the unshifted point) in a single ``AerSimulator.run(circuit, parameter_binds=...)`` with runtime
parameter binding; shared
parameters then follow by the chain rule (``Spec.chain``). Qiskit is little-endian like qdiff.
"""

from __future__ import annotations

import numpy as np

from .circuits import BornTarget, Observable, Spec, mmd_loss_grad


def _circuit(spec: Spec) -> tuple[object, object]:
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    a = ParameterVector("a", len(spec.rotations))
    qc = QuantumCircuit(spec.num_qubits)
    k = 0
    for g in spec.gates:
        if g.param is None:
            getattr(qc, g.name)(*g.qubits)
        else:
            getattr(qc, g.name)(a[k], *g.qubits)
            k += 1
    return qc, a


def _simulator(threads: int) -> object:
    from qiskit_aer import AerSimulator

    # runtime_parameter_bind_enable: Aer binds all parameter sets inside one experiment (half the
    # time of one experiment per binding in a trial at 559 bindings); max_parallel_experiments=0:
    # otherwise, the bindings of one call run in parallel on all threads
    return AerSimulator(method="statevector", precision="double", max_parallel_threads=threads,
                        max_parallel_experiments=0, runtime_parameter_bind_enable=True)


def _shifted(angles: np.ndarray) -> np.ndarray:
    """``(2 R + 1, R)``: the point, then +pi/2 and -pi/2 on each angle in turn."""
    r = angles.shape[0]
    shift = np.pi / 2 * np.eye(r)
    return np.concatenate([angles[None], angles + shift, angles - shift])


class _Shifted:
    """Runs one circuit on many bindings of its rotation angles in one call."""

    def __init__(self, spec: Spec, threads: int, label: str):
        self.spec, self.label = spec, label
        self.qc, self.params = _circuit(spec)
        self.sim = _simulator(threads)

    def run(self, bindings: np.ndarray) -> list[object]:
        binds = [{p: bindings[:, k].tolist() for k, p in enumerate(self.params)}]
        result = self.sim.run(self.qc, parameter_binds=binds).result()
        return [result.data(i)[self.label] for i in range(bindings.shape[0])]


class AerEnergy(_Shifted):
    """Energy via ``save_expectation_value`` (exact, statevector), gradient by parameter shift."""

    def __init__(self, spec: Spec, obs: Observable, threads: int):
        from qiskit.quantum_info import SparsePauliOp

        super().__init__(spec, threads, "energy")
        self.constant = obs.constant
        self.qc.save_expectation_value(SparsePauliOp.from_list(obs.qiskit_labels()), list(range(spec.num_qubits)),
                                       label="energy")

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        e = np.array(self.run(_shifted(self.spec.angles(values))), dtype=float)
        r = len(self.params)
        return float(e[0]) + self.constant, self.spec.chain((e[1:r + 1] - e[r + 1:]) / 2)

    def forward(self, values: np.ndarray) -> float:
        return float(self.run(self.spec.angles(values)[None])[0]) + self.constant


class AerBorn(_Shifted):
    """Born-machine step: probabilities (``save_probabilities``) of all 2R + 1 bindings in one
    call, MMD and its gradient by the chain rule through the shifted probabilities."""

    def __init__(self, spec: Spec, born: BornTarget, threads: int):
        super().__init__(spec, threads, "probs")
        self.born = born
        self.qc.save_probabilities(label="probs")

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.asarray(self.run(_shifted(self.spec.angles(values))), dtype=float)
        r = len(self.params)
        loss, dl_dp = mmd_loss_grad(p[0], self.born)
        dp = (p[1:r + 1] - p[r + 1:]) / 2  # (R, 2**n)
        return loss, self.spec.chain(dp @ dl_dp)

