"""The Born machine as a torch module: ``p_theta(x) = |<x|U(theta)|0>|**2``.

>>> import torch
>>> from qdiff.apps.qcbm.circuit import born_circuit
>>> machine = BornMachine(born_circuit(3, 2, [(0, 1), (1, 2)]), seed=1)
>>> p = machine.probs()
>>> tuple(p.shape), round(float(p.detach().sum()), 12)
((8,), 1.0)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from qdiff.execute import probs as circuit_probs
from qdiff.execute import sample as circuit_sample
from qdiff.ir.circuit import Circuit


class BornMachine(torch.nn.Module):
    """A parametrized circuit read as a generative model over its ``2**n`` basis states.

    Any circuit can be a Born machine; :func:`~qdiff.apps.qcbm.circuit.born_circuit` builds
    Liu & Wang's. The trainable angles are the module's only parameter, ``weights``, shape
    ``(circuit.num_parameters,)``, initialised uniformly in ``[0, 2 pi)`` from ``seed``.

    Args:
        circuit: the circuit; its parameters are the model's weights, in ``circuit.parameters`` order.
        seed: seed of the initial angles (ignored when ``weights`` is given).
        weights: initial angles ``(P,)``, instead of random ones.
        method: gradient engine for exact probabilities (``"auto"`` = adjoint).
        backend: ``None`` (the torch simulator) or a Qiskit backend object (see ``docs/hardware.md``).
    """

    def __init__(self, circuit: Circuit, *, seed: int = 0, weights: torch.Tensor | None = None,
                 method: str = "auto", backend: object | None = None):
        super().__init__()
        if not isinstance(circuit, Circuit):
            raise TypeError(f"BornMachine needs a qdiff Circuit, got {type(circuit).__name__}")
        P = circuit.num_parameters
        if weights is None:
            generator = torch.Generator().manual_seed(int(seed))
            weights = torch.rand(P, generator=generator, dtype=torch.float64) * (2 * math.pi)
        weights = torch.as_tensor(weights, dtype=torch.float64).detach().clone()
        if weights.shape != (P,):
            raise ValueError(f"weights must have shape ({P},) for this circuit, got {tuple(weights.shape)}")
        self.circuit = circuit
        self.method = method
        self.backend = backend
        self.weights = torch.nn.Parameter(weights)

    @property
    def num_qubits(self) -> int:
        """Number of qubits (bits of each sample)."""
        return self.circuit.num_qubits

    def _backend_kwargs(self) -> dict[str, object]:
        return {} if self.backend is None else {"backend": self.backend}

    def probs(self) -> torch.Tensor:
        """Exact probabilities ``(2**n,)``, differentiable with the machine's engine."""
        return circuit_probs(self.circuit, self.weights, method=self.method, **self._backend_kwargs())

    forward = probs

    def sample(self, shots: int, seed: int | None = None) -> torch.Tensor:
        """``shots`` integer outcomes ``(shots,)`` (little-endian: bit ``k`` is qubit ``k``)."""
        with torch.no_grad():
            if self.backend is not None:
                return self.backend.sample(self.circuit, self.weights.detach()[None], int(shots), seed=seed)[0]
            return circuit_sample(self.circuit, self.weights.detach(), int(shots), seed=seed)

    def log_prob(self, x: torch.Tensor | np.ndarray, eps: float = 0.0) -> torch.Tensor:
        """``log p(x)`` of integer states ``x`` ``(...,)`` (``-inf`` where ``p = 0`` unless ``eps > 0``)."""
        index = torch.as_tensor(np.asarray(x), dtype=torch.long)
        if index.numel() and (index.min() < 0 or index.max() >= 2**self.num_qubits):
            raise ValueError(f"states must lie in 0..{2**self.num_qubits - 1} for {self.num_qubits} qubits")
        p = self.probs()
        return torch.log(p[index].clamp_min(eps) if eps > 0 else p[index])
