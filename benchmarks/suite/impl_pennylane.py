"""PennyLane's side: lightning.qubit (adjoint, autograd interface) and default.qubit (backprop, torch).

Wires: expectation values need no reordering; PennyLane's probabilities are big-endian in the
listed wires, so the Born machine lists them in reverse to read the index little-endian like qdiff.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .circuits import BornTarget, Observable, Spec

_GATES = {"rx": "RX", "ry": "RY", "rz": "RZ", "rzz": "IsingZZ", "h": "Hadamard", "cx": "CNOT"}


def _body(qml: object, spec: Spec) -> Callable[[object], None]:
    """A function queuing the spec's gates with angles ``coeff * w[param]``."""
    ops = [(getattr(qml, _GATES[g.name]), list(g.qubits), g.param, g.coeff) for g in spec.gates]

    def body(w: object) -> None:
        for op, wires, k, c in ops:
            if k is None:
                op(wires=wires)
            else:
                op(w[k] if c == 1.0 else c * w[k], wires=wires)

    return body


def _hamiltonian(qml: object, obs: Observable) -> object:
    paulis = {"X": qml.X, "Y": qml.Y, "Z": qml.Z}
    ops = []
    for _, word in obs.terms:
        term = None
        for q, p in word:
            term = paulis[p](q) if term is None else term @ paulis[p](q)
        ops.append(term)
    return qml.Hamiltonian([c for c, _ in obs.terms], ops)


class LightningEnergy:
    """lightning.qubit, ``diff_method="adjoint"``, autograd (NumPy) interface; ``value_and_grad``
    returns energy and gradient from one QNode evaluation (its fastest exact path in earlier trials;
    the torch interface was as fast but lost ~1e-8 in the energy)."""

    def __init__(self, qml: object, spec: Spec, obs: Observable):
        import autograd
        from pennylane import numpy as pnp

        body, h, self.pnp, self.constant = _body(qml, spec), _hamiltonian(qml, obs), pnp, obs.constant

        def energy(w):  # type: ignore[no-untyped-def]
            body(w)
            return qml.expval(h)

        dev = qml.device("lightning.qubit", wires=spec.num_qubits)
        self.qnode = qml.QNode(energy, dev, interface="autograd", diff_method="adjoint")
        self.value_and_grad = autograd.value_and_grad(self.qnode)

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        e, g = self.value_and_grad(self.pnp.array(values, requires_grad=True))
        return float(e) + self.constant, np.asarray(g)

    def forward(self, values: np.ndarray) -> float:
        return float(self.qnode(self.pnp.array(values, requires_grad=False))) + self.constant


class DefaultQubitEnergy:
    """default.qubit, ``diff_method="backprop"``, torch interface."""

    def __init__(self, qml: object, spec: Spec, obs: Observable):
        body, h, self.constant = _body(qml, spec), _hamiltonian(qml, obs), obs.constant

        def energy(w):  # type: ignore[no-untyped-def]
            body(w)
            return qml.expval(h)

        dev = qml.device("default.qubit", wires=spec.num_qubits)
        self.qnode = qml.QNode(energy, dev, interface="torch", diff_method="backprop")

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        e = self.qnode(x)
        e.backward()
        return e.item() + self.constant, x.grad.numpy()

    def forward(self, values: np.ndarray) -> float:
        with torch.no_grad():
            return float(self.qnode(torch.as_tensor(values, dtype=torch.float64))) + self.constant


class DefaultQubitBorn:
    """default.qubit, ``diff_method="backprop"``, torch: probabilities, MMD, ``loss.backward()``."""

    def __init__(self, qml: object, spec: Spec, born: BornTarget):
        body, n = _body(qml, spec), spec.num_qubits

        def probs(w):  # type: ignore[no-untyped-def]
            body(w)
            return qml.probs(wires=list(reversed(range(n))))  # little-endian index, like qdiff

        self.qnode = qml.QNode(probs, qml.device("default.qubit", wires=n), interface="torch", diff_method="backprop")
        self.target, self.kernel = torch.tensor(born.target), torch.tensor(born.kernel)

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        d = self.qnode(x) - self.target
        loss = d @ self.kernel @ d
        loss.backward()
        return loss.item(), x.grad.numpy()
