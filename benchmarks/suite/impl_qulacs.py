"""Qulacs' side: ``ParametricQuantumCircuit.backprop`` for gradients, one gate object for gate timings.

Qulacs' parametric rotations (RX, RY, RZ, multi-Pauli) are ``exp(+i a P / 2)``: every angle
enters negated and the gradient is negated back. It has one parameter per gate, so shared
parameters (QAOA) get their gradient by the chain rule (``Spec.chain``, a sum, no simulation).
Both libraries index amplitudes little-endian (qubit 0 least significant).
"""

from __future__ import annotations

import numpy as np

from .circuits import Observable, Spec

_AXIS = {"X": 1, "Y": 2, "Z": 3}


def _circuit(qulacs: object, spec: Spec) -> object:
    c = qulacs.ParametricQuantumCircuit(spec.num_qubits)
    for g in spec.gates:
        if g.name == "h":
            c.add_H_gate(g.qubits[0])
        elif g.name == "cx":
            c.add_CNOT_gate(*g.qubits)
        elif g.name == "rzz":
            c.add_parametric_multi_Pauli_rotation_gate(list(g.qubits), [3, 3], 0.0)
        else:
            getattr(c, f"add_parametric_{g.name.upper()}_gate")(g.qubits[0], 0.0)
    return c


def _observable(qulacs: object, obs: Observable) -> object:
    o = qulacs.Observable(obs.num_qubits)
    for coeff, word in obs.terms:
        o.add_operator(coeff, " ".join(f"{p} {q}" for q, p in word))
    return o


class QulacsEnergy:
    """Energy and gradient; timed as ``set_parameter`` for every angle + ``backprop(observable)``
    (which runs the forward pass inside) for the gradient, a separate forward pass for the energy.

    The energy sums the terms' ``get_expectation_value``: ``Observable.get_expectation_value`` took
    a quantized 8-16 ms even at n = 8 in qulacs 0.6.14 (against ~40 µs for the per-term sum).
    """

    def __init__(self, qulacs: object, spec: Spec, obs: Observable):
        self.spec, self.constant = spec, obs.constant
        self.circuit, self.obs = _circuit(qulacs, spec), _observable(qulacs, obs)
        self.terms = [self.obs.get_term(i) for i in range(self.obs.get_term_count())]
        self.QuantumState = qulacs.QuantumState

    def _set(self, values: np.ndarray) -> None:
        for k, a in enumerate(self.spec.angles(values)):
            self.circuit.set_parameter(k, -float(a))

    def gradient(self, values: np.ndarray) -> np.ndarray:
        self._set(values)
        return self.spec.chain(-np.asarray(self.circuit.backprop(self.obs)))

    def forward(self, values: np.ndarray) -> float:
        self._set(values)
        state = self.QuantumState(self.spec.num_qubits)
        self.circuit.update_quantum_state(state)
        return float(sum(t.get_expectation_value(state) for t in self.terms).real) + self.constant

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy and gradient (two passes: the gradient alone is what the timed rows use)."""
        return self.forward(values), self.gradient(values)


def gate(qulacs: object, name: str, qubits: tuple[int, ...], angle: float) -> object:
    """One Qulacs gate with qdiff's convention (``exp(-i angle P / 2)``; RotX/RotZ are that sign)."""
    from qulacs import gate as g

    if name == "h":
        return g.H(qubits[0])
    if name == "cx":
        return g.CNOT(*qubits)
    if name == "rzz":
        return g.PauliRotation(list(qubits), [3, 3], -angle)
    return {"rx": g.RotX, "ry": g.RotY, "rz": g.RotZ}[name](qubits[0], angle)


def state(qulacs: object, vector: np.ndarray) -> object:
    """A Qulacs state holding ``vector`` (complex128, little-endian)."""
    n = int(np.log2(vector.shape[-1]))
    s = qulacs.QuantumState(n)
    s.load(vector)
    return s
