"""qdiff's side of every workload, through the public API only (``qdiff.expval``, ``qdiff.probs``)."""

from __future__ import annotations

import numpy as np
import torch

import qdiff

from .circuits import BornTarget, Observable, Spec

_PAULI = {"X": qdiff.X, "Y": qdiff.Y, "Z": qdiff.Z}


def circuit(spec: Spec) -> qdiff.Circuit:
    """The spec as a qdiff circuit; parameters are one ParameterVector ``theta`` in spec order."""
    theta = qdiff.ParameterVector("theta", spec.num_parameters)
    c = qdiff.Circuit(spec.num_qubits)
    for g in spec.gates:
        if g.param is None:
            getattr(c, g.name)(*g.qubits)
        else:
            angle = theta[g.param] if g.coeff == 1.0 else theta[g.param] * g.coeff
            getattr(c, g.name)(angle, *g.qubits)
    order = [p.name for p in c.parameters]
    expected = [theta[k].name for k in range(spec.num_parameters)]
    assert order == expected, "spec parameters must first appear in index order"
    return c


def pauli_sum(obs: Observable) -> qdiff.PauliSum:
    """The observable without its constant (added back in Python, as for every peer)."""
    total = None
    for coeff, word in obs.terms:
        term = None
        for q, p in word:
            term = _PAULI[p](q) if term is None else term @ _PAULI[p](q)
        term = coeff * term
        total = term if total is None else total + term
    return total


class Energy:
    """Energy (and gradient) of ``obs`` after ``spec``; values ``(*batch, P)`` float64."""

    def __init__(self, spec: Spec, obs: Observable, method: str = "adjoint", dtype: torch.dtype = torch.complex128):
        self.circuit, self.h, self.constant = circuit(spec), pauli_sum(obs), obs.constant
        self.method, self.dtype = method, dtype

    def __call__(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energy ``(*batch)`` and gradient ``(*batch, P)``, via ``energy.sum().backward()``."""
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        e = qdiff.expval(self.circuit, self.h, x, method=self.method, dtype=self.dtype)
        e.sum().backward()
        return e.detach().numpy() + self.constant, x.grad.numpy()

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Energy only, no graph."""
        with torch.no_grad():
            x = torch.as_tensor(values, dtype=torch.float64)
            return qdiff.expval(self.circuit, self.h, x, dtype=self.dtype).numpy() + self.constant


class Born:
    """One Born-machine step: probabilities, MMD loss to the target, ``loss.backward()``."""

    def __init__(self, spec: Spec, born: BornTarget, method: str = "adjoint"):
        self.circuit, self.method = circuit(spec), method
        self.target = torch.tensor(born.target)
        self.kernel = torch.tensor(born.kernel)

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        d = qdiff.probs(self.circuit, x, method=self.method) - self.target
        loss = d @ self.kernel @ d
        loss.backward()
        return loss.item(), x.grad.numpy()


def one_gate(n: int, name: str, qubits: tuple[int, ...]) -> qdiff.Circuit:
    """A circuit of a single gate (rotations take one parameter)."""
    c = qdiff.Circuit(n)
    if name in ("rx", "ry", "rz", "rzz"):
        getattr(c, name)(qdiff.Parameter("theta"), *qubits)
    else:
        getattr(c, name)(*qubits)
    return c
